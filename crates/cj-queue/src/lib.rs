//! A durable queue for CJ orders, sent in batches as CJ's own connector does.
//!
//! Checkouts produce orders one at a time; CJ takes up to 10,000 per request. [`OrderQueue`]
//! stores each order durably before [`enqueue`](OrderQueue::enqueue) returns, and a background
//! task sends batches through `createOrders`, `restateOrders` and `cancelOrders` when one of
//! CJ's connector thresholds is met: 10,000 orders waiting, the oldest waiting 10 minutes, or the
//! batch reaching 100 MB (all configurable, see [`QueueConfig`]). A restate or cancel is never
//! sent before an earlier order with the same enterprise id, action tracker and order id.
//!
//! Delivery is at least once: an order whose answer was lost is sent again, which is safe
//! because CJ deduplicates on enterprise id + action tracker id + order id. Each order's outcome
//! is recorded: accepted (with CJ's submission id), refused (a dead letter, with CJ's message,
//! which [`dead_letters`](OrderQueue::dead_letters) lists and [`requeue`](OrderQueue::requeue)
//! puts back), or waiting to retry.
//!
//! An order already waiting, in flight or accepted with the same kind, key and payload is not
//! stored again ([`Store::enqueue`]). [`prune`](OrderQueue::prune) keeps the store bounded: it
//! removes settled orders as a [`Retention`] says, keeping what reconciliation still needs.
//!
//! Stores: [`SqliteStore`] (durable, embedded, one process; see its docs for what is fsynced
//! when), [`PostgresStore`] (feature `postgres`: several application instances share it), and
//! [`MemoryStore`] (not durable).

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod reconcile;
pub mod relay;
mod sqlite;
mod store;

#[cfg(feature = "postgres")]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::collections::HashMap;

use cj_graphql::tracking::{
    OrderCancelRequest, OrderCreateRequest, OrderError, OrderKey, OrderRestateRequest, Orders,
    SubmitError, TrackingResponse, Validation, validate_cancel, validate_create, validate_restate,
};
use cj_transport::{Delivery, Error, InvalidInput};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::{
    AcceptedEntry, BatchLimits, Claim, DeadLetter, Enqueued, Entry, Kind, MemoryStore, NewEntry,
    Outcome, Pruned, Reconciliation, Retention, Stats, Store, StoreError, Waiting,
};

/// An order for the queue: a create, a restate or a cancel.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedOrder {
    /// For `createOrders`.
    Create(OrderCreateRequest),
    /// For `restateOrders`.
    Restate(OrderRestateRequest),
    /// For `cancelOrders`.
    Cancel(OrderCancelRequest),
}

impl From<OrderCreateRequest> for QueuedOrder {
    fn from(o: OrderCreateRequest) -> Self {
        QueuedOrder::Create(o)
    }
}

impl From<OrderRestateRequest> for QueuedOrder {
    fn from(o: OrderRestateRequest) -> Self {
        QueuedOrder::Restate(o)
    }
}

impl From<OrderCancelRequest> for QueuedOrder {
    fn from(o: OrderCancelRequest) -> Self {
        QueuedOrder::Cancel(o)
    }
}

impl QueuedOrder {
    /// The mutation it goes through.
    pub fn kind(&self) -> Kind {
        match self {
            QueuedOrder::Create(_) => Kind::Create,
            QueuedOrder::Restate(_) => Kind::Restate,
            QueuedOrder::Cancel(_) => Kind::Cancel,
        }
    }

    /// enterprise id, action tracker id and order id: what CJ deduplicates on.
    pub fn key(&self) -> String {
        let (e, t, o) = match self {
            QueuedOrder::Create(x) => (&x.enterprise_id, x.action_tracker_id, &x.order_id),
            QueuedOrder::Restate(x) => (&x.enterprise_id, x.action_tracker_id, &x.order_id),
            QueuedOrder::Cancel(x) => (&x.enterprise_id, x.action_tracker_id, &x.order_id),
        };
        order_key(e.as_str(), t, o)
    }

    /// CJ's documented rules (see `cj_graphql::tracking::validate_create`), times accepted
    /// up to `now`'s clock skew ahead.
    fn validate(&self, now: cj_graphql::tracking::Horizon) -> Result<(), InvalidInput> {
        match self {
            QueuedOrder::Create(o) => validate_create(std::slice::from_ref(o), now),
            QueuedOrder::Restate(o) => validate_restate(std::slice::from_ref(o), now),
            QueuedOrder::Cancel(o) => validate_cancel(std::slice::from_ref(o), now),
        }
    }

    /// The order as a store keeps it.
    pub fn to_entry(&self, enqueued_at_ms: i64) -> Result<NewEntry, QueueError> {
        let payload = match self {
            QueuedOrder::Create(o) => serde_json::to_string(o),
            QueuedOrder::Restate(o) => serde_json::to_string(o),
            QueuedOrder::Cancel(o) => serde_json::to_string(o),
        }
        .map_err(|e| {
            QueueError::Store(StoreError::Other(format!("cannot encode the order: {e}")))
        })?;
        Ok(NewEntry {
            kind: self.kind(),
            key: self.key(),
            payload,
            enqueued_at_ms,
        })
    }
}

/// Errors of the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The order breaks CJ's rules; it was not stored.
    #[error("invalid order, not queued: {0}")]
    Invalid(InvalidInput),
    /// The store is over its size limit and the queue is set to refuse ([`Backpressure::Fail`]).
    #[error("the queue is full ({bytes} bytes waiting, limit {limit})")]
    Full {
        /// Bytes waiting.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The queue has been shut down.
    #[error("the queue is shut down")]
    Closed,
    /// The store failed; the order may not have been stored.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What `enqueue` does when the store holds more than [`QueueConfig::max_store_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Wait until the sender has made room (the default).
    #[default]
    Wait,
    /// Refuse at once with [`QueueError::Full`].
    Fail,
}

/// How the queue batches, retries and limits itself. The defaults are CJ's connector's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueueConfig {
    /// Send when this many orders wait (default 10,000; CJ takes at most 10,000 per request).
    pub max_orders: usize,
    /// Send when the oldest order has waited this long (default 10 minutes).
    pub max_age: Duration,
    /// Send when the waiting orders reach this many bytes of JSON, and never send a bigger batch
    /// (default 100 MB).
    pub max_bytes: u64,
    /// How long a claimed batch is reserved for its sender before another may take it over
    /// (default 10 minutes).
    ///
    /// The sender renews the lease every `lease / 3` while it sends the batch, so a send may
    /// take longer than the lease: the transport's timeout times its attempts plus backoff, or,
    /// when CJ refuses a whole batch, up to 10,000 requests as the queue re-sends each order
    /// alone. A batch is taken over only when its sender stopped renewing (it died, or cannot
    /// reach the store) for a whole lease; its late outcomes are then not recorded (the new
    /// owner's stand) and are counted in [`SendReport::lost_leases`]. Keep the lease well above
    /// a store round trip plus the clock difference between instances.
    pub lease: Duration,
    /// The first delay before an unanswered batch is sent again; it doubles each time.
    pub retry_delay: Duration,
    /// The longest delay between retries.
    pub max_retry_delay: Duration,
    /// The most bytes the store may hold waiting (default 1 GiB).
    pub max_store_bytes: u64,
    /// What `enqueue` does past `max_store_bytes`.
    pub backpressure: Backpressure,
    /// This sender's name in a shared store (default: host and process id).
    pub worker: String,
    /// How many times an order that CJ's answer neither accepts nor refuses is sent before it
    /// becomes a dead letter (default 10). Sending again is safe: CJ deduplicates.
    pub max_unconfirmed_sends: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_orders: cj_graphql::tracking::MAX_ORDERS_PER_REQUEST,
            max_age: Duration::from_secs(600),
            max_bytes: 100 * 1024 * 1024,
            lease: Duration::from_secs(600),
            retry_delay: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(300),
            max_store_bytes: 1024 * 1024 * 1024,
            backpressure: Backpressure::Wait,
            worker: format!("pid-{}", std::process::id()),
            max_unconfirmed_sends: 10,
        }
    }
}

impl QueueConfig {
    /// The sizes of a batch.
    fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_orders: self
                .max_orders
                .clamp(1, cj_graphql::tracking::MAX_ORDERS_PER_REQUEST),
            max_bytes: self.max_bytes.max(1),
            lease_ms: self.lease.as_millis() as i64,
        }
    }
}

/// What one round of sending did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SendReport {
    /// Requests sent.
    pub batches: u64,
    /// Orders CJ accepted.
    pub accepted: u64,
    /// Orders CJ refused (now dead letters).
    pub rejected: u64,
    /// Orders waiting to be sent again.
    pub retrying: u64,
    /// Outcomes not recorded because this sender had lost the order's lease: another worker
    /// claimed it again, or it was already settled, and that outcome stands. These orders are
    /// counted in the fields above too, as CJ answered them; each batch with lost leases is
    /// also logged as a warning.
    pub lost_leases: u64,
}

impl SendReport {
    fn add(&mut self, other: &SendReport) {
        self.batches += other.batches;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.retrying += other.retrying;
        self.lost_leases += other.lost_leases;
    }
}

/// Wall-clock milliseconds, read from tokio's clock so that tests can pause time.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall_ms: i64,
    at: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        Clock {
            wall_ms: jiff::Timestamp::now().as_millisecond(),
            at: tokio::time::Instant::now(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.wall_ms + self.at.elapsed().as_millis() as i64
    }
}

/// Sends what a store holds: the part of the queue that talks to CJ.
#[derive(Debug)]
pub struct Sender<S: Store> {
    store: Arc<S>,
    orders: Orders,
    config: QueueConfig,
    clock: Clock,
}

impl<S: Store> Sender<S> {
    /// A sender of `store`'s orders through `orders` (whose own validation is turned off: the
    /// queue validated each order when it was enqueued).
    pub fn new(store: Arc<S>, orders: Orders, config: QueueConfig) -> Self {
        Sender {
            store,
            orders: orders.with_validation(Validation::Off),
            config,
            clock: Clock::new(),
        }
    }

    /// Whether a threshold is met: enough orders, enough bytes, or an order old enough (or the
    /// store is past its size limit).
    pub async fn due(&self) -> Result<bool, StoreError> {
        let waiting = self.store.waiting().await?;
        let old = waiting
            .oldest_ms
            .is_some_and(|t| self.clock.now_ms() - t >= self.config.max_age.as_millis() as i64);
        // A store past its size limit makes `enqueue` wait: sending is what makes room.
        let full = waiting.bytes >= self.config.max_store_bytes;
        Ok(waiting.count as usize >= self.config.max_orders
            || waiting.bytes >= self.config.max_bytes
            || old
            || full)
    }

    /// Sends every batch that can be sent now, whatever the thresholds.
    pub async fn send_all(&self) -> Result<SendReport, StoreError> {
        let mut report = SendReport::default();
        loop {
            let batch = self
                .store
                .claim(
                    &self.config.worker,
                    self.config.limits(),
                    self.clock.now_ms(),
                )
                .await?;
            if batch.is_empty() {
                return Ok(report);
            }
            let round = self.send_batch(batch).await?;
            report.add(&round);
        }
    }

    async fn send_batch(&self, batch: Vec<Entry>) -> Result<SendReport, StoreError> {
        let kind = batch[0].kind;
        let span =
            tracing::info_span!("cj.queue.batch", kind = kind.as_str(), orders = batch.len());
        let _guard = span.enter();
        let claim = Claim::new(&self.config.worker, &batch);
        let sending = async {
            match kind {
                Kind::Create => {
                    self.send_kind(&batch, |o, r| async move { o.create(&r).await })
                        .await
                }
                Kind::Restate => {
                    self.send_kind(&batch, |o, r| async move { o.restate(&r).await })
                        .await
                }
                Kind::Cancel => {
                    self.send_kind(&batch, |o, r| async move { o.cancel(&r).await })
                        .await
                }
            }
        };
        let lease_ms = self.config.limits().lease_ms;
        let now_ms = || self.clock.now_ms();
        let outcomes =
            store::renewing(self.store.as_ref(), &claim, lease_ms, now_ms, sending).await;
        let mut report = SendReport {
            batches: 1,
            ..SendReport::default()
        };
        for (_, outcome) in &outcomes {
            match outcome {
                Outcome::Accepted { .. } => report.accepted += 1,
                Outcome::Rejected { .. } => report.rejected += 1,
                Outcome::Retry { .. } => report.retrying += 1,
            }
        }
        tracing::info!(
            accepted = report.accepted,
            rejected = report.rejected,
            retrying = report.retrying,
            "batch answered"
        );
        report.lost_leases = self.store.finish(&claim, outcomes).await?;
        if report.lost_leases > 0 {
            tracing::warn!(
                lost_leases = report.lost_leases,
                "outcomes not recorded: another worker took these orders over"
            );
        }
        Ok(report)
    }

    /// Sends one batch of one kind and decides each order's outcome.
    async fn send_kind<I, T, F, Fut>(&self, batch: &[Entry], send: F) -> Vec<(i64, Outcome)>
    where
        I: serde::de::DeserializeOwned,
        T: Answered,
        F: Fn(Orders, Vec<I>) -> Fut,
        Fut: Future<Output = Result<TrackingResponse<T>, SubmitError<T>>>,
    {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut requests = Vec::with_capacity(batch.len());
        let mut sent = Vec::with_capacity(batch.len());
        for e in batch {
            match serde_json::from_str::<I>(&e.payload) {
                Ok(r) => {
                    requests.push(r);
                    sent.push(e);
                }
                Err(err) => outcomes.push((
                    e.id,
                    Outcome::Rejected {
                        message: format!("the stored order cannot be read: {err}"),
                        fields: Vec::new(),
                    },
                )),
            }
        }
        if sent.is_empty() {
            return outcomes;
        }
        let result = send(self.orders.clone(), requests).await;
        match result {
            Err(e) if is_refusal_of_the_orders(&e.error) && sent.len() > 1 => {
                // CJ refused the request as a whole (one bad order fails a GraphQL request):
                // send each order alone, so that only the bad ones become dead letters.
                for x in &sent {
                    let Ok(one) = serde_json::from_str::<I>(&x.payload) else {
                        continue;
                    };
                    let result = send(self.orders.clone(), vec![one]).await;
                    outcomes.extend(self.settle(&[*x], result));
                }
            }
            result => outcomes.extend(self.settle(&sent, result)),
        }
        outcomes
    }

    /// Each order's outcome from what CJ answered to the request that carried them.
    fn settle<T: Answered>(
        &self,
        sent: &[&Entry],
        result: Result<TrackingResponse<T>, SubmitError<T>>,
    ) -> Vec<(i64, Outcome)> {
        match result {
            Ok(response) => self.match_answers(sent, &response),
            Err(e) if is_refusal_of_the_orders(&e.error) => {
                let message = e.error.to_string();
                sent.iter()
                    .map(|x| {
                        (
                            x.id,
                            Outcome::Rejected {
                                message: message.clone(),
                                fields: Vec::new(),
                            },
                        )
                    })
                    .collect()
            }
            Err(e) => {
                // Not answered, or CJ unavailable or refusing our credentials: try again later.
                // Orders of requests that were answered (a split submission) are settled.
                if e.delivery() == Delivery::NotSent {
                    tracing::warn!(error = %e.error, "the batch was not sent; it will be retried");
                } else {
                    tracing::warn!(error = %e.error, "the batch was not confirmed; it will be sent again");
                }
                let answered = e.answered_orders.min(sent.len());
                let mut outcomes = self.match_answers(&sent[..answered], &e.answered);
                let reason = e.error.to_string();
                outcomes.extend(sent[answered..].iter().map(|x| {
                    (
                        x.id,
                        Outcome::Retry {
                            at_ms: self.clock.now_ms()
                                + self.backoff(x.attempts).as_millis() as i64,
                            reason: reason.clone(),
                        },
                    )
                }));
                outcomes
            }
        }
    }

    fn match_answers<T: Answered>(
        &self,
        sent: &[&Entry],
        response: &TrackingResponse<T>,
    ) -> Vec<(i64, Outcome)> {
        let now = self.clock.now_ms();
        match_answers(
            sent,
            response,
            |e| now + self.backoff(e.attempts).as_millis() as i64,
            self.config.max_unconfirmed_sends,
        )
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
        self.config
            .retry_delay
            .saturating_mul(factor)
            .min(self.config.max_retry_delay)
    }
}

/// Whether CJ refused a request because of its orders (schema validation and the like), as
/// opposed to credentials, availability or transport, which a retry may cure.
fn is_refusal_of_the_orders(error: &Error) -> bool {
    // Only a refusal can be about the orders: a 429 or 5xx is not one, whatever its body says.
    if !error.is_refusal() {
        return false;
    }
    match error {
        Error::GraphQL { errors, .. } => !errors.iter().any(|e| {
            matches!(
                e.message.as_str(),
                "Missing Token" | "Invalid Token" | "Unauthorized"
            )
        }),
        // Credentials (401, 403), a wrong URL (404, 405) and a timeout (408) say nothing about
        // the orders: those batches wait and are sent again.
        Error::Http { status, .. } => !matches!(status.as_u16(), 401 | 403 | 404 | 405 | 408),
        _ => false,
    }
}

/// CJ's submission id of an answered order.
trait Answered: OrderKey {
    fn submission(&self) -> String;
}

// Orders and cancellations answer with the same fields.
macro_rules! answered {
    ($($t:ty),*) => {$(
        impl Answered for $t {
            fn submission(&self) -> String {
                self.submission_id.to_string()
            }
        }
    )*};
}
answered!(
    cj_graphql::tracking::Order,
    cj_graphql::tracking::OrderCancellation
);

/// What CJ deduplicates on, as the queue writes it (an entry's `key`): `enterprise|tracker|order`.
pub fn order_key(enterprise_id: &str, action_tracker_id: u32, order_id: &str) -> String {
    format!("{enterprise_id}|{action_tracker_id}|{order_id}")
}

/// Each sent order's outcome from CJ's answer, as the Tracking client traced it: accepted
/// only when CJ returned it; refused when a `RequestError` names it; otherwise unconfirmed,
/// which is sent again (CJ deduplicates) until `max_unconfirmed_sends`, then a dead letter.
fn match_answers<T: Answered>(
    sent: &[&Entry],
    response: &TrackingResponse<T>,
    retry: impl Fn(&Entry) -> i64,
    max_unconfirmed_sends: u32,
) -> Vec<(i64, Outcome)> {
    let accepted: HashMap<String, String> = response
        .orders
        .iter()
        .map(|o| {
            let (enterprise, tracker, order) = o.order_key();
            (order_key(enterprise, tracker, order), o.submission())
        })
        .collect();
    let refused: HashMap<usize, &OrderError> = response
        .errors
        .iter()
        .filter_map(|e| Some((e.index?, e)))
        .collect();
    let unnamed: Vec<&str> = response
        .errors
        .iter()
        .filter(|e| e.index.is_none())
        .map(|e| e.message.as_str())
        .collect();
    sent.iter()
        .enumerate()
        .map(|(i, e)| {
            let outcome = if let Some(err) = refused.get(&i) {
                Outcome::Rejected {
                    message: err.message.clone(),
                    fields: err.fields.clone(),
                }
            } else if let Some(submission) = accepted.get(&e.key) {
                Outcome::Accepted {
                    submission_id: Some(submission.clone()),
                }
            } else {
                // `attempts` counts this send: a claim counts the send it is claimed for.
                let mut reason = format!(
                    "CJ's answer neither accepted nor refused this order ({} send(s))",
                    e.attempts
                );
                if !unnamed.is_empty() {
                    reason.push_str(&format!("; CJ's errors: {}", unnamed.join("; ")));
                }
                if e.attempts >= max_unconfirmed_sends {
                    Outcome::Rejected {
                        message: reason,
                        fields: Vec::new(),
                    }
                } else {
                    Outcome::Retry {
                        at_ms: retry(e),
                        reason,
                    }
                }
            };
            (e.id, outcome)
        })
        .collect()
}

struct Append {
    entries: Vec<NewEntry>,
    done: oneshot::Sender<Result<Vec<i64>, QueueError>>,
}

enum Command {
    Flush(oneshot::Sender<Result<SendReport, StoreError>>),
    Drain(oneshot::Sender<Result<SendReport, StoreError>>),
}

/// A durable order queue with a background sender. See the [crate docs](crate).
#[derive(Debug)]
pub struct OrderQueue<S: Store> {
    store: Arc<S>,
    appends: mpsc::Sender<Append>,
    commands: mpsc::Sender<Command>,
    notify: Arc<Notify>,
    closed: Arc<AtomicBool>,
    clock: Clock,
    /// The `Orders` client's clock skew: how far ahead an order's time may be.
    clock_skew: std::time::Duration,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl OrderQueue<SqliteStore> {
    /// Starts a durable queue stored in the SQLite file at `path` (created when missing);
    /// orders a previous process left unsent are sent too.
    pub fn open(
        path: &std::path::Path,
        orders: Orders,
        config: QueueConfig,
    ) -> Result<Self, QueueError> {
        Ok(OrderQueue::start(SqliteStore::open(path)?, orders, config))
    }
}

impl<S: Store> OrderQueue<S> {
    /// Starts the queue: a writer that stores orders (one transaction for every order waiting
    /// to be written) and a sender that sends when a threshold is met.
    pub fn start(store: S, orders: Orders, config: QueueConfig) -> Self {
        let store = Arc::new(store);
        let notify = Arc::new(Notify::new());
        let (appends, append_rx) = mpsc::channel::<Append>(1024);
        let (commands, command_rx) = mpsc::channel::<Command>(16);
        let clock = Clock::new();
        let writer = tokio::spawn(write_loop(
            store.clone(),
            append_rx,
            notify.clone(),
            config.clone(),
        ));
        let clock_skew = orders.clock_skew();
        let sender = Sender::new(store.clone(), orders, config);
        let sending = tokio::spawn(send_loop(sender, command_rx, notify.clone()));
        OrderQueue {
            store,
            appends,
            commands,
            notify,
            closed: Arc::new(AtomicBool::new(false)),
            clock,
            clock_skew,
            tasks: vec![writer, sending],
        }
    }

    /// Stores an order and returns its id once it is durable. An order that breaks CJ's rules
    /// is refused and not stored. An order already waiting, in flight or accepted with the same
    /// kind, key and payload is not stored again: its id is the one already queued (see
    /// [`Store::enqueue`]).
    pub async fn enqueue(&self, order: impl Into<QueuedOrder>) -> Result<i64, QueueError> {
        let ids = self.enqueue_all(vec![order.into()]).await?;
        ids.into_iter()
            .next()
            .ok_or_else(|| QueueError::Store(StoreError::Other("no id was returned".into())))
    }

    /// Stores orders, all or none, and returns their ids once they are durable (for an order
    /// already queued, the id it has: see [`enqueue`](Self::enqueue)).
    pub async fn enqueue_all(&self, orders: Vec<QueuedOrder>) -> Result<Vec<i64>, QueueError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(QueueError::Closed);
        }
        let now = self.clock.now_ms();
        let mut problems = Vec::new();
        let mut entries = Vec::with_capacity(orders.len());
        let horizon = cj_graphql::tracking::Horizon::now(self.clock_skew);
        for (i, o) in orders.iter().enumerate() {
            if let Err(invalid) = o.validate(horizon) {
                problems.extend(invalid.problems.into_iter().map(|mut p| {
                    p.index = Some(i);
                    p
                }));
            }
            entries.push(o.to_entry(now)?);
        }
        if !problems.is_empty() {
            return Err(QueueError::Invalid(InvalidInput { problems }));
        }
        let (done, rx) = oneshot::channel();
        self.appends
            .send(Append { entries, done })
            .await
            .map_err(|_| QueueError::Closed)?;
        rx.await.map_err(|_| QueueError::Closed)?
    }

    /// Sends everything that can be sent now, whatever the thresholds, and reports it.
    pub async fn flush(&self) -> Result<SendReport, QueueError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| QueueError::Closed)?;
        Ok(rx.await.map_err(|_| QueueError::Closed)??)
    }

    /// Stops taking orders and sends what waits, for at most `deadline`. Orders not sent by
    /// then stay in the store for the next start.
    pub async fn shutdown(mut self, deadline: Duration) -> Result<SendReport, QueueError> {
        self.closed.store(true, Ordering::Release);
        let (tx, rx) = oneshot::channel();
        let drained = async {
            self.commands
                .send(Command::Drain(tx))
                .await
                .map_err(|_| QueueError::Closed)?;
            Ok::<_, QueueError>(rx.await.map_err(|_| QueueError::Closed)??)
        };
        let result = tokio::time::timeout(deadline, drained).await;
        for task in self.tasks.drain(..) {
            task.abort();
        }
        match result {
            Ok(report) => report,
            Err(_) => {
                tracing::warn!("shutdown deadline passed; unsent orders stay in the store");
                Ok(SendReport::default())
            }
        }
    }

    /// What the store holds.
    pub async fn stats(&self) -> Result<Stats, QueueError> {
        Ok(self.store.stats().await?)
    }

    /// Removes the settled orders `retention` no longer keeps (see [`Store::prune`]).
    pub async fn prune(&self, retention: Retention) -> Result<Pruned, QueueError> {
        Ok(self.store.prune(retention, self.clock.now_ms()).await?)
    }

    /// Orders CJ refused.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.store.dead_letters().await?)
    }

    /// Puts refused orders back in the queue (all when `ids` is `None`).
    pub async fn requeue(&self, ids: Option<Vec<i64>>) -> Result<u64, QueueError> {
        let n = self.store.requeue(ids).await?;
        self.notify.notify_one();
        Ok(n)
    }
}

impl<S: Store> Drop for OrderQueue<S> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Group commit: every order waiting to be written goes into one transaction.
async fn write_loop<S: Store>(
    store: Arc<S>,
    mut rx: mpsc::Receiver<Append>,
    notify: Arc<Notify>,
    config: QueueConfig,
) {
    const MAX_GROUP: usize = 10_000;
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        let mut count = group[0].entries.len();
        while count < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => {
                    count += next.entries.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        // Bounded store: wait for the sender to make room, or refuse.
        let incoming: u64 = group
            .iter()
            .flat_map(|a| &a.entries)
            .map(|e| e.payload.len() as u64)
            .sum();
        loop {
            match store.waiting().await {
                Ok(waiting)
                    if waiting.bytes + incoming > config.max_store_bytes && waiting.count > 0 =>
                {
                    if config.backpressure == Backpressure::Fail {
                        for a in group.drain(..) {
                            let _ = a.done.send(Err(QueueError::Full {
                                bytes: waiting.bytes,
                                limit: config.max_store_bytes,
                            }));
                        }
                        break;
                    }
                    notify.notify_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => break,
            }
        }
        if group.is_empty() {
            continue;
        }
        let sizes: Vec<usize> = group.iter().map(|a| a.entries.len()).collect();
        let entries: Vec<NewEntry> = group
            .iter_mut()
            .flat_map(|a| std::mem::take(&mut a.entries))
            .collect();
        match store.enqueue(entries).await {
            Ok(ids) => {
                let mut ids = ids.into_iter().map(Enqueued::id);
                for (a, n) in group.into_iter().zip(sizes) {
                    let _ = a.done.send(Ok(ids.by_ref().take(n).collect()));
                }
                notify.notify_one();
            }
            Err(e) => {
                let message = e.to_string();
                for a in group {
                    let _ = a
                        .done
                        .send(Err(QueueError::Store(StoreError::Other(message.clone()))));
                }
            }
        }
    }
}

/// Sends when a threshold is met, on request, or to drain.
async fn send_loop<S: Store>(
    sender: Sender<S>,
    mut commands: mpsc::Receiver<Command>,
    notify: Arc<Notify>,
) {
    let tick =
        (sender.config.max_age / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Flush(done)) | Some(Command::Drain(done)) => {
                    let _ = done.send(sender.send_all().await);
                }
                None => return,
            },
            _ = notify.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
        match sender.due().await {
            Ok(true) => {
                if let Err(e) = sender.send_all().await {
                    tracing::error!(error = %e, "the queue's store failed while sending");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "the queue's store failed"),
        }
    }
}
