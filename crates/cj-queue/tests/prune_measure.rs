//! Measures, not a test of behaviour: the bytes a store takes per accepted order, and how long
//! `prune` takes to remove a million of them and what is left on disk. Ignored by default; run
//! with (PostgreSQL needs `CJ_QUEUE_TEST_POSTGRES_URL`; `CJ_MEASURE_ORDERS` changes the count):
//!
//! ```sh
//! cargo test -p cj-queue --features postgres --test prune_measure -- --ignored --nocapture --test-threads 1
//! ```

use std::time::{Duration, Instant};

use cj_queue::{BatchLimits, Claim, Outcome, QueuedOrder, Retention, SqliteStore, Store};

mod common;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn orders() -> usize {
    std::env::var("CJ_MEASURE_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Enqueues `n` orders (as `cj queue enqueue` does, in transactions of 10,000) and has them
/// accepted; returns how long each part took.
async fn fill<S: Store>(store: &S, n: usize) -> (Duration, Duration) {
    let start = Instant::now();
    let now = now_ms();
    for first in (0..n).step_by(10_000) {
        let entries = (first..(first + 10_000).min(n))
            .map(|i| {
                QueuedOrder::from(common::create(&format!("MEASURE-{i:07}")))
                    .to_entry(now)
                    .expect("entry")
            })
            .collect();
        store.enqueue(entries).await.expect("stored");
    }
    let enqueued = start.elapsed();
    let start = Instant::now();
    let limits = BatchLimits {
        max_orders: 10_000,
        max_bytes: 1 << 30,
        lease_ms: 3_600_000,
    };
    loop {
        let batch = store.claim("m", limits, now_ms()).await.expect("claimed");
        if batch.is_empty() {
            break;
        }
        let outcomes = batch
            .iter()
            .map(|e| {
                let accepted = Outcome::Accepted {
                    submission_id: Some(format!("S-{}", e.id)),
                };
                (e.id, accepted)
            })
            .collect();
        store
            .finish(&Claim::new("m", &batch), outcomes)
            .await
            .expect("finished");
    }
    (enqueued, start.elapsed())
}

/// Prints the figures: the sizes are before the prune, after it, and after as many orders again.
fn report(store: &str, n: usize, fill: (Duration, Duration), took: Duration, sizes: [u64; 3]) {
    let payload = QueuedOrder::from(common::create("MEASURE-0000000"))
        .to_entry(0)
        .expect("entry")
        .payload
        .len();
    let [before, after, again] = sizes;
    println!(
        "{store}: {n} orders of {payload} bytes of JSON enqueued in {:.1} s, accepted in {:.1} s; \
         {before} bytes ({} B per order); prune of all {n}: {:.1} s ({:.0} orders/s); after: \
         {after} bytes; {n} orders again: {again} bytes ({} B per order)",
        fill.0.as_secs_f64(),
        fill.1.as_secs_f64(),
        before / n as u64,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        again / n as u64,
    );
}

#[tokio::test]
#[ignore = "a measurement: run it by name with --ignored --nocapture"]
async fn measure_sqlite_prune() {
    let n = orders();
    let dir = std::env::temp_dir().join(format!("cj-queue-measure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("measure.sqlite");
    let store = SqliteStore::open(&path).expect("opens");
    let filled = fill(&store, n).await;
    // The log emptied into the file, then the file's size.
    let size = || {
        rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
            .expect("checkpoint");
        std::fs::metadata(&path).expect("the file").len()
    };
    let before = size();
    let start = Instant::now();
    let pruned = store
        .prune(Retention::default(), now_ms() + 91 * DAY_MS)
        .await
        .expect("pruned");
    let took = start.elapsed();
    assert_eq!(pruned.orders, n as u64);
    let after = size();
    fill(&store, n).await;
    report("SQLite", n, filled, took, [before, after, size()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[tokio::test]
#[ignore = "a measurement: run it by name with --ignored --nocapture"]
async fn measure_postgres_prune() {
    let Ok(url) = std::env::var("CJ_QUEUE_TEST_POSTGRES_URL") else {
        panic!("set CJ_QUEUE_TEST_POSTGRES_URL");
    };
    let n = orders();
    let table = "cj_queue_measure";
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_verdicts"
        ))
        .await
        .expect("dropped");
    let store = cj_queue::PostgresStore::connect_to_table(&url, table)
        .await
        .expect("connects");
    let filled = fill(&store, n).await;
    let size = || async {
        let row = client
            .query_one(
                &format!(
                    "SELECT pg_total_relation_size('{table}') + pg_total_relation_size('{table}_verdicts')"
                ),
                &[],
            )
            .await
            .expect("size");
        row.get::<_, i64>(0) as u64
    };
    client
        .batch_execute(&format!("VACUUM {table}"))
        .await
        .expect("vacuumed");
    let before = size().await;
    let start = Instant::now();
    let pruned = store
        .prune(Retention::default(), now_ms() + 91 * DAY_MS)
        .await
        .expect("pruned");
    let took = start.elapsed();
    assert_eq!(pruned.orders, n as u64);
    let vacuum = || async {
        client
            .batch_execute(&format!("VACUUM {table}"))
            .await
            .expect("vacuumed")
    };
    vacuum().await;
    let after = size().await;
    fill(&store, n).await;
    vacuum().await;
    let again = size().await;
    let sizes = [before, after, again];
    report("PostgreSQL (sizes after VACUUM)", n, filled, took, sizes);
}
