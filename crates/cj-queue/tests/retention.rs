//! A bounded store: `enqueue` stores an order once, and `prune` removes settled orders while
//! keeping what reconciliation still needs, and gives the space back. PostgreSQL tests need
//! `CJ_QUEUE_TEST_POSTGRES_URL` (see tests/postgres.rs).

use std::collections::BTreeMap;
use std::time::Duration;

use cj_graphql::reconcile::Verdict;
use cj_graphql::tracking::OrderRestateRequest;
use cj_queue::{
    BatchLimits, Claim, Enqueued, Kind, MemoryStore, NewEntry, Outcome, QueuedOrder, Retention,
    SqliteStore, Store,
};

mod common;
use common::create;

const DAY_MS: i64 = 24 * 3600 * 1000;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn key(id: &str) -> String {
    format!("1234567|123456|{id}")
}

fn create_entry(id: &str) -> NewEntry {
    QueuedOrder::from(create(id))
        .to_entry(now_ms())
        .expect("entry")
}

fn restate_entry(id: &str, amount: &str) -> NewEntry {
    let restate = OrderRestateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(id)
        .update_time(
            "2024-01-16T10:00:00Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("time"),
        )
        .amount(amount.parse().expect("decimal"))
        .build();
    QueuedOrder::from(restate)
        .to_entry(now_ms())
        .expect("entry")
}

fn limits() -> BatchLimits {
    BatchLimits {
        max_orders: 10_000,
        max_bytes: 1 << 30,
        lease_ms: 3_600_000,
    }
}

/// Claims and settles every batch that can be sent: refused when `refuse` says so, else
/// accepted.
async fn settle<S: Store>(store: &S, refuse: impl Fn(&str, Kind) -> bool) {
    loop {
        let batch = store.claim("w", limits(), now_ms()).await.expect("claimed");
        if batch.is_empty() {
            return;
        }
        let outcomes = batch
            .iter()
            .map(|e| {
                let outcome = if refuse(&e.key, e.kind) {
                    Outcome::Rejected {
                        message: "refused by CJ".into(),
                        fields: Vec::new(),
                    }
                } else {
                    Outcome::Accepted {
                        submission_id: None,
                    }
                };
                (e.id, outcome)
            })
            .collect();
        let lost = store
            .finish(&Claim::new("w", &batch), outcomes)
            .await
            .expect("finished");
        assert_eq!(lost, 0);
    }
}

/// The accepted entries per order id, as reconciliation reads them.
async fn accepted<S: Store>(store: &S) -> BTreeMap<String, Vec<Kind>> {
    let mut out: BTreeMap<String, Vec<Kind>> = BTreeMap::new();
    let mut after = 0;
    loop {
        let page = store.accepted(after, 500).await.expect("a page");
        let Some(last) = page.last() else {
            return out;
        };
        after = last.id;
        for e in page {
            let id = e.key.rsplit('|').next().unwrap_or_default().to_string();
            out.entry(id).or_default().push(e.kind);
        }
    }
}

/// The same order enqueued twice is stored once, whether waiting or accepted, and within one
/// call; a changed payload under the same key is stored; a dead letter holds nothing back;
/// `append` stores without the check.
async fn an_order_is_enqueued_once<S: Store>(store: &S) {
    let first = store
        .enqueue(vec![create_entry("ONCE-A"), create_entry("ONCE-B")])
        .await
        .expect("stored");
    let [Enqueued::Stored(a), Enqueued::Stored(_)] = first[..] else {
        panic!("both stored: {first:?}")
    };
    // The same file again, with B changed and C new.
    let mut changed = create_entry("ONCE-B");
    changed.payload = changed.payload.replace("10.00", "12.50");
    assert_ne!(changed.payload, create_entry("ONCE-B").payload);
    let again = store
        .enqueue(vec![
            create_entry("ONCE-A"),
            changed,
            create_entry("ONCE-C"),
        ])
        .await
        .expect("stored");
    assert!(
        matches!(
            again[..],
            [Enqueued::AlreadyQueued(x), Enqueued::Stored(_), Enqueued::Stored(_)] if x == a
        ),
        "{again:?}"
    );
    assert_eq!(store.stats().await.expect("stats").waiting, 4);

    // Accepted (D refused): A is still queued, D is not.
    store
        .enqueue(vec![create_entry("ONCE-D")])
        .await
        .expect("stored");
    settle(store, |k, _| k.ends_with("ONCE-D")).await;
    let third = store
        .enqueue(vec![create_entry("ONCE-A"), create_entry("ONCE-D")])
        .await
        .expect("stored");
    assert!(
        matches!(third[..], [Enqueued::AlreadyQueued(x), Enqueued::Stored(_)] if x == a),
        "{third:?}"
    );
    // Twice in one call: once.
    let twice = store
        .enqueue(vec![create_entry("ONCE-E"), create_entry("ONCE-E")])
        .await
        .expect("stored");
    assert!(
        matches!(twice[..], [Enqueued::Stored(x), Enqueued::AlreadyQueued(y)] if x == y),
        "{twice:?}"
    );
    // `append` (as `cj reconcile --resend-missing` uses it) stores an accepted order again.
    let ids = store
        .append(vec![create_entry("ONCE-A")])
        .await
        .expect("stored");
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], a);
    let stats = store.stats().await.expect("stats");
    // Waiting: D again, E, and the appended A. Accepted: A, B, B changed, C.
    assert_eq!((stats.waiting, stats.accepted, stats.dead), (3, 4, 1));
}

/// What `prune` removes and keeps, from orders in every state.
async fn prune_keeps_what_reconciliation_needs<S: Store>(store: &S) {
    let t0 = now_ms();
    let mut entries: Vec<NewEntry> = ["OLD", "CONF", "ATTN", "STALE", "WAIT", "DEAD"]
        .iter()
        .map(|id| create_entry(id))
        .collect();
    entries.extend((0..2_500).map(|i| create_entry(&format!("BULK-{i}"))));
    store.enqueue(entries).await.expect("stored");
    settle(store, |_, _| false).await;
    store
        .enqueue(vec![
            restate_entry("OLD", "9.00"),
            restate_entry("STALE", "9.00"),
            restate_entry("DEAD", "9.00"),
        ])
        .await
        .expect("stored");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let before_restates = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    settle(store, |k, _| k.ends_with("|DEAD")).await;
    // Waiting and in flight: never pruned.
    store
        .enqueue(vec![create_entry("INFL")])
        .await
        .expect("stored");
    let inflight = store.claim("w", limits(), now_ms()).await.expect("claimed");
    assert_eq!(inflight.len(), 1);
    store
        .enqueue(vec![restate_entry("WAIT", "9.00")])
        .await
        .expect("stored");
    let after_all = now_ms() + 1;
    store
        .record_verdicts(
            vec![
                (key("CONF"), Verdict::Recorded),
                (key("ATTN"), Verdict::Missing),
                (key("WAIT"), Verdict::Recorded),
                (key("ORPHAN"), Verdict::Unexpected),
            ],
            after_all,
        )
        .await
        .expect("recorded");
    // Confirmed before its restate was accepted: that verdict says nothing of the restate.
    store
        .record_verdicts(vec![(key("STALE"), Verdict::Corrected)], before_restates)
        .await
        .expect("recorded");
    let all = accepted(store).await;
    assert_eq!(
        all.len(),
        6 + 2_500,
        "{:?}",
        all.keys().take(10).collect::<Vec<_>>()
    );
    assert!(t0 <= before_restates);

    // A day later: nothing goes.
    let pruned = store
        .prune(Retention::default(), after_all + DAY_MS)
        .await
        .expect("pruned");
    assert_eq!(pruned.entries, 0, "{pruned:?}");

    // Eight days later: the order CJ confirmed goes, with its verdict.
    let pruned = store
        .prune(Retention::default(), after_all + 8 * DAY_MS)
        .await
        .expect("pruned");
    assert_eq!((pruned.orders, pruned.entries, pruned.verdicts), (1, 1, 1));
    let left = accepted(store).await;
    assert!(!left.contains_key("CONF"));
    for id in [
        "OLD",
        "ATTN",
        "STALE",
        "WAIT",
        "DEAD",
        "BULK-0",
        "BULK-2499",
    ] {
        assert!(left.contains_key(id), "{id} is kept");
    }
    assert_eq!(left["OLD"], [Kind::Create, Kind::Restate]);

    // Ninety-one days later: every settled order goes (in many pages), but those waiting, in
    // flight or with a dead letter, each with all of its entries; and the orphan verdict.
    let pruned = store
        .prune(Retention::default(), after_all + 91 * DAY_MS)
        .await
        .expect("pruned");
    assert_eq!(pruned.orders, 3 + 2_500, "{pruned:?}");
    assert_eq!(pruned.entries, 5 + 2_500, "{pruned:?}");
    // ATTN's and STALE's verdicts and the orphan's.
    assert_eq!(pruned.verdicts, 3, "{pruned:?}");
    let left = accepted(store).await;
    let kept: Vec<(&str, &[Kind])> = left.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
    assert_eq!(
        kept,
        [("DEAD", &[Kind::Create][..]), ("WAIT", &[Kind::Create][..])],
        "a restate never without its create"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.waiting, stats.in_flight, stats.accepted, stats.dead),
        (1, 1, 2, 1)
    );
    let reconciled = store.reconciliation().await.expect("read");
    assert_eq!(
        reconciled.verdicts.into_iter().collect::<Vec<_>>(),
        [("recorded".to_string(), 1)],
        "WAIT's verdict stays with its order"
    );

    // Asked to, dead letters go too, with their order.
    let mut with_dead = Retention::default();
    with_dead.dead_letters = true;
    let pruned = store
        .prune(with_dead, after_all + 91 * DAY_MS)
        .await
        .expect("pruned");
    assert_eq!((pruned.orders, pruned.entries), (1, 2), "{pruned:?}");
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.waiting, stats.in_flight, stats.accepted, stats.dead),
        (1, 1, 1, 0)
    );
    // Even a thousand years later, the waiting and in-flight orders stay.
    let pruned = store
        .prune(with_dead, after_all + 365_000 * DAY_MS)
        .await
        .expect("pruned");
    assert_eq!(pruned.entries, 0, "{pruned:?}");
}

fn temp_store(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cj-queue-retention-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// The bytes the store takes on disk: the file and its log.
fn on_disk(path: &std::path::Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|s| std::fs::metadata(format!("{}{s}", path.display())).map_or(0, |m| m.len()))
        .sum()
}

#[tokio::test]
async fn memory_an_order_is_enqueued_once() {
    an_order_is_enqueued_once(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_an_order_is_enqueued_once() {
    let path = temp_store("once.sqlite");
    an_order_is_enqueued_once(&SqliteStore::open(&path).expect("opens")).await;
}

#[tokio::test]
async fn memory_prune_keeps_what_reconciliation_needs() {
    prune_keeps_what_reconciliation_needs(&MemoryStore::new()).await;
}

#[tokio::test]
async fn sqlite_prune_keeps_what_reconciliation_needs() {
    let path = temp_store("prune.sqlite");
    prune_keeps_what_reconciliation_needs(&SqliteStore::open(&path).expect("opens")).await;
}

/// Fills `store` with `n` accepted orders.
async fn accepted_orders<S: Store>(store: &S, prefix: &str, n: usize) {
    let entries = (0..n)
        .map(|i| create_entry(&format!("{prefix}-{i}")))
        .collect();
    store.enqueue(entries).await.expect("stored");
    settle(store, |_, _| false).await;
}

#[tokio::test]
async fn sqlite_prune_gives_the_space_back() {
    let path = temp_store("space.sqlite");
    let store = SqliteStore::open(&path).expect("opens");
    accepted_orders(&store, "SPACE", 5_000).await;
    let full = on_disk(&path);
    let pruned = store
        .prune(Retention::default(), now_ms() + 91 * DAY_MS)
        .await
        .expect("pruned");
    assert_eq!(pruned.orders, 5_000);
    let after = on_disk(&path);
    assert!(
        after * 5 < full,
        "the file shrank from {full} bytes to {after} bytes"
    );
}

/// A store file as an earlier version made it (no incremental vacuum, no payload hashes), with
/// 5,000 accepted orders and one order stored twice, waiting.
const OLD_SCHEMA: &str = "CREATE TABLE queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
    payload TEXT NOT NULL, bytes INTEGER NOT NULL, enqueued_at INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0, claimed_until INTEGER NOT NULL DEFAULT 0,
    submission_id TEXT, error TEXT, error_fields TEXT, accepted_at INTEGER);
CREATE INDEX queue_state ON queue (state, id);
CREATE INDEX queue_waiting ON queue (state, enqueued_at, bytes);
CREATE INDEX queue_key ON queue (key, id);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
INSERT INTO queue (kind, key, payload, bytes, enqueued_at, state, attempts, accepted_at)
SELECT 'create', '1234567|123456|OLD-' || i, printf('{\"orderId\":\"OLD-%d\",\"pad\":\"%0300d\"}', i, 0),
       330, 1700000000000, 2, 1, 1700000000000 FROM n;";

#[tokio::test]
async fn a_store_of_an_earlier_version_checks_its_orders_and_gives_space_back() {
    let path = temp_store("old.sqlite");
    let twice = create_entry("TWICE");
    rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.execute_batch(OLD_SCHEMA)?;
            for _ in 0..2 {
                c.execute(
                    "INSERT INTO queue (kind, key, payload, bytes, enqueued_at) VALUES ('create', ?1, ?2, 1, 1)",
                    (&twice.key, &twice.payload),
                )?;
            }
            Ok(())
        })
        .expect("an old store");
    let auto_vacuum = || -> i64 {
        rusqlite::Connection::open(&path)
            .and_then(|c| c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)))
            .expect("read")
    };
    assert_eq!(auto_vacuum(), 0, "made without incremental vacuum");
    let store = SqliteStore::open(&path).expect("opens");
    // The order stored twice before is queued: not a third time.
    let done = store.enqueue(vec![twice]).await.expect("enqueued");
    assert!(
        matches!(done[..], [Enqueued::AlreadyQueued(5_001)]),
        "{done:?}"
    );
    let full = on_disk(&path);
    let pruned = store
        .prune(Retention::default(), now_ms())
        .await
        .expect("pruned");
    assert_eq!(pruned.orders, 5_000);
    assert_eq!(auto_vacuum(), 2, "incremental vacuum is on");
    let after = on_disk(&path);
    assert!(
        after * 5 < full,
        "the file shrank from {full} bytes to {after} bytes"
    );
    // And stays on: what the next prune frees goes back too.
    let reopened = SqliteStore::open(&path).expect("reopens");
    accepted_orders(&reopened, "NEW", 5_000).await;
    let full = on_disk(&path);
    reopened
        .prune(Retention::default(), now_ms() + 91 * DAY_MS)
        .await
        .expect("pruned");
    let after = on_disk(&path);
    assert!(after * 5 < full, "{full} bytes, then {after}");
    assert_eq!(reopened.stats().await.expect("stats"), Default::default());
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use cj_queue::PostgresStore;

    fn database() -> Option<String> {
        match std::env::var("CJ_QUEUE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => {
                panic!("CJ_QUEUE_TEST_POSTGRES_URL must be set in CI (.ci/run starts a server)")
            }
            _ => {
                eprintln!("skipped: set CJ_QUEUE_TEST_POSTGRES_URL to run the PostgreSQL tests");
                None
            }
        }
    }

    /// A fresh table (and verdicts) per test.
    async fn store(url: &str, table: &str) -> PostgresStore {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_verdicts"
            ))
            .await
            .expect("dropped");
        PostgresStore::connect_to_table(url, table)
            .await
            .expect("connects")
    }

    #[tokio::test]
    async fn postgres_an_order_is_enqueued_once() {
        let Some(url) = database() else { return };
        an_order_is_enqueued_once(&store(&url, "cj_queue_test_once").await).await;
    }

    #[tokio::test]
    async fn postgres_prune_keeps_what_reconciliation_needs() {
        let Some(url) = database() else { return };
        prune_keeps_what_reconciliation_needs(&store(&url, "cj_queue_test_prune").await).await;
    }

    /// A table of an earlier version with one order stored twice: opened, it is queued (the
    /// first copy gains its hash) and not stored a third time.
    #[tokio::test]
    async fn a_table_of_an_earlier_version_checks_its_orders() {
        let Some(url) = database() else { return };
        let table = "cj_queue_test_once_old";
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS {table}_verdicts;
                 CREATE TABLE {table} (
                    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,
                    payload TEXT NOT NULL, bytes BIGINT NOT NULL, enqueued_at BIGINT NOT NULL,
                    state SMALLINT NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at BIGINT NOT NULL DEFAULT 0, claimed_by TEXT,
                    claimed_until BIGINT NOT NULL DEFAULT 0, submission_id TEXT, error TEXT,
                    error_fields TEXT, accepted_at BIGINT)"
            ))
            .await
            .expect("an old table");
        let twice = create_entry("TWICE");
        for _ in 0..2 {
            client
                .execute(
                    &format!(
                        "INSERT INTO {table} (kind, key, payload, bytes, enqueued_at)
                         VALUES ('create', $1, $2, 1, 1)"
                    ),
                    &[&twice.key, &twice.payload],
                )
                .await
                .expect("stored");
        }
        let store = PostgresStore::connect_to_table(&url, table)
            .await
            .expect("connects");
        let done = store.enqueue(vec![twice]).await.expect("enqueued");
        assert!(matches!(done[..], [Enqueued::AlreadyQueued(1)]), "{done:?}");
        assert_eq!(store.stats().await.expect("stats").waiting, 2);
    }

    /// Instances enqueuing the same orders at once, in different orders: each stored once.
    #[tokio::test]
    async fn instances_enqueuing_the_same_orders_at_once_store_each_once() {
        let Some(url) = database() else { return };
        let table = "cj_queue_test_once_shared";
        store(&url, table).await;
        let tasks: Vec<_> = (0..4)
            .map(|w| {
                let url = url.clone();
                tokio::spawn(async move {
                    let s = PostgresStore::connect_to_table(&url, table)
                        .await
                        .expect("connects");
                    let mut entries: Vec<NewEntry> = (0..300)
                        .map(|i| create_entry(&format!("SHARED-{i}")))
                        .collect();
                    if w % 2 == 1 {
                        entries.reverse();
                    }
                    s.enqueue(entries).await.expect("enqueued")
                })
            })
            .collect();
        let mut stored = 0;
        for t in tasks {
            let done = t.await.expect("finished");
            stored += done
                .iter()
                .filter(|d| matches!(d, Enqueued::Stored(_)))
                .count();
        }
        assert_eq!(stored, 300);
        let s = PostgresStore::connect_to_table(&url, table)
            .await
            .expect("connects");
        assert_eq!(s.stats().await.expect("stats").waiting, 300);
    }
}

#[tokio::test]
async fn the_queue_enqueues_an_order_once() {
    let store = MemoryStore::new();
    let queue = cj_queue::OrderQueue::start(
        store,
        common::orders("http://127.0.0.1:9/tracking"),
        cj_queue::QueueConfig::default(),
    );
    let first = queue.enqueue(create("QUEUE-1")).await.expect("stored");
    let again = queue.enqueue(create("QUEUE-1")).await.expect("stored");
    assert_eq!(first, again, "the id already queued");
    let changed = cj_graphql::tracking::OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("QUEUE-1")
        .event_time(cj_graphql::tracking::Instant::now())
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .amount("11.00".parse().expect("decimal"))
        .build();
    let other = queue.enqueue(changed).await.expect("stored");
    assert_ne!(other, first);
    assert_eq!(queue.stats().await.expect("stats").waiting, 2);
}
