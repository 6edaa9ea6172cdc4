//! The Commission Detail API: `advertiserCommissions` and `publisherCommissions`, built from
//! what the live Tracking endpoint recorded, as CJ builds them from the orders it processes.
//!
//! Processing is lazy: each query first processes the ledger's requests whose processing
//! delay has passed, in the order they were recorded, into the `commissions` table (one record
//! per create, restate or cancel that processes; commission ids in processing order), then
//! reads one page of that table. The rules are in the README ("Commission Detail").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Error;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use graphql_parser::schema as s;
use rusqlite::{OptionalExtension, Transaction, params, params_from_iter, types::Value as Sql};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::graphql::{Resolver, to_json};
use crate::tracking::{Ledger, TrackingRules, parse_time};
use crate::{SandboxConfig, SandboxError};

/// CJ's most records per answer, the default of [`SandboxConfig::commission_page_limit`].
pub const COMMISSION_PAGE_LIMIT: usize = 10_000;

/// The publisher every live order is attributed to: the seed's publisher, whose contracts the
/// Program Terms API serves.
pub const SANDBOX_PUBLISHER_ID: &str = "7654321";
const SANDBOX_PUBLISHER_NAME: &str = "Sandbox Publisher";

/// The publisher's commission and CJ's fee, as shares of the sale amount (no program terms
/// are applied: the same rates for every action).
const PUBLISHER_RATE: (i64, u32) = (10, 2);
const CJ_FEE_RATE: (i64, u32) = (3, 2);

/// A commission locks this long after its event (`FIXED_DURATION`).
const LOCKING_DAYS: i64 = 30;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// CJ's longest date range: 31 days.
const MAX_RANGE_MS: i64 = 31 * DAY_MS;

/// The most ledger requests one query processes (a backlog is caught up over several
/// queries, as CJ's processing lags), and how many are read at a time.
const MAX_PROCESSED_PER_QUERY: usize = 100_000;
const PROCESSING_CHUNK: i64 = 1_000;

/// Room kept in an answer for what surrounds its records.
const ANSWER_SLACK: usize = 1024;

/// How the sandbox turns the live Tracking endpoint's requests into Commission Detail
/// records. Set with [`SandboxConfig::processing_delay`],
/// [`SandboxConfig::unprocessed_share`] and [`SandboxConfig::commission_page_limit`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommissionRules {
    /// How long after its request an order, restate or cancel becomes a record (its posting
    /// date); default zero.
    pub processing_delay: Duration,
    /// The share of orders (0 to 1) that silently fail processing and never become records;
    /// default 0.
    pub unprocessed_share: f64,
    /// The seed that picks those orders (the same orders for the same seed).
    pub unprocessed_seed: u64,
    /// The most records one answer holds; default CJ's 10,000.
    pub page_limit: usize,
}

impl Default for CommissionRules {
    fn default() -> Self {
        CommissionRules {
            processing_delay: Duration::ZERO,
            unprocessed_share: 0.0,
            unprocessed_seed: 0,
            page_limit: COMMISSION_PAGE_LIMIT,
        }
    }
}

impl SandboxConfig {
    /// Makes an order (and each restate or cancel of it) sent to the live Tracking endpoint a
    /// Commission Detail record only this long after its request, as CJ processes orders
    /// later (up to an hour or more). The record's posting date is the request's time plus
    /// the delay. Default zero: a record as soon as the next query.
    pub fn processing_delay(mut self, delay: Duration) -> Self {
        self.commissions.processing_delay = delay;
        self
    }

    /// Makes this share of live orders (0 to 1) silently fail processing: they are answered
    /// and recorded in the ledger like any other but never become commission records, nor do
    /// their restates and cancels (CJ never reports a processing failure). Which orders fail
    /// depends only on `seed` and the order's enterprise id, action tracker and order id. Any
    /// order whose `cjEvent` starts with `unattributed-` fails whatever the share.
    pub fn unprocessed_share(mut self, share: f64, seed: u64) -> Self {
        self.commissions.unprocessed_share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.commissions.unprocessed_seed = seed;
        self
    }

    /// The most records one Commission Detail answer holds (default CJ's 10,000; at least
    /// 1). With more, the answer says `payloadComplete: false` and `maxCommissionId` is the
    /// last id it holds; a small limit lets a test page with a few records.
    pub fn commission_page_limit(mut self, records: usize) -> Self {
        self.commissions.page_limit = records.max(1);
        self
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS commissions (
    commission_id INTEGER PRIMARY KEY,
    event_ref INTEGER UNIQUE,
    order_ref INTEGER,
    original_action TEXT NOT NULL,
    advertiser_id TEXT NOT NULL,
    publisher_id TEXT NOT NULL,
    ad_id TEXT,
    website_id TEXT,
    action_status TEXT NOT NULL,
    action_type TEXT NOT NULL,
    locking_method TEXT,
    validation_status TEXT,
    posting_ms INTEGER NOT NULL,
    event_ms INTEGER NOT NULL,
    locking_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS commissions_by_order ON commissions (order_ref, commission_id);
CREATE TABLE IF NOT EXISTS commission_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event INTEGER NOT NULL
);
";

/// The columns of a [`Row`], in the order [`Row::read`] reads them.
const ROW_COLUMNS: &str = "commission_id, event_ref, order_ref, original_action, advertiser_id, \
    publisher_id, ad_id, website_id, action_status, action_type, locking_method, \
    validation_status, posting_ms, event_ms, locking_ms, state, record";

/// An action's amounts after a record: what the next correction is the difference from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Amounts {
    sale: Decimal,
    commission: Decimal,
    fee: Decimal,
    discount: Decimal,
    /// Cancelled: a later restate or cancel fails processing.
    #[serde(default)]
    cancelled: bool,
}

impl Amounts {
    /// The amounts of an order as a create or restate sends it: `amount` (else the items'
    /// prices times quantities, less their discounts), the commission and fee at the sandbox's
    /// rates, to the cent. `None` when an amount cannot be read or is out of range (the order
    /// then fails processing).
    fn of(order: &Value) -> Option<Amounts> {
        let discount = decimal(order.get("discount"))?.unwrap_or_default();
        let sale = match decimal(order.get("amount"))? {
            Some(amount) => amount,
            None => {
                let mut sum = Decimal::ZERO;
                for item in order
                    .get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    sum = sum.checked_add(item_total(item)?)?;
                }
                sum
            }
        };
        Some(Amounts {
            sale,
            commission: share(sale, PUBLISHER_RATE)?,
            fee: share(sale, CJ_FEE_RATE)?,
            discount,
            cancelled: false,
        })
    }

    /// `self - before`, field by field.
    fn minus(&self, before: &Amounts) -> Option<Amounts> {
        Some(Amounts {
            sale: self.sale.checked_sub(before.sale)?,
            commission: self.commission.checked_sub(before.commission)?,
            fee: self.fee.checked_sub(before.fee)?,
            discount: self.discount.checked_sub(before.discount)?,
            cancelled: self.cancelled,
        })
    }

    /// Writes the amounts into a record, in every currency (the sandbox converts none).
    fn write(&self, record: &mut Map<String, Value>) -> Option<()> {
        let text = |d: Decimal| Value::String(d.to_string());
        let advertiser = self.commission.checked_add(self.fee)?;
        for (fields, value) in [
            (
                &[
                    "saleAmountAdvCurrency",
                    "saleAmountPubCurrency",
                    "saleAmountUsd",
                ][..],
                self.sale,
            ),
            (
                &["pubCommissionAmountPubCurrency", "pubCommissionAmountUsd"][..],
                self.commission,
            ),
            (&["cjFeeAdvCurrency", "cjFeeUsd"][..], self.fee),
            (
                &["advCommissionAmountAdvCurrency", "advCommissionAmountUsd"][..],
                advertiser,
            ),
            (
                &[
                    "orderDiscountAdvCurrency",
                    "orderDiscountOrigCurrency",
                    "orderDiscountPubCurrency",
                    "orderDiscountUsd",
                ][..],
                self.discount,
            ),
        ] {
            for field in fields {
                record.insert((*field).into(), text(value));
            }
        }
        Some(())
    }
}

/// A decimal of a request: `Some(None)` when absent or null, `None` when unreadable.
fn decimal(value: Option<&Value>) -> Option<Option<Decimal>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => s.parse().ok().map(Some),
        Some(Value::Number(n)) => n.to_string().parse().ok().map(Some),
        Some(_) => None,
    }
}

/// `amount` times a rate, to the cent.
fn share(amount: Decimal, (rate, scale): (i64, u32)) -> Option<Decimal> {
    Some(amount.checked_mul(Decimal::new(rate, scale))?.round_dp(2))
}

/// An item's price times its quantity, less its discount.
fn item_total(item: &Value) -> Option<Decimal> {
    let price = decimal(item.get("unitPrice"))?.unwrap_or_default();
    let quantity = Decimal::from(item.get("quantity").and_then(Value::as_i64).unwrap_or(0));
    let discount = decimal(item.get("discount"))?.unwrap_or_default();
    price.checked_mul(quantity)?.checked_sub(discount)
}

/// The items of a record, from the items of an order.
fn items(order: &Value, commission_id: i64) -> Option<Value> {
    let mut out = Vec::new();
    for (i, item) in order
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let price = decimal(item.get("unitPrice"))?
            .unwrap_or_default()
            .to_string();
        let discount = decimal(item.get("discount"))?.map(|d| d.to_string());
        let commission = share(item_total(item)?, PUBLISHER_RATE)?.to_string();
        out.push(json!({
            "commissionItemId": format!("{commission_id}-{}", i + 1),
            "sku": item.get("sku"),
            "quantity": item.get("quantity"),
            "perItemSaleAmountAdvCurrency": price,
            "perItemSaleAmountPubCurrency": price,
            "perItemSaleAmountUsd": price,
            "totalCommissionAdvCurrency": commission,
            "totalCommissionPubCurrency": commission,
            "totalCommissionUsd": commission,
            "discountAdvCurrency": discount,
            "discountPubCurrency": discount,
            "discountUsd": discount,
            "itemListId": null,
            "situationDetails": [],
        }));
    }
    Some(Value::Array(out))
}

/// The Tracking API's `verticalParameters` under Commission Detail's names
/// (`verticalAttributes`: every value a string, several names shortened).
fn vertical_attributes(order: &Value) -> Value {
    const RENAMED: [(&str, &str); 13] = [
        ("customerCountry", "custCountry"),
        ("customerSegment", "custSegment"),
        ("customerStatus", "custStatus"),
        ("customerType", "custType"),
        ("destinationCity", "destCity"),
        ("destinationCountry", "destCountry"),
        ("destinationState", "destState"),
        ("originCity", "orCity"),
        ("originCountry", "orCountry"),
        ("originState", "orState"),
        ("minimumBalance", "minBalance"),
        ("minimumDeposit", "minDeposit"),
        ("minimumStayDuration", "minStayDuration"),
    ];
    let Some(parameters) = order.get("verticalParameters").and_then(Value::as_object) else {
        return Value::Null;
    };
    let attributes: Map<String, Value> = parameters
        .iter()
        .filter_map(|(name, value)| {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Null | Value::Array(_) | Value::Object(_) => return None,
                other => other.to_string(),
            };
            let name = RENAMED
                .iter()
                .find(|(from, _)| from == name)
                .map_or(name.as_str(), |(_, to)| to);
            Some((name.to_string(), Value::String(value)))
        })
        .collect();
    Value::Object(attributes)
}

/// Commission Detail's `CorrectionReason` for the Tracking API's.
fn correction_reason(request: &Value) -> Value {
    let reason = match request.get("correctionReason").and_then(Value::as_str) {
        Some("BadDebt") => "BAD_DEBT",
        Some("Bankruptcy") => "BANKRUPTCY",
        Some("BookingCanceled") => "BOOKING_CANCELED",
        Some("CannotShipSoldOut") => "CANT_SHIP_OR_SOLD_OUT",
        Some("Compliance") => "COMPLIANCE",
        Some("DuplicateOrder") => "DUPLICATED_ORDER",
        Some("InvalidCreditCard") => "INVALID_CREDIT_CARD",
        Some("ReturnedMerchandise") => "RETURNED_MERCHANDISE",
        Some("UnqualifiedLead") => "UNQUALIFIED_LEAD",
        Some(_) => "OTHER_REASON",
        None => return Value::Null,
    };
    Value::String(reason.into())
}

/// A JSON value as text (ids travel as strings or numbers).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn instant(ms: i64) -> Value {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null)
}

/// One row of the `commissions` table.
#[derive(Debug, Clone)]
struct Row {
    commission_id: i64,
    event_ref: Option<i64>,
    order_ref: Option<i64>,
    original_action: String,
    advertiser_id: String,
    publisher_id: String,
    ad_id: Option<String>,
    website_id: Option<String>,
    action_status: String,
    action_type: String,
    locking_method: Option<String>,
    validation_status: Option<String>,
    posting_ms: i64,
    event_ms: i64,
    locking_ms: i64,
    state: Amounts,
    record: Value,
}

impl Row {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let state: String = row.get(15)?;
        let record: String = row.get(16)?;
        Ok(Row {
            commission_id: row.get(0)?,
            event_ref: row.get(1)?,
            order_ref: row.get(2)?,
            original_action: row.get(3)?,
            advertiser_id: row.get(4)?,
            publisher_id: row.get(5)?,
            ad_id: row.get(6)?,
            website_id: row.get(7)?,
            action_status: row.get(8)?,
            action_type: row.get(9)?,
            locking_method: row.get(10)?,
            validation_status: row.get(11)?,
            posting_ms: row.get(12)?,
            event_ms: row.get(13)?,
            locking_ms: row.get(14)?,
            state: serde_json::from_str(&state).unwrap_or_default(),
            record: serde_json::from_str(&record).unwrap_or(Value::Null),
        })
    }

    fn insert(&self, db: &rusqlite::Connection, or_ignore: bool) -> rusqlite::Result<()> {
        let verb = if or_ignore {
            "INSERT OR IGNORE"
        } else {
            "INSERT"
        };
        db.prepare_cached(&format!(
            "{verb} INTO commissions ({ROW_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ))?
        .execute(params![
            self.commission_id,
            self.event_ref,
            self.order_ref,
            self.original_action,
            self.advertiser_id,
            self.publisher_id,
            self.ad_id,
            self.website_id,
            self.action_status,
            self.action_type,
            self.locking_method,
            self.validation_status,
            self.posting_ms,
            self.event_ms,
            self.locking_ms,
            serde_json::to_string(&self.state).unwrap_or_default(),
            self.record.to_string(),
        ])?;
        Ok(())
    }

    /// A seeded record (CJ's shape: `commissionId` digits, the three dates, the ids).
    fn seed(record: &Value) -> Result<Row, String> {
        let field = |name: &str| text(record.get(name));
        let required = |name: &str| field(name).ok_or(format!("`{name}` is missing"));
        let ms = |name: &str| {
            let t = required(name)?;
            parse_time(&t)
                .map(|t| t.as_millisecond())
                .ok_or(format!("`{name}` is not a date: {t}"))
        };
        let id = required("commissionId")?;
        let commission_id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or(format!(
            "`commissionId` must be a positive number, not {id}"
        ))?;
        Ok(Row {
            commission_id,
            event_ref: None,
            order_ref: None,
            original_action: field("originalActionId").unwrap_or_else(|| id.clone()),
            advertiser_id: required("advertiserId")?,
            publisher_id: required("publisherId")?,
            ad_id: field("aid"),
            website_id: field("websiteId"),
            action_status: required("actionStatus")?,
            action_type: required("actionType")?,
            locking_method: field("lockingMethod"),
            validation_status: field("validationStatus"),
            posting_ms: ms("postingDate")?,
            event_ms: ms("eventDate")?,
            locking_ms: ms("lockingDate")?,
            state: Amounts::default(),
            record: record.clone(),
        })
    }
}

/// One request of the ledger, as processing reads it.
#[derive(Clone)]
struct Step {
    event: i64,
    order_ref: i64,
    action: String,
    received: String,
    request: Value,
    enterprise_id: String,
    action_tracker_id: String,
    order_id: String,
}

/// What processing knows besides the ledger.
struct Processing {
    rules: CommissionRules,
    /// The Tracking API's open-ended action trackers and the advertisers the token may
    /// report for.
    tracking: Arc<TrackingRules>,
    /// Advertiser CIDs to names, from the Advertiser Lookup seed.
    advertisers: HashMap<String, String>,
    /// Action tracker ids to their names and action types, from the same seed.
    trackers: HashMap<String, (String, &'static str)>,
}

impl Processing {
    fn new(config: &SandboxConfig, tracking: Arc<TrackingRules>) -> Processing {
        let mut advertisers = HashMap::new();
        let mut trackers = HashMap::new();
        for a in &config.data.advertisers.advertisers {
            advertisers.insert(a.advertiser_id.clone(), a.advertiser_name.clone());
            for action in &a.actions {
                let kind = match action.type_.as_str() {
                    "advanced sale" => "item_sale",
                    "lead" => "sim_lead",
                    "advanced lead" => "item_lead",
                    _ => "sim_sale",
                };
                trackers.insert(action.id.clone(), (action.name.clone(), kind));
            }
        }
        Processing {
            rules: config.commissions.clone(),
            tracking,
            advertisers,
            trackers,
        }
    }

    /// When a request received at `received` is processed.
    fn due(&self, received: &str, now_ms: i64) -> i64 {
        let delay = i64::try_from(self.rules.processing_delay.as_millis()).unwrap_or(i64::MAX);
        received
            .parse::<jiff::Timestamp>()
            .map_or(now_ms, |t| t.as_millisecond().saturating_add(delay))
    }

    /// Whether a create fails processing: unattributed, or among the configured share.
    fn fails(&self, step: &Step) -> bool {
        let unattributed = step
            .request
            .get("cjEvent")
            .and_then(Value::as_str)
            .is_some_and(|e| e.starts_with("unattributed-"));
        let key = format!(
            "{}/{}/{}",
            step.enterprise_id, step.action_tracker_id, step.order_id
        );
        unattributed
            || crate::faults::draw(self.rules.unprocessed_seed, &key) < self.rules.unprocessed_share
    }

    /// The original record of a create, or `None` when it fails processing.
    fn original(&self, step: &Step, id: i64, posting_ms: i64) -> Option<Row> {
        if self.fails(step) {
            return None;
        }
        let order = &step.request;
        let amounts = Amounts::of(order)?;
        let event_ms = text(order.get("eventTime"))
            .and_then(|t| parse_time(&t))
            .map_or(posting_ms, |t| t.as_millisecond());
        let locking_ms = event_ms.checked_add(LOCKING_DAYS * DAY_MS)?;
        let open_ended = self.tracking.open_ended.contains(&step.action_tracker_id);
        let (locking_method, validation_status) = if open_ended {
            ("OPEN_ENDED", "PENDING")
        } else {
            ("FIXED_DURATION", "AUTOMATED")
        };
        let has_items = order
            .get("items")
            .and_then(Value::as_array)
            .is_some_and(|i| !i.is_empty());
        let (tracker_name, action_type) = match self.trackers.get(&step.action_tracker_id) {
            Some((name, kind)) => (name.clone(), *kind),
            None => (
                format!("Action {}", step.action_tracker_id),
                if has_items { "item_sale" } else { "sim_sale" },
            ),
        };
        let advertiser_name = self
            .advertisers
            .get(&step.enterprise_id)
            .cloned()
            .unwrap_or_else(|| format!("Advertiser {}", step.enterprise_id));
        let ad_id = text(order.get("adId"));
        let website_id = text(order.get("promotionalPropertyId"));
        let mut record = json!({
            "actionTrackerId": step.action_tracker_id,
            "actionTrackerName": tracker_name,
            "actionType": action_type,
            "advertiserId": step.enterprise_id,
            "advertiserName": advertiser_name,
            "publisherId": SANDBOX_PUBLISHER_ID,
            "publisherName": SANDBOX_PUBLISHER_NAME,
            "aid": ad_id,
            "websiteId": website_id,
            "orderId": step.order_id,
            "eventDate": instant(event_ms),
            "postingDate": instant(posting_ms),
            "lockingDate": instant(locking_ms),
            "lockingMethod": locking_method,
            "validationStatus": validation_status,
            "original": true,
            "correctionReason": null,
            "shopperId": order.get("sid"),
            "situationDetails": [],
            "situations": [],
        });
        let fields = record.as_object_mut()?;
        write_order(fields, order, id)?;
        amounts.write(fields)?;
        Some(Row {
            commission_id: id,
            event_ref: Some(step.event),
            order_ref: Some(step.order_ref),
            original_action: id.to_string(),
            advertiser_id: step.enterprise_id.clone(),
            publisher_id: SANDBOX_PUBLISHER_ID.into(),
            ad_id,
            website_id,
            action_status: "new".into(),
            action_type: action_type.into(),
            locking_method: Some(locking_method.into()),
            validation_status: Some(validation_status.into()),
            posting_ms,
            event_ms,
            locking_ms,
            state: amounts,
            record,
        })
    }

    /// The correction records of a restate or cancel of the action whose latest record is
    /// `before` (ids from `id` up), or none when it fails processing: the action is
    /// cancelled, an open-ended one lacks its status, or a cancel of another sends one (as CJ
    /// documents). A cancel is one record of the difference; a restatement is two, as CJ
    /// shows it: a reversal of the current state to zero, then the new state.
    fn corrections(&self, step: &Step, before: Row, id: i64, posting_ms: i64) -> Vec<Row> {
        if step.action == "cancel" {
            return self
                .correction(step, before, id, posting_ms)
                .into_iter()
                .collect();
        }
        let reversal = Step {
            action: "reversal".into(),
            ..step.clone()
        };
        let Some(mut zero) = self.correction(&reversal, before.clone(), id, posting_ms) else {
            return Vec::new();
        };
        // The reversal is not the request's own record (that is the new state's).
        zero.event_ref = None;
        let next = id.checked_add(1);
        match next.and_then(|next| self.correction(step, zero.clone(), next, posting_ms)) {
            Some(new_state) => vec![zero, new_state],
            None => Vec::new(),
        }
    }

    /// One correction record (see [`Processing::corrections`]); a `reversal` step takes the
    /// action to zero.
    fn correction(&self, step: &Step, before: Row, id: i64, posting_ms: i64) -> Option<Row> {
        if before.state.cancelled {
            return None;
        }
        let request = &step.request;
        let status = request.get("status").and_then(Value::as_str);
        let open_ended = before.locking_method.as_deref() == Some("OPEN_ENDED");
        let cancel = step.action == "cancel";
        if step.action == "reversal" {
            return self.with_change(step, before, id, posting_ms, None, Amounts::default());
        }
        let (validation_status, after) = match (cancel, open_ended, status) {
            (false, true, Some("Accepted")) => ("ACCEPTED", Amounts::of(request)?),
            (false, true, Some("Pending")) => ("PENDING", Amounts::of(request)?),
            (false, false, _) => ("AUTOMATED", Amounts::of(request)?),
            (true, true, Some("Declined")) | (true, false, None) => {
                let declined = if open_ended { "DECLINED" } else { "AUTOMATED" };
                let zero = Amounts {
                    cancelled: true,
                    ..Amounts::default()
                };
                (declined, zero)
            }
            _ => return None,
        };
        self.with_change(step, before, id, posting_ms, Some(validation_status), after)
    }

    /// The record that takes the action from `before` to `after` (a cancel's or a reversal's
    /// has no items; a restatement's carries the request's order).
    fn with_change(
        &self,
        step: &Step,
        before: Row,
        id: i64,
        posting_ms: i64,
        validation_status: Option<&str>,
        after: Amounts,
    ) -> Option<Row> {
        let request = &step.request;
        let change = after.minus(&before.state)?;
        let validation_status = validation_status
            .map(String::from)
            .or_else(|| before.validation_status.clone());
        let mut record = before.record;
        let fields = record.as_object_mut()?;
        fields.insert("original".into(), Value::Bool(false));
        fields.insert("correctionReason".into(), correction_reason(request));
        fields.insert("postingDate".into(), instant(posting_ms));
        fields.insert(
            "validationStatus".into(),
            validation_status.clone().map_or(Value::Null, Value::String),
        );
        if step.action == "restate" {
            write_order(fields, request, id)?;
        } else {
            fields.insert("items".into(), json!([]));
        }
        change.write(fields)?;
        Some(Row {
            commission_id: id,
            event_ref: Some(step.event),
            posting_ms,
            validation_status,
            action_status: "new".into(),
            state: after,
            record,
            ..before
        })
    }
}

/// What a record takes from the order a create or restate sends: items, coupon and vertical
/// attributes.
fn write_order(record: &mut Map<String, Value>, order: &Value, id: i64) -> Option<()> {
    record.insert("items".into(), items(order, id)?);
    record.insert(
        "coupon".into(),
        order.get("coupon").cloned().unwrap_or(Value::Null),
    );
    record.insert("verticalAttributes".into(), vertical_attributes(order));
    Some(())
}

impl Ledger {
    /// Creates the commission tables and adds the seeded records (kept, not duplicated, in a
    /// ledger file that already has them).
    fn init_commissions(&self, seeded: &[Value]) -> Result<(), SandboxError> {
        let unavailable = |e: rusqlite::Error| SandboxError::Ledger(e.into());
        let mut db = self.lock();
        let tx = db.transaction().map_err(unavailable)?;
        tx.execute_batch(SCHEMA).map_err(unavailable)?;
        for (i, record) in seeded.iter().enumerate() {
            let row = Row::seed(record).map_err(|why| {
                SandboxError::Seed(format!("commissions.json, record {i}: {why}"))
            })?;
            row.insert(&tx, true).map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)
    }

    /// Processes the ledger's requests that are due at `now_ms` and not processed yet, in the
    /// order they were recorded, stopping at the first that is not due (so that commission ids
    /// follow processing order and a cursor never skips a record that appears later).
    fn process_commissions(
        &self,
        processing: &Processing,
        now_ms: i64,
    ) -> Result<(), rusqlite::Error> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        let start: i64 = tx
            .query_row(
                "SELECT last_event FROM commission_progress WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let mut last = start;
        let mut processed = 0usize;
        'chunks: while processed < MAX_PROCESSED_PER_QUERY {
            let chunk = read_steps(&tx, last)?;
            if chunk.is_empty() {
                break;
            }
            for step in chunk {
                let posting_ms = processing.due(&step.received, now_ms);
                if posting_ms > now_ms || processed == MAX_PROCESSED_PER_QUERY {
                    break 'chunks;
                }
                process_step(&tx, processing, &step, posting_ms)?;
                last = step.event;
                processed += 1;
            }
        }
        if last != start {
            tx.execute(
                "INSERT INTO commission_progress (id, last_event) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET last_event = excluded.last_event",
                [last],
            )?;
        }
        tx.commit()
    }

    /// One page of records for a query: at most `page_limit` records, and no more than
    /// `budget` bytes of them as `size` counts them.
    fn commission_page(
        &self,
        query: &Query,
        now_ms: i64,
        page_limit: usize,
        size: impl Fn(&Value) -> usize,
        budget: usize,
    ) -> Result<Value, rusqlite::Error> {
        let db = self.lock();
        let status = format!(
            "(CASE WHEN action_status = 'new' AND locking_ms <= {now_ms} THEN 'locked' \
             ELSE action_status END)"
        );
        let (filter, mut values) = query.filter(&status);
        values.push(Sql::Integer(
            i64::try_from(page_limit.saturating_add(1)).unwrap_or(i64::MAX),
        ));
        let mut select = db.prepare(&format!(
            "SELECT commission_id, original_action, {status}, record FROM commissions
             WHERE {filter} ORDER BY commission_id LIMIT ?"
        ))?;
        let mut rows = select.query(params_from_iter(values))?;
        let mut records = Vec::new();
        let mut used = 0usize;
        let mut complete = true;
        let mut max_id = None;
        while let Some(row) = rows.next()? {
            if records.len() == page_limit {
                complete = false;
                break;
            }
            let id: i64 = row.get(0)?;
            let record_text: String = row.get(3)?;
            let mut record: Value =
                serde_json::from_str(&record_text).unwrap_or_else(|_| json!({}));
            if let Some(fields) = record.as_object_mut() {
                fields.insert("commissionId".into(), id.to_string().into());
                fields.insert("originalActionId".into(), row.get::<_, String>(1)?.into());
                fields.insert("actionStatus".into(), row.get::<_, String>(2)?.into());
            }
            // A page also ends before the limit when it would outgrow the answer limit.
            used = used.saturating_add(size(&record));
            if used > budget && !records.is_empty() {
                complete = false;
                break;
            }
            max_id = Some(id.to_string());
            records.push(record);
        }
        Ok(json!({
            "count": records.len(),
            "limit": page_limit,
            "maxCommissionId": max_id,
            "payloadComplete": complete,
            "records": records,
        }))
    }
}

/// The ledger's requests after event `after`, one chunk.
fn read_steps(tx: &Transaction<'_>, after: i64) -> Result<Vec<Step>, rusqlite::Error> {
    let mut select = tx.prepare_cached(
        "SELECT e.id, e.order_ref, e.action, e.received, e.request,
                o.enterprise_id, o.action_tracker_id, o.order_id
         FROM ledger_events e JOIN ledger_orders o ON o.id = e.order_ref
         WHERE e.id > ?1 ORDER BY e.id LIMIT ?2",
    )?;
    select
        .query_map(params![after, PROCESSING_CHUNK], |r| {
            let request: String = r.get(4)?;
            Ok(Step {
                event: r.get(0)?,
                order_ref: r.get(1)?,
                action: r.get(2)?,
                received: r.get(3)?,
                request: serde_json::from_str(&request).unwrap_or(Value::Null),
                enterprise_id: r.get(5)?,
                action_tracker_id: r.get(6)?,
                order_id: r.get(7)?,
            })
        })?
        .collect()
}

/// Processes one request: a create becomes an original record, a restate or cancel of an
/// action that has records a correction; a duplicate create, or a request that fails
/// processing, becomes nothing.
fn process_step(
    tx: &Transaction<'_>,
    processing: &Processing,
    step: &Step,
    posting_ms: i64,
) -> Result<(), rusqlite::Error> {
    let id: i64 = tx.query_row(
        "SELECT IFNULL(MAX(commission_id), 0) + 1 FROM commissions",
        [],
        |r| r.get(0),
    )?;
    let row = match step.action.as_str() {
        "create" => processing.original(step, id, posting_ms),
        "restate" | "cancel" => {
            let before = tx
                .prepare_cached(&format!(
                    "SELECT {ROW_COLUMNS} FROM commissions WHERE order_ref = ?1
                     ORDER BY commission_id DESC LIMIT 1"
                ))?
                .query_row([step.order_ref], Row::read)
                .optional()?;
            return match before {
                Some(b) => processing
                    .corrections(step, b, id, posting_ms)
                    .iter()
                    .try_for_each(|row| row.insert(tx, false)),
                None => Ok(()),
            };
        }
        _ => None,
    };
    match row {
        Some(row) => row.insert(tx, false),
        None => Ok(()),
    }
}

/// The two root fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Advertiser,
    Publisher,
}

impl Side {
    /// The CID argument and its column, the partner filter and its column, the record type.
    fn names(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Side::Advertiser => (
                "forAdvertisers",
                "advertiser_id",
                "publisherIds",
                "publisher_id",
                "AdvertiserCommission",
            ),
            Side::Publisher => (
                "forPublishers",
                "publisher_id",
                "advertiserIds",
                "advertiser_id",
                "PublisherCommission",
            ),
        }
    }
}

/// A query's filters, checked.
#[derive(Debug)]
struct Query {
    /// `(column, since, before)` in milliseconds: `since` inclusive, `before` exclusive.
    ranges: Vec<(&'static str, i64, i64)>,
    since_id: Option<i64>,
    /// `(column or expression, values)`: the record's value is one of them.
    lists: Vec<(String, Value)>,
}

impl Query {
    /// The SQL condition and its values; `status` is the expression of the current status.
    fn filter(&self, status: &str) -> (String, Vec<Sql>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        for (column, since, before) in &self.ranges {
            clauses.push(format!("{column} >= ? AND {column} < ?"));
            values.extend([Sql::Integer(*since), Sql::Integer(*before)]);
        }
        if let Some(id) = self.since_id {
            clauses.push("commission_id > ?".into());
            values.push(Sql::Integer(id));
        }
        for (column, list) in &self.lists {
            let column = if column == "status" { status } else { column };
            clauses.push(format!("{column} IN (SELECT value FROM json_each(?))"));
            values.push(Sql::Text(list.to_string()));
        }
        if clauses.is_empty() {
            clauses.push("1".into());
        }
        (clauses.join(" AND "), values)
    }
}

/// The date arguments, in CJ's order, with their columns.
const RANGES: [(&str, &str, &str); 3] = [
    ("sincePostingDate", "beforePostingDate", "posting_ms"),
    ("sinceEventDate", "beforeEventDate", "event_ms"),
    ("sinceLockingDate", "beforeLockingDate", "locking_ms"),
];

/// The date ranges of a query, as CJ reads them: `since` inclusive, `before` exclusive, at
/// most 31 days; one bound alone means the 24 hours from (or up to) it; no date at all means
/// the last 24 hours by posting date.
fn ranges(
    arg: &impl Fn(&str) -> Value,
    now_ms: i64,
) -> Result<Vec<(&'static str, i64, i64)>, Error> {
    let time =
        |name: &str| -> Result<Option<i64>, Error> {
            match arg(name) {
            Value::Null => Ok(None),
            Value::String(t) => parse_time(&t).map(|t| Some(t.as_millisecond())).ok_or_else(|| {
                Error::new(format!(
                    "{name}: \"{t}\" is not a date (UTC ISO 8601, such as 1999-12-31T11:59:59Z)"
                ))
            }),
            other => Err(Error::new(format!("{name}: {other} is not a date"))),
        }
        };
    let mut out = Vec::new();
    for (since_arg, before_arg, column) in RANGES {
        let (since, before) = match (time(since_arg)?, time(before_arg)?) {
            (None, None) => continue,
            (Some(s), None) => (s, s.saturating_add(DAY_MS)),
            (None, Some(b)) => (b.saturating_sub(DAY_MS), b),
            (Some(s), Some(b)) => (s, b),
        };
        if before <= since {
            return Err(Error::new(format!(
                "{since_arg} must be before {before_arg}"
            )));
        }
        if before - since > MAX_RANGE_MS {
            let days = (before - since).saturating_add(DAY_MS - 1) / DAY_MS;
            return Err(Error::new(format!(
                "The date range from {since_arg} to {before_arg} is longer than 31 days \
                 ({days} days); the maximum date range is 31 days"
            )));
        }
        out.push((column, since, before));
    }
    if out.is_empty() {
        // CJ's default: the last 24 hours by posting date (now included).
        let before = now_ms.saturating_add(1);
        out.push(("posting_ms", before.saturating_sub(DAY_MS), before));
    }
    Ok(out)
}

/// A list argument's strings, `None` when absent.
fn strings(value: Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => Some(items.iter().filter_map(|v| text(Some(v))).collect()),
        Value::Null => None,
        single => Some(text(Some(&single)).into_iter().collect()),
    }
}

/// The fields of each object type of the SDL, with the type each names: the size of a
/// record's answer when every field is selected.
struct Shapes(HashMap<String, Vec<(String, String)>>);

impl Shapes {
    fn of(sdl: &str) -> Result<Shapes, SandboxError> {
        let doc =
            s::parse_schema::<String>(sdl).map_err(|e| SandboxError::Schema(e.to_string()))?;
        let mut types = HashMap::new();
        for def in doc.definitions {
            if let s::Definition::TypeDefinition(s::TypeDefinition::Object(o)) = def {
                let fields = o
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), named(&f.field_type).to_string()))
                    .collect();
                types.insert(o.name, fields);
            }
        }
        Ok(Shapes(types))
    }

    /// The size of `value` as a `type_name` with every field selected (a field the JSON
    /// lacks is `null`), counted as the answer limit counts it (`graphql::own_size`): a key is
    /// its name and 4, a list item 1, a null 5, a number 8, a string its length and 2.
    fn size(&self, value: &Value, type_name: &str) -> usize {
        match (value, self.0.get(type_name)) {
            (Value::Null | Value::Bool(_), _) => 5,
            (Value::Number(_), _) => 8,
            (Value::String(s), _) => s.len().saturating_add(2),
            (Value::Array(items), _) => {
                items.iter().fold(items.len().saturating_add(2), |n, item| {
                    n.saturating_add(1)
                        .saturating_add(self.size(item, type_name))
                })
            }
            (Value::Object(map), Some(fields)) => fields.iter().fold(2, |n, (name, ty)| {
                let value = map.get(name).unwrap_or(&Value::Null);
                n.saturating_add(name.len() + 4)
                    .saturating_add(self.size(value, ty))
            }),
            // A scalar read from an object (none of CJ's).
            (Value::Object(_), None) => value.to_string().len(),
        }
    }
}

fn named<'a>(t: &'a s::Type<'_, String>) -> &'a str {
    match t {
        s::Type::NamedType(n) => n,
        s::Type::ListType(inner) | s::Type::NonNullType(inner) => named(inner),
    }
}

/// Everything the resolvers need.
struct Api {
    ledger: Arc<Ledger>,
    processing: Processing,
    shapes: Shapes,
    /// The bytes of records one answer may hold.
    budget: usize,
}

impl Api {
    fn answer(&self, ctx: &ResolverContext<'_>, side: Side) -> Result<Value, Error> {
        let arg = |name: &str| {
            ctx.args
                .get(name)
                .map(|v| to_json(v.as_value()))
                .unwrap_or(Value::Null)
        };
        let (cids_arg, cids_column, partners_arg, partners_column, record_type) = side.names();
        let cids = strings(arg(cids_arg)).unwrap_or_default();
        if side == Side::Advertiser
            && let Some(allowed) = &self.processing.tracking.enterprises
            && cids.iter().any(|cid| !allowed.contains(cid))
        {
            return Err(Error::new("Unauthorized"));
        }
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let since_id = match arg("sinceCommissionId") {
            Value::Null => None,
            other => {
                let id = text(Some(&other)).unwrap_or_default();
                Some(id.parse::<i64>().map_err(|_| {
                    Error::new(format!(
                        "sinceCommissionId must be a commission id (digits), not \"{id}\""
                    ))
                })?)
            }
        };
        let mut lists = vec![(cids_column.to_string(), json!(cids))];
        for (argument, column) in [
            (partners_arg, partners_column),
            ("adIds", "ad_id"),
            ("websiteIds", "website_id"),
            ("actionStatuses", "status"),
            ("actionTypes", "action_type"),
            ("lockingMethods", "locking_method"),
            ("validationStatuses", "validation_status"),
        ] {
            if let Some(values) = strings(arg(argument)) {
                lists.push((column.to_string(), json!(values)));
            }
        }
        if let Some(ids) = strings(arg("commissionIds")) {
            // An id that is not a number names no commission.
            let ids: Vec<i64> = ids.iter().filter_map(|id| id.parse().ok()).collect();
            lists.push(("commission_id".into(), json!(ids)));
        }
        let query = Query {
            ranges: ranges(&arg, now_ms)?,
            since_id,
            lists,
        };
        let unavailable = |e: rusqlite::Error| {
            tracing::error!(error = %e, "the ledger cannot be read");
            Error::new("the ledger is unavailable")
        };
        self.ledger
            .process_commissions(&self.processing, now_ms)
            .map_err(unavailable)?;
        self.ledger
            .commission_page(
                &query,
                now_ms,
                self.processing.rules.page_limit,
                |record| self.shapes.size(record, record_type),
                self.budget,
            )
            .map_err(unavailable)
    }
}

/// Creates the commission tables, adds the seed's records, and returns the two root fields'
/// resolvers.
pub(crate) fn resolvers(
    ledger: Arc<Ledger>,
    tracking: Arc<TrackingRules>,
    config: &SandboxConfig,
    sdl: &str,
) -> Result<HashMap<&'static str, Resolver>, SandboxError> {
    ledger.init_commissions(&config.data.commissions.records)?;
    let api = Arc::new(Api {
        ledger,
        processing: Processing::new(config, tracking),
        shapes: Shapes::of(sdl)?,
        budget: config.limits.max_answer_bytes.saturating_sub(ANSWER_SLACK),
    });
    let mut map: HashMap<&'static str, Resolver> = HashMap::new();
    for (field, side) in [
        ("Query.advertiserCommissions", Side::Advertiser),
        ("Query.publisherCommissions", Side::Publisher),
    ] {
        let api = api.clone();
        map.insert(
            field,
            Arc::new(move |ctx: ResolverContext<'_>| {
                let result = api
                    .answer(&ctx, side)
                    .map(|v| Some(FieldValue::owned_any(v)));
                FieldFuture::new(async move { result })
            }),
        );
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().expect("a decimal")
    }

    #[test]
    fn amounts_come_from_the_amount_or_the_items_to_the_cent() {
        let a = Amounts::of(&json!({"amount": "149.98", "discount": "5.00"})).expect("readable");
        assert_eq!(
            (a.sale, a.commission, a.fee, a.discount),
            (d("149.98"), d("15.00"), d("4.50"), d("5.00"))
        );
        let items = json!({"items": [
            {"sku": "A", "unitPrice": "74.99", "quantity": 2, "discount": "0.98"},
            {"sku": "B", "unitPrice": "1.00", "quantity": 1}
        ]});
        let a = Amounts::of(&items).expect("readable");
        assert_eq!((a.sale, a.commission), (d("150.00"), d("15.00")));
        assert_eq!(Amounts::of(&json!({"amount": "1e400"})), None);
        assert_eq!(Amounts::of(&json!({})).map(|a| a.sale), Some(Decimal::ZERO));
    }

    #[test]
    fn a_range_of_more_than_31_days_or_reversed_is_refused() {
        let day = "2026-01-01T00:00:00Z";
        let args = |since: &'static str, before: &'static str| {
            move |name: &str| match name {
                "sinceEventDate" => json!(since),
                "beforeEventDate" => json!(before),
                _ => Value::Null,
            }
        };
        let ok = ranges(&args(day, "2026-02-01T00:00:00Z"), 0).expect("31 days");
        assert_eq!(ok.len(), 1);
        let err = ranges(&args(day, "2026-02-01T00:00:00.001Z"), 0).expect_err("too long");
        assert!(
            err.message.contains("maximum date range is 31 days"),
            "{}",
            err.message
        );
        let err = ranges(&args(day, day), 0).expect_err("empty");
        assert_eq!(err.message, "sinceEventDate must be before beforeEventDate");
        let err = ranges(&args("yesterday", day), 0).expect_err("not a date");
        assert!(
            err.message.contains("\"yesterday\" is not a date"),
            "{}",
            err.message
        );
        let none = ranges(&|_: &str| Value::Null, 10 * DAY_MS).expect("default");
        assert_eq!(none, [("posting_ms", 9 * DAY_MS + 1, 10 * DAY_MS + 1)]);
    }
}
