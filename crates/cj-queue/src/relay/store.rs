//! Where a relay keeps its cursor and each record's delivery state: the [`RelayStore`] trait.

use std::future::Future;

use cj_graphql::commissions::Instant;
use serde::Serialize;

use crate::StoreError;

/// A record's delivery state, as the stores write it.
pub(crate) const PENDING: i16 = 0;
pub(crate) const IN_FLIGHT: i16 = 1;
pub(crate) const DELIVERED: i16 = 2;
pub(crate) const DEAD: i16 = 3;

/// The relay's tables, named `{prefix}relay_cursor`, `{prefix}relay_records` and
/// `{prefix}relay_pruned` (the furthest sort key pruned: nothing at or before it is stored
/// again). The same statements serve SQLite and PostgreSQL.
pub(crate) fn schema(prefix: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {prefix}relay_cursor (
            relay TEXT PRIMARY KEY,
            since_posting BIGINT NOT NULL,
            since_commission_id TEXT,
            updated_at BIGINT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS {prefix}relay_records (
            relay TEXT NOT NULL,
            commission_id TEXT NOT NULL,
            sort_key TEXT NOT NULL,
            payload TEXT,
            state SMALLINT NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_until BIGINT NOT NULL DEFAULT 0,
            stored_at BIGINT NOT NULL,
            settled_at BIGINT,
            status INTEGER,
            error TEXT,
            body TEXT,
            PRIMARY KEY (relay, commission_id)
        );
        CREATE INDEX IF NOT EXISTS {prefix}relay_records_line
            ON {prefix}relay_records (relay, state, sort_key);
        CREATE TABLE IF NOT EXISTS {prefix}relay_pruned (
            relay TEXT PRIMARY KEY,
            through TEXT NOT NULL
        );"
    )
}

/// Where a relay is in CJ's records: what the next query asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayCursor {
    /// Records posted at or after this time are read (`sincePostingDate`).
    pub since_posting: Instant,
    /// CJ's watermark: only records after this one (`sinceCommissionId`); none before the
    /// first record.
    pub since_commission_id: Option<String>,
}

impl RelayCursor {
    /// The cursor furthest on of `self` and `other`: the later posting time and the later
    /// commission id, so that an instance that read less never moves a shared cursor back.
    pub fn furthest(self, other: RelayCursor) -> RelayCursor {
        let since_commission_id = match (self.since_commission_id, other.since_commission_id) {
            (Some(a), Some(b)) => Some(if sort_key(&b) > sort_key(&a) { b } else { a }),
            (a, b) => a.or(b),
        };
        RelayCursor {
            since_posting: self.since_posting.max(other.since_posting),
            since_commission_id,
        }
    }

    pub(crate) fn since_posting_ms(&self) -> i64 {
        self.since_posting.timestamp().as_millisecond()
    }

    pub(crate) fn from_parts(
        since_posting_ms: i64,
        since_commission_id: Option<String>,
    ) -> Result<RelayCursor, StoreError> {
        let since_posting = jiff::Timestamp::from_millisecond(since_posting_ms)
            .map_err(|e| StoreError::Other(format!("the relay's stored cursor is corrupt: {e}")))?
            .into();
        Ok(RelayCursor {
            since_posting,
            since_commission_id,
        })
    }
}

/// What orders commission ids: CJ's are digits, compared as numbers (shorter is smaller, and
/// leading zeros do not count); any other id sorts after them, as text.
pub(crate) fn sort_key(commission_id: &str) -> String {
    let digits = !commission_id.is_empty() && commission_id.bytes().all(|b| b.is_ascii_digit());
    if digits {
        let trimmed = commission_id.trim_start_matches('0');
        // `0` and a length prefix wide enough for any id keep numbers in numeric order.
        format!("0{:010}{trimmed}", trimmed.len())
    } else {
        format!("1{commission_id}")
    }
}

/// A commission record to store: its id and CJ's JSON of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// `commissionId`.
    pub commission_id: String,
    /// The record as JSON, with CJ's field names.
    pub payload: String,
}

impl NewRecord {
    /// The key that orders it among the relay's records.
    pub(crate) fn sort_key(&self) -> String {
        sort_key(&self.commission_id)
    }
}

/// A record claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRecord {
    /// `commissionId`.
    pub commission_id: String,
    /// The record as JSON, with CJ's field names.
    pub payload: String,
    /// Deliveries tried, this one included; it also tells this claim from any later one.
    pub attempts: u32,
}

/// What [`RelayStore::claim_record`] found at the head of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// The next record, now claimed by the caller.
    Record(ClaimedRecord),
    /// The next record waits to be delivered again at this time (milliseconds since the Unix
    /// epoch): records after it wait behind it, to keep commission id order.
    Waiting {
        /// When.
        at_ms: i64,
    },
    /// Another worker is delivering the next record.
    Busy,
    /// Every record is settled.
    Empty,
}

/// How a delivery ended, as a store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settle {
    /// The partner answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// Not delivered; deliver again at `at_ms`.
    Retry {
        /// When (milliseconds since the Unix epoch).
        at_ms: i64,
        /// The partner's status, if it answered.
        status: Option<u16>,
        /// Why.
        reason: String,
    },
    /// The partner refused it, or retries ran out: a dead letter.
    Dead {
        /// The partner's status, if it answered.
        status: Option<u16>,
        /// Why.
        reason: String,
        /// The start of the partner's answer, redacted.
        body: Option<String>,
    },
}

/// A record the partner refused (or that could not be delivered within the retries).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RelayDeadLetter {
    /// `commissionId`: what [`RelayStore::retry_dead_letters`] takes.
    pub commission_id: String,
    /// The partner's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it is here.
    pub reason: String,
    /// The start of the partner's answer (at most 2 KiB, redacted).
    pub body: Option<String>,
    /// Deliveries tried.
    pub attempts: u32,
    /// The record, with CJ's field names.
    pub record: serde_json::Value,
}

/// What a relay's store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RelayStats {
    /// Records waiting to be delivered (including those waiting to retry).
    pub pending: u64,
    /// Records being delivered.
    pub in_flight: u64,
    /// Records the partner accepted.
    pub delivered: u64,
    /// Dead letters.
    pub dead: u64,
    /// The cursor, once the relay has run.
    pub cursor: Option<RelayCursor>,
}

/// Where relays keep their cursor and their records' delivery state, by relay name (several
/// relays may share a store). Every method's effect is durable when its future completes.
/// [`SqliteStore`](crate::SqliteStore) and `PostgresStore` implement it.
pub trait RelayStore: Send + Sync + 'static {
    /// Creates the relay's tables if they are missing.
    fn prepare_relay(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Called once when a relay starts: a store used by one process at a time (SQLite) puts the
    /// records left in flight by a process that died back in line; a shared store
    /// (PostgreSQL) leaves them to their leases. Returns how many were put back.
    fn recover_relay(&self, relay: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The relay's cursor, if it has one.
    fn cursor(
        &self,
        relay: &str,
    ) -> impl Future<Output = Result<Option<RelayCursor>, StoreError>> + Send;

    /// In one transaction: stores the records not stored yet (a record already stored keeps its
    /// state, and a record at or before the furthest one pruned is not stored again, so none
    /// is delivered twice) and moves the cursor to `cursor` (never back: see
    /// [`RelayCursor::furthest`]). Returns how many records were new.
    fn store_page(
        &self,
        relay: &str,
        records: Vec<NewRecord>,
        cursor: RelayCursor,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Claims the first record of the line (commission id order) for `worker` until `now_ms +
    /// lease_ms`, if it is due and nobody holds it; each claim counts an attempt.
    fn claim_record(
        &self,
        relay: &str,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Next, StoreError>> + Send;

    /// Records how a claimed delivery ended, if `worker` still holds that claim; returns
    /// whether it did (a claim taken over since keeps what its new owner records).
    fn settle_record(
        &self,
        relay: &str,
        worker: &str,
        record: &ClaimedRecord,
        outcome: Settle,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The relay's dead letters, in commission id order.
    fn relay_dead_letters(
        &self,
        relay: &str,
    ) -> impl Future<Output = Result<Vec<RelayDeadLetter>, StoreError>> + Send;

    /// Puts dead letters back in line (all when `ids` is `None`), with their attempts reset;
    /// returns how many.
    fn retry_dead_letters(
        &self,
        relay: &str,
        ids: Option<Vec<String>>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Deletes the relay's delivered records settled before `settled_before_ms` (milliseconds
    /// since the Unix epoch), and remembers the furthest commission id deleted: a pruned record
    /// read again is never stored nor delivered again (see [`store_page`](Self::store_page)).
    /// Records waiting, in flight or dead are kept. SQLite gives the space back to the file
    /// system (incremental vacuum; a file made before is switched to it with one `VACUUM`);
    /// PostgreSQL deletes in transactions of at most 10,000 records, leaving the space to
    /// its autovacuum. Returns how many records were deleted.
    fn prune_relay(
        &self,
        relay: &str,
        settled_before_ms: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Counts of every state, and the cursor (may scan the relay's records).
    fn relay_stats(
        &self,
        relay: &str,
    ) -> impl Future<Output = Result<RelayStats, StoreError>> + Send;
}

/// The first record of a relay's line, as a store read it.
pub(crate) struct Head {
    pub commission_id: String,
    pub payload: Option<String>,
    pub state: i16,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub claimed_until: i64,
}

/// What to do with the head of the line: `Ok(claimed record)` to claim it, or what to report.
pub(crate) fn decide(head: Option<Head>, now_ms: i64) -> Result<ClaimedRecord, Next> {
    let Some(head) = head else {
        return Err(Next::Empty);
    };
    if head.state == IN_FLIGHT && head.claimed_until >= now_ms {
        return Err(Next::Busy);
    }
    if head.state == PENDING && head.next_attempt_at > now_ms {
        return Err(Next::Waiting {
            at_ms: head.next_attempt_at,
        });
    }
    Ok(ClaimedRecord {
        commission_id: head.commission_id,
        payload: head.payload.unwrap_or_default(),
        attempts: u32::try_from(head.attempts.saturating_add(1)).unwrap_or(u32::MAX),
    })
}

/// The parts of a [`Settle`] as the stores' columns hold them: state, next attempt, status,
/// error, body.
pub(crate) fn columns(outcome: &Settle) -> (i16, i64, Option<i32>, Option<&str>, Option<&str>) {
    let status = |s: &Option<u16>| s.map(i32::from);
    match outcome {
        Settle::Delivered { status } => (DELIVERED, 0, Some(i32::from(*status)), None, None),
        Settle::Retry {
            at_ms,
            status: s,
            reason,
        } => (PENDING, *at_ms, status(s), Some(reason), None),
        Settle::Dead {
            status: s,
            reason,
            body,
        } => (DEAD, 0, status(s), Some(reason), body.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_ids_sort_as_numbers() {
        let mut ids = vec!["10", "9", "0010", "2768459421", "b", "a10", "100"];
        ids.sort_by_key(|id| sort_key(id));
        assert_eq!(ids, ["9", "10", "0010", "100", "2768459421", "a10", "b"]);
    }

    #[test]
    fn a_cursor_never_moves_back() {
        let at = |s: &str| s.parse::<Instant>().expect("time");
        let a = RelayCursor {
            since_posting: at("2026-01-02"),
            since_commission_id: Some("100".into()),
        };
        let b = RelayCursor {
            since_posting: at("2026-01-01"),
            since_commission_id: Some("99".into()),
        };
        assert_eq!(a.clone().furthest(b.clone()), a);
        assert_eq!(b.furthest(a.clone()), a);
    }
}
