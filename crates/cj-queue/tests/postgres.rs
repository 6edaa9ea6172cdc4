//! Several workers on one PostgreSQL outbox: no batch sent by two at once, a dead worker's
//! batch recovered, a slow worker's batch kept by renewing its lease, and a late worker's
//! outcomes not recorded over the new owner's. Needs a server: `CJ_QUEUE_TEST_POSTGRES_URL`
//! (CI starts one with `.ci/postgres.sh`). Without it these tests say so and pass on a
//! developer's machine, but fail in CI.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use cj_queue::{BatchLimits, PostgresStore, QueueConfig, Sender, Store};
use cj_sandbox::Sandbox;

mod common;
use common::{fill, orders};

fn database() -> Option<String> {
    match std::env::var("CJ_QUEUE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => {
            panic!("CJ_QUEUE_TEST_POSTGRES_URL must be set in CI (.ci/run starts a server)")
        }
        _ => {
            eprintln!("skipped: set CJ_QUEUE_TEST_POSTGRES_URL to run the PostgreSQL queue tests");
            None
        }
    }
}

/// A fresh table per test, so tests can run at once.
async fn store(url: &str, table: &str) -> PostgresStore {
    let s = connect(url, table).await;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("TRUNCATE {table}"))
        .await
        .expect("truncated");
    s
}

/// Another connection to `table`: another worker.
async fn connect(url: &str, table: &str) -> PostgresStore {
    PostgresStore::connect_to_table(url, table)
        .await
        .expect("connects")
}

fn config(worker: &str) -> QueueConfig {
    let mut c = QueueConfig::default();
    c.max_orders = 15;
    c.worker = worker.into();
    c
}

#[tokio::test]
async fn workers_share_one_outbox_and_never_send_a_batch_twice() {
    let Some(url) = database() else { return };
    let sandbox = Sandbox::start().await.expect("sandbox");
    let first = Arc::new(store(&url, "cj_queue_test_shared").await);
    let ids = fill(first.as_ref(), "PG", 300).await;
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let url = url.clone();
            let tracking = sandbox.tracking_url();
            tokio::spawn(async move {
                let store = Arc::new(connect(&url, "cj_queue_test_shared").await);
                let sender = Sender::new(store, orders(&tracking), config(&format!("worker-{w}")));
                sender.send_all().await.expect("sent")
            })
        })
        .collect();
    let mut batches = 0;
    for w in workers {
        batches += w.await.expect("the worker finished").batches;
    }
    assert_eq!(
        batches, 20,
        "300 orders in batches of 15, each batch sent once"
    );
    let stats = first.stats().await.expect("stats");
    assert_eq!(
        (stats.waiting, stats.in_flight, stats.accepted),
        (0, 0, 300)
    );
    let ledger = sandbox.ledger().to_json();
    let entries = ledger["orders"].as_array().expect("orders");
    assert_eq!(entries.len(), ids.len());
    for e in entries {
        assert_eq!(
            e["history"].as_array().map(Vec::len),
            Some(1),
            "sent once: {e}"
        );
    }
}

#[tokio::test]
async fn a_dead_workers_batch_is_claimed_again_after_its_lease() {
    let Some(url) = database() else { return };
    let sandbox = Sandbox::start().await.expect("sandbox");
    let dead = store(&url, "cj_queue_test_lease").await;
    fill(&dead, "LEASE", 40).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let claimed_at = std::time::Instant::now();
    // Long enough for the other 30 orders to be sent on a busy machine.
    let lease = Duration::from_secs(2);
    let limits = BatchLimits {
        max_orders: 10,
        max_bytes: 1 << 20,
        lease_ms: lease.as_millis() as i64,
    };
    // This worker claims a batch and dies without finishing it.
    let claimed = dead.claim("doomed", limits, now).await.expect("claimed");
    assert_eq!(claimed.len(), 10);
    drop(dead);

    let alive = Arc::new(connect(&url, "cj_queue_test_lease").await);
    let sender = Sender::new(
        alive.clone(),
        orders(&sandbox.tracking_url()),
        config("survivor"),
    );
    let report = sender.send_all().await.expect("sent");
    assert_eq!(
        report.accepted, 30,
        "the claimed batch is left alone while its lease runs"
    );
    assert_eq!(alive.stats().await.expect("stats").in_flight, 10);
    let ended = lease + Duration::from_millis(100);
    tokio::time::sleep(ended.saturating_sub(claimed_at.elapsed())).await;
    let report = sender.send_all().await.expect("sent");
    assert_eq!(report.accepted, 10, "then it is taken over");
    let stats = alive.stats().await.expect("stats");
    assert_eq!((stats.waiting, stats.in_flight, stats.accepted), (0, 0, 40));
    assert_eq!(
        sandbox.ledger().to_json()["orders"]
            .as_array()
            .map(Vec::len),
        Some(40)
    );
}

#[tokio::test]
async fn a_late_worker_neither_erases_a_dead_letter_nor_requeues_an_accepted_order() {
    let Some(url) = database() else { return };
    let late = Arc::new(store(&url, "cj_queue_test_late").await);
    let owner = async { Arc::new(connect(&url, "cj_queue_test_late").await) };
    common::late_outcomes_are_lost(late, owner).await;
}

#[tokio::test]
async fn a_renewed_lease_keeps_the_batch_until_it_runs_out() {
    let Some(url) = database() else { return };
    common::renewal_keeps_the_batch(&store(&url, "cj_queue_test_renew").await).await;
}

#[tokio::test]
async fn a_send_slower_than_the_lease_keeps_its_batch() {
    let Some(url) = database() else { return };
    let sending = Arc::new(store(&url, "cj_queue_test_slow").await);
    let other = connect(&url, "cj_queue_test_slow").await;
    common::a_slow_send_keeps_its_batch(sending, &other).await;
}

#[tokio::test]
async fn accepted_orders_and_verdicts_for_reconciliation() {
    let Some(url) = database() else { return };
    let store = store(&url, "cj_queue_test_reconcile").await;
    // The verdicts' table outlives the queue's TRUNCATE: start from none.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
        .batch_execute("TRUNCATE cj_queue_test_reconcile_verdicts")
        .await
        .expect("truncated");
    common::accepted_orders_and_verdicts(&store).await;
}

#[tokio::test]
async fn a_table_of_an_earlier_version_gains_acceptance_times() {
    let Some(url) = database() else { return };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    // The table as the first release made it, with one accepted order.
    client
        .batch_execute(
            "DROP TABLE IF EXISTS cj_queue_test_old; DROP TABLE IF EXISTS cj_queue_test_old_verdicts;
             CREATE TABLE cj_queue_test_old (
                id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,
                payload TEXT NOT NULL, bytes BIGINT NOT NULL, enqueued_at BIGINT NOT NULL,
                state SMALLINT NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at BIGINT NOT NULL DEFAULT 0, claimed_by TEXT,
                claimed_until BIGINT NOT NULL DEFAULT 0, submission_id TEXT, error TEXT,
                error_fields TEXT);
             INSERT INTO cj_queue_test_old (kind, key, payload, bytes, enqueued_at, state)
             VALUES ('create', '1234567|123456|OLD-1', '{}', 2, 1700000000000, 2);",
        )
        .await
        .expect("an old table");
    for _ in 0..2 {
        let store = connect(&url, "cj_queue_test_old").await;
        let accepted = store.accepted(0, 10).await.expect("read");
        assert_eq!(accepted.len(), 1, "{accepted:?}");
        assert_eq!(accepted[0].accepted_at_ms, 1_700_000_000_000);
        let verdicts = vec![(
            accepted[0].key.clone(),
            cj_graphql::reconcile::Verdict::Recorded,
        )];
        store.record_verdicts(verdicts, 7).await.expect("recorded");
        assert_eq!(store.reconciliation().await.expect("read").confirmed(), 1);
    }
}
