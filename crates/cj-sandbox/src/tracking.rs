//! The Tracking API: `createOrders`, `restateOrders`, `cancelOrders`, and the ledger of what
//! the live endpoint recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Error, ErrorExtensions};
use serde::Serialize;
use serde_json::{Value, json};

use crate::graphql::{Resolver, to_json};

/// CJ's limits.
const MAX_ORDERS: usize = 10_000;
const MAX_ITEMS: usize = 100;

/// The extension code that makes the handler answer HTTP 504, as CJ does for oversize batches.
pub(crate) const GATEWAY_TIMEOUT: &str = "GATEWAY_TIMEOUT";

/// Whether a request came to `/graphql` (recorded) or `/graphqltest` (validated only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Live(pub bool);

/// What the Tracking API knows besides its ledger.
#[derive(Debug, Default)]
pub(crate) struct TrackingRules {
    pub open_ended: HashSet<String>,
    pub enterprises: Option<HashSet<String>>,
}

/// Every order the live endpoint recorded: its current state and its history.
#[derive(Debug, Default)]
pub struct Ledger {
    orders: Mutex<BTreeMap<(String, String, String), LedgerEntry>>,
    submissions: AtomicU64,
}

/// One order in the ledger.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// The advertiser.
    pub enterprise_id: String,
    /// The action tracker.
    pub action_tracker_id: String,
    /// The advertiser's order id.
    pub order_id: String,
    /// `pending` (open-ended), `new`, `accepted`, `restated`, `declined` or `cancelled`.
    pub state: String,
    /// The order as it stands (a restatement replaces it whole).
    pub order: Value,
    /// Every request that touched it, in order.
    pub history: Vec<LedgerEvent>,
}

/// One request in an order's history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEvent {
    /// `create`, `duplicate create`, `restate` or `cancel`.
    pub action: String,
    /// The state after it.
    pub state: String,
    /// CJ's submission id for it.
    pub submission_id: String,
    /// When it was received.
    pub received: String,
}

impl Ledger {
    /// Every order, as JSON: `{"orders": [...]}`.
    pub fn to_json(&self) -> Value {
        let orders = self
            .orders
            .lock()
            .map(|o| o.values().cloned().collect::<Vec<_>>());
        json!({"orders": orders.unwrap_or_default()})
    }

    fn next_submission(&self) -> String {
        format!(
            "sbx-{:08}",
            self.submissions.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

type Key = (String, String, String);

fn key(order: &Value) -> Key {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    (
        text(order.get("enterpriseId")),
        text(order.get("actionTrackerId")),
        text(order.get("orderId")),
    )
}

/// The three mutations' resolvers.
pub(crate) fn resolvers(
    ledger: Arc<Ledger>,
    rules: Arc<TrackingRules>,
) -> HashMap<&'static str, Resolver> {
    let mut map: HashMap<&'static str, Resolver> = HashMap::new();
    for (field, argument) in [
        ("Mutation.createOrders", "newOrders"),
        ("Mutation.restateOrders", "restatedOrders"),
        ("Mutation.cancelOrders", "cancelledOrders"),
    ] {
        let ledger = ledger.clone();
        let rules = rules.clone();
        map.insert(
            field,
            Arc::new(move |ctx: ResolverContext<'_>| {
                let result =
                    submit(&ctx, argument, &ledger, &rules).map(|v| Some(FieldValue::owned_any(v)));
                FieldFuture::new(async move { result })
            }),
        );
    }
    map.insert(
        "Query.getBuildNumber",
        Arc::new(|_ctx: ResolverContext<'_>| {
            FieldFuture::from_value(Some(async_graphql::Value::String(format!(
                "cj-sandbox {}",
                env!("CARGO_PKG_VERSION")
            ))))
        }),
    );
    map
}

fn submit(
    ctx: &ResolverContext<'_>,
    argument: &str,
    ledger: &Ledger,
    rules: &TrackingRules,
) -> Result<Value, Error> {
    let live = ctx.data::<Live>().map(|l| l.0).unwrap_or(false);
    let orders = match to_json(ctx.args.try_get(argument)?.as_value()) {
        Value::Array(orders) => orders,
        single @ Value::Object(_) => vec![single],
        _ => Vec::new(),
    };
    if orders.len() > MAX_ORDERS {
        return Err(Error::new(
            "Gateway Timeout: reduce the batch to 10,000 records or fewer and resubmit",
        )
        .extend_with(|_, e| e.set("code", GATEWAY_TIMEOUT)));
    }
    let now = jiff::Timestamp::now();
    for order in &orders {
        if order
            .get("items")
            .and_then(Value::as_array)
            .is_some_and(|i| i.len() > MAX_ITEMS)
        {
            return Err(Error::new("Order may not have more than 100 items"));
        }
        for field in ["eventTime", "updateTime"] {
            if let Some(t) = order.get(field).and_then(Value::as_str)
                && parse_time(t).is_some_and(|t| t > now)
            {
                return Err(Error::new(
                    "Order may not have a eventTime/updateTime in the future",
                ));
            }
        }
        if let Some(allowed) = &rules.enterprises
            && !allowed.contains(&key(order).0)
        {
            return Err(Error::new("Unauthorized"));
        }
    }
    let batch = format!("sbx-batch-{}", now.as_millisecond());
    let received = now.to_string();
    let mut answered = Vec::with_capacity(orders.len());
    let mut book = ledger
        .orders
        .lock()
        .map_err(|_| Error::new("the ledger is unavailable"))?;
    for order in orders {
        let submission = ledger.next_submission();
        let k = key(&order);
        let answer = match argument {
            "newOrders" => {
                let open_ended = rules.open_ended.contains(&k.1);
                let echo = echo_order(
                    &order,
                    &submission,
                    &batch,
                    &received,
                    open_ended.then_some("Pending"),
                );
                if live {
                    let state = if open_ended { "pending" } else { "new" };
                    match book.get_mut(&k) {
                        // CJ deduplicates on enterprise + action tracker + order id.
                        Some(entry) => entry.history.push(event(
                            "duplicate create",
                            &entry.state,
                            &submission,
                            &received,
                        )),
                        None => {
                            book.insert(
                                k.clone(),
                                LedgerEntry {
                                    enterprise_id: k.0.clone(),
                                    action_tracker_id: k.1.clone(),
                                    order_id: k.2.clone(),
                                    state: state.into(),
                                    order: echo.clone(),
                                    history: vec![event("create", state, &submission, &received)],
                                },
                            );
                        }
                    }
                }
                echo
            }
            "restatedOrders" => {
                let status = order
                    .get("status")
                    .and_then(Value::as_str)
                    .map(String::from);
                let echo = echo_order(&order, &submission, &batch, &received, status.as_deref());
                // An unknown order is answered like any other, and never shows in the ledger.
                if live && let Some(entry) = book.get_mut(&k) {
                    let state = match status.as_deref() {
                        Some("Accepted") => "accepted",
                        Some("Pending") => "pending",
                        _ => "restated",
                    };
                    entry.state = state.into();
                    entry.order = echo.clone();
                    entry
                        .history
                        .push(event("restate", state, &submission, &received));
                }
                echo
            }
            _ => {
                let status = order.get("status").and_then(Value::as_str);
                let echo = json!({
                    "submissionId": submission,
                    "batchId": batch,
                    "advertiser": {"enterpriseId": k.0},
                    "actionTracker": {"id": order.get("actionTrackerId")},
                    "orderId": k.2,
                    "updateTime": order.get("updateTime"),
                    "status": status,
                    "correctionReason": order.get("correctionReason"),
                });
                if live && let Some(entry) = book.get_mut(&k) {
                    let state = if status == Some("Declined") {
                        "declined"
                    } else {
                        "cancelled"
                    };
                    entry.state = state.into();
                    entry
                        .history
                        .push(event("cancel", state, &submission, &received));
                }
                echo
            }
        };
        answered.push(answer);
    }
    Ok(json!({"orders": answered, "errors": []}))
}

fn event(action: &str, state: &str, submission: &str, received: &str) -> LedgerEvent {
    LedgerEvent {
        action: action.into(),
        state: state.into(),
        submission_id: submission.into(),
        received: received.into(),
    }
}

/// The `Order` CJ answers for a create or restate: the request's fields, with CJ's own.
fn echo_order(
    order: &Value,
    submission: &str,
    batch: &str,
    received: &str,
    status: Option<&str>,
) -> Value {
    let field = |name: &str| order.get(name).cloned().unwrap_or(Value::Null);
    let wrap_id = |name: &str| {
        order
            .get(name)
            .filter(|v| !v.is_null())
            .map(|v| json!({"id": v}))
    };
    json!({
        "submissionId": submission,
        "batchId": batch,
        "orderReceivedTime": received,
        "advertiser": {"enterpriseId": field("enterpriseId")},
        "actionTracker": {"id": field("actionTrackerId")},
        "orderId": field("orderId"),
        "eventTime": field("eventTime"),
        "updateTime": field("updateTime"),
        "ad": wrap_id("adId"),
        "promotionalProperty": wrap_id("promotionalPropertyId"),
        "sid": field("sid"),
        "cjEvent": field("cjEvent"),
        "amount": field("amount"),
        "discount": field("discount"),
        "verticalParameters": field("verticalParameters"),
        "customParameters": order.get("customParameters").cloned().unwrap_or_else(|| json!([])),
        "items": order.get("items").cloned().unwrap_or_else(|| json!([])),
        "coupon": field("coupon"),
        "currency": field("currency"),
        "bypassChannel": field("bypassChannel"),
        "status": status,
        "correctionReason": field("correctionReason"),
        "ids": field("ids"),
    })
}

/// CJ's `Instant` forms: with `Z`, with an offset, or a bare date.
pub(crate) fn parse_time(text: &str) -> Option<jiff::Timestamp> {
    text.parse::<jiff::Timestamp>().ok().or_else(|| {
        text.parse::<jiff::civil::Date>()
            .ok()?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })
}

/// Input checks for the Tracking scalars, as their descriptions in CJ's schema state them.
pub(crate) fn scalar_checks() -> HashMap<&'static str, crate::graphql::ScalarCheck> {
    let mut map: HashMap<&'static str, crate::graphql::ScalarCheck> = HashMap::new();
    map.insert(
        "Instant",
        |v| matches!(v, async_graphql::Value::String(s) if parse_time(s).is_some()),
    );
    map.insert("NonNegativeDecimalNumber", |v| match v {
        async_graphql::Value::String(s) => {
            let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
            let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
            digits(int) && digits(frac)
        }
        _ => false,
    });
    map.insert("NonNegativeInt", |v| {
        matches!(v, async_graphql::Value::Number(n) if n.as_u64().is_some_and(|n| n <= i32::MAX as u64))
    });
    map
}
