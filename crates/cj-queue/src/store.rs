//! Where queued orders live: the [`Store`] trait, its records, and an in-memory store.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use cj_graphql::reconcile::Verdict;
use serde::Serialize;

/// Which mutation an order goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `createOrders`.
    Create,
    /// `restateOrders`.
    Restate,
    /// `cancelOrders`.
    Cancel,
}

impl Kind {
    /// `create`, `restate` or `cancel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Restate => "restate",
            Kind::Cancel => "cancel",
        }
    }

    /// The kind named by [`Kind::as_str`].
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "create" => Some(Kind::Create),
            "restate" => Some(Kind::Restate),
            "cancel" => Some(Kind::Cancel),
            _ => None,
        }
    }
}

/// An order to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The mutation.
    pub kind: Kind,
    /// enterprise id, action tracker id and order id, which CJ deduplicates on.
    pub key: String,
    /// The request, in CJ's JSON.
    pub payload: String,
    /// When it was enqueued, in milliseconds since the Unix epoch.
    pub enqueued_at_ms: i64,
}

/// What [`Store::enqueue`] did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored, with this id.
    Stored(i64),
    /// Not stored again: an order with the same kind, key and payload was already waiting, in
    /// flight or accepted, with this id.
    AlreadyQueued(i64),
}

impl Enqueued {
    /// The order's id in the queue: the new one, or the one already queued.
    pub fn id(self) -> i64 {
        match self {
            Enqueued::Stored(id) | Enqueued::AlreadyQueued(id) => id,
        }
    }
}

/// The SHA-256 of an order's payload: what [`Store::enqueue`] recognises an order already
/// queued by (with its kind and key). The same as PostgreSQL's `sha256(convert_to(payload,
/// 'UTF8'))`.
pub(crate) fn payload_hash(payload: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(payload.as_bytes()).to_vec()
}

/// Which settled orders [`Store::prune`] removes. An order is all the entries of one key
/// (its create, restates and cancels), removed together and only when none of them is waiting
/// or in flight; its verdict goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// An order is removed when its latest entry was accepted longer ago than this, whatever
    /// its verdict (default 90 days: past CJ's locking of most orders, after which they can no
    /// longer be restated or cancelled, and many runs of `cj reconcile --store`).
    pub max_age: Duration,
    /// An order CJ confirmed as sent (its verdict `recorded`, `corrected` or
    /// `cancelled-as-sent`, recorded after its latest entry was accepted) is removed sooner: when
    /// its latest entry was accepted longer ago than this (default 7 days, so that a restate or
    /// cancel sent in the week after still finds its create for reconciliation). Any other
    /// verdict (`missing`, `amount-differs`, `pending`, ...) or none keeps it to `max_age`.
    pub reconciled_age: Duration,
    /// Whether orders with a dead letter are removed too, under `max_age` (default `false`: a
    /// dead letter waits for an operator, and keeps the other entries of its order).
    pub dead_letters: bool,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(90 * 24 * 3600),
            reconciled_age: Duration::from_secs(7 * 24 * 3600),
            dead_letters: false,
        }
    }
}

/// The verdicts that let [`Retention::reconciled_age`] remove an order early.
pub(crate) const CONFIRMED_AS_SENT: [Verdict; 3] = [
    Verdict::Recorded,
    Verdict::Corrected,
    Verdict::CancelledAsSent,
];

/// A [`Retention`] as times: what was accepted before `max_age_ms` goes, and what CJ confirmed
/// before `reconciled_ms`; nothing enqueued from `youngest_ms` on can go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoffs {
    pub max_age_ms: i64,
    pub reconciled_ms: i64,
    pub youngest_ms: i64,
    pub dead_letters: bool,
}

impl Cutoffs {
    pub(crate) fn new(retention: Retention, now_ms: i64) -> Cutoffs {
        let before = |age: Duration| {
            now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
        };
        let max_age_ms = before(retention.max_age);
        let reconciled_ms = before(retention.reconciled_age);
        Cutoffs {
            max_age_ms,
            reconciled_ms,
            youngest_ms: max_age_ms.max(reconciled_ms),
            dead_letters: retention.dead_letters,
        }
    }
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    /// Orders (keys) removed.
    pub orders: u64,
    /// Their entries (creates, restates, cancels, dead letters).
    pub entries: u64,
    /// Verdicts removed: those of the orders removed, and those older than `max_age` of orders
    /// the store no longer holds.
    pub verdicts: u64,
}

impl Pruned {
    pub(crate) fn add(&mut self, other: Pruned) {
        self.orders += other.orders;
        self.entries += other.entries;
        self.verdicts += other.verdicts;
    }
}

/// Rows a prune reads per transaction: the bound on how long it holds the store.
pub(crate) const PRUNE_PAGE: i64 = 2_000;

/// A stored order claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position in the queue (increasing).
    pub id: i64,
    /// The mutation.
    pub kind: Kind,
    /// enterprise id, action tracker id and order id.
    pub key: String,
    /// The request, in CJ's JSON.
    pub payload: String,
    /// When it was enqueued.
    pub enqueued_at_ms: i64,
    /// Sends tried so far, this one included: every claim increments it, so it also tells this
    /// claim of the order from any other (see [`Claim`]).
    pub attempts: u32,
}

/// A worker's claim on a batch, which [`Store::finish`] and [`Store::renew`] check so that only
/// the claim that still holds an order records its outcome or extends its lease.
///
/// An order's claim is its id with its attempt number ([`Entry::attempts`]): every claim
/// increments the number, so a later claim of the same order (by another worker, or by the same
/// worker name in another process) is a different claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    worker: String,
    attempts: BTreeMap<i64, u32>,
}

impl Claim {
    /// The claim `worker` holds on `batch`, as [`Store::claim`] returned it.
    pub fn new(worker: &str, batch: &[Entry]) -> Claim {
        Claim {
            worker: worker.to_string(),
            attempts: batch.iter().map(|e| (e.id, e.attempts)).collect(),
        }
    }

    /// The worker that claimed the batch.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// The attempt number order `id` was claimed for, or `None` if it is not in this claim.
    pub fn attempt(&self, id: i64) -> Option<u32> {
        self.attempts.get(&id).copied()
    }

    /// The claimed orders' ids and attempt numbers, by id.
    pub fn orders(&self) -> impl Iterator<Item = (i64, u32)> + '_ {
        self.attempts.iter().map(|(id, n)| (*id, *n))
    }

    /// How many orders were claimed.
    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    /// Whether the claim holds no order.
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }
}

/// What happened to a sent order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// CJ accepted it.
    Accepted {
        /// CJ's submission id, when CJ named it.
        submission_id: Option<String>,
    },
    /// CJ refused it: it goes to the dead letters.
    Rejected {
        /// CJ's message.
        message: String,
        /// The fields CJ named.
        fields: Vec<String>,
    },
    /// It was not answered (or CJ was unavailable): it waits to be sent again.
    Retry {
        /// Not before this time (milliseconds since the Unix epoch).
        at_ms: i64,
        /// Why.
        reason: String,
    },
}

/// A refused order, kept until requeued.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Its id in the queue.
    pub id: i64,
    /// The mutation.
    pub kind: Kind,
    /// The order, in CJ's JSON.
    pub order: serde_json::Value,
    /// CJ's message.
    pub message: String,
    /// The fields CJ named.
    pub fields: Vec<String>,
    /// When it was enqueued.
    pub enqueued_at_ms: i64,
}

/// What the queue holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Orders waiting to be sent (including those waiting to retry).
    pub waiting: u64,
    /// Their size in bytes of JSON.
    pub waiting_bytes: u64,
    /// When the oldest waiting order was enqueued.
    pub oldest_waiting_ms: Option<i64>,
    /// Orders being sent.
    pub in_flight: u64,
    /// Orders CJ accepted.
    pub accepted: u64,
    /// Orders CJ refused (dead letters).
    pub dead: u64,
}

/// The orders waiting to be sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    /// How many.
    pub count: u64,
    /// Their bytes of JSON.
    pub bytes: u64,
    /// When the oldest was enqueued.
    pub oldest_ms: Option<i64>,
}

/// An order CJ accepted, as [`Store::accepted`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEntry {
    /// Its position in the queue.
    pub id: i64,
    /// The mutation.
    pub kind: Kind,
    /// enterprise id, action tracker id and order id.
    pub key: String,
    /// The request, in CJ's JSON.
    pub payload: String,
    /// When it was enqueued.
    pub enqueued_at_ms: i64,
    /// When CJ's answer accepted it (milliseconds since the Unix epoch). A store written before
    /// this was recorded gives the time it was enqueued.
    pub accepted_at_ms: i64,
    /// CJ's submission id, when CJ named it.
    pub submission_id: Option<String>,
}

/// What reconciliation (`cj reconcile --store`) last found for the orders CJ accepted: how many
/// orders have each [`Verdict`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    /// Orders per verdict, by the verdict's name (`recorded`, `missing`, ...).
    pub verdicts: BTreeMap<String, u64>,
    /// When the latest verdict was recorded (milliseconds since the Unix epoch).
    pub checked_at_ms: Option<i64>,
}

impl Reconciliation {
    /// Orders CJ has records of ([`Verdict::is_confirmed`]).
    pub fn confirmed(&self) -> u64 {
        self.count(Verdict::is_confirmed)
    }

    /// Orders CJ has no record of, past the grace period ([`Verdict::Missing`]).
    pub fn missing(&self) -> u64 {
        self.count(|v| v == Verdict::Missing)
    }

    fn count(&self, which: impl Fn(Verdict) -> bool) -> u64 {
        self.verdicts
            .iter()
            .filter(|(name, _)| name.parse().is_ok_and(&which))
            .map(|(_, n)| *n)
            .sum()
    }
}

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Another failure (a worker thread, a corrupt record, ...).
    #[error("{0}")]
    Other(String),
}

/// Where queued orders live. Every method's effect is durable (for a durable store) when its
/// future completes.
pub trait Store: Send + Sync + 'static {
    /// Stores orders, all or none, and returns their ids: every entry, even one already
    /// queued (as `cj reconcile --store --resend-missing` sends accepted orders again).
    /// [`enqueue`](Store::enqueue) skips orders already queued.
    fn append(
        &self,
        entries: Vec<NewEntry>,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;

    /// Stores the orders not already queued, all or none: an entry with the same kind, key and
    /// payload as an order waiting, in flight or accepted (stored by `enqueue`) is not stored
    /// again, nor is a second such entry in `entries`. A changed order (another payload under
    /// the same key) is stored. Returns what happened to each entry, in order. Safe when several
    /// instances enqueue the same order at once: one stores it.
    ///
    /// The default stores every entry with [`append`](Store::append): a store of your own
    /// checks once it implements this.
    fn enqueue(
        &self,
        entries: Vec<NewEntry>,
    ) -> impl Future<Output = Result<Vec<Enqueued>, StoreError>> + Send {
        async move {
            let ids = self.append(entries).await?;
            Ok(ids.into_iter().map(Enqueued::Stored).collect())
        }
    }

    /// Removes the settled orders `retention` no longer keeps, as of `now_ms` (see
    /// [`Retention`]), in transactions of a bounded size, and gives their space back where the
    /// store can. Never removes an order with an entry waiting or in flight. The default answers
    /// [`StoreError::Other`].
    fn prune(
        &self,
        retention: Retention,
        now_ms: i64,
    ) -> impl Future<Output = Result<Pruned, StoreError>> + Send {
        let _ = (retention, now_ms);
        async { Err(unsupported("pruning")) }
    }

    /// Counts of every state (for reports; may scan the whole store).
    fn stats(&self) -> impl Future<Output = Result<Stats, StoreError>> + Send;

    /// The waiting orders' count, bytes and oldest time: what the thresholds need, cheaply
    /// (the sender asks after every write).
    fn waiting(&self) -> impl Future<Output = Result<Waiting, StoreError>> + Send;

    /// Claims the next batch for `worker`: orders of one kind, oldest first, at most
    /// `max_orders` and `max_bytes` (at least one order), none of which has an earlier order
    /// with the same key still waiting or in flight. Claimed orders are in flight until
    /// `finish`ed or until `now_ms + lease_ms` (which [`renew`](Store::renew) pushes back), when
    /// another worker may claim them again. Each claimed order's `attempts` is incremented.
    fn claim(
        &self,
        worker: &str,
        limits: BatchLimits,
        now_ms: i64,
    ) -> impl Future<Output = Result<Vec<Entry>, StoreError>> + Send;

    /// Records what happened to orders claimed under `claim`. An outcome is recorded only if
    /// its order is still in flight under this claim: an order claimed again since (this
    /// claim's lease ran out), or already settled, keeps what its new owner recorded. Returns
    /// how many outcomes were not recorded for that reason: the lost leases.
    fn finish(
        &self,
        claim: &Claim,
        outcomes: Vec<(i64, Outcome)>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Extends the lease of the orders still in flight under `claim` to `until_ms`, and returns
    /// how many they are (fewer than claimed when leases were lost).
    fn renew(
        &self,
        claim: &Claim,
        until_ms: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The refused orders.
    fn dead_letters(&self) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Puts refused orders back in the queue (all of them when `ids` is `None`); returns how many.
    fn requeue(
        &self,
        ids: Option<Vec<i64>>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// A page of the orders CJ accepted: those with an id after `after_id`, by id, at most
    /// `limit`. Read page after page (from the last id of the page before) to stream them all in
    /// bounded memory. The default answers [`StoreError::Other`]: a store of your own
    /// reconciles once it implements it.
    fn accepted(
        &self,
        after_id: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AcceptedEntry>, StoreError>> + Send {
        let _ = (after_id, limit);
        async { Err(unsupported("reading accepted orders")) }
    }

    /// Records each order's verdict (by its key), replacing the one recorded before, as of
    /// `at_ms`. The default answers [`StoreError::Other`].
    fn record_verdicts(
        &self,
        verdicts: Vec<(String, Verdict)>,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (verdicts, at_ms);
        async { Err(unsupported("recording verdicts")) }
    }

    /// How many orders have each verdict recorded. The default answers an empty
    /// [`Reconciliation`].
    fn reconciliation(&self) -> impl Future<Output = Result<Reconciliation, StoreError>> + Send {
        async { Ok(Reconciliation::default()) }
    }
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Other(format!("this store does not support {what}"))
}

/// How big a batch may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Orders per batch.
    pub max_orders: usize,
    /// Bytes of JSON per batch.
    pub max_bytes: u64,
    /// How long a claim lasts before another worker may take the batch over.
    pub lease_ms: i64,
}

/// Runs `work` (the sending of a claimed batch) while renewing the claim's lease every third of
/// `lease_ms`, so that a send slower than the lease keeps its batch. Renewing stops when `work`
/// ends, or when every order of the claim was lost; a failed renewal is retried next time.
pub(crate) async fn renewing<S: Store, T>(
    store: &S,
    claim: &Claim,
    lease_ms: i64,
    now_ms: impl Fn() -> i64,
    work: impl Future<Output = T>,
) -> T {
    let period = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(0).max(1));
    let heartbeat = async {
        let mut held = claim.len() as u64;
        while held > 0 {
            tokio::time::sleep(period).await;
            match store.renew(claim, now_ms().saturating_add(lease_ms)).await {
                Ok(now_held) => {
                    if now_held < held {
                        tracing::warn!(
                            lost = held - now_held,
                            worker = claim.worker(),
                            "lost the lease of orders being sent: another worker took them over"
                        );
                    }
                    held = now_held;
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the batch's lease"),
            }
        }
    };
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return out,
        () = heartbeat => {}
    }
    work.await
}

/// Picks a batch from eligible entries in id order: the first entry's kind, then entries of
/// that kind while the limits allow (the first entry always fits).
pub(crate) fn pick_batch(
    eligible: impl IntoIterator<Item = Entry>,
    limits: BatchLimits,
) -> Vec<Entry> {
    let mut batch: Vec<Entry> = Vec::new();
    let mut bytes = 0u64;
    for entry in eligible {
        if batch.len() >= limits.max_orders {
            break;
        }
        if batch.first().is_some_and(|first| first.kind != entry.kind) {
            continue;
        }
        let size = entry.payload.len() as u64;
        if !batch.is_empty() && bytes + size > limits.max_bytes {
            break;
        }
        bytes += size;
        batch.push(entry);
    }
    batch
}

/// A store in memory: fast, and lost with the process. For tests, benchmarks, and queues whose
/// orders may be lost.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: Mutex<MemoryRows>,
}

#[derive(Debug, Default)]
struct MemoryRows {
    next_id: i64,
    rows: BTreeMap<i64, Row>,
    /// Ids of waiting and in-flight rows, so that hot paths skip settled ones.
    pending: std::collections::BTreeSet<i64>,
    waiting_count: u64,
    waiting_bytes: u64,
    /// Each order's verdict and when it was recorded, by key.
    verdicts: BTreeMap<String, (Verdict, i64)>,
    /// The rows `enqueue` stored that are not dead letters, by kind, key and payload hash.
    queued: std::collections::HashMap<(Kind, String, Vec<u8>), i64>,
}

impl MemoryRows {
    /// The row of order `id` if it is still in flight under `claim`.
    fn held(&mut self, claim: &Claim, id: i64) -> Option<&mut Row> {
        let attempt = claim.attempt(id)?;
        self.rows
            .get_mut(&id)
            .filter(|r| r.state == State::InFlight && r.entry.attempts == attempt)
    }

    /// Moves a row to `state`, keeping the pending set and the waiting totals right.
    fn set_state(&mut self, id: i64, state: State) {
        let Some(row) = self.rows.get_mut(&id) else {
            return;
        };
        let bytes = row.entry.payload.len() as u64;
        if row.state == State::Waiting {
            self.waiting_count -= 1;
            self.waiting_bytes -= bytes;
        }
        if state == State::Waiting {
            self.waiting_count += 1;
            self.waiting_bytes += bytes;
        }
        row.state = state;
        // A dead letter no longer holds its payload back (a requeue stores it unchecked).
        if state == State::Dead
            && let Some(hash) = row.hash.take()
        {
            let checked = (row.entry.kind, row.entry.key.clone(), hash);
            self.queued.remove(&checked);
        }
        if matches!(state, State::Waiting | State::InFlight) {
            self.pending.insert(id);
        } else {
            self.pending.remove(&id);
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    entry: Entry,
    state: State,
    next_attempt_ms: i64,
    claimed_until_ms: i64,
    error: Option<(String, Vec<String>)>,
    /// When CJ accepted it (milliseconds since the Unix epoch), and its submission id.
    accepted: Option<(i64, Option<String>)>,
    /// Its payload's hash, when `enqueue` stored it and it is not a dead letter.
    hash: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    InFlight,
    Accepted,
    Dead,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemoryRows>, StoreError> {
        self.rows
            .lock()
            .map_err(|_| StoreError::Other("the memory store's lock is poisoned".into()))
    }
}

impl MemoryRows {
    /// Stores `e` as a waiting row (with the payload hash `enqueue` checked) and returns its id.
    fn insert(&mut self, e: NewEntry, hash: Option<Vec<u8>>) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        if let Some(hash) = &hash {
            self.queued
                .insert((e.kind, e.key.clone(), hash.clone()), id);
        }
        self.rows.insert(
            id,
            Row {
                entry: Entry {
                    id,
                    kind: e.kind,
                    key: e.key,
                    payload: e.payload,
                    enqueued_at_ms: e.enqueued_at_ms,
                    attempts: 0,
                },
                // Settled until `set_state` below counts it as waiting.
                state: State::Accepted,
                next_attempt_ms: 0,
                claimed_until_ms: 0,
                error: None,
                accepted: None,
                hash,
            },
        );
        self.set_state(id, State::Waiting);
        id
    }
}

impl Store for MemoryStore {
    async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<i64>, StoreError> {
        let mut rows = self.lock()?;
        Ok(entries.into_iter().map(|e| rows.insert(e, None)).collect())
    }

    async fn enqueue(&self, entries: Vec<NewEntry>) -> Result<Vec<Enqueued>, StoreError> {
        let mut rows = self.lock()?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let hash = payload_hash(&e.payload);
            let checked = (e.kind, e.key.clone(), hash);
            if let Some(id) = rows.queued.get(&checked) {
                out.push(Enqueued::AlreadyQueued(*id));
                continue;
            }
            out.push(Enqueued::Stored(rows.insert(e, Some(checked.2))));
        }
        Ok(out)
    }

    async fn prune(&self, retention: Retention, now_ms: i64) -> Result<Pruned, StoreError> {
        let cut = Cutoffs::new(retention, now_ms);
        let mut rows = self.lock()?;
        let mut orders: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for row in rows.rows.values() {
            orders.entry(row.entry.key.as_str()).or_default().push(row);
        }
        let verdicts = &rows.verdicts;
        let gone: Vec<(String, Vec<i64>)> = orders
            .into_iter()
            .filter(|(key, entries)| {
                let settled = entries.iter().all(|r| match r.state {
                    State::Accepted => true,
                    State::Dead => cut.dead_letters,
                    State::Waiting | State::InFlight => false,
                });
                let latest = entries
                    .iter()
                    .map(|r| r.accepted.as_ref().map_or(r.entry.enqueued_at_ms, |a| a.0))
                    .max()
                    .unwrap_or(i64::MAX);
                let confirmed = verdicts.get(*key).is_some_and(|(verdict, at)| {
                    CONFIRMED_AS_SENT.contains(verdict) && *at >= latest
                });
                settled && (latest < cut.max_age_ms || (confirmed && latest < cut.reconciled_ms))
            })
            .map(|(key, entries)| {
                (
                    key.to_string(),
                    entries.iter().map(|r| r.entry.id).collect(),
                )
            })
            .collect();
        let mut pruned = Pruned::default();
        for (key, ids) in gone {
            for id in ids {
                rows.set_state(id, State::Dead);
                rows.rows.remove(&id);
                pruned.entries += 1;
            }
            pruned.orders += 1;
            pruned.verdicts += u64::from(rows.verdicts.remove(&key).is_some());
        }
        let held: std::collections::HashSet<&str> =
            rows.rows.values().map(|r| r.entry.key.as_str()).collect();
        let orphans: Vec<String> = rows
            .verdicts
            .iter()
            .filter(|(key, (_, at))| *at < cut.max_age_ms && !held.contains(key.as_str()))
            .map(|(key, _)| key.clone())
            .collect();
        for key in orphans {
            rows.verdicts.remove(&key);
            pruned.verdicts += 1;
        }
        Ok(pruned)
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let rows = self.lock()?;
        let mut stats = Stats::default();
        for row in rows.rows.values() {
            match row.state {
                State::Waiting => {
                    stats.waiting += 1;
                    stats.waiting_bytes += row.entry.payload.len() as u64;
                    stats.oldest_waiting_ms = Some(
                        stats
                            .oldest_waiting_ms
                            .map_or(row.entry.enqueued_at_ms, |o| {
                                o.min(row.entry.enqueued_at_ms)
                            }),
                    );
                }
                State::InFlight => stats.in_flight += 1,
                State::Accepted => stats.accepted += 1,
                State::Dead => stats.dead += 1,
            }
        }
        Ok(stats)
    }

    async fn waiting(&self) -> Result<Waiting, StoreError> {
        let rows = self.lock()?;
        let oldest_ms = rows
            .pending
            .iter()
            .filter_map(|id| rows.rows.get(id))
            .find(|r| r.state == State::Waiting)
            .map(|r| r.entry.enqueued_at_ms);
        Ok(Waiting {
            count: rows.waiting_count,
            bytes: rows.waiting_bytes,
            oldest_ms,
        })
    }

    async fn claim(
        &self,
        _worker: &str,
        limits: BatchLimits,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut rows = self.lock()?;
        let mut pending_keys = std::collections::HashSet::new();
        let mut eligible = Vec::new();
        for row in rows.pending.iter().filter_map(|id| rows.rows.get(id)) {
            let ready = match row.state {
                State::Waiting => row.next_attempt_ms <= now_ms,
                State::InFlight => row.claimed_until_ms < now_ms,
                _ => continue,
            };
            // An earlier order with the same key still pending holds this one back.
            if pending_keys.insert(row.entry.key.clone()) && ready {
                eligible.push(row.entry.clone());
            }
        }
        let batch = pick_batch(eligible, limits);
        for e in &batch {
            rows.set_state(e.id, State::InFlight);
            if let Some(row) = rows.rows.get_mut(&e.id) {
                row.claimed_until_ms = now_ms + limits.lease_ms;
                row.entry.attempts += 1;
            }
        }
        Ok(batch
            .into_iter()
            .map(|mut e| {
                e.attempts += 1;
                e
            })
            .collect())
    }

    async fn finish(
        &self,
        claim: &Claim,
        outcomes: Vec<(i64, Outcome)>,
    ) -> Result<u64, StoreError> {
        let mut rows = self.lock()?;
        let mut lost = 0;
        for (id, outcome) in outcomes {
            let Some(row) = rows.held(claim, id) else {
                lost += 1;
                continue;
            };
            let state = match outcome {
                Outcome::Accepted { submission_id } => {
                    row.accepted = Some((jiff::Timestamp::now().as_millisecond(), submission_id));
                    State::Accepted
                }
                Outcome::Rejected { message, fields } => {
                    row.error = Some((message, fields));
                    State::Dead
                }
                Outcome::Retry { at_ms, .. } => {
                    row.next_attempt_ms = at_ms;
                    State::Waiting
                }
            };
            rows.set_state(id, state);
        }
        Ok(lost)
    }

    async fn renew(&self, claim: &Claim, until_ms: i64) -> Result<u64, StoreError> {
        let mut rows = self.lock()?;
        let mut held = 0;
        for (id, _) in claim.orders() {
            if let Some(row) = rows.held(claim, id) {
                row.claimed_until_ms = until_ms;
                held += 1;
            }
        }
        Ok(held)
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = self.lock()?;
        Ok(rows
            .rows
            .values()
            .filter(|r| r.state == State::Dead)
            .map(|r| {
                let (message, fields) = r.error.clone().unwrap_or_default();
                DeadLetter {
                    id: r.entry.id,
                    kind: r.entry.kind,
                    order: serde_json::from_str(&r.entry.payload)
                        .unwrap_or(serde_json::Value::Null),
                    message,
                    fields,
                    enqueued_at_ms: r.entry.enqueued_at_ms,
                }
            })
            .collect())
    }

    async fn requeue(&self, ids: Option<Vec<i64>>) -> Result<u64, StoreError> {
        let mut rows = self.lock()?;
        let dead: Vec<i64> = rows
            .rows
            .values()
            .filter(|r| {
                r.state == State::Dead && ids.as_ref().is_none_or(|ids| ids.contains(&r.entry.id))
            })
            .map(|r| r.entry.id)
            .collect();
        for id in &dead {
            rows.set_state(*id, State::Waiting);
            if let Some(row) = rows.rows.get_mut(id) {
                row.next_attempt_ms = 0;
                row.error = None;
            }
        }
        Ok(dead.len() as u64)
    }

    async fn accepted(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AcceptedEntry>, StoreError> {
        let rows = self.lock()?;
        Ok(rows
            .rows
            .range(after_id.saturating_add(1)..)
            .map(|(_, r)| r)
            .filter(|r| r.state == State::Accepted)
            .take(limit)
            .map(|r| {
                let (at, submission_id) =
                    r.accepted.clone().unwrap_or((r.entry.enqueued_at_ms, None));
                AcceptedEntry {
                    id: r.entry.id,
                    kind: r.entry.kind,
                    key: r.entry.key.clone(),
                    payload: r.entry.payload.clone(),
                    enqueued_at_ms: r.entry.enqueued_at_ms,
                    accepted_at_ms: at,
                    submission_id,
                }
            })
            .collect())
    }

    async fn record_verdicts(
        &self,
        verdicts: Vec<(String, Verdict)>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut rows = self.lock()?;
        for (key, verdict) in verdicts {
            rows.verdicts.insert(key, (verdict, at_ms));
        }
        Ok(())
    }

    async fn reconciliation(&self) -> Result<Reconciliation, StoreError> {
        let rows = self.lock()?;
        let mut out = Reconciliation::default();
        for (verdict, at) in rows.verdicts.values() {
            *out.verdicts
                .entry(verdict.as_str().to_string())
                .or_default() += 1;
            out.checked_at_ms = out.checked_at_ms.max(Some(*at));
        }
        Ok(out)
    }
}
