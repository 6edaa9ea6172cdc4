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

/// A Commission Detail mock answering one page of `records`.
fn commission_detail(records: serde_json::Value) -> httpmock::MockServer {
    let server = httpmock::MockServer::start();
    let count = records.as_array().map_or(0, Vec::len);
    server.mock(|when, then| {
        when.method(httpmock::Method::POST).path("/query");
        then.status(200)
            .json_body(serde_json::json!({"data": {"advertiserCommissions": {
            "count": count, "limit": 10000, "maxCommissionId": null, "payloadComplete": true,
            "records": records}}}));
    });
    server
}

fn cj_record(commission_id: &str, order_id: &str, tracker: &str) -> serde_json::Value {
    serde_json::json!({
        "actionStatus": "new", "actionTrackerId": tracker, "actionTrackerName": "Sale",
        "actionType": "sim_sale", "advertiserId": "1234567", "advertiserName": "Acme",
        "commissionId": commission_id, "eventDate": "2024-01-15T18:08:36Z",
        "lockingDate": "2024-02-15T00:00:00Z", "original": true,
        "originalActionId": format!("A-{commission_id}"), "orderId": order_id,
        "postingDate": "2024-01-15T19:00:00Z", "pubCommissionAmountPubCurrency": "1.00",
        "pubCommissionAmountUsd": "1.00", "publisherId": "7654321", "publisherName": "Blog",
        "saleAmountAdvCurrency": "10.00", "saleAmountUsd": "10.00", "saleAmountPubCurrency": "10.00",
        "items": [], "situations": [], "situationDetails": []
    })
}

/// The library call behind `cj reconcile --store`: the store's accepted orders judged against
/// CJ, each verdict recorded in the store, and only the missing order queued again.
#[tokio::test]
async fn a_service_reconciles_the_store_records_verdicts_and_requeues_the_missing() {
    use cj_graphql::commissions::CommissionsApi;
    use cj_graphql::reconcile::Reconciler;
    use cj_queue::reconcile::{add_accepted, line_key, resend, with_verdicts_recorded};
    use cj_queue::{Claim, Outcome};
    use futures_util::TryStreamExt;

    let store = MemoryStore::new();
    common::fill(&store, "REC", 3).await;
    let batch = store
        .claim("w", common::limits(60_000), 0)
        .await
        .expect("claimed");
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
        .finish(&Claim::new("w", &batch), outcomes)
        .await
        .expect("finished");

    // Accepted a moment ago: without a grace period, what CJ lacks is missing.
    let mut reconciler = Reconciler::new().grace(jiff::SignedDuration::ZERO);
    assert_eq!(
        add_accepted(&store, &mut reconciler).await.expect("read"),
        3
    );
    // REC-0 is recorded; REC-1 only under another action tracker; REC-2 not at all.
    let server = commission_detail(serde_json::json!([
        cj_record("1", "REC-0", "123456"),
        cj_record("2", "REC-1", "999"),
    ]));
    let transport = cj_transport::Transport::builder()
        .credentials(cj_transport::Credentials::token("t"))
        .retry(cj_transport::RetryPolicy::none())
        .build()
        .expect("a transport");
    let api = CommissionsApi::new(transport, &server.base_url()).expect("an api");
    let lines: Vec<_> = with_verdicts_recorded(&store, reconciler.reconcile(&api, ["1234567"]))
        .try_collect()
        .await
        .expect("reconciled");
    let verdicts: Vec<(&str, Verdict)> = lines
        .iter()
        .map(|l| (l.order_id.as_str(), l.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("REC-0", Verdict::Recorded),
            ("REC-1", Verdict::OtherTracker),
            ("REC-2", Verdict::Missing)
        ]
    );
    let recorded = store.reconciliation().await.expect("read");
    let counts: Vec<(&str, u64)> = recorded
        .verdicts
        .iter()
        .map(|(v, n)| (v.as_str(), *n))
        .collect();
    assert_eq!(
        counts,
        [("missing", 1), ("other-tracker", 1), ("recorded", 1)]
    );
    assert_eq!(
        (recorded.confirmed(), recorded.missing()),
        (1, 1),
        "other-tracker is neither confirmed nor missing"
    );

    let missing: std::collections::HashSet<String> = lines
        .iter()
        .filter(|l| l.verdict == Verdict::Missing)
        .map(line_key)
        .collect();
    let queued = resend(&store, &missing, 5).await.expect("requeued");
    assert_eq!(queued, 1);
    let waiting = store
        .claim("w", common::limits(60_000), 0)
        .await
        .expect("claimed");
    let keys: Vec<&str> = waiting.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["1234567|123456|REC-2"]);
}
