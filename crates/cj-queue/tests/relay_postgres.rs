//! Several relay instances on one PostgreSQL store: every record delivered once, in commission
//! id order, whichever instance delivers it; a dead instance's record taken over when its lease
//! runs out. Needs a server: `CJ_QUEUE_TEST_POSTGRES_URL` (CI starts one with
//! `.ci/postgres.sh`); without it these tests say so and pass on a developer's machine, but fail
//! in CI.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use cj_queue::PostgresStore;
use cj_queue::relay::{
    NewRecord, Next, PostbackMethod, PostbackTemplate, Relay, RelayCursor, RelayStore, Settle,
};

mod relay_support;
use relay_support::*;

fn database() -> Option<String> {
    match std::env::var("CJ_QUEUE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => {
            panic!("CJ_QUEUE_TEST_POSTGRES_URL must be set in CI (.ci/run starts a server)")
        }
        _ => {
            eprintln!("skipped: set CJ_QUEUE_TEST_POSTGRES_URL to run the PostgreSQL relay tests");
            None
        }
    }
}

/// A relay name no other test run uses: the tables are shared.
fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond()
    )
}

async fn instance(
    url: &str,
    name: &str,
    worker: &str,
    cj: &httpmock::MockServer,
    partner: &httpmock::MockServer,
) -> Relay<PostgresStore> {
    let store = Arc::new(PostgresStore::connect(url).await.expect("connects"));
    let mut c = config(PostbackMethod::Get);
    c.name = Some(name.into());
    c.worker = worker.into();
    c.timeout = Duration::from_secs(1);
    c.lease = Duration::from_millis(1500);
    let template =
        PostbackTemplate::parse(&format!("{}/cb?tx={{commissionId}}", partner.base_url()))
            .expect("template");
    Relay::new(
        store,
        commissions(&cj.base_url(), TOKEN),
        "7654321",
        template,
        c,
    )
    .expect("relay")
}

#[tokio::test]
async fn instances_share_the_work_and_deliver_each_record_once_in_order() {
    let Some(url) = database() else { return };
    let (cj, _, _) = cj(records(1, 40), 7).await;
    let (partner, calls) = partner(Duration::from_millis(3), |_, _| json_response(200, "ok")).await;
    let name = unique("share");
    let mut instances = Vec::new();
    for worker in ["a", "b", "c"] {
        instances.push(instance(&url, &name, worker, &cj, &partner).await);
    }
    let running = instances.iter().map(|relay| {
        tokio::time::timeout(
            Duration::from_secs(3),
            relay.run(Duration::from_millis(5), |_| {}),
        )
    });
    let ends = futures_util::future::join_all(running).await;
    assert!(ends.iter().all(Result::is_err), "no store failure");
    assert_eq!(delivered(&calls), ids(1..41), "each once, in order");
    assert_eq!(calls.lock().expect("lock").len(), 40, "no postback twice");
    let stats = instances[0].stats().await.expect("stats");
    assert_eq!(
        (stats.pending, stats.in_flight, stats.delivered),
        (0, 0, 40)
    );
}

#[tokio::test]
async fn a_record_claimed_by_a_dead_worker_is_taken_over_when_its_lease_runs_out() {
    let Some(url) = database() else { return };
    let (cj, _, _) = cj(records(1, 3), 10).await;
    let (partner, calls) = accepting_partner().await;
    let name = unique("lease");
    // The records are in line; a worker claims the first and dies before it settles.
    let dead = PostgresStore::connect(&url).await.expect("connects");
    dead.prepare_relay().await.expect("tables");
    let now = jiff::Timestamp::now();
    let page = (1..=3)
        .map(|id| NewRecord {
            commission_id: id.to_string(),
            payload: record(id, serde_json::json!({})).to_string(),
        })
        .collect();
    let cursor = RelayCursor {
        since_posting: now.into(),
        since_commission_id: Some("3".into()),
    };
    let now_ms = now.as_millisecond();
    assert_eq!(
        dead.store_page(&name, page, cursor, now_ms)
            .await
            .expect("stored"),
        3
    );
    let Next::Record(claimed) = dead
        .claim_record(&name, "dead", now_ms, 400)
        .await
        .expect("claimed")
    else {
        panic!("the first record is claimed");
    };
    assert_eq!((claimed.commission_id.as_str(), claimed.attempts), ("1", 1));

    // The survivor waits behind the claim: order is kept, and record 1 is not sent twice at once.
    let survivor = instance(&url, &name, "survivor", &cj, &partner).await;
    let report = survivor.run_once().await.expect("a round");
    assert!(report.busy, "{report:?}");
    assert_eq!(report.delivered, 0);
    assert!(calls.lock().expect("lock").is_empty());

    // The lease runs out: the survivor takes record 1 over, and the rest after it.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let report = survivor.run_once().await.expect("a round");
    assert_eq!(report.delivered, 3, "{report:?}");
    assert_eq!(delivered(&calls), ids(1..4));
    // The dead worker's late outcome is not recorded over the survivor's.
    let late = Settle::Retry {
        at_ms: now_ms,
        status: Some(503),
        reason: "late".into(),
    };
    let held = dead
        .settle_record(&name, "dead", &claimed, late, now_ms)
        .await
        .expect("settled");
    assert!(!held, "the lease was lost");
    let stats = survivor.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.delivered), (0, 3));
}

#[tokio::test]
async fn prune_deletes_old_delivered_records_in_batches_and_never_stores_them_again() {
    let Some(url) = database() else { return };
    let store = PostgresStore::connect(&url).await.expect("connects");
    store.prepare_relay().await.expect("tables");
    let name = unique("prune");
    // More than one batch of 10,000.
    delivered_at(&store, &name, 1..10_051, days_ago_ms(40)).await;
    delivered_at(&store, &name, 10_051..10_061, days_ago_ms(1)).await;
    let pruned = store
        .prune_relay(&name, days_ago_ms(30))
        .await
        .expect("pruned");
    assert_eq!(pruned, 10_050);
    let stats = store.relay_stats(&name).await.expect("stats");
    assert_eq!((stats.delivered, stats.pending), (10, 0));
    assert_eq!(
        stats
            .cursor
            .expect("a cursor")
            .since_commission_id
            .as_deref(),
        Some("10060")
    );
    // Offered again by an instance with a stale cursor: not stored, so never delivered.
    let again: Vec<NewRecord> = [7, 10_049, 10_050]
        .map(|id| NewRecord {
            commission_id: id.to_string(),
            payload: record(id, serde_json::json!({})).to_string(),
        })
        .to_vec();
    let stale = RelayCursor {
        since_posting: jiff::Timestamp::now().into(),
        since_commission_id: Some("1".into()),
    };
    let new = store
        .store_page(&name, again, stale.clone(), days_ago_ms(0))
        .await
        .expect("stored");
    assert_eq!(new, 0);
    let after = NewRecord {
        commission_id: "10061".into(),
        payload: record(10_061, serde_json::json!({})).to_string(),
    };
    let new = store
        .store_page(&name, vec![after], stale, days_ago_ms(0))
        .await
        .expect("stored");
    assert_eq!(new, 1, "a record after the pruned ones is stored");
    assert!(matches!(
        store.claim_record(&name, "w", days_ago_ms(0), 1000).await,
        Ok(Next::Record(r)) if r.commission_id == "10061"
    ));
    assert_eq!(
        store
            .prune_relay(&name, days_ago_ms(30))
            .await
            .expect("pruned"),
        0
    );
}
