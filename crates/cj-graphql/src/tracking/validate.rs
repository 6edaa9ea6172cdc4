//! CJ's documented rules for orders, checked before anything is sent (`api-facts.md` 1.7, 1.8).

use std::time::Duration;

use cj_transport::{CjEnum, InvalidInput, Problem};

use super::{
    Id, Instant, NonNegativeInt, OrderCancelRequest, OrderCreateRequest, OrderItemInput, OrderKey,
    OrderRestateRequest, VerticalParametersInput,
};

/// CJ refuses an order with more items than this.
pub const MAX_ITEMS_PER_ORDER: usize = 100;
/// CJ's longest `cjEvent`.
pub const MAX_CJ_EVENT_LEN: usize = 64;

/// How far ahead of this host's clock an order's `eventTime` or `updateTime` may be, by default:
/// 5 minutes.
///
/// CJ refuses a whole request when one order's time is in the future (by CJ's clock). Zero
/// tolerance here would refuse orders stamped a moment after validation started (an order built
/// with `Timestamp::now()` while a stream is read) and orders from a host whose clock is a few
/// seconds ahead; 5 minutes covers an NTP-synchronised fleet (milliseconds apart) and a host
/// that drifted without sync for days, while still catching an order from tomorrow or one in
/// the wrong time zone (an hour or more). CJ keeps the final word on what it takes.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The latest `eventTime` / `updateTime` an order may carry: this host's clock at validation
/// (`now`) plus a tolerance for clocks that run ahead (`skew`, [`DEFAULT_CLOCK_SKEW`] unless
/// set).
///
/// An [`Instant`] converts into one with the default tolerance, so `validate_create(&orders,
/// Instant::now())` allows 5 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    now: Instant,
    skew: Duration,
}

impl Horizon {
    /// `now` plus `skew`.
    pub fn new(now: impl Into<Instant>, skew: Duration) -> Self {
        Horizon {
            now: now.into(),
            skew,
        }
    }

    /// This host's clock now, plus `skew`.
    pub fn now(skew: Duration) -> Self {
        Horizon::new(Instant::now(), skew)
    }

    /// The clock reading validation started from.
    pub fn clock(&self) -> Instant {
        self.now
    }

    /// The tolerance.
    pub fn skew(&self) -> Duration {
        self.skew
    }

    /// The latest time accepted (the end of time when the tolerance reaches past it).
    pub fn latest(&self) -> Instant {
        let now = self.now.timestamp();
        now.checked_add(self.skew)
            .unwrap_or(jiff::Timestamp::MAX)
            .into()
    }
}

impl From<Instant> for Horizon {
    fn from(now: Instant) -> Self {
        Horizon::new(now, DEFAULT_CLOCK_SKEW)
    }
}

impl From<jiff::Timestamp> for Horizon {
    fn from(now: jiff::Timestamp) -> Self {
        Horizon::new(now, DEFAULT_CLOCK_SKEW)
    }
}

/// Checks orders for `createOrders`: every problem of every order, or `Ok`.
///
/// Rules: `enterpriseId` and `orderId` present; `orderId` made of letters, digits, `-` and `_`;
/// `eventTime` present (CJ's guide requires it though the schema does not) and not after the
/// [`Horizon`] (`now` plus a tolerance: [`DEFAULT_CLOCK_SKEW`] when `now` is an [`Instant`]);
/// attribution by `cjEvent` (at most 64 characters) or by both `adId` and
/// `promotionalPropertyId`; at most 100 items, each with a SKU; `currency` a 3-letter code;
/// `verticalParameters.advertiserVertical` one of CJ's `VerticalType` values; no two orders with
/// the same enterprise id, action tracker and order id.
///
/// Enum values are checked because CJ's input enums are closed: one unknown value makes CJ
/// refuse the whole request, valid orders included.
pub fn validate_create(
    orders: &[OrderCreateRequest],
    now: impl Into<Horizon>,
) -> Result<(), InvalidInput> {
    validate(orders, now.into())
}

/// Checks orders for `restateOrders`: the order key as for create, `updateTime` not after
/// the [`Horizon`], at most 100 items each with a SKU, `currency` a 3-letter code, `status`,
/// `correctionReason` and `verticalParameters.advertiserVertical` among CJ's values, no
/// duplicate keys.
pub fn validate_restate(
    orders: &[OrderRestateRequest],
    now: impl Into<Horizon>,
) -> Result<(), InvalidInput> {
    validate(orders, now.into())
}

/// Checks orders for `cancelOrders`: the order key as for create, `updateTime` not after the
/// [`Horizon`],
/// `status` and `correctionReason` among CJ's values, no duplicate keys.
pub fn validate_cancel(
    orders: &[OrderCancelRequest],
    now: impl Into<Horizon>,
) -> Result<(), InvalidInput> {
    validate(orders, now.into())
}

/// CJ's documented rules for one order: everything [`validate_create`] and its siblings check
/// except duplicate keys, which take the other orders of the request (see [`Duplicates`]).
pub trait OrderRules: OrderKey {
    /// The order's problems, each naming it as the order at `index` of the input; empty when
    /// it is valid. Its times may be up to `horizon` ahead.
    fn check(&self, index: usize, horizon: Horizon) -> Vec<Problem>;
}

impl OrderRules for OrderCreateRequest {
    fn check(&self, i: usize, now: Horizon) -> Vec<Problem> {
        let o = self;
        let mut v = Validator::new(now);
        v.key(i, &o.enterprise_id, &o.order_id);
        match o.event_time {
            None => v.problem(i, &o.order_id, "eventTime", "is required"),
            Some(t) => v.not_future(i, &o.order_id, "eventTime", t),
        }
        match (&o.cj_event, o.ad_id, o.promotional_property_id) {
            (Some(e), _, _) if e.as_str().is_empty() => {
                v.problem(i, &o.order_id, "cjEvent", "is empty")
            }
            (Some(e), _, _) if e.as_str().len() > MAX_CJ_EVENT_LEN => v.problem(
                i,
                &o.order_id,
                "cjEvent",
                format!("is longer than {MAX_CJ_EVENT_LEN} characters"),
            ),
            (Some(_), _, _) | (None, Some(_), Some(_)) => {}
            (None, _, _) => v.problem(
                i,
                &o.order_id,
                "cjEvent",
                "is required, unless both adId and promotionalPropertyId are given",
            ),
        }
        v.items(i, &o.order_id, o.items.as_deref());
        v.currency(i, &o.order_id, o.currency.as_deref());
        v.vertical(i, &o.order_id, o.vertical_parameters.as_deref());
        v.problems
    }
}

impl OrderRules for OrderRestateRequest {
    fn check(&self, i: usize, now: Horizon) -> Vec<Problem> {
        let o = self;
        let mut v = Validator::new(now);
        v.key(i, &o.enterprise_id, &o.order_id);
        v.not_future(i, &o.order_id, "updateTime", o.update_time);
        v.items(i, &o.order_id, o.items.as_deref());
        v.currency(i, &o.order_id, o.currency.as_deref());
        v.vertical(i, &o.order_id, o.vertical_parameters.as_deref());
        v.closed(i, &o.order_id, "status", o.status.as_ref());
        v.closed(
            i,
            &o.order_id,
            "correctionReason",
            o.correction_reason.as_ref(),
        );
        v.problems
    }
}

impl OrderRules for OrderCancelRequest {
    fn check(&self, i: usize, now: Horizon) -> Vec<Problem> {
        let o = self;
        let mut v = Validator::new(now);
        v.key(i, &o.enterprise_id, &o.order_id);
        v.not_future(i, &o.order_id, "updateTime", o.update_time);
        v.closed(i, &o.order_id, "status", o.status.as_ref());
        v.closed(
            i,
            &o.order_id,
            "correctionReason",
            o.correction_reason.as_ref(),
        );
        v.problems
    }
}

/// Every problem of every order, duplicate keys included.
fn validate<O: OrderRules>(orders: &[O], now: Horizon) -> Result<(), InvalidInput> {
    let mut problems = Vec::new();
    let mut duplicates = Duplicates::with_capacity(orders.len());
    for (i, o) in orders.iter().enumerate() {
        problems.extend(o.check(i, now));
        problems.extend(duplicates.add(i, o));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(InvalidInput { problems })
    }
}

/// Finds orders that repeat an earlier one's key (enterprise id, action tracker id and order
/// id): CJ would count them once.
#[derive(Debug, Default)]
pub struct Duplicates<'a> {
    seen: foldhash::HashMap<(&'a str, NonNegativeInt, &'a str), usize>,
}

impl<'a> Duplicates<'a> {
    /// Room for `orders` keys up front: a request of 10,000 is not rehashed as it grows.
    pub fn with_capacity(orders: usize) -> Self {
        Duplicates {
            seen: foldhash::HashMap::with_capacity_and_hasher(orders, Default::default()),
        }
    }

    /// Adds the order at `index`; the problem when an earlier order has its key.
    pub fn add(&mut self, index: usize, order: &'a impl OrderKey) -> Option<Problem> {
        let key = order.order_key();
        let first = self.seen.insert(key, index)?;
        // Name the first occurrence on every repeat, not the previous repeat.
        self.seen.insert(key, first);
        Some(repeated_key(index, key.2, format_args!("order {first}")))
    }
}

/// The problem of the order at `index` whose key repeats an earlier order's, named by
/// `earlier` (`order 3`; the CLI says `line 4`).
pub fn repeated_key(index: usize, order_id: &str, earlier: impl std::fmt::Display) -> Problem {
    let id = (!order_id.is_empty()).then(|| order_id.to_string());
    Problem::new(
        "order",
        Some(index),
        id,
        "orderId",
        format!(
            "repeats {earlier} (same enterpriseId, actionTrackerId and orderId); \
             CJ would count it once"
        ),
    )
}

struct Validator {
    now: Horizon,
    problems: Vec<Problem>,
}

impl Validator {
    fn new(now: Horizon) -> Self {
        Validator {
            now,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, index: usize, order_id: &str, field: &str, message: impl Into<String>) {
        let id = (!order_id.is_empty()).then(|| order_id.to_string());
        self.problems
            .push(Problem::new("order", Some(index), id, field, message));
    }

    fn key(&mut self, i: usize, enterprise: &Id, order_id: &str) {
        if enterprise.as_str().trim().is_empty() {
            self.problem(i, order_id, "enterpriseId", "is required");
        }
        if order_id.is_empty() {
            self.problem(i, order_id, "orderId", "is required");
        } else if let Some(c) = order_id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            self.problem(
                i,
                order_id,
                "orderId",
                format!("may hold only letters, digits, `-` and `_`, not {c:?}"),
            );
        }
    }

    fn not_future(&mut self, i: usize, order_id: &str, field: &str, t: Instant) {
        if t > self.now.latest() {
            let ahead = t.timestamp().duration_since(self.now.clock().timestamp());
            // A few minutes' skew is worth its figure; a wrong year is not (and would make the
            // message change with every second).
            let ahead = if ahead >= jiff::SignedDuration::from_hours(24) {
                "more than a day".to_string()
            } else {
                let ahead = ahead.round(jiff::Unit::Second).unwrap_or(ahead);
                format!("{ahead:#}")
            };
            let skew = jiff::SignedDuration::try_from(self.now.skew()).unwrap_or_default();
            self.problem(
                i,
                order_id,
                field,
                format!(
                    "{t} is in the future: {ahead} ahead of this host's clock, more than the \
                     {skew:#} allowed for clock skew; CJ refuses the whole request"
                ),
            );
        }
    }

    fn items(&mut self, i: usize, order_id: &str, items: Option<&[OrderItemInput]>) {
        let items = items.unwrap_or_default();
        if items.len() > MAX_ITEMS_PER_ORDER {
            self.problem(
                i,
                order_id,
                "items",
                format!(
                    "has {} items; CJ takes at most {MAX_ITEMS_PER_ORDER}",
                    items.len()
                ),
            );
        }
        for (n, item) in items.iter().enumerate() {
            if item.sku.trim().is_empty() {
                self.problem(i, order_id, &format!("items[{n}].sku"), "is required");
            }
        }
    }

    fn currency(&mut self, i: usize, order_id: &str, currency: Option<&str>) {
        if let Some(c) = currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            self.problem(
                i,
                order_id,
                "currency",
                format!("{c:?} is not a 3-letter currency code such as \"USD\""),
            );
        }
    }

    fn vertical(&mut self, i: usize, order_id: &str, vertical: Option<&VerticalParametersInput>) {
        let value = vertical.and_then(|v| v.advertiser_vertical.as_ref());
        self.closed(i, order_id, "verticalParameters.advertiserVertical", value);
    }

    /// A value of one of CJ's closed input enums, refused when this SDK does not know it.
    fn closed<E: CjEnum>(&mut self, i: usize, order_id: &str, field: &str, value: Option<&E>) {
        let Some(text) = value.and_then(CjEnum::unknown) else {
            return;
        };
        let known = E::KNOWN;
        let mut message = format!(
            "{text:?} is not one of CJ's values ({}); CJ would refuse the whole request",
            known.join(", ")
        );
        if let Some(hint) = closest(text, known) {
            message.push_str(&format!("; did you mean {hint:?}?"));
        }
        self.problem(i, order_id, field, message);
    }
}

/// The known value that `text` most likely meant: the same but for case, or one that starts
/// with it or contains it, ignoring case and separators (`RETURNED` -> `ReturnedMerchandise`).
fn closest<'k>(text: &str, known: &[&'k str]) -> Option<&'k str> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = fold(text);
    if wanted.is_empty() {
        return None;
    }
    let folded: Vec<(String, &'k str)> = known.iter().map(|k| (fold(k), *k)).collect();
    folded
        .iter()
        .find(|(k, _)| *k == wanted)
        .or_else(|| folded.iter().find(|(k, _)| k.starts_with(&wanted)))
        .or_else(|| {
            folded
                .iter()
                .find(|(k, _)| k.contains(&wanted) || wanted.contains(k.as_str()))
        })
        .map(|(_, k)| *k)
}
