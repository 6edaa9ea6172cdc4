//! The relay's tables in PostgreSQL (feature `postgres`), shared by several relay instances.
//!
//! Claims of one relay are serialized on its cursor row (`SELECT ... FOR UPDATE`), and a claimed
//! record is leased to its worker: no two instances deliver the same record at once, and the
//! line keeps commission id order. A record whose worker died is claimed again when its lease
//! runs out (at least once). Every call is one transaction.

use tokio_postgres::Row;

use super::store::{
    ClaimedRecord, DEAD, DELIVERED, Head, IN_FLIGHT, NewRecord, Next, PENDING, RelayCursor,
    RelayDeadLetter, RelayStats, RelayStore, Settle, columns, decide, schema,
};
use crate::{PostgresStore, StoreError};

fn cursor_of(row: Option<Row>) -> Result<Option<RelayCursor>, StoreError> {
    row.map(|r| RelayCursor::from_parts(r.get(0), r.get(1)))
        .transpose()
}

/// How many records one prune transaction deletes at most.
const PRUNE_BATCH: i64 = 10_000;

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl RelayStore for PostgresStore {
    async fn prepare_relay(&self) -> Result<(), StoreError> {
        let mut client = self.client.lock().await;
        // Instances may start together: create the tables under a lock.
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(7312002)", &[])
            .await?;
        tx.batch_execute(&schema("cj_")).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn recover_relay(&self, _relay: &str) -> Result<u64, StoreError> {
        // Other instances may be delivering: records in flight are left to their leases.
        Ok(0)
    }

    async fn cursor(&self, relay: &str) -> Result<Option<RelayCursor>, StoreError> {
        let client = self.client.lock().await;
        let row = client
            .query_opt(
                "SELECT since_posting, since_commission_id FROM cj_relay_cursor WHERE relay = $1",
                &[&relay],
            )
            .await?;
        cursor_of(row)
    }

    async fn store_page(
        &self,
        relay: &str,
        records: Vec<NewRecord>,
        cursor: RelayCursor,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO cj_relay_cursor (relay, since_posting, since_commission_id, updated_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (relay) DO NOTHING",
            &[
                &relay,
                &cursor.since_posting_ms(),
                &cursor.since_commission_id,
                &now_ms,
            ],
        )
        .await?;
        // Locks the cursor: instances storing pages at once move it one after the other.
        let stored = tx
            .query_opt(
                "SELECT since_posting, since_commission_id FROM cj_relay_cursor
                 WHERE relay = $1 FOR UPDATE",
                &[&relay],
            )
            .await?;
        let insert = tx
            .prepare(
                "INSERT INTO cj_relay_records (relay, commission_id, sort_key, payload, stored_at)
                 SELECT $1::TEXT, $2::TEXT, $3::TEXT, $4::TEXT, $5::BIGINT WHERE NOT EXISTS
                     (SELECT 1 FROM cj_relay_pruned
                      WHERE relay = $1 AND through COLLATE \"C\" >= $3::TEXT COLLATE \"C\")
                 ON CONFLICT (relay, commission_id) DO NOTHING",
            )
            .await?;
        let mut new = 0;
        for r in &records {
            new += tx
                .execute(
                    &insert,
                    &[&relay, &r.commission_id, &r.sort_key(), &r.payload, &now_ms],
                )
                .await?;
        }
        let cursor = match cursor_of(stored)? {
            Some(stored) => stored.furthest(cursor),
            None => cursor,
        };
        tx.execute(
            "UPDATE cj_relay_cursor SET since_posting = $2, since_commission_id = $3, updated_at = $4
             WHERE relay = $1",
            &[
                &relay,
                &cursor.since_posting_ms(),
                &cursor.since_commission_id,
                &now_ms,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn claim_record(
        &self,
        relay: &str,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Next, StoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        // One claim of this relay at a time, so the line's head is never claimed twice.
        tx.execute(
            "SELECT 1 FROM cj_relay_cursor WHERE relay = $1 FOR UPDATE",
            &[&relay],
        )
        .await?;
        let head = tx
            .query_opt(
                "SELECT commission_id, payload, state, attempts, next_attempt_at, claimed_until
                 FROM cj_relay_records WHERE relay = $1 AND state IN ($2, $3)
                 ORDER BY sort_key, commission_id LIMIT 1",
                &[&relay, &PENDING, &IN_FLIGHT],
            )
            .await?
            .map(|r| Head {
                commission_id: r.get(0),
                payload: r.get(1),
                state: r.get(2),
                attempts: i64::from(r.get::<_, i32>(3)),
                next_attempt_at: r.get(4),
                claimed_until: r.get(5),
            });
        let record = match decide(head, now_ms) {
            Ok(record) => record,
            Err(next) => return Ok(next),
        };
        let attempts = i32::try_from(record.attempts).unwrap_or(i32::MAX);
        tx.execute(
            "UPDATE cj_relay_records SET state = $1, attempts = $2, claimed_by = $3, claimed_until = $4
             WHERE relay = $5 AND commission_id = $6",
            &[
                &IN_FLIGHT,
                &attempts,
                &worker,
                &now_ms.saturating_add(lease_ms),
                &relay,
                &record.commission_id,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Next::Record(record))
    }

    async fn settle_record(
        &self,
        relay: &str,
        worker: &str,
        record: &ClaimedRecord,
        outcome: Settle,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (state, next, status, error, body) = columns(&outcome);
        let attempts = i32::try_from(record.attempts).unwrap_or(i32::MAX);
        let client = self.client.lock().await;
        let n = client
            .execute(
                "UPDATE cj_relay_records SET state = $1, next_attempt_at = $2, status = $3,
                     error = $4, body = $5, settled_at = $6, claimed_by = NULL,
                     payload = CASE WHEN $1::SMALLINT = $12::SMALLINT THEN NULL ELSE payload END
                 WHERE relay = $7 AND commission_id = $8 AND state = $9 AND claimed_by = $10
                   AND attempts = $11",
                &[
                    &state,
                    &next,
                    &status,
                    &error,
                    &body,
                    &now_ms,
                    &relay,
                    &record.commission_id,
                    &IN_FLIGHT,
                    &worker,
                    &attempts,
                    &DELIVERED,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn relay_dead_letters(&self, relay: &str) -> Result<Vec<RelayDeadLetter>, StoreError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                "SELECT commission_id, status, error, body, attempts, payload FROM cj_relay_records
                 WHERE relay = $1 AND state = $2 ORDER BY sort_key, commission_id",
                &[&relay, &DEAD],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| RelayDeadLetter {
                commission_id: r.get(0),
                status: r
                    .get::<_, Option<i32>>(1)
                    .and_then(|s| u16::try_from(s).ok()),
                reason: r.get::<_, Option<String>>(2).unwrap_or_default(),
                body: r.get(3),
                attempts: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
                record: r
                    .get::<_, Option<String>>(5)
                    .and_then(|p| serde_json::from_str(&p).ok())
                    .unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    async fn retry_dead_letters(
        &self,
        relay: &str,
        ids: Option<Vec<String>>,
    ) -> Result<u64, StoreError> {
        let client = self.client.lock().await;
        Ok(client
            .execute(
                "UPDATE cj_relay_records SET state = $1, attempts = 0, next_attempt_at = 0,
                     status = NULL, error = NULL, body = NULL
                 WHERE relay = $2 AND state = $3 AND ($4::TEXT[] IS NULL OR commission_id = ANY($4))",
                &[&PENDING, &relay, &DEAD, &ids],
            )
            .await?)
    }

    async fn prune_relay(&self, relay: &str, settled_before_ms: i64) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        loop {
            let mut client = self.client.lock().await;
            let tx = client.transaction().await?;
            // The oldest in line first, through the line's index; a batch per transaction, so
            // no prune holds locks on a million rows.
            let rows = tx
                .query(
                    "DELETE FROM cj_relay_records WHERE ctid IN (
                         SELECT ctid FROM cj_relay_records
                         WHERE relay = $1 AND state = $2 AND settled_at < $3
                         ORDER BY sort_key LIMIT $4)
                     RETURNING sort_key",
                    &[&relay, &DELIVERED, &settled_before_ms, &PRUNE_BATCH],
                )
                .await?;
            let through = rows.iter().map(|r| r.get::<_, String>(0)).max();
            if let Some(through) = &through {
                tx.execute(
                    "INSERT INTO cj_relay_pruned (relay, through) VALUES ($1, $2)
                     ON CONFLICT (relay) DO UPDATE SET through = CASE
                         WHEN EXCLUDED.through COLLATE \"C\" > cj_relay_pruned.through COLLATE \"C\"
                         THEN EXCLUDED.through ELSE cj_relay_pruned.through END",
                    &[&relay, through],
                )
                .await?;
            }
            tx.commit().await?;
            deleted += rows.len() as u64;
            if (rows.len() as i64) < PRUNE_BATCH {
                return Ok(deleted);
            }
        }
    }

    async fn relay_stats(&self, relay: &str) -> Result<RelayStats, StoreError> {
        let client = self.client.lock().await;
        let cursor = client
            .query_opt(
                "SELECT since_posting, since_commission_id FROM cj_relay_cursor WHERE relay = $1",
                &[&relay],
            )
            .await?;
        let mut stats = RelayStats {
            cursor: cursor_of(cursor)?,
            ..RelayStats::default()
        };
        let rows = client
            .query(
                "SELECT state, COUNT(*) FROM cj_relay_records WHERE relay = $1 GROUP BY state",
                &[&relay],
            )
            .await?;
        for r in rows {
            let n = count(r.get(1));
            match r.get::<_, i16>(0) {
                PENDING => stats.pending = n,
                IN_FLIGHT => stats.in_flight = n,
                DEAD => stats.dead = n,
                _ => stats.delivered = n,
            }
        }
        Ok(stats)
    }
}
