//! A store in PostgreSQL that several application instances share (feature `postgres`).
//!
//! Instances claim batches with `SELECT ... FOR UPDATE SKIP LOCKED`: rows another instance is
//! claiming are skipped, and a claimed batch is marked in flight with a lease, which the sender
//! renews while it sends, so no batch is sent by two instances at once. If an instance dies (or
//! cannot reach the database), its batch's lease runs out and another instance claims it again
//! (at least once; CJ deduplicates). An outcome is recorded only for a row still in flight,
//! claimed by the same worker under the same attempt number: the late answer of an instance
//! that lost its lease never overwrites what the new owner recorded. Every call is one
//! transaction, committed (and so made durable by PostgreSQL) before it returns.

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use cj_graphql::reconcile::Verdict;

use crate::store::{
    AcceptedEntry, BatchLimits, CONFIRMED_AS_SENT, Claim, Cutoffs, DeadLetter, Enqueued, Entry,
    Kind, NewEntry, Outcome, PRUNE_PAGE, Pruned, Reconciliation, Retention, Stats, Store,
    StoreError, Waiting, payload_hash, pick_batch,
};

// Some statements spell these out: `state <> 3` must match the index `_once` word for word.
const WAITING: i16 = 0;
const IN_FLIGHT: i16 = 1;
const ACCEPTED: i16 = 2;
const DEAD: i16 = 3;

/// A queue in a PostgreSQL table.
#[derive(Debug)]
pub struct PostgresStore {
    pub(crate) client: Mutex<Client>,
    table: String,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl PostgresStore {
    /// Connects (`host=... user=... dbname=...` or a `postgresql://` URL) and creates the
    /// queue's table, `cj_order_queue`, if it does not exist (and its reconciliation verdicts'
    /// table, `cj_order_queue_verdicts`; a table made by an earlier version gets the column
    /// `accepted_at`).
    pub async fn connect(config: &str) -> Result<Self, StoreError> {
        PostgresStore::connect_to_table(config, "cj_order_queue").await
    }

    /// As [`connect`](Self::connect), with another table name (letters, digits and `_`).
    pub async fn connect_to_table(config: &str, table: &str) -> Result<Self, StoreError> {
        if table.is_empty()
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::Other(format!(
                "{table:?} is not a plain table name"
            )));
        }
        let (mut client, connection) = tokio_postgres::connect(config, NoTls).await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "the PostgreSQL connection failed");
            }
        });
        // Instances may start together: create the table under a lock.
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock(7312001)", &[])
            .await?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id BIGSERIAL PRIMARY KEY,
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                payload TEXT NOT NULL,
                bytes BIGINT NOT NULL,
                enqueued_at BIGINT NOT NULL,
                state SMALLINT NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL DEFAULT 0,
                claimed_by TEXT,
                claimed_until BIGINT NOT NULL DEFAULT 0,
                submission_id TEXT,
                error TEXT,
                error_fields TEXT,
                payload_hash BYTEA
             );
             CREATE INDEX IF NOT EXISTS {table}_state ON {table} (state, id);
             CREATE INDEX IF NOT EXISTS {table}_waiting ON {table} (state, enqueued_at, bytes);
             CREATE INDEX IF NOT EXISTS {table}_key ON {table} (key, id);
             CREATE TABLE IF NOT EXISTS {table}_verdicts (
                key TEXT PRIMARY KEY,
                verdict TEXT NOT NULL,
                checked_at BIGINT NOT NULL
             );"
        ))
        .await?;
        // A table made by an earlier version gains `accepted_at`. Checked first: `ALTER TABLE`
        // locks the whole table, even with `IF NOT EXISTS`, and would wait on (and deadlock
        // with) the instances at work.
        if !has_column(&tx, table, "accepted_at").await? {
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN accepted_at BIGINT"
            ))
            .await?;
        }
        // And `payload_hash`, which `enqueue` checks, computed for the orders stored before
        // (but for the second and later copies of one order).
        if !has_column(&tx, table, "payload_hash").await? {
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN payload_hash BYTEA;
                 UPDATE {table} q SET payload_hash = sha256(convert_to(q.payload, 'UTF8'))
                 WHERE q.state <> 3
                   AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.key = q.key AND e.kind = q.kind
                                   AND e.payload = q.payload AND e.state <> 3 AND e.id < q.id)"
            ))
            .await?;
        }
        // What tells an order already queued: `enqueue`'s rows that are not dead letters.
        tx.batch_execute(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS {table}_once ON {table} (key, kind, payload_hash)
             WHERE payload_hash IS NOT NULL AND state <> 3"
        ))
        .await?;
        tx.commit().await?;
        Ok(PostgresStore {
            client: Mutex::new(client),
            table: table.to_string(),
            driver,
        })
    }
}

/// Whether PostgreSQL ended the transaction to break a deadlock (which another instance
/// enqueuing the same orders in another order can cause): it is tried again.
fn is_deadlock(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(e)
        if e.code() == Some(&tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED))
}

impl PostgresStore {
    /// One try of [`Store::enqueue`]: one transaction.
    async fn enqueue_once(
        &self,
        client: &mut Client,
        entries: &[NewEntry],
    ) -> Result<Vec<Enqueued>, StoreError> {
        let tx = client.transaction().await?;
        // The unique index `_once` refuses an order already queued; an insert waits for another
        // instance's transaction that is storing the same order, and is skipped if it commits.
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} (kind, key, payload, bytes, enqueued_at, payload_hash)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
                self.table
            ))
            .await?;
        let queued = tx
            .prepare(&format!(
                "SELECT id FROM {} WHERE key = $1 AND kind = $2 AND payload_hash = $3
                   AND payload_hash IS NOT NULL AND state <> 3",
                self.table
            ))
            .await?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let hash = payload_hash(&e.payload);
            let kind = e.kind.as_str();
            let bytes = e.payload.len() as i64;
            // The order already queued may become a dead letter or be pruned before it is read:
            // then this one is stored after all (tried a few times: each miss needs another
            // instance to settle that order in between).
            let mut done = None;
            for _ in 0..3 {
                let stored = tx
                    .query_opt(
                        &insert,
                        &[&kind, &e.key, &e.payload, &bytes, &e.enqueued_at_ms, &hash],
                    )
                    .await?;
                if let Some(row) = stored {
                    done = Some(Enqueued::Stored(row.get(0)));
                    break;
                }
                if let Some(row) = tx.query_opt(&queued, &[&e.key, &kind, &hash]).await? {
                    done = Some(Enqueued::AlreadyQueued(row.get(0)));
                    break;
                }
            }
            out.push(done.ok_or_else(|| {
                StoreError::Other(format!(
                    "order {} was neither stored nor found queued: enqueue it again",
                    e.key
                ))
            })?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// One page of a prune, one transaction: the rows after `after_id`. `None` when no row is
    /// left that is old enough.
    async fn prune_page(
        &self,
        after_id: i64,
        cut: Cutoffs,
    ) -> Result<Option<(i64, Pruned)>, StoreError> {
        let t = &self.table;
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let bounds = tx
            .query_one(
                &format!(
                    "SELECT MAX(id), MIN(enqueued_at) FROM
                       (SELECT id, enqueued_at FROM {t} WHERE id > $1 ORDER BY id LIMIT $2) p"
                ),
                &[&after_id, &PRUNE_PAGE],
            )
            .await?;
        let (Some(last), Some(oldest)) = (
            bounds.get::<_, Option<i64>>(0),
            bounds.get::<_, Option<i64>>(1),
        ) else {
            return Ok(None);
        };
        // Ids follow enqueue times: past the first page with nothing old enough, nothing is.
        if oldest >= cut.youngest_ms {
            return Ok(None);
        }
        let confirmed: Vec<&str> = CONFIRMED_AS_SENT.iter().map(|v| v.as_str()).collect();
        // The orders (keys) of the page that `cut` removes: none of their entries waiting or in
        // flight, nor a dead letter unless asked, and their latest acceptance past the max age,
        // or past the reconciled age with a verdict confirming them recorded after it.
        let keys: Vec<String> = tx
            .query(
                &format!(
                    "SELECT q.key FROM {t} q LEFT JOIN {t}_verdicts v ON v.key = q.key
                     WHERE q.key IN (SELECT key FROM {t} WHERE id > $1 AND id <= $2 AND enqueued_at < $3)
                     GROUP BY q.key {}",
                    prunable_by(4)
                ),
                &[
                    &after_id,
                    &last,
                    &cut.youngest_ms,
                    &cut.dead_letters,
                    &cut.max_age_ms,
                    &cut.reconciled_ms,
                    &confirmed,
                ],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // The conditions again, in the statement that deletes: another instance may have queued,
        // sent or had accepted an entry of these orders since (a newer acceptance keeps an
        // order). Never a waiting or leased entry, an order's entries together.
        let gone = tx
            .query(
                &format!(
                    "DELETE FROM {t} q WHERE q.state IN (2, 3) AND q.key IN (
                       SELECT q.key FROM {t} q LEFT JOIN {t}_verdicts v ON v.key = q.key
                       WHERE q.key = ANY($1) GROUP BY q.key {})
                     RETURNING q.key",
                    prunable_by(2)
                ),
                &[
                    &keys,
                    &cut.dead_letters,
                    &cut.max_age_ms,
                    &cut.reconciled_ms,
                    &confirmed,
                ],
            )
            .await?;
        let gone_keys: std::collections::HashSet<String> = gone.iter().map(|r| r.get(0)).collect();
        let gone_keys: Vec<String> = gone_keys.into_iter().collect();
        let verdicts = tx
            .execute(
                &format!(
                    "DELETE FROM {t}_verdicts v WHERE v.key = ANY($1)
                       AND NOT EXISTS (SELECT 1 FROM {t} q WHERE q.key = v.key)"
                ),
                &[&gone_keys],
            )
            .await?;
        tx.commit().await?;
        Ok(Some((
            last,
            Pruned {
                orders: gone_keys.len() as u64,
                entries: gone.len() as u64,
                verdicts,
            },
        )))
    }
}

fn kind_of(text: &str) -> Result<Kind, StoreError> {
    Kind::parse(text)
        .ok_or_else(|| StoreError::Other(format!("unknown kind {text:?} in the queue")))
}

impl Store for PostgresStore {
    async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<i64>, StoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {} (kind, key, payload, bytes, enqueued_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                self.table
            ))
            .await?;
        let mut ids = Vec::with_capacity(entries.len());
        for e in &entries {
            let row = tx
                .query_one(
                    &insert,
                    &[
                        &e.kind.as_str(),
                        &e.key,
                        &e.payload,
                        &(e.payload.len() as i64),
                        &e.enqueued_at_ms,
                    ],
                )
                .await?;
            ids.push(row.get::<_, i64>(0));
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn enqueue(&self, entries: Vec<NewEntry>) -> Result<Vec<Enqueued>, StoreError> {
        let mut client = self.client.lock().await;
        let mut tries = 0;
        loop {
            match self.enqueue_once(&mut client, &entries).await {
                Err(e) if is_deadlock(&e) && tries < 3 => tries += 1,
                done => return done,
            }
        }
    }

    async fn prune(&self, retention: Retention, now_ms: i64) -> Result<Pruned, StoreError> {
        let cut = Cutoffs::new(retention, now_ms);
        let mut pruned = Pruned::default();
        let mut after = 0;
        while let Some((last, page)) = self.prune_page(after, cut).await? {
            after = last;
            pruned.add(page);
        }
        let t = &self.table;
        loop {
            let client = self.client.lock().await;
            let gone = client
                .execute(
                    &format!(
                        "DELETE FROM {t}_verdicts WHERE key IN (
                           SELECT key FROM {t}_verdicts v WHERE v.checked_at < $1
                             AND NOT EXISTS (SELECT 1 FROM {t} q WHERE q.key = v.key) LIMIT $2)"
                    ),
                    &[&cut.max_age_ms, &PRUNE_PAGE],
                )
                .await?;
            if gone == 0 {
                return Ok(pruned);
            }
            pruned.verdicts += gone;
        }
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                &format!(
                    "SELECT state, COUNT(*), COALESCE(SUM(bytes), 0)::BIGINT, MIN(enqueued_at) FROM {} GROUP BY state",
                    self.table
                ),
                &[],
            )
            .await?;
        let mut stats = Stats::default();
        for row in rows {
            let count = row.get::<_, i64>(1) as u64;
            match row.get::<_, i16>(0) {
                WAITING => {
                    stats.waiting = count;
                    stats.waiting_bytes = row.get::<_, i64>(2) as u64;
                    stats.oldest_waiting_ms = row.get(3);
                }
                IN_FLIGHT => stats.in_flight = count,
                ACCEPTED => stats.accepted = count,
                _ => stats.dead = count,
            }
        }
        Ok(stats)
    }

    async fn waiting(&self) -> Result<Waiting, StoreError> {
        let client = self.client.lock().await;
        let row = client
            .query_one(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(bytes), 0)::BIGINT, MIN(enqueued_at) FROM {} WHERE state = $1",
                    self.table
                ),
                &[&WAITING],
            )
            .await?;
        Ok(Waiting {
            count: row.get::<_, i64>(0) as u64,
            bytes: row.get::<_, i64>(1) as u64,
            oldest_ms: row.get(2),
        })
    }

    async fn claim(
        &self,
        worker: &str,
        limits: BatchLimits,
        now_ms: i64,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT id, kind, key, payload, enqueued_at, attempts FROM {t} q
                     WHERE ((q.state = $1 AND q.next_attempt_at <= $3) OR (q.state = $2 AND q.claimed_until < $3))
                       AND NOT EXISTS (SELECT 1 FROM {t} e
                                       WHERE e.key = q.key AND e.id < q.id AND e.state IN ($1, $2))
                     ORDER BY q.id LIMIT $4
                     FOR UPDATE SKIP LOCKED",
                    t = self.table
                ),
                &[&WAITING, &IN_FLIGHT, &now_ms, &(limits.max_orders as i64)],
            )
            .await?;
        let mut eligible = Vec::with_capacity(rows.len());
        for row in rows {
            eligible.push(Entry {
                id: row.get(0),
                kind: kind_of(row.get(1))?,
                key: row.get(2),
                payload: row.get(3),
                enqueued_at_ms: row.get(4),
                attempts: row.get::<_, i32>(5) as u32 + 1,
            });
        }
        let batch = pick_batch(eligible, limits);
        let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
        tx.execute(
            &format!(
                "UPDATE {} SET state = $1, attempts = attempts + 1, claimed_by = $2, claimed_until = $3 WHERE id = ANY($4)",
                self.table
            ),
            &[&IN_FLIGHT, &worker, &(now_ms + limits.lease_ms), &ids],
        )
        .await?;
        tx.commit().await?;
        Ok(batch)
    }

    async fn finish(
        &self,
        claim: &Claim,
        outcomes: Vec<(i64, Outcome)>,
    ) -> Result<u64, StoreError> {
        let mut client = self.client.lock().await;
        let tx = client.transaction().await?;
        // Only while the row is in flight under this claim: `$1` to `$4`.
        let update = |set: &str| {
            format!(
                "UPDATE {} SET {set} WHERE id = $1 AND state = $2 AND claimed_by = $3 AND attempts = $4",
                self.table
            )
        };
        let accepted = tx
            .prepare(&update(
                "state = $5, submission_id = $6, error = NULL, accepted_at = $7",
            ))
            .await?;
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let rejected = tx
            .prepare(&update("state = $5, error = $6, error_fields = $7"))
            .await?;
        let retry = tx
            .prepare(&update(
                "state = $5, next_attempt_at = $6, error = $7, claimed_by = NULL",
            ))
            .await?;
        let worker = claim.worker();
        let mut lost = 0;
        for (id, outcome) in &outcomes {
            let Some(attempt) = claim.attempt(*id).and_then(|n| i32::try_from(n).ok()) else {
                lost += 1;
                continue;
            };
            let updated = match outcome {
                Outcome::Accepted { submission_id } => {
                    tx.execute(
                        &accepted,
                        &[
                            id,
                            &IN_FLIGHT,
                            &worker,
                            &attempt,
                            &ACCEPTED,
                            submission_id,
                            &now_ms,
                        ],
                    )
                    .await?
                }
                Outcome::Rejected { message, fields } => {
                    let fields = serde_json::to_string(fields).unwrap_or_default();
                    tx.execute(
                        &rejected,
                        &[id, &IN_FLIGHT, &worker, &attempt, &DEAD, message, &fields],
                    )
                    .await?
                }
                Outcome::Retry { at_ms, reason } => {
                    tx.execute(
                        &retry,
                        &[id, &IN_FLIGHT, &worker, &attempt, &WAITING, at_ms, reason],
                    )
                    .await?
                }
            };
            if updated == 0 {
                lost += 1;
            }
        }
        tx.commit().await?;
        Ok(lost)
    }

    async fn renew(&self, claim: &Claim, until_ms: i64) -> Result<u64, StoreError> {
        let (ids, attempts): (Vec<i64>, Vec<i32>) = claim
            .orders()
            .filter_map(|(id, n)| Some((id, i32::try_from(n).ok()?)))
            .unzip();
        let client = self.client.lock().await;
        let held = client
            .execute(
                &format!(
                    "UPDATE {} SET claimed_until = $1
                     WHERE state = $2 AND claimed_by = $3
                       AND (id, attempts) IN (SELECT * FROM unnest($4::BIGINT[], $5::INTEGER[]))",
                    self.table
                ),
                &[&until_ms, &IN_FLIGHT, &claim.worker(), &ids, &attempts],
            )
            .await?;
        Ok(held)
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                &format!(
                    "SELECT id, kind, payload, error, error_fields, enqueued_at FROM {} WHERE state = $1 ORDER BY id",
                    self.table
                ),
                &[&DEAD],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                let fields: Option<String> = row.get(4);
                Ok(DeadLetter {
                    id: row.get(0),
                    kind: kind_of(row.get(1))?,
                    order: serde_json::from_str(row.get(2)).unwrap_or(serde_json::Value::Null),
                    message: row.get::<_, Option<String>>(3).unwrap_or_default(),
                    fields: fields
                        .and_then(|f| serde_json::from_str::<Vec<String>>(&f).ok())
                        .unwrap_or_default(),
                    enqueued_at_ms: row.get(5),
                })
            })
            .collect()
    }

    async fn requeue(&self, ids: Option<Vec<i64>>) -> Result<u64, StoreError> {
        // A requeued order is not checked by `enqueue` (no `payload_hash`): one enqueued again
        // since it became a dead letter keeps its place.
        let client = self.client.lock().await;
        let n = match ids {
            None => {
                client
                    .execute(
                        &format!(
                            "UPDATE {} SET state = $1, next_attempt_at = 0, error = NULL, error_fields = NULL,
                               payload_hash = NULL WHERE state = $2",
                            self.table
                        ),
                        &[&WAITING, &DEAD],
                    )
                    .await?
            }
            Some(ids) => {
                client
                    .execute(
                        &format!(
                            "UPDATE {} SET state = $1, next_attempt_at = 0, error = NULL, error_fields = NULL,
                               payload_hash = NULL WHERE state = $2 AND id = ANY($3)",
                            self.table
                        ),
                        &[&WAITING, &DEAD, &ids],
                    )
                    .await?
            }
        };
        Ok(n)
    }

    async fn accepted(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<AcceptedEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client.lock().await;
        let rows = client
            .query(
                &format!(
                    "SELECT id, kind, key, payload, enqueued_at, COALESCE(accepted_at, enqueued_at), submission_id
                     FROM {} WHERE state = $1 AND id > $2 ORDER BY id LIMIT $3",
                    self.table
                ),
                &[&ACCEPTED, &after_id, &limit],
            )
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(AcceptedEntry {
                    id: row.get(0),
                    kind: kind_of(row.get(1))?,
                    key: row.get(2),
                    payload: row.get(3),
                    enqueued_at_ms: row.get(4),
                    accepted_at_ms: row.get(5),
                    submission_id: row.get(6),
                })
            })
            .collect()
    }

    async fn record_verdicts(
        &self,
        verdicts: Vec<(String, Verdict)>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let (keys, names): (Vec<String>, Vec<&str>) = verdicts
            .into_iter()
            .map(|(key, verdict)| (key, verdict.as_str()))
            .unzip();
        let client = self.client.lock().await;
        client
            .execute(
                &format!(
                    "INSERT INTO {}_verdicts (key, verdict, checked_at)
                     SELECT key, verdict, $3 FROM unnest($1::TEXT[], $2::TEXT[]) AS v (key, verdict)
                     ON CONFLICT (key) DO UPDATE SET verdict = excluded.verdict, checked_at = excluded.checked_at",
                    self.table
                ),
                &[&keys, &names, &at_ms],
            )
            .await?;
        Ok(())
    }

    async fn reconciliation(&self) -> Result<Reconciliation, StoreError> {
        let client = self.client.lock().await;
        let rows = client
            .query(
                &format!(
                    "SELECT verdict, COUNT(*), MAX(checked_at) FROM {}_verdicts GROUP BY verdict",
                    self.table
                ),
                &[],
            )
            .await?;
        let mut out = Reconciliation::default();
        for row in rows {
            let count: i64 = row.get(1);
            out.verdicts
                .insert(row.get(0), u64::try_from(count).unwrap_or(0));
            out.checked_at_ms = out.checked_at_ms.max(row.get(2));
        }
        Ok(out)
    }
}

/// Whether `table` (of the current schema) has `column`: asked before an `ALTER TABLE`, which
/// locks the whole table even with `IF NOT EXISTS`.
async fn has_column(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    column: &str,
) -> Result<bool, StoreError> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = lower($1)
               AND column_name = $2)",
            &[&table, &column],
        )
        .await?;
    Ok(row.get(0))
}

/// The `HAVING` of a prune, over one order's entries (`q`) and its verdict (`v`), with its
/// parameters from `$first`: none of its entries waiting or in flight, nor a dead letter unless
/// `$first`, and its latest acceptance older than the max age (`$first + 1`), or older than the
/// reconciled age (`$first + 2`) with a verdict among `$first + 3` recorded after it.
fn prunable_by(first: usize) -> String {
    let [dead, max_age, reconciled, confirmed] = [first, first + 1, first + 2, first + 3];
    format!(
        "HAVING COUNT(*) FILTER (WHERE q.state IN (0, 1)) = 0
           AND (${dead} OR COUNT(*) FILTER (WHERE q.state = 3) = 0)
           AND (MAX(COALESCE(q.accepted_at, q.enqueued_at)) < ${max_age}
                OR (MAX(COALESCE(q.accepted_at, q.enqueued_at)) < ${reconciled}
                    AND MAX(v.verdict) = ANY(${confirmed})
                    AND MAX(v.checked_at) >= MAX(COALESCE(q.accepted_at, q.enqueued_at))))"
    )
}
