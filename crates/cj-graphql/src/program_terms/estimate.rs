//! Which commission applies to an order, and roughly how much it pays: see [`estimate`].

use std::collections::{BTreeMap, HashMap, HashSet};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::{Commission, CommissionRateType, Id, PerformanceIncentive, ProgramTerms};
use crate::tracking::OrderCreateRequest;

/// What is known about an order beyond the order itself.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct OrderContext {
    /// The action tracker, when it differs from the order's `actionTrackerId`.
    pub action_tracker_id: Option<Id>,
    /// The promotional property (PID) the order came through, when the order does not say.
    pub promotional_property_id: Option<Id>,
    /// The situations that hold for this order.
    pub situations: HashSet<Id>,
    /// Item lists, by id, with the SKUs in each.
    pub item_lists: HashMap<Id, HashSet<String>>,
    /// Whether the order was attributed to an ad view rather than a click.
    pub view_through: bool,
}

impl OrderContext {
    /// A click-through order with no situation, item list or PID beyond the order's own.
    pub fn new() -> Self {
        OrderContext::default()
    }

    /// Uses this action tracker instead of the order's.
    pub fn action_tracker(mut self, id: impl Into<Id>) -> Self {
        self.action_tracker_id = Some(id.into());
        self
    }

    /// The PID the order came through.
    pub fn promotional_property(mut self, id: impl Into<Id>) -> Self {
        self.promotional_property_id = Some(id.into());
        self
    }

    /// A situation that holds.
    pub fn situation(mut self, id: impl Into<Id>) -> Self {
        self.situations.insert(id.into());
        self
    }

    /// An item list and the SKUs in it.
    pub fn item_list<S: Into<String>>(
        mut self,
        id: impl Into<Id>,
        skus: impl IntoIterator<Item = S>,
    ) -> Self {
        self.item_lists
            .entry(id.into())
            .or_default()
            .extend(skus.into_iter().map(Into::into));
        self
    }

    /// Whether the order was attributed to an ad view.
    pub fn view_through(mut self, view_through: bool) -> Self {
        self.view_through = view_through;
        self
    }
}

/// An amount of money; `currency` is `None` when the order gives none (CJ then uses the
/// advertiser's functional currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Money {
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// The amount.
    pub amount: Decimal,
}

/// The commission chosen for an item or an order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AppliedCommission {
    /// The commission.
    pub commission: Commission,
    /// Other matching commissions of the same rank and specificity, which CJ's rule does not
    /// order; the first listed by CJ was chosen.
    #[serde(rename = "tiedWith")]
    pub tied_with: Vec<Commission>,
}

/// The estimate for one item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ItemEstimate {
    /// The item's position in the order's `items`.
    pub index: usize,
    /// The item's SKU.
    pub sku: String,
    /// The amount net of discounts that a percent rate applies to.
    pub base: Decimal,
    /// The chosen commission, or `None` when none matches this item.
    pub commission: Option<AppliedCommission>,
    /// The estimated commission, or `None` when there is no commission or its rate type is
    /// unknown.
    pub amount: Option<Money>,
}

/// Which commissions apply to an order and what they would pay.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Estimate {
    /// The action term used.
    #[serde(rename = "actionTermId")]
    pub action_term_id: Id,
    /// The commission for the order as a whole (the best rate without an item list).
    #[serde(rename = "orderCommission")]
    pub order_commission: Option<AppliedCommission>,
    /// The base of the order as a whole, net of discounts.
    #[serde(rename = "orderBase")]
    pub order_base: Decimal,
    /// One estimate per item, in order (empty for an order without items).
    pub items: Vec<ItemEstimate>,
    /// The estimated commission, one amount per currency.
    pub total: Vec<Money>,
    /// The action term's performance incentives, which could add to this; not included.
    #[serde(rename = "performanceIncentives")]
    pub performance_incentives: Vec<PerformanceIncentive>,
}

/// Why no estimate could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EstimateError {
    /// The terms have no action term for the order's action tracker.
    #[error("the program terms have no action term for action tracker {0}")]
    NoActionTerm(Id),
    /// No commission of the action term matches the order.
    #[error(
        "no commission of action term {action_term_id} matches the order (view-through: \
         {view_through}, PID: {pid}, situations: {situations})"
    )]
    NoMatchingCommission {
        /// The action term.
        action_term_id: Id,
        /// The order's attribution.
        view_through: bool,
        /// The order's PID, or `none`.
        pid: String,
        /// The situations that held, or `none`.
        situations: String,
    },
    /// An amount is beyond what a `Decimal` holds (a price, quantity or rate near its limit);
    /// names the amount.
    #[error("the estimate overflows: {0} is too large for a decimal")]
    Overflow(String),
}

/// Which commission applies to `order` under `terms`, per item and for the order, with the
/// estimated amount.
///
/// CJ's reference says only: "Higher rank = higher priority. When multiple commissions match,
/// the highest-ranked one applies." This function reads CJ's rules as follows, and says so here
/// because CJ's page is brief:
///
/// - **The action term** is the one whose action tracker is the order's `actionTrackerId` (or
///   the context's).
/// - **A commission matches** when its `isViewThrough` equals the order's attribution (view or
///   click), its promotional properties are empty or include the order's PID, and its situation
///   is absent or holds. A commission with an item list applies only to items whose SKU is in
///   that list (membership comes from the caller: CJ's Item List API holds it); one without
///   applies to every item and to the order as a whole.
/// - **Choice**: the highest rank wins. On equal rank an item-list rate beats an order-level
///   one (it is more specific); if still tied, the first in CJ's list wins and the others are
///   reported in [`AppliedCommission::tied_with`], so that the ambiguity is visible.
/// - **Amounts**: `PERCENT` is `value`% of the amount net of discounts (per item: unit price ×
///   quantity − the item's discount, less its pro-rata share of the order's discount; for an
///   order without items: `amount` − `discount`), in the order's currency. `FIXED` is `value`
///   per unit (an order without items is one unit). `FIXED_PER_ORDER` is `value` once per order
///   (once per distinct commission, on the first item it applies to). Fixed amounts are in the
///   rate's currency. Amounts are rounded to 2 decimal places, half away from zero.
/// - **Performance incentives** of the action term are listed beside the estimate; none is
///   added to it, since whether a threshold is passed depends on the period's other actions.
pub fn estimate(
    terms: &ProgramTerms,
    order: &OrderCreateRequest,
    context: &OrderContext,
) -> Result<Estimate, EstimateError> {
    let tracker = context
        .action_tracker_id
        .clone()
        .unwrap_or_else(|| Id::from(order.action_tracker_id));
    let term = terms
        .action_terms
        .iter()
        .find(|t| t.action_tracker.id == tracker)
        .ok_or(EstimateError::NoActionTerm(tracker))?;
    let pid = context
        .promotional_property_id
        .clone()
        .or_else(|| order.promotional_property_id.map(Id::from));

    let eligible: Vec<&Commission> = term
        .commissions
        .iter()
        .filter(|c| c.is_view_through == context.view_through)
        .filter(|c| {
            c.promotional_properties.is_empty()
                || pid
                    .as_ref()
                    .is_some_and(|p| c.promotional_properties.iter().any(|pp| &pp.id == p))
        })
        .filter(|c| {
            c.situation
                .as_ref()
                .is_none_or(|s| context.situations.contains(&s.id))
        })
        .collect();

    let order_commission = choose(eligible.iter().copied().filter(|c| c.item_list.is_none()));
    let items = order.items.as_deref().unwrap_or_default();
    let order_discount = order.discount.map(|d| d.get()).unwrap_or_default();
    let order_base = match order.amount {
        Some(amount) => checked(amount.get().checked_sub(order_discount), || {
            "the order's amount less its discount".into()
        })?
        .max(Decimal::ZERO),
        None => Decimal::ZERO,
    };
    let currency = order.currency.clone();
    let mut paid_per_order: Vec<Commission> = Vec::new();
    let mut totals: BTreeMap<Option<String>, Decimal> = BTreeMap::new();
    let mut add = |money: &Money| {
        let total = totals.entry(money.currency.clone()).or_default();
        *total = checked(total.checked_add(money.amount), || {
            format!(
                "the total in {}",
                money.currency.as_deref().unwrap_or("the order's currency")
            )
        })?;
        Ok::<_, EstimateError>(())
    };

    let line_nets = items
        .iter()
        .enumerate()
        .map(|(index, i)| {
            let what = || format!("item {index} ({}): unit price × quantity", i.sku);
            let gross = checked(
                i.unit_price.get().checked_mul(Decimal::from(i.quantity)),
                what,
            )?;
            let discount = i.discount.map(|d| d.get()).unwrap_or_default();
            Ok(checked(gross.checked_sub(discount), what)?.max(Decimal::ZERO))
        })
        .collect::<Result<Vec<Decimal>, EstimateError>>()?;
    let net_sum = checked(
        line_nets
            .iter()
            .try_fold(Decimal::ZERO, |sum, net| sum.checked_add(*net)),
        || "the sum of the items' amounts".into(),
    )?;

    let mut item_estimates = Vec::with_capacity(items.len());
    for (index, (item, net)) in items.iter().zip(&line_nets).enumerate() {
        let what = |amount: &'static str| move || format!("item {index} ({}): {amount}", item.sku);
        let base = if net_sum.is_zero() {
            *net
        } else {
            // discount × net / sum keeps the most digits; net / sum (at most 1) first when the
            // product alone is too large.
            let share = order_discount
                .checked_mul(*net)
                .and_then(|d| d.checked_div(net_sum))
                .or_else(|| net.checked_div(net_sum)?.checked_mul(order_discount));
            let share = checked(share, what("its share of the order's discount"))?;
            checked(net.checked_sub(share), what("its base"))?.max(Decimal::ZERO)
        };
        let commission = choose(eligible.iter().copied().filter(|c| {
            c.item_list.as_ref().is_none_or(|list| {
                context
                    .item_lists
                    .get(&list.id)
                    .is_some_and(|skus| skus.contains(&item.sku))
            })
        }));
        let amount = match &commission {
            None => None,
            Some(applied) => {
                let c = &applied.commission;
                let value = c.rate.value;
                let fixed = |amount: Option<Decimal>| {
                    Ok::<_, EstimateError>(Money {
                        currency: c.rate.currency.clone(),
                        amount: round(checked(amount, what("the fixed rate × quantity"))?),
                    })
                };
                match c.rate.type_ {
                    CommissionRateType::Percent => Some(Money {
                        currency: currency.clone(),
                        amount: round(checked(percent(base, value), what("base × percent rate"))?),
                    }),
                    CommissionRateType::Fixed => {
                        Some(fixed(value.checked_mul(Decimal::from(item.quantity)))?)
                    }
                    CommissionRateType::FixedPerOrder => {
                        // Paid once per order: on the first item this commission applies to.
                        if paid_per_order.contains(c) {
                            Some(fixed(Some(Decimal::ZERO))?)
                        } else {
                            paid_per_order.push(c.clone());
                            Some(fixed(Some(value))?)
                        }
                    }
                    _ => None,
                }
            }
        };
        if let Some(m) = &amount {
            add(m)?;
        }
        item_estimates.push(ItemEstimate {
            index,
            sku: item.sku.clone(),
            base: round(base),
            commission,
            amount,
        });
    }

    if items.is_empty() {
        let Some(applied) = &order_commission else {
            return Err(no_match(term.id.clone(), context, pid));
        };
        let rate = &applied.commission.rate;
        let money = match rate.type_ {
            CommissionRateType::Percent => Some(Money {
                currency: currency.clone(),
                amount: round(checked(percent(order_base, rate.value), || {
                    "the order's base × percent rate".into()
                })?),
            }),
            CommissionRateType::Fixed | CommissionRateType::FixedPerOrder => Some(Money {
                currency: rate.currency.clone(),
                amount: round(rate.value),
            }),
            _ => None,
        };
        if let Some(m) = &money {
            add(m)?;
        }
    } else if item_estimates.iter().all(|i| i.commission.is_none()) {
        return Err(no_match(term.id.clone(), context, pid));
    }

    Ok(Estimate {
        action_term_id: term.id.clone(),
        order_commission,
        order_base: round(order_base),
        items: item_estimates,
        total: totals
            .into_iter()
            .map(|(currency, amount)| Money { currency, amount })
            .collect(),
        performance_incentives: term.performance_incentives.clone(),
    })
}

/// The highest-ranked commission; on equal rank an item-list rate first, then CJ's order.
fn choose<'a>(candidates: impl Iterator<Item = &'a Commission>) -> Option<AppliedCommission> {
    let key = |c: &Commission| (c.rank, c.item_list.is_some());
    let candidates: Vec<&Commission> = candidates.collect();
    let best = candidates.iter().map(|c| key(c)).max()?;
    let mut top = candidates.into_iter().filter(|c| key(c) == best);
    let chosen = top.next()?.clone();
    Some(AppliedCommission {
        commission: chosen,
        tied_with: top.cloned().collect(),
    })
}

/// `rate`% of `base`, or `None` on overflow.
fn percent(base: Decimal, rate: Decimal) -> Option<Decimal> {
    base.checked_mul(rate)?.checked_div(Decimal::ONE_HUNDRED)
}

/// The result of a checked operation, or [`EstimateError::Overflow`] naming `what`.
fn checked(
    value: Option<Decimal>,
    what: impl FnOnce() -> String,
) -> Result<Decimal, EstimateError> {
    value.ok_or_else(|| EstimateError::Overflow(what()))
}

fn round(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn no_match(action_term_id: Id, context: &OrderContext, pid: Option<Id>) -> EstimateError {
    let mut situations: Vec<&str> = context.situations.iter().map(Id::as_str).collect();
    situations.sort_unstable();
    EstimateError::NoMatchingCommission {
        action_term_id,
        view_through: context.view_through,
        pid: pid.map_or_else(|| "none".into(), |p| p.to_string()),
        situations: if situations.is_empty() {
            "none".into()
        } else {
            situations.join(", ")
        },
    }
}
