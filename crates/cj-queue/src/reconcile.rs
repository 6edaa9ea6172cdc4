//! Reconciling the queue's accepted orders with what CJ recorded in Commission Detail, from a
//! service as `cj reconcile --store` does it.
//!
//! [`add_accepted`] gives a [`Reconciler`] every request the store recorded as accepted (each
//! sent when CJ accepted it); [`with_verdicts_recorded`] passes on the lines of its
//! reconciliation against Commission Detail and records each order's verdict in the store
//! ([`Store::reconciliation`] counts them);
//! [`resend`] puts the requests of the orders found `missing` back in the queue.
//!
//! ```no_run
//! use std::collections::HashSet;
//! use cj_graphql::commissions::{CommissionsApi, DEFAULT_BASE_URL};
//! use cj_graphql::reconcile::{Reconciler, Verdict};
//! use cj_graphql::transport::{Credentials, Transport};
//! use cj_queue::SqliteStore;
//! use cj_queue::reconcile::{add_accepted, resend, with_verdicts_recorded};
//! use futures_util::TryStreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::open(std::path::Path::new("orders.sqlite"))?;
//! let transport = Transport::builder().credentials(Credentials::token("...")).build()?;
//! let api = CommissionsApi::new(transport, DEFAULT_BASE_URL)?;
//!
//! let mut reconciler = Reconciler::new();
//! add_accepted(&store, &mut reconciler).await?;
//! let mut missing = HashSet::new();
//! let lines = reconciler.reconcile(&api, ["1234567"]);
//! let mut lines = std::pin::pin!(with_verdicts_recorded(&store, lines));
//! while let Some(line) = lines.try_next().await? {
//!     if line.verdict == Verdict::Missing {
//!         missing.insert(cj_queue::reconcile::line_key(&line));
//!     }
//! }
//! let queued = resend(&store, &missing, jiff::Timestamp::now().as_millisecond()).await?;
//! println!("{queued} request(s) of {} missing order(s) queued again", missing.len());
//! # Ok(()) }
//! ```

use std::collections::HashSet;

use cj_graphql::reconcile::{ReconcileError, Reconciled, Reconciler, SentOrder, Verdict};
use cj_graphql::tracking::{OrderCancelRequest, OrderCreateRequest, OrderRestateRequest};
use futures_util::{Stream, StreamExt};
use jiff::Timestamp;

use crate::{AcceptedEntry, Kind, NewEntry, Store, StoreError, order_key};

/// Accepted orders read from the store at a time, and verdicts recorded at a time.
pub const PAGE: usize = 1000;

/// Why reconciling the store's orders failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueReconcileError {
    /// The store could not be read or written.
    #[error("the queue's store failed")]
    Store(#[source] StoreError),
    /// An accepted entry could not be read back (a store written by hand, or damaged).
    #[error("queue entry {id} ({key}): cannot read its {what}")]
    Unreadable {
        /// The entry's position in the queue.
        id: i64,
        /// Its key (enterprise id, action tracker id and order id).
        key: String,
        /// What could not be read: `order` or `acceptance time`.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reconciling failed: Commission Detail could not be read (no verdict is given then), or
    /// one order's records could not be folded.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
}

/// The queue's key of a line's order (its enterprise, action tracker and order ids), as
/// [`order_key`] writes it.
pub fn line_key(line: &Reconciled) -> String {
    let tracker = line.action_tracker_id.trim().parse().unwrap_or_default();
    order_key(&line.enterprise_id, tracker, &line.order_id)
}

/// The request an accepted entry holds, as reconciliation reads it, sent when CJ accepted it.
fn sent_order(entry: &AcceptedEntry) -> Result<SentOrder, QueueReconcileError> {
    let unreadable =
        |what, source: Box<dyn std::error::Error + Send + Sync>| QueueReconcileError::Unreadable {
            id: entry.id,
            key: entry.key.clone(),
            what,
            source,
        };
    let sent_at = Timestamp::from_millisecond(entry.accepted_at_ms)
        .map_err(|e| unreadable("acceptance time", e.into()))?;
    let order = |e: serde_json::Error| unreadable("order", e.into());
    Ok(match entry.kind {
        Kind::Create => SentOrder::create(
            &serde_json::from_str::<OrderCreateRequest>(&entry.payload).map_err(order)?,
            sent_at,
        ),
        Kind::Restate => SentOrder::restate(
            &serde_json::from_str::<OrderRestateRequest>(&entry.payload).map_err(order)?,
            sent_at,
        ),
        Kind::Cancel => SentOrder::cancel(
            &serde_json::from_str::<OrderCancelRequest>(&entry.payload).map_err(order)?,
            sent_at,
        ),
    })
}

/// Adds every request the store recorded as accepted (creates, restates and cancels) to
/// `reconciler`, each sent when CJ accepted it, reading [`PAGE`] entries at a time; returns how
/// many were added. An entry that cannot be read back is an error naming it.
pub async fn add_accepted<S: Store>(
    store: &S,
    reconciler: &mut Reconciler,
) -> Result<usize, QueueReconcileError> {
    let mut after = 0;
    let mut added = 0;
    loop {
        let page = store
            .accepted(after, PAGE)
            .await
            .map_err(QueueReconcileError::Store)?;
        let Some(last) = page.last() else {
            return Ok(added);
        };
        after = last.id;
        for entry in &page {
            reconciler.add(sent_order(entry)?);
            added += 1;
        }
    }
}

/// The `lines` of a reconciliation of the store's orders (see [`add_accepted`];
/// [`Reconciler::reconcile`] or [`Reconciler::reconcile_filtered`]), passed on as they come,
/// with each order's verdict recorded in the store, [`PAGE`] at a time and the rest when the
/// lines end (a consumer that stops early leaves the last page unrecorded). If Commission
/// Detail cannot be read, the error is the last item and no verdict is given or recorded.
pub fn with_verdicts_recorded<'a, S, L>(
    store: &'a S,
    lines: L,
) -> impl Stream<Item = Result<Reconciled, QueueReconcileError>> + Send + 'a
where
    S: Store,
    L: Stream<Item = Result<Reconciled, ReconcileError>> + Send + 'a,
{
    struct Walk<'a, S, L> {
        store: &'a S,
        lines: L,
        verdicts: Vec<(String, Verdict)>,
        ended: bool,
    }
    let walk = Walk {
        store,
        lines: lines.boxed(),
        verdicts: Vec::new(),
        ended: false,
    };
    futures_util::stream::unfold(walk, |mut walk| async move {
        if walk.ended {
            return None;
        }
        let record = |store: &'a S, verdicts| async move {
            store
                .record_verdicts(verdicts, Timestamp::now().as_millisecond())
                .await
                .map_err(QueueReconcileError::Store)
        };
        match walk.lines.next().await {
            Some(Ok(line)) => {
                if line.verdict != Verdict::Unexpected {
                    walk.verdicts.push((line_key(&line), line.verdict));
                    if walk.verdicts.len() >= PAGE {
                        let page = std::mem::take(&mut walk.verdicts);
                        if let Err(e) = record(walk.store, page).await {
                            walk.ended = true;
                            return Some((Err(e), walk));
                        }
                    }
                }
                Some((Ok(line), walk))
            }
            Some(Err(e)) => Some((Err(e.into()), walk)),
            None => {
                walk.ended = true;
                let rest = std::mem::take(&mut walk.verdicts);
                if rest.is_empty() {
                    return None;
                }
                match record(walk.store, rest).await {
                    Ok(()) => None,
                    Err(e) => Some((Err(e), walk)),
                }
            }
        }
    })
}

/// Puts every accepted request (create, restates and cancels, in their order) of the orders
/// whose keys ([`line_key`]) are in `keys` back in the queue, enqueued at `now_ms`, for the
/// queue to send again (CJ deduplicates); returns how many requests were queued. Meant for
/// orders found `missing`: never for `other-tracker` ones, which sending again could record
/// twice.
pub async fn resend<S: Store>(
    store: &S,
    keys: &HashSet<String>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut after = 0;
    let mut queued = 0;
    // The first id put back: entries from there on are the ones queued here (sent and
    // accepted again while this runs), never queued twice.
    let mut first_requeued: Option<i64> = None;
    loop {
        let page = store.accepted(after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(queued);
        };
        after = last.id;
        let again: Vec<NewEntry> = page
            .into_iter()
            .filter(|entry| first_requeued.is_none_or(|first| entry.id < first))
            .filter(|entry| keys.contains(&entry.key))
            .map(|entry| NewEntry {
                kind: entry.kind,
                key: entry.key,
                payload: entry.payload,
                enqueued_at_ms: now_ms,
            })
            .collect();
        if !again.is_empty() {
            queued += again.len();
            let ids = store.append(again).await?;
            if first_requeued.is_none() {
                first_requeued = ids.into_iter().min();
            }
        }
        if first_requeued.is_some_and(|first| after >= first) {
            return Ok(queued);
        }
    }
}
