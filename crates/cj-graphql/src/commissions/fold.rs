//! Corrections: from the records of one action to its current state.
//!
//! CJ never changes a commission record. When an advertiser restates or cancels an order, CJ
//! adds a **correction record**: `original: false`, its own `commissionId`, the same `orderId`,
//! `originalActionId` pointing at the original action, a `correctionReason`, and amounts that
//! are the *change* (negative for a return). The action's current amounts are the sums over its
//! records; its current status is the latest record's.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rust_decimal::Decimal;

use super::{ActionStatus, CommissionRecord, CorrectionReason, id_order};

/// The current state of one action: its original record and every correction, folded.
///
/// Made by [`fold_action`] or [`fold_actions`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ActionState<R> {
    /// The action's `originalActionId`, as its corrections name it.
    pub original_action_id: String,
    /// The order's `orderId` (the original's, else the first record's that has one).
    pub order_id: Option<String>,
    /// Whether the original record is among the records (a correction read without its
    /// original, in a later date range, leaves the amounts as changes only).
    pub has_original: bool,
    /// The sale amount in USD: the sum of every record's `saleAmountUsd`, `None` when no record
    /// has one.
    pub sale_amount_usd: Option<Decimal>,
    /// The sale amount in the publisher's currency: the sum of every `saleAmountPubCurrency`.
    pub sale_amount_pub_currency: Option<Decimal>,
    /// The publisher's commission in USD: the sum of every `pubCommissionAmountUsd`.
    pub commission_usd: Decimal,
    /// The publisher's commission in the publisher's currency: the sum of every
    /// `pubCommissionAmountPubCurrency`.
    pub commission_pub_currency: Decimal,
    /// The latest record's `actionStatus`.
    pub status: ActionStatus,
    /// Every correction's `correctionReason`, oldest first.
    pub correction_reasons: Vec<CorrectionReason>,
    /// Every record: the original first, then the corrections by posting date (and commission
    /// id for the same date).
    pub history: Vec<R>,
}

impl<R> ActionState<R> {
    /// Whether any correction was made.
    pub fn is_corrected(&self) -> bool {
        self.history.len() > usize::from(self.has_original)
    }
}

/// Why records could not be folded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FoldError {
    /// No record was given.
    #[error("no record to fold")]
    Empty,
    /// The records are not all of one action.
    #[error(
        "commission {commission_id} belongs to action {found}, not to action {expected} \
         like the records before it"
    )]
    OtherAction {
        /// The action of the first record.
        expected: String,
        /// The action of the record that differs.
        found: String,
        /// That record's `commissionId`.
        commission_id: String,
    },
    /// The records hold two originals.
    #[error("action {action} has two original records: {first} and {second}")]
    TwoOriginals {
        /// The action.
        action: String,
        /// The first original's `commissionId`.
        first: String,
        /// The second original's `commissionId`.
        second: String,
    },
    /// A sum is out of `Decimal`'s range.
    #[error("the {field} of action {action} is out of range")]
    Overflow {
        /// The action.
        action: String,
        /// The sum that overflowed.
        field: &'static str,
    },
}

/// Folds the records of one action (its original and its corrections, in any order) into its
/// current state.
///
/// A correction belongs to the original whose `commissionId` or `originalActionId` its
/// `originalActionId` names. Records of another action are an error.
pub fn fold_action<R: CommissionRecord>(
    records: impl IntoIterator<Item = R>,
) -> Result<ActionState<R>, FoldError> {
    let mut states = fold_actions(records)?.into_iter();
    let state = states.next().ok_or(FoldError::Empty)?;
    match states.next() {
        None => Ok(state),
        Some(other) => Err(FoldError::OtherAction {
            expected: state.original_action_id,
            commission_id: other
                .history
                .first()
                .map(|r| r.commission_id().to_string())
                .unwrap_or_default(),
            found: other.original_action_id,
        }),
    }
}

/// Groups records into actions (original and corrections) and folds each, in the order each
/// action first appears: a day's records become each order's current state.
pub fn fold_actions<R: CommissionRecord>(
    records: impl IntoIterator<Item = R>,
) -> Result<Vec<ActionState<R>>, FoldError> {
    let (originals, corrections): (Vec<R>, Vec<R>) =
        records.into_iter().partition(|r| r.original());
    let mut groups: Vec<(String, Vec<R>)> = Vec::new();
    // Both ids of an original name its group: CJ's corrections point at it through either.
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for record in originals {
        let action = record.original_action_id().to_string();
        if let Some(&group) = by_id.get(&action) {
            let first = groups
                .get(group)
                .and_then(|(_, records)| records.first())
                .map(|r| r.commission_id().to_string())
                .unwrap_or_default();
            return Err(FoldError::TwoOriginals {
                action,
                first,
                second: record.commission_id().to_string(),
            });
        }
        let group = groups.len();
        by_id.insert(action.clone(), group);
        by_id
            .entry(record.commission_id().to_string())
            .or_insert(group);
        groups.push((action, vec![record]));
    }
    for record in corrections {
        match by_id.entry(record.original_action_id().to_string()) {
            Entry::Occupied(group) => {
                if let Some((_, records)) = groups.get_mut(*group.get()) {
                    records.push(record);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(groups.len());
                groups.push((record.original_action_id().to_string(), vec![record]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(action, records)| fold_group(action, records))
        .collect()
}

/// Folds one group: at most one original, which is first.
fn fold_group<R: CommissionRecord>(
    original_action_id: String,
    mut history: Vec<R>,
) -> Result<ActionState<R>, FoldError> {
    history.sort_by(|a, b| {
        b.original()
            .cmp(&a.original())
            .then_with(|| a.posting_date().cmp(&b.posting_date()))
            .then_with(|| id_order(a.commission_id(), b.commission_id()))
    });
    let overflow = |field| FoldError::Overflow {
        action: original_action_id.clone(),
        field,
    };
    let add_option = |sum: Option<Decimal>, value: Option<Decimal>, field| match (sum, value) {
        (Some(s), Some(v)) => s.checked_add(v).map(Some).ok_or_else(|| overflow(field)),
        (s, v) => Ok(s.or(v)),
    };
    let mut state = ActionState {
        order_id: None,
        has_original: history.first().is_some_and(|r| r.original()),
        sale_amount_usd: None,
        sale_amount_pub_currency: None,
        commission_usd: Decimal::ZERO,
        commission_pub_currency: Decimal::ZERO,
        status: ActionStatus::New,
        correction_reasons: Vec::new(),
        history: Vec::new(),
        original_action_id: original_action_id.clone(),
    };
    for record in &history {
        if state.order_id.is_none() {
            state.order_id = record.order_id().map(str::to_string);
        }
        state.sale_amount_usd = add_option(
            state.sale_amount_usd,
            record.sale_amount_usd(),
            "sale amount (USD)",
        )?;
        state.sale_amount_pub_currency = add_option(
            state.sale_amount_pub_currency,
            record.sale_amount_pub_currency(),
            "sale amount (publisher's currency)",
        )?;
        state.commission_usd = state
            .commission_usd
            .checked_add(record.pub_commission_amount_usd())
            .ok_or_else(|| overflow("commission (USD)"))?;
        state.commission_pub_currency = state
            .commission_pub_currency
            .checked_add(record.pub_commission_amount_pub_currency())
            .ok_or_else(|| overflow("commission (publisher's currency)"))?;
        state.status = record.action_status().clone();
        if !record.original()
            && let Some(reason) = record.correction_reason()
        {
            state.correction_reasons.push(reason.clone());
        }
    }
    state.history = history;
    Ok(state)
}
