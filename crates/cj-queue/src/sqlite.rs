//! The durable embedded store: SQLite, in write-ahead-log mode with `synchronous = FULL`.
//!
//! What is fsynced when: every `append`, `finish` and `requeue` is one transaction, and SQLite
//! fsyncs the log when it commits, before the call returns. So an order that `enqueue`
//! acknowledged is on disk, and survives a `kill -9` or a power cut. The queue batches the
//! orders of concurrent `enqueue` calls into one transaction (group commit), so a busy
//! checkout pays one fsync per group, not one per order.
//!
//! One process uses a SQLite store at a time: orders left in flight by a process that died are
//! sent again when the store is next opened (at least once; CJ deduplicates). As in the other
//! stores, an outcome is recorded only for an order still in flight under the claim that sent
//! it (its attempt number): a late one, from before the store was reopened, is counted as a
//! lost lease and not recorded.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use cj_graphql::reconcile::Verdict;

use crate::store::{
    AcceptedEntry, BatchLimits, CONFIRMED_AS_SENT, Claim, Cutoffs, DeadLetter, Enqueued, Entry,
    Kind, NewEntry, Outcome, PRUNE_PAGE, Pruned, Reconciliation, Retention, Stats, Store,
    StoreError, Waiting, payload_hash, pick_batch,
};

// Some statements spell these out: `state <> 3` must match the index `queue_once` word for word.
const WAITING: i64 = 0;
const IN_FLIGHT: i64 = 1;
const ACCEPTED: i64 = 2;
const DEAD: i64 = 3;

/// A queue stored in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, and puts back in the queue the orders a previous
    /// process left in flight.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        // Pages freed by `prune` go back to the file system. Takes effect on a new file; a file
        // made by an earlier version is switched over by its first prune (see `prune`).
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS queue (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                payload TEXT NOT NULL,
                bytes INTEGER NOT NULL,
                enqueued_at INTEGER NOT NULL,
                state INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL DEFAULT 0,
                claimed_until INTEGER NOT NULL DEFAULT 0,
                submission_id TEXT,
                error TEXT,
                error_fields TEXT,
                payload_hash BLOB
             );
             CREATE INDEX IF NOT EXISTS queue_state ON queue (state, id);
             CREATE INDEX IF NOT EXISTS queue_waiting ON queue (state, enqueued_at, bytes);
             CREATE INDEX IF NOT EXISTS queue_key ON queue (key, id);",
        )?;
        migrate(&mut conn)?;
        // Single process: whatever was in flight when it died was not confirmed.
        conn.execute(
            "UPDATE queue SET state = ?1 WHERE state = ?2",
            params![WAITING, IN_FLIGHT],
        )?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection in a blocking thread.
    pub(crate) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().map_err(|_| {
                StoreError::Other("the SQLite connection's lock is poisoned".into())
            })?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("the SQLite worker failed: {e}")))?
    }
}

/// What tells an order already queued: the partial unique index of `enqueue`'s rows (those with
/// a `payload_hash`) that are not dead letters. Queries that look an order up repeat its
/// condition, `state <> 3`, word for word, so that SQLite uses it.
const ONCE_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS queue_once ON queue (key, kind, payload_hash)
     WHERE payload_hash IS NOT NULL AND state <> 3";

/// Adds what later versions keep to a store made by an earlier one: when CJ accepted each
/// order (`accepted_at`, empty for orders accepted before), each order's reconciliation
/// verdict (table `verdicts`), and the payload hash that `enqueue` checks (`payload_hash`,
/// computed for the orders stored before, but for the second and later copies of one order).
/// Under a write lock, so that two processes opening one file at once do not both add a column.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let has_accepted_at: i64 = tx.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('queue') WHERE name = 'accepted_at'",
        [],
        |r| r.get(0),
    )?;
    if has_accepted_at == 0 {
        tx.execute_batch("ALTER TABLE queue ADD COLUMN accepted_at INTEGER")?;
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS verdicts (
            key TEXT PRIMARY KEY,
            verdict TEXT NOT NULL,
            checked_at INTEGER NOT NULL
         )",
    )?;
    let has_payload_hash: i64 = tx.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('queue') WHERE name = 'payload_hash'",
        [],
        |r| r.get(0),
    )?;
    if has_payload_hash == 0 {
        tx.execute_batch("ALTER TABLE queue ADD COLUMN payload_hash BLOB")?;
        hash_stored_orders(&tx)?;
    }
    tx.execute_batch(ONCE_INDEX)?;
    tx.commit()?;
    Ok(())
}

/// Gives the orders stored before `payload_hash` existed their hash, page by page: each order
/// that is not a dead letter, but for a later copy of one (same kind, key and payload).
fn hash_stored_orders(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let mut after = 0i64;
    loop {
        let page: Vec<(i64, String)> = tx
            .prepare(&format!(
                "SELECT id, payload FROM queue q WHERE q.id > ?1 AND q.state <> {DEAD}
                   AND NOT EXISTS (SELECT 1 FROM queue e WHERE e.key = q.key AND e.kind = q.kind
                                   AND e.payload = q.payload AND e.state <> {DEAD} AND e.id < q.id)
                 ORDER BY q.id LIMIT ?2"
            ))?
            .query_map(params![after, PRUNE_PAGE], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let Some(last) = page.last().map(|(id, _)| *id) else {
            return Ok(());
        };
        let mut update = tx.prepare_cached("UPDATE queue SET payload_hash = ?1 WHERE id = ?2")?;
        for (id, payload) in &page {
            update.execute(params![payload_hash(payload), id])?;
        }
        after = last;
    }
}

/// Returns the file's free pages to the file system (after a prune of the queue or of the
/// relay, which share the file): an incremental vacuum stepped to its end, once the file is in
/// that mode (a file made by an earlier version is switched with one `VACUUM`, which rewrites
/// and compacts it and needs as much free disk space for a while), then the write-ahead log
/// emptied into the file.
pub(crate) fn give_space_back(conn: &Connection) -> Result<(), StoreError> {
    const INCREMENTAL: i64 = 2;
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode == INCREMENTAL {
        // Each step frees some of the pages.
        let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
        let mut steps = vacuum.query([])?;
        while steps.next()?.is_some() {}
    } else {
        tracing::info!("turning incremental vacuum on in the store's file: a one-time VACUUM");
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")?;
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// The orders (keys) of the rows after `after_id` up to `last_id`, enqueued before
/// `cut.youngest_ms`, that `cut` removes: none of their entries waiting or in flight, nor a
/// dead letter unless asked, and their latest acceptance past the max age, or past the
/// reconciled age with a verdict confirming them recorded after it.
const PRUNABLE: &str = "SELECT q.key FROM queue q LEFT JOIN verdicts v ON v.key = q.key
     WHERE q.key IN (SELECT key FROM queue WHERE id > ?1 AND id <= ?2 AND enqueued_at < ?3)
     GROUP BY q.key
     HAVING COUNT(*) FILTER (WHERE q.state IN (0, 1)) = 0
        AND (?4 OR COUNT(*) FILTER (WHERE q.state = 3) = 0)
        AND (MAX(COALESCE(q.accepted_at, q.enqueued_at)) < ?5
             OR (MAX(COALESCE(q.accepted_at, q.enqueued_at)) < ?6
                 AND MAX(v.verdict) IN (?7, ?8, ?9)
                 AND MAX(v.checked_at) >= MAX(COALESCE(q.accepted_at, q.enqueued_at))))";

/// One page of a prune, one transaction: the rows after `after_id`. `None` when no row is left
/// that is old enough.
fn prune_page(
    conn: &mut Connection,
    after_id: i64,
    cut: Cutoffs,
) -> Result<Option<(i64, Pruned)>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let (last, oldest): (Option<i64>, Option<i64>) = tx.query_row(
        "SELECT MAX(id), MIN(enqueued_at) FROM
           (SELECT id, enqueued_at FROM queue WHERE id > ?1 ORDER BY id LIMIT ?2)",
        params![after_id, PRUNE_PAGE],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (Some(last), Some(oldest)) = (last, oldest) else {
        return Ok(None);
    };
    // Ids follow enqueue times: past the first page with nothing old enough, nothing is.
    if oldest >= cut.youngest_ms {
        return Ok(None);
    }
    let [recorded, corrected, cancelled] = CONFIRMED_AS_SENT.map(|v| v.as_str());
    let keys: Vec<String> = tx
        .prepare_cached(PRUNABLE)?
        .query_map(
            params![
                after_id,
                last,
                cut.youngest_ms,
                cut.dead_letters,
                cut.max_age_ms,
                cut.reconciled_ms,
                recorded,
                corrected,
                cancelled
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    let mut pruned = Pruned::default();
    {
        // The conditions again, as in the PostgreSQL store where another instance may have
        // queued an entry since: never a waiting or leased entry, an order's entries together.
        let mut entries = tx.prepare_cached(
            "DELETE FROM queue WHERE key = ?1 AND state IN (2, 3)
               AND NOT EXISTS (SELECT 1 FROM queue e WHERE e.key = ?1 AND e.state IN (0, 1))
               AND (?2 OR NOT EXISTS (SELECT 1 FROM queue e WHERE e.key = ?1 AND e.state = 3))",
        )?;
        let mut verdicts = tx.prepare_cached(
            "DELETE FROM verdicts WHERE key = ?1 AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.key = ?1)",
        )?;
        for key in &keys {
            let n = entries.execute(params![key, cut.dead_letters])? as u64;
            if n > 0 {
                pruned.orders += 1;
                pruned.entries += n;
                pruned.verdicts += verdicts.execute([key])? as u64;
            }
        }
    }
    tx.commit()?;
    Ok(Some((last, pruned)))
}

fn kind_of(text: String) -> Result<Kind, rusqlite::Error> {
    Kind::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown kind {text}").into(),
        )
    })
}

impl Store for SqliteStore {
    async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<i64>, StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let mut ids = Vec::with_capacity(entries.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO queue (kind, key, payload, bytes, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for e in &entries {
                    insert.execute(params![e.kind.as_str(), e.key, e.payload, e.payload.len() as i64, e.enqueued_at_ms])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            tx.commit()?;
            Ok(ids)
        })
        .await
    }

    async fn enqueue(&self, entries: Vec<NewEntry>) -> Result<Vec<Enqueued>, StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(entries.len());
            {
                // The unique index `queue_once` refuses an order already queued.
                let mut insert = tx.prepare_cached(
                    "INSERT INTO queue (kind, key, payload, bytes, enqueued_at, payload_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                )?;
                let mut queued = tx.prepare_cached(
                    "SELECT id FROM queue WHERE key = ?1 AND kind = ?2 AND payload_hash = ?3
                       AND payload_hash IS NOT NULL AND state <> 3",
                )?;
                for e in &entries {
                    let hash = payload_hash(&e.payload);
                    let kind = e.kind.as_str();
                    let bytes = e.payload.len() as i64;
                    let at = e.enqueued_at_ms;
                    if insert.execute(params![kind, e.key, e.payload, bytes, at, hash])? == 1 {
                        out.push(Enqueued::Stored(tx.last_insert_rowid()));
                    } else {
                        let id = queued.query_row(params![e.key, kind, hash], |r| r.get(0))?;
                        out.push(Enqueued::AlreadyQueued(id));
                    }
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn prune(&self, retention: Retention, now_ms: i64) -> Result<Pruned, StoreError> {
        let cut = Cutoffs::new(retention, now_ms);
        let mut pruned = Pruned::default();
        let mut after = 0;
        while let Some((last, page)) = self.with(move |conn| prune_page(conn, after, cut)).await? {
            after = last;
            pruned.add(page);
        }
        pruned.verdicts += self
            .with(move |conn| {
                let mut n = 0;
                loop {
                    let gone = conn.execute(
                        "DELETE FROM verdicts WHERE key IN (
                           SELECT key FROM verdicts v WHERE v.checked_at < ?1
                             AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.key = v.key) LIMIT ?2)",
                        params![cut.max_age_ms, PRUNE_PAGE],
                    )?;
                    if gone == 0 {
                        return Ok(n);
                    }
                    n += gone as u64;
                }
            })
            .await?;
        self.with(|conn| give_space_back(conn)).await?;
        Ok(pruned)
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        self.with(|conn| {
            let mut stats = Stats::default();
            let mut q = conn.prepare_cached(
                "SELECT state, COUNT(*), COALESCE(SUM(bytes), 0), MIN(enqueued_at) FROM queue GROUP BY state",
            )?;
            let rows = q.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?))
            })?;
            for row in rows {
                let (state, count, bytes, oldest) = row?;
                let count = count as u64;
                match state {
                    WAITING => {
                        stats.waiting = count;
                        stats.waiting_bytes = bytes as u64;
                        stats.oldest_waiting_ms = oldest;
                    }
                    IN_FLIGHT => stats.in_flight = count,
                    ACCEPTED => stats.accepted = count,
                    _ => stats.dead = count,
                }
            }
            Ok(stats)
        })
        .await
    }

    async fn waiting(&self) -> Result<Waiting, StoreError> {
        self.with(|conn| {
            // Answered from the covering index: the cost follows the waiting orders, not the store.
            let mut q = conn.prepare_cached(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(enqueued_at) FROM queue WHERE state = ?1",
            )?;
            Ok(q.query_row([WAITING], |r| {
                Ok(Waiting {
                    count: r.get::<_, i64>(0)? as u64,
                    bytes: r.get::<_, i64>(1)? as u64,
                    oldest_ms: r.get(2)?,
                })
            })?)
        })
        .await
    }

    async fn claim(
        &self,
        _worker: &str,
        limits: BatchLimits,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let batch = {
                let mut q = tx.prepare_cached(
                    "SELECT id, kind, key, payload, enqueued_at, attempts FROM queue q
                     WHERE q.state = ?1 AND q.next_attempt_at <= ?2
                       AND NOT EXISTS (SELECT 1 FROM queue e
                                       WHERE e.key = q.key AND e.id < q.id AND e.state IN (?1, ?3))
                     ORDER BY q.id LIMIT ?4",
                )?;
                let rows = q.query_map(
                    params![WAITING, now_ms, IN_FLIGHT, limits.max_orders as i64],
                    |r| {
                        Ok(Entry {
                            id: r.get(0)?,
                            kind: kind_of(r.get(1)?)?,
                            key: r.get(2)?,
                            payload: r.get(3)?,
                            enqueued_at_ms: r.get(4)?,
                            attempts: r.get::<_, i64>(5)? as u32 + 1,
                        })
                    },
                )?;
                let eligible = rows.collect::<Result<Vec<_>, _>>()?;
                pick_batch(eligible, limits)
            };
            {
                let mut update = tx.prepare_cached(
                    "UPDATE queue SET state = ?1, attempts = attempts + 1, claimed_until = ?2 WHERE id = ?3",
                )?;
                for e in &batch {
                    update.execute(params![IN_FLIGHT, now_ms + limits.lease_ms, e.id])?;
                }
            }
            tx.commit()?;
            Ok(batch)
        })
        .await
    }

    async fn finish(
        &self,
        claim: &Claim,
        outcomes: Vec<(i64, Outcome)>,
    ) -> Result<u64, StoreError> {
        let claim = claim.clone();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let mut lost = 0;
            // Only while the order is still in flight under this claim (`?1` to `?3`).
            for (id, outcome) in &outcomes {
                let Some(attempt) = claim.attempt(*id) else {
                    lost += 1;
                    continue;
                };
                let updated = match outcome {
                    Outcome::Accepted { submission_id } => tx.execute(
                        "UPDATE queue SET state = ?4, submission_id = ?5, error = NULL, accepted_at = ?6
                         WHERE id = ?1 AND state = ?2 AND attempts = ?3",
                        params![id, IN_FLIGHT, attempt, ACCEPTED, submission_id, now_ms],
                    )?,
                    Outcome::Rejected { message, fields } => tx.execute(
                        "UPDATE queue SET state = ?4, error = ?5, error_fields = ?6
                         WHERE id = ?1 AND state = ?2 AND attempts = ?3",
                        params![
                            id,
                            IN_FLIGHT,
                            attempt,
                            DEAD,
                            message,
                            serde_json::to_string(fields).unwrap_or_default()
                        ],
                    )?,
                    Outcome::Retry { at_ms, reason } => tx.execute(
                        "UPDATE queue SET state = ?4, next_attempt_at = ?5, error = ?6
                         WHERE id = ?1 AND state = ?2 AND attempts = ?3",
                        params![id, IN_FLIGHT, attempt, WAITING, at_ms, reason],
                    )?,
                };
                if updated == 0 {
                    lost += 1;
                }
            }
            tx.commit()?;
            Ok(lost)
        })
        .await
    }

    async fn renew(&self, claim: &Claim, until_ms: i64) -> Result<u64, StoreError> {
        let claim = claim.clone();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let mut held = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE queue SET claimed_until = ?1 WHERE id = ?2 AND state = ?3 AND attempts = ?4",
                )?;
                for (id, attempt) in claim.orders() {
                    held += update.execute(params![until_ms, id, IN_FLIGHT, attempt])? as u64;
                }
            }
            tx.commit()?;
            Ok(held)
        })
        .await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT id, kind, payload, error, error_fields, enqueued_at FROM queue WHERE state = ?1 ORDER BY id",
            )?;
            let rows = q.query_map([DEAD], |r| {
                let fields: Option<String> = r.get(4)?;
                Ok(DeadLetter {
                    id: r.get(0)?,
                    kind: kind_of(r.get(1)?)?,
                    order: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(serde_json::Value::Null),
                    message: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    fields: fields
                        .and_then(|f| serde_json::from_str::<Vec<String>>(&f).ok())
                        .unwrap_or_default(),
                    enqueued_at_ms: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn requeue(&self, ids: Option<Vec<i64>>) -> Result<u64, StoreError> {
        // A requeued order is not checked by `enqueue` (no `payload_hash`): one enqueued again
        // since it became a dead letter keeps its place.
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let n = match ids {
                None => tx.execute(
                    "UPDATE queue SET state = ?1, next_attempt_at = 0, error = NULL, error_fields = NULL,
                       payload_hash = NULL WHERE state = ?2",
                    params![WAITING, DEAD],
                )?,
                Some(ids) => {
                    let mut n = 0;
                    for id in ids {
                        n += tx.execute(
                            "UPDATE queue SET state = ?1, next_attempt_at = 0, error = NULL, error_fields = NULL,
                               payload_hash = NULL WHERE state = ?2 AND id = ?3",
                            params![WAITING, DEAD, id],
                        )?;
                    }
                    n
                }
            };
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    async fn accepted(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AcceptedEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |conn| {
            let mut q = conn.prepare_cached(
                "SELECT id, kind, key, payload, enqueued_at, COALESCE(accepted_at, enqueued_at), submission_id
                 FROM queue WHERE state = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let rows = q.query_map(params![ACCEPTED, after_id, limit], |r| {
                Ok(AcceptedEntry {
                    id: r.get(0)?,
                    kind: kind_of(r.get(1)?)?,
                    key: r.get(2)?,
                    payload: r.get(3)?,
                    enqueued_at_ms: r.get(4)?,
                    accepted_at_ms: r.get(5)?,
                    submission_id: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn record_verdicts(
        &self,
        verdicts: Vec<(String, Verdict)>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO verdicts (key, verdict, checked_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET verdict = excluded.verdict, checked_at = excluded.checked_at",
                )?;
                for (key, verdict) in &verdicts {
                    upsert.execute(params![key, verdict.as_str(), at_ms])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn reconciliation(&self) -> Result<Reconciliation, StoreError> {
        self.with(|conn| {
            let mut q = conn.prepare_cached(
                "SELECT verdict, COUNT(*), MAX(checked_at) FROM verdicts GROUP BY verdict",
            )?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Reconciliation::default();
            for row in rows {
                let (verdict, count, at) = row?;
                out.verdicts
                    .insert(verdict, u64::try_from(count).unwrap_or(0));
                out.checked_at_ms = out.checked_at_ms.max(Some(at));
            }
            Ok(out)
        })
        .await
    }
}
