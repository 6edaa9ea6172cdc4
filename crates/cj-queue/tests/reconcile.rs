//! What reconciliation reads from and writes to a store: the accepted orders with when CJ
//! accepted them, and each order's verdict; a store made by an earlier version gains both.

use cj_graphql::reconcile::Verdict;
use cj_queue::{Kind, MemoryStore, SqliteStore, Store};

mod common;

fn temp_store(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cj-queue-reconcile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[tokio::test]
async fn the_memory_store_reads_accepted_orders_and_keeps_verdicts() {
    common::accepted_orders_and_verdicts(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_sqlite_store_reads_accepted_orders_and_keeps_verdicts() {
    let path = temp_store("current.sqlite");
    common::accepted_orders_and_verdicts(&SqliteStore::open(&path).expect("opens")).await;
    // Verdicts are on disk.
    let reopened = SqliteStore::open(&path).expect("reopens");
    let reconciled = reopened.reconciliation().await.expect("read");
    assert_eq!(reconciled.confirmed(), 3);
}

/// The queue table as the first release made it, with one accepted order.
const OLD_SCHEMA: &str = "CREATE TABLE queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
    payload TEXT NOT NULL, bytes INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0, claimed_until INTEGER NOT NULL DEFAULT 0,
    submission_id TEXT, error TEXT, error_fields TEXT);
INSERT INTO queue (kind, key, payload, bytes, enqueued_at, state, attempts, submission_id)
VALUES ('create', '1234567|123456|OLD-1', '{\"orderId\":\"OLD-1\"}', 19, 1700000000000, 2, 1, 'S-1');";

#[tokio::test]
async fn a_store_of_an_earlier_version_gains_acceptance_times_and_verdicts() {
    let path = temp_store("old.sqlite");
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch(OLD_SCHEMA))
        .expect("an old store");
    for _ in 0..2 {
        // Opened twice: the migration runs once.
        let store = SqliteStore::open(&path).expect("opens");
        let accepted = store.accepted(0, 10).await.expect("read");
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0].kind, Kind::Create);
        assert_eq!(
            accepted[0].accepted_at_ms, 1_700_000_000_000,
            "accepted before the time was kept: its enqueue time"
        );
        assert_eq!(accepted[0].submission_id.as_deref(), Some("S-1"));
        let verdicts = vec![(accepted[0].key.clone(), Verdict::Missing)];
        store.record_verdicts(verdicts, 5).await.expect("recorded");
        let reconciled = store.reconciliation().await.expect("read");
        assert_eq!((reconciled.confirmed(), reconciled.missing()), (0, 1));
        assert_eq!(store.stats().await.expect("stats").accepted, 1);
    }
}
