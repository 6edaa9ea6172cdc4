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
    AcceptedEntry, BatchLimits, Claim, DeadLetter, Entry, Kind, NewEntry, Outcome, Reconciliation,
    Stats, Store, StoreError, Waiting, pick_batch,
};

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
                error_fields TEXT
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

/// Adds what later versions keep to a store made by an earlier one: when CJ accepted each
/// order (`accepted_at`, empty for orders accepted before), and each order's reconciliation
/// verdict (table `verdicts`). Under a write lock, so that two processes opening one file at
/// once do not both add the column.
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
    tx.commit()?;
    Ok(())
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
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let n = match ids {
                None => tx.execute(
                    "UPDATE queue SET state = ?1, next_attempt_at = 0, error = NULL, error_fields = NULL WHERE state = ?2",
                    params![WAITING, DEAD],
                )?,
                Some(ids) => {
                    let mut n = 0;
                    for id in ids {
                        n += tx.execute(
                            "UPDATE queue SET state = ?1, next_attempt_at = 0, error = NULL, error_fields = NULL
                             WHERE state = ?2 AND id = ?3",
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
