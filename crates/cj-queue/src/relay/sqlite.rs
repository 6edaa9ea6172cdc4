//! The relay's tables in the queue's SQLite store (same file handling: WAL, `synchronous =
//! FULL`, busy timeout). Every call is one transaction, fsynced when it commits. One process
//! relays from a SQLite store at a time: [`RelayStore::recover_relay`] puts back in line what a
//! process that died left in flight.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::store::{
    ClaimedRecord, DEAD, DELIVERED, Head, IN_FLIGHT, NewRecord, Next, PENDING, RelayCursor,
    RelayDeadLetter, RelayStats, RelayStore, Settle, columns, decide, schema,
};
use crate::sqlite::give_space_back;
use crate::{SqliteStore, StoreError};

fn cursor_of(conn: &rusqlite::Connection, relay: &str) -> Result<Option<RelayCursor>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT since_posting, since_commission_id FROM relay_cursor WHERE relay = ?1",
        )?
        .query_row([relay], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(ms, id)| RelayCursor::from_parts(ms, id))
        .transpose()
}

impl RelayStore for SqliteStore {
    async fn prepare_relay(&self) -> Result<(), StoreError> {
        self.with(|conn| Ok(conn.execute_batch(&schema(""))?)).await
    }

    async fn recover_relay(&self, relay: &str) -> Result<u64, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| {
            let n = conn.execute(
                "UPDATE relay_records SET state = ?1, claimed_by = NULL WHERE relay = ?2 AND state = ?3",
                params![PENDING, relay, IN_FLIGHT],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn cursor(&self, relay: &str) -> Result<Option<RelayCursor>, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| cursor_of(conn, &relay)).await
    }

    async fn store_page(
        &self,
        relay: &str,
        records: Vec<NewRecord>,
        cursor: RelayCursor,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut new = 0u64;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO relay_records (relay, commission_id, sort_key, payload, stored_at)
                     SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS
                         (SELECT 1 FROM relay_pruned WHERE relay = ?1 AND through >= ?3)
                     ON CONFLICT (relay, commission_id) DO NOTHING",
                )?;
                for r in &records {
                    new += insert.execute(params![relay, r.commission_id, r.sort_key(), r.payload, now_ms])?
                        as u64;
                }
            }
            let cursor = match cursor_of(&tx, &relay)? {
                Some(stored) => stored.furthest(cursor),
                None => cursor,
            };
            tx.execute(
                "INSERT INTO relay_cursor (relay, since_posting, since_commission_id, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (relay) DO UPDATE SET since_posting = ?2, since_commission_id = ?3, updated_at = ?4",
                params![relay, cursor.since_posting_ms(), cursor.since_commission_id, now_ms],
            )?;
            tx.commit()?;
            Ok(new)
        })
        .await
    }

    async fn claim_record(
        &self,
        relay: &str,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Next, StoreError> {
        let (relay, worker) = (relay.to_string(), worker.to_string());
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let head = tx
                .prepare_cached(
                    "SELECT commission_id, payload, state, attempts, next_attempt_at, claimed_until
                     FROM relay_records WHERE relay = ?1 AND state IN (?2, ?3)
                     ORDER BY sort_key, commission_id LIMIT 1",
                )?
                .query_row(params![relay, PENDING, IN_FLIGHT], |r| {
                    Ok(Head {
                        commission_id: r.get(0)?,
                        payload: r.get(1)?,
                        state: r.get(2)?,
                        attempts: r.get(3)?,
                        next_attempt_at: r.get(4)?,
                        claimed_until: r.get(5)?,
                    })
                })
                .optional()?;
            let record = match decide(head, now_ms) {
                Ok(record) => record,
                Err(next) => return Ok(next),
            };
            tx.execute(
                "UPDATE relay_records SET state = ?1, attempts = ?2, claimed_by = ?3, claimed_until = ?4
                 WHERE relay = ?5 AND commission_id = ?6",
                params![
                    IN_FLIGHT,
                    record.attempts,
                    worker,
                    now_ms.saturating_add(lease_ms),
                    relay,
                    record.commission_id
                ],
            )?;
            tx.commit()?;
            Ok(Next::Record(record))
        })
        .await
    }

    async fn settle_record(
        &self,
        relay: &str,
        worker: &str,
        record: &ClaimedRecord,
        outcome: Settle,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (relay, worker, id, attempts) = (
            relay.to_string(),
            worker.to_string(),
            record.commission_id.clone(),
            record.attempts,
        );
        self.with(move |conn| {
            let (state, next, status, error, body) = columns(&outcome);
            // A delivered record keeps its id (so a re-read never delivers it again), not its
            // payload.
            let n = conn.execute(
                "UPDATE relay_records SET state = ?1, next_attempt_at = ?2, status = ?3, error = ?4,
                     body = ?5, settled_at = ?6, claimed_by = NULL,
                     payload = CASE WHEN ?1 = ?12 THEN NULL ELSE payload END
                 WHERE relay = ?7 AND commission_id = ?8 AND state = ?9 AND claimed_by = ?10
                   AND attempts = ?11",
                params![
                    state, next, status, error, body, now_ms, relay, id, IN_FLIGHT, worker,
                    attempts, DELIVERED
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn relay_dead_letters(&self, relay: &str) -> Result<Vec<RelayDeadLetter>, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| {
            let mut q = conn.prepare_cached(
                "SELECT commission_id, status, error, body, attempts, payload FROM relay_records
                 WHERE relay = ?1 AND state = ?2 ORDER BY sort_key, commission_id",
            )?;
            let rows = q.query_map(params![relay, DEAD], |r| {
                Ok(RelayDeadLetter {
                    commission_id: r.get(0)?,
                    status: r
                        .get::<_, Option<i64>>(1)?
                        .and_then(|s| u16::try_from(s).ok()),
                    reason: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    body: r.get(3)?,
                    attempts: u32::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    record: r
                        .get::<_, Option<String>>(5)?
                        .and_then(|p| serde_json::from_str(&p).ok())
                        .unwrap_or(serde_json::Value::Null),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn retry_dead_letters(
        &self,
        relay: &str,
        ids: Option<Vec<String>>,
    ) -> Result<u64, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| {
            let tx = conn.transaction()?;
            let mut n = 0;
            {
                let mut update = tx.prepare_cached(
                    "UPDATE relay_records SET state = ?1, attempts = 0, next_attempt_at = 0,
                         status = NULL, error = NULL, body = NULL
                     WHERE relay = ?2 AND state = ?3 AND (?4 IS NULL OR commission_id = ?4)",
                )?;
                match ids {
                    None => n += update.execute(params![PENDING, relay, DEAD, None::<String>])?,
                    Some(ids) => {
                        for id in ids {
                            n += update.execute(params![PENDING, relay, DEAD, id])?;
                        }
                    }
                }
            }
            tx.commit()?;
            Ok(n as u64)
        })
        .await
    }

    async fn prune_relay(&self, relay: &str, settled_before_ms: i64) -> Result<u64, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old = "relay = ?1 AND state = ?2 AND settled_at < ?3";
            let through: Option<String> = tx.query_row(
                &format!("SELECT MAX(sort_key) FROM relay_records WHERE {old}"),
                params![relay, DELIVERED, settled_before_ms],
                |r| r.get(0),
            )?;
            let n = tx.execute(
                &format!("DELETE FROM relay_records WHERE {old}"),
                params![relay, DELIVERED, settled_before_ms],
            )?;
            if let Some(through) = through {
                tx.execute(
                    "INSERT INTO relay_pruned (relay, through) VALUES (?1, ?2)
                     ON CONFLICT (relay) DO UPDATE SET through = max(through, excluded.through)",
                    params![relay, through],
                )?;
            }
            tx.commit()?;
            // The records are gone either way; a file busy elsewhere gives the space back at
            // the next prune.
            if let Err(e) = give_space_back(conn) {
                tracing::warn!(error = %e, "pruned, but the space could not be given back yet");
            }
            Ok(n as u64)
        })
        .await
    }

    async fn relay_stats(&self, relay: &str) -> Result<RelayStats, StoreError> {
        let relay = relay.to_string();
        self.with(move |conn| {
            let mut stats = RelayStats {
                cursor: cursor_of(conn, &relay)?,
                ..RelayStats::default()
            };
            let mut q = conn.prepare_cached(
                "SELECT state, COUNT(*) FROM relay_records WHERE relay = ?1 GROUP BY state",
            )?;
            let rows = q.query_map([&relay], |r| Ok((r.get::<_, i16>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, count) = row?;
                let count = u64::try_from(count).unwrap_or(0);
                match state {
                    PENDING => stats.pending = count,
                    IN_FLIGHT => stats.in_flight = count,
                    DEAD => stats.dead = count,
                    _ => stats.delivered = count,
                }
            }
            Ok(stats)
        })
        .await
    }
}
