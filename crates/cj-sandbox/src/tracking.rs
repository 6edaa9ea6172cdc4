//! The Tracking API: `createOrders`, `restateOrders`, `cancelOrders`, and the ledger of what
//! the live endpoint recorded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use async_graphql::{Error, ErrorExtensions};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, ToSql, params, params_from_iter};
use serde::Serialize;
use serde_json::{Value, json};

use crate::graphql::{EchoList, LazyField, LazyObject, ListArgument, Resolver, list_argument};

/// CJ's limits.
const MAX_ORDERS: usize = 10_000;
const MAX_ITEMS: usize = 100;

/// The most orders one read of the ledger returns over HTTP, and its default page: one of
/// CJ's largest batches.
pub const LEDGER_PAGE_LIMIT: u64 = 10_000;

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

/// The input types of the three mutations' orders, kept as their bytes (`graphql::Stash`).
pub(crate) const ORDER_INPUTS: [&str; 3] = [
    "OrderCreateRequest",
    "OrderRestateRequest",
    "OrderCancelRequest",
];

/// The three mutations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Create,
    Restate,
    Cancel,
}

impl Kind {
    /// The mutation of an argument name (`newOrders`, `restatedOrders`, `cancelledOrders`).
    fn of(argument: &str) -> Kind {
        match argument {
            "newOrders" => Kind::Create,
            "restatedOrders" => Kind::Restate,
            _ => Kind::Cancel,
        }
    }
}

/// Every order the live endpoint recorded: its current state and its history.
///
/// It is an SQLite database, so that its memory stays bounded however many orders arrive
/// (SQLite keeps a small page cache; the rest is on disk). By default it is SQLite's private
/// temporary database: in the page cache while small, spilled to a temporary file (in
/// `SQLITE_TMPDIR` or `TMPDIR`) when large, deleted when the sandbox stops. With
/// [`SandboxConfig::ledger_path`](crate::SandboxConfig::ledger_path) it is that file, kept
/// across restarts.
///
/// Read it with [`Ledger::order`], [`Ledger::query`] and [`Ledger::counts`];
/// [`Ledger::to_json`] builds all of it in memory, for small ledgers.
#[derive(Debug)]
pub struct Ledger {
    db: Mutex<Connection>,
    submissions: AtomicU64,
}

/// Why the ledger could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[error("the sandbox's ledger: {0}")]
pub struct LedgerError(#[from] rusqlite::Error);

/// One order in the ledger.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LedgerEntry {
    /// The advertiser.
    pub enterprise_id: String,
    /// The action tracker.
    pub action_tracker_id: String,
    /// The advertiser's order id.
    pub order_id: String,
    /// `pending` (open-ended), `new`, `accepted`, `restated`, `declined` or `cancelled`.
    pub state: String,
    /// The order as it stands, in the shape of CJ's `Order`: a restatement replaces what its
    /// request carries and keeps the attribution it leaves out, a cancel sets the status.
    pub order: Value,
    /// Every request that touched it, in order.
    pub history: Vec<LedgerEvent>,
}

/// One request in an order's history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LedgerEvent {
    /// `create`, `duplicate create`, `restate` or `cancel`.
    pub action: String,
    /// The state after it.
    pub state: String,
    /// CJ's submission id for it.
    pub submission_id: String,
    /// When it was received.
    pub received: String,
    /// The order as the request sent it (one element of `newOrders`, `restatedOrders` or
    /// `cancelledOrders`).
    pub request: Value,
}

/// Which orders [`Ledger::query`] returns: filters, all optional and combined, and a page in
/// the ledger's order (enterprise id, action tracker, order id).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerQuery {
    /// Only this advertiser's orders.
    pub enterprise_id: Option<String>,
    /// Only this action tracker's orders.
    pub action_tracker_id: Option<String>,
    /// Only orders with this order id.
    pub order_id: Option<String>,
    /// Only orders in this state (`new`, `pending`, `accepted`, `restated`, `declined`,
    /// `cancelled`).
    pub state: Option<String>,
    /// How many matching orders to skip (default 0).
    pub offset: u64,
    /// How many to return at most (default [`LEDGER_PAGE_LIMIT`]).
    pub limit: u64,
}

impl Default for LedgerQuery {
    fn default() -> Self {
        LedgerQuery {
            enterprise_id: None,
            action_tracker_id: None,
            order_id: None,
            state: None,
            offset: 0,
            limit: LEDGER_PAGE_LIMIT,
        }
    }
}

impl LedgerQuery {
    /// Every order, first page.
    pub fn new() -> Self {
        LedgerQuery::default()
    }

    /// Only this advertiser's orders.
    pub fn enterprise_id(mut self, id: impl Display) -> Self {
        self.enterprise_id = Some(id.to_string());
        self
    }

    /// Only this action tracker's orders.
    pub fn action_tracker_id(mut self, id: impl Display) -> Self {
        self.action_tracker_id = Some(id.to_string());
        self
    }

    /// Only orders with this order id.
    pub fn order_id(mut self, id: impl Into<String>) -> Self {
        self.order_id = Some(id.into());
        self
    }

    /// Only orders in this state.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Skips this many matching orders.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Returns at most this many.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    /// Reads `GET /sandbox/ledger`'s parameters: `enterpriseId`, `actionTrackerId`, `orderId`,
    /// `state`, `offset` and `limit` (at most [`LEDGER_PAGE_LIMIT`]).
    fn from_url(query: &str) -> Result<LedgerQuery, String> {
        let number = |name: &str, text: &str| {
            text.parse::<u64>()
                .map_err(|_| format!("`{name}` must be a whole number, not `{text}`"))
        };
        let mut q = LedgerQuery::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "enterpriseId" => q.enterprise_id = Some(value.into_owned()),
                "actionTrackerId" => q.action_tracker_id = Some(value.into_owned()),
                "orderId" => q.order_id = Some(value.into_owned()),
                "state" => q.state = Some(value.into_owned()),
                "offset" => q.offset = number(&name, &value)?,
                "limit" => {
                    q.limit = number(&name, &value)?;
                    if q.limit > LEDGER_PAGE_LIMIT {
                        return Err(format!("`limit` must be at most {LEDGER_PAGE_LIMIT}"));
                    }
                }
                other => {
                    return Err(format!(
                        "unknown parameter `{other}` (enterpriseId, actionTrackerId, orderId, \
                         state, offset and limit are known)"
                    ));
                }
            }
        }
        Ok(q)
    }

    /// The SQL `WHERE` clause of the filters, and its values.
    fn filter(&self) -> (String, Vec<&str>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [
            ("enterprise_id", &self.enterprise_id),
            ("action_tracker_id", &self.action_tracker_id),
            ("order_id", &self.order_id),
            ("state", &self.state),
        ] {
            if let Some(v) = value {
                clauses.push(format!("{column} = ?"));
                values.push(v.as_str());
            }
        }
        if clauses.is_empty() {
            (String::new(), values)
        } else {
            (format!("WHERE {}", clauses.join(" AND ")), values)
        }
    }
}

/// A page of the ledger.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LedgerPage {
    /// The orders of the page.
    pub orders: Vec<LedgerEntry>,
    /// How many orders match the filters, over all pages.
    pub total: u64,
}

/// How many orders and requests a ledger holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LedgerCounts {
    /// Orders (one per enterprise id, action tracker and order id).
    pub orders: u64,
    /// Orders per state (`new`, `pending`, `accepted`, `restated`, `declined`, `cancelled`).
    pub states: BTreeMap<String, u64>,
    /// Requests recorded for them: creates, duplicate creates, restates and cancels.
    pub requests: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger_orders (
    id INTEGER PRIMARY KEY,
    enterprise_id TEXT NOT NULL,
    action_tracker_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (enterprise_id, action_tracker_id, order_id)
);
CREATE INDEX IF NOT EXISTS ledger_orders_by_order_id ON ledger_orders (order_id);
CREATE TABLE IF NOT EXISTS ledger_events (
    id INTEGER PRIMARY KEY,
    order_ref INTEGER NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    submission_id TEXT NOT NULL,
    received TEXT NOT NULL,
    request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_events_by_order ON ledger_events (order_ref, id);
";

/// The columns of an entry, in the order [`entry`] reads them.
const ENTRY_COLUMNS: &str = "id, enterprise_id, action_tracker_id, order_id, state, body";

impl Ledger {
    /// Opens the ledger in the file at `path` (created if missing, its orders kept), or in
    /// SQLite's private temporary database.
    pub(crate) fn open(path: Option<&Path>) -> Result<Ledger, LedgerError> {
        let db = match path {
            Some(path) => {
                let db = Connection::open(path)?;
                db.pragma_update(None, "journal_mode", "WAL")?;
                db.pragma_update(None, "synchronous", "NORMAL")?;
                db
            }
            // "": a private temporary database, on disk only once it outgrows the cache.
            None => {
                let db = Connection::open("")?;
                db.pragma_update(None, "synchronous", "OFF")?;
                db
            }
        };
        db.execute_batch(SCHEMA)?;
        // Submission ids continue where a reopened file left off (`sbx-00000042`).
        let last: Option<i64> = db.query_row(
            "SELECT MAX(CAST(substr(submission_id, 5) AS INTEGER)) FROM ledger_events",
            [],
            |r| r.get(0),
        )?;
        Ok(Ledger {
            db: Mutex::new(db),
            submissions: AtomicU64::new(last.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)),
        })
    }

    /// Every order, as JSON: `{"orders": [...]}`. It builds the whole ledger in memory: for a
    /// large one, use [`Ledger::query`] or [`Ledger::order`].
    pub fn to_json(&self) -> Value {
        let orders = self.query(&LedgerQuery::new().limit(u64::MAX));
        match orders {
            Ok(page) => json!({"orders": page.orders}),
            Err(e) => {
                tracing::error!(error = %e, "the ledger cannot be read");
                json!({"orders": []})
            }
        }
    }

    /// The order with this key (CJ's: enterprise id, action tracker, order id), if recorded.
    pub fn order(
        &self,
        enterprise_id: impl Display,
        action_tracker_id: impl Display,
        order_id: &str,
    ) -> Result<Option<LedgerEntry>, LedgerError> {
        let query = LedgerQuery::new()
            .enterprise_id(enterprise_id)
            .action_tracker_id(action_tracker_id)
            .order_id(order_id)
            .limit(1);
        Ok(self.query(&query)?.orders.into_iter().next())
    }

    /// The orders that match `query`, one page, and how many match in all.
    pub fn query(&self, query: &LedgerQuery) -> Result<LedgerPage, LedgerError> {
        let db = self.lock();
        let (filter, values) = query.filter();
        let total: i64 = db
            .prepare_cached(&format!("SELECT count(*) FROM ledger_orders {filter}"))?
            .query_row(params_from_iter(&values), |r| r.get(0))?;
        // SQLite counts in i64; a larger limit or offset is as good as its largest.
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
        let mut select = db.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_orders {filter}
             ORDER BY enterprise_id, action_tracker_id, order_id LIMIT ? OFFSET ?"
        ))?;
        let mut page: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        page.extend([&limit as &dyn ToSql, &offset]);
        let orders = select
            .query_and_then(page.as_slice(), |row| entry(&db, row))?
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        Ok(LedgerPage {
            orders,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// How many orders (in all and per state) and requests it holds.
    pub fn counts(&self) -> Result<LedgerCounts, LedgerError> {
        let db = self.lock();
        let mut counts = LedgerCounts::default();
        let mut states =
            db.prepare_cached("SELECT state, count(*) FROM ledger_orders GROUP BY state")?;
        for row in states.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (state, n) = row?;
            let n = u64::try_from(n).unwrap_or(0);
            counts.orders = counts.orders.saturating_add(n);
            counts.states.insert(state, n);
        }
        let requests: i64 = db.query_row("SELECT count(*) FROM ledger_events", [], |r| r.get(0))?;
        counts.requests = u64::try_from(requests).unwrap_or(0);
        Ok(counts)
    }

    /// Records the orders a live request accepted, each with the answer it got, in one
    /// transaction (the live endpoint records as it answers: see `submit`).
    #[cfg(test)]
    pub(crate) fn record(
        &self,
        kind: Kind,
        accepted: &[(&Value, Value)],
        received: &str,
    ) -> Result<(), LedgerError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        for (request, answer) in accepted {
            record_step(&tx, kind, request, answer, received)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock rolled its transaction back: the database is whole.
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_submission(&self) -> String {
        format!(
            "sbx-{:08}",
            self.submissions.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

/// The answer to `GET /sandbox/ledger?...`: `{"orders": [...], "total", "offset", "limit"}`.
pub(crate) fn ledger_page(ledger: &Ledger, url_query: Option<&str>) -> Response {
    let query = match LedgerQuery::from_url(url_query.unwrap_or_default()) {
        Ok(q) => q,
        Err(message) => return crate::graphql::error_response(StatusCode::BAD_REQUEST, &message),
    };
    match ledger.query(&query) {
        Ok(page) => axum::Json(json!({
            "orders": page.orders,
            "total": page.total,
            "offset": query.offset,
            "limit": query.limit,
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the ledger cannot be read");
            crate::graphql::error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

/// One row of [`ENTRY_COLUMNS`], with its history.
fn entry(db: &Connection, row: &rusqlite::Row<'_>) -> Result<LedgerEntry, rusqlite::Error> {
    let id: i64 = row.get(0)?;
    let mut events = db.prepare_cached(
        "SELECT action, state, submission_id, received, request FROM ledger_events
         WHERE order_ref = ?1 ORDER BY id",
    )?;
    let history = events
        .query_map([id], |r| {
            Ok(LedgerEvent {
                action: r.get(0)?,
                state: r.get(1)?,
                submission_id: r.get(2)?,
                received: r.get(3)?,
                request: json_text(r.get(4)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LedgerEntry {
        enterprise_id: row.get(1)?,
        action_tracker_id: row.get(2)?,
        order_id: row.get(3)?,
        state: row.get(4)?,
        order: json_text(row.get(5)?),
        history,
    })
}

/// Stored JSON back to a value (a file edited by hand may hold anything: then its text).
fn json_text(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Records one accepted order of a live request: a new order, a duplicate, a restatement or a
/// cancel of a known order. A restate or cancel of an unknown order is answered like any
/// other and never shows in the ledger (CJ never reports processing failures).
fn record_step(
    db: &Connection,
    kind: Kind,
    request: &Value,
    answer: &Value,
    received: &str,
) -> Result<(), rusqlite::Error> {
    let (enterprise, tracker, order_id) = key(request);
    let known: Option<(i64, String, String)> = db
        .prepare_cached(
            "SELECT id, state, body FROM ledger_orders
             WHERE enterprise_id = ?1 AND action_tracker_id = ?2 AND order_id = ?3",
        )?
        .query_row(params![enterprise, tracker, order_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let status = |v: &Value| v.get("status").and_then(Value::as_str).map(String::from);
    let (id, action, state) = match (kind, known) {
        (Kind::Create, None) => {
            let state = if status(answer).as_deref() == Some("Pending") {
                "pending"
            } else {
                "new"
            };
            db.prepare_cached(
                "INSERT INTO ledger_orders
                 (enterprise_id, action_tracker_id, order_id, state, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                enterprise,
                tracker,
                order_id,
                state,
                answer.to_string()
            ])?;
            (db.last_insert_rowid(), "create", state.to_string())
        }
        // CJ deduplicates on enterprise + action tracker + order id.
        (Kind::Create, Some((id, state, _))) => (id, "duplicate create", state),
        (_, None) => return Ok(()),
        (Kind::Restate, Some((id, _, body))) => {
            let state = match status(request).as_deref() {
                Some("Accepted") => "accepted",
                Some("Pending") => "pending",
                _ => "restated",
            };
            update(db, id, state, &restated(&json_text(body), answer))?;
            (id, "restate", state.to_string())
        }
        (Kind::Cancel, Some((id, _, body))) => {
            let state = if status(request).as_deref() == Some("Declined") {
                "declined"
            } else {
                "cancelled"
            };
            update(db, id, state, &cancelled(json_text(body), answer))?;
            (id, "cancel", state.to_string())
        }
    };
    let submission = answer
        .get("submissionId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    db.prepare_cached(
        "INSERT INTO ledger_events (order_ref, action, state, submission_id, received, request)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        action,
        state,
        submission,
        received,
        request.to_string()
    ])?;
    Ok(())
}

fn update(db: &Connection, id: i64, state: &str, order: &Value) -> Result<(), rusqlite::Error> {
    db.prepare_cached("UPDATE ledger_orders SET state = ?2, body = ?3 WHERE id = ?1")?
        .execute(params![id, state, order.to_string()])?;
    Ok(())
}

/// The attribution a restatement keeps when it carries none: what it has no fields for
/// (`eventTime`, `ad`, `promotionalProperty`, `sid`, `ids`: it "cannot change the publisher")
/// and what it may leave out (`cjEvent`; `currency`, which CJ then takes as the advertiser's
/// own, and the order's own is the sandbox's best stand-in). The rest (amounts, items,
/// parameters, coupon) is replaced whole, as CJ's "full replacement" says: left out, it is gone.
const KEPT_ON_RESTATE: [&str; 7] = [
    "eventTime",
    "ad",
    "promotionalProperty",
    "sid",
    "ids",
    "cjEvent",
    "currency",
];

/// The order after a restatement: its answer, with the attribution it left out kept.
fn restated(before: &Value, answer: &Value) -> Value {
    let mut order = answer.clone();
    if let Some(fields) = order.as_object_mut() {
        for name in KEPT_ON_RESTATE {
            if fields.get(name).is_none_or(Value::is_null)
                && let Some(kept) = before.get(name)
            {
                fields.insert(name.into(), kept.clone());
            }
        }
    }
    order
}

/// What a cancel sets on the order: its status (`Declined`, or none), time, reason and
/// submission.
const SET_BY_CANCEL: [&str; 5] = [
    "status",
    "updateTime",
    "correctionReason",
    "submissionId",
    "batchId",
];

/// The order after a cancel.
fn cancelled(before: Value, answer: &Value) -> Value {
    let mut order = before;
    if let Some(fields) = order.as_object_mut() {
        for name in SET_BY_CANCEL {
            fields.insert(
                name.into(),
                answer.get(name).cloned().unwrap_or(Value::Null),
            );
        }
    }
    order
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
                let refusals = ctx.data_opt::<crate::faults::Refusals>();
                let result = submit(&ctx, argument, &ledger, &rules, refusals)
                    .map(|v| Some(FieldValue::owned_any(v)));
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
    rules: &Arc<TrackingRules>,
    refusals: Option<&crate::faults::Refusals>,
) -> Result<LazyObject, Error> {
    let live = ctx.data::<Live>().map(|l| l.0).unwrap_or(false);
    let kind = Kind::of(argument);
    // One order at a time, parsed from the request body when it is a variable (see
    // `graphql::Stash`): a batch costs its text and its answers' text, not trees of values.
    let orders = list_argument(ctx, argument)?;
    if orders.len() > MAX_ORDERS {
        return Err(Error::new(
            "Gateway Timeout: reduce the batch to 10,000 records or fewer and resubmit",
        )
        .extend_with(|_, e| e.set("code", GATEWAY_TIMEOUT)));
    }
    let now = jiff::Timestamp::now();
    // First every order is checked: a refused request records nothing.
    for i in 0..orders.len() {
        check(&orders.item(i), now, rules)?;
    }
    let batch = format!("sbx-batch-{}", now.as_millisecond());
    let received = now.to_string();
    let unavailable = |e: rusqlite::Error| {
        tracing::error!(error = %e, "the ledger cannot record");
        Error::new("the ledger is unavailable")
    };
    // A live request is recorded in one transaction.
    let mut db = live.then(|| ledger.lock());
    let tx = match db.as_mut() {
        Some(db) => Some(db.transaction().map_err(unavailable)?),
        None => None,
    };
    let mut answered = Vec::with_capacity(orders.len());
    let mut refused = Vec::new();
    for i in 0..orders.len() {
        let order = orders.item(i);
        // A fault (`request-error`) refuses this order: a partial success, it is not recorded.
        let order_id = key(&order).2;
        if refusals.is_some_and(|r| r.refuses(&order_id)) {
            refused.push(crate::faults::request_error(argument, i, &order_id));
            continue;
        }
        let submission = ledger.next_submission();
        if let Some(tx) = &tx {
            let answer = answer(kind, &order, &submission, &batch, &received, rules);
            record_step(tx, kind, &order, &answer, &received).map_err(unavailable)?;
        }
        answered.push((i, submission));
    }
    if let Some(tx) = tx {
        tx.commit().map_err(unavailable)?;
    }
    let errors = LazyField::text(&Value::Array(refused))
        .ok_or_else(|| Error::new("the errors could not be written"))?;
    // Each answer is made again as it is written (the same: `answer` depends on nothing
    // else), so that a batch's answers are never all in memory at once.
    let echo = Echo {
        kind,
        orders,
        answered,
        batch,
        received,
        rules: rules.clone(),
    };
    Ok(LazyObject::new(vec![
        ("orders".into(), LazyField::Echo(Arc::new(echo))),
        ("errors".into(), errors),
    ]))
}

/// The answers of a request's accepted orders, made one at a time (see
/// [`graphql::Echoes`](crate::graphql)).
struct Echo {
    kind: Kind,
    orders: ListArgument,
    /// Each accepted order's position in `orders` and its submission id.
    answered: Vec<(usize, String)>,
    batch: String,
    received: String,
    rules: Arc<TrackingRules>,
}

impl EchoList for Echo {
    fn len(&self) -> usize {
        self.answered.len()
    }

    fn item(&self, i: usize) -> Value {
        let Some((at, submission)) = self.answered.get(i) else {
            return Value::Null;
        };
        let order = self.orders.item(*at);
        answer(
            self.kind,
            &order,
            submission,
            &self.batch,
            &self.received,
            &self.rules,
        )
    }
}

/// CJ's refusals of a whole request because of one order.
fn check(order: &Value, now: jiff::Timestamp, rules: &TrackingRules) -> Result<(), Error> {
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
    Ok(())
}

/// The `Order` (create, restate) or `OrderCancellation` CJ answers for one order.
fn answer(
    kind: Kind,
    order: &Value,
    submission: &str,
    batch: &str,
    received: &str,
    rules: &TrackingRules,
) -> Value {
    match kind {
        Kind::Create => {
            let open_ended = rules.open_ended.contains(&key(order).1);
            echo_order(
                order,
                submission,
                batch,
                received,
                open_ended.then_some("Pending"),
            )
        }
        Kind::Restate => {
            let status = order.get("status").and_then(Value::as_str);
            echo_order(order, submission, batch, received, status)
        }
        Kind::Cancel => json!({
            "submissionId": submission,
            "batchId": batch,
            "advertiser": {"enterpriseId": key(order).0},
            "actionTracker": {"id": order.get("actionTrackerId")},
            "orderId": key(order).2,
            "updateTime": order.get("updateTime"),
            "status": order.get("status"),
            "correctionReason": order.get("correctionReason"),
        }),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// This process's peak resident memory, in MiB (Linux's `VmHWM`).
    fn peak_rss_mib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024)
    }

    /// CJ's documented example order (api-facts 1.9), under another order id.
    fn documented(order_id: &str) -> Value {
        json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": order_id,
            "eventTime": "2024-01-15T18:08:36.089Z", "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
            "currency": "USD", "amount": "149.98", "discount": "0.00", "coupon": "SUMMER10",
            "items": [{"sku": "SKU-BLK-LG", "unitPrice": "74.99", "quantity": 2, "discount": "0.00"}],
            "verticalParameters": {"advertiserVertical": "Retail", "customerStatus": "New"},
            "customParameters": [{"name": "mkt_channel", "value": "affiliate"}]})
    }

    /// A million orders through the ledger's own recording (not HTTP), in batches of CJ's
    /// largest size. Run alone, so that the peak is the ledger's:
    /// `cargo test -p cj-sandbox --lib -- --ignored --nocapture a_million_orders`.
    #[test]
    #[ignore = "a million orders take minutes; run alone"]
    fn a_million_orders_stay_bounded_in_memory() {
        let ledger = Ledger::open(None).expect("opens");
        let rules = TrackingRules::default();
        let received = jiff::Timestamp::now().to_string();
        let started = std::time::Instant::now();
        let mut recording = std::time::Duration::ZERO;
        for batch in 0..100 {
            let orders: Vec<Value> = (0..MAX_ORDERS)
                .map(|i| documented(&format!("ORD-{batch:03}-{i:05}")))
                .collect();
            let accepted: Vec<(&Value, Value)> = orders
                .iter()
                .map(|o| {
                    let submission = ledger.next_submission();
                    let answer = answer(Kind::Create, o, &submission, "b", &received, &rules);
                    (o, answer)
                })
                .collect();
            let before = std::time::Instant::now();
            ledger
                .record(Kind::Create, &accepted, &received)
                .expect("recorded");
            recording += before.elapsed();
        }
        let counts = ledger.counts().expect("counts");
        let last = ledger
            .order("1234567", 123456, "ORD-099-09999")
            .expect("readable");
        let peak = peak_rss_mib().expect("Linux");
        let disk: i64 = ledger
            .lock()
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .expect("its size");
        eprintln!(
            "{} orders, {} requests in {:.0?} ({recording:.0?} recording); peak RSS {peak} MiB; \
             {} MiB on disk",
            counts.orders,
            counts.requests,
            started.elapsed(),
            disk / (1024 * 1024)
        );
        assert_eq!(counts.orders, 1_000_000);
        assert!(last.is_some_and(|e| e.order["amount"] == "149.98"));
        assert!(peak < 300, "peak RSS {peak} MiB");
    }
}
