//! The queue: thresholds (paused clock), sending against the sandbox, order of mutations,
//! dead letters, backpressure, and a `kill -9` in the middle of sending.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use cj_graphql::tracking::{
    OrderCancelRequest, OrderCancellationStatus, OrderRestateRequest, OrderStatus,
};
use cj_queue::{
    Backpressure, MemoryStore, OrderQueue, QueueConfig, QueueError, QueuedOrder, Sender,
    SqliteStore, Store,
};
use cj_sandbox::Sandbox;

mod common;
use common::{create, orders};

fn config() -> QueueConfig {
    let mut c = QueueConfig::default();
    // Long enough that `send_all` never resends within one call, however slow the machine:
    // a test that needs a resend sets its own delay and waits it out.
    c.retry_delay = Duration::from_secs(60);
    c
}

fn ledger_ids(sandbox: &Sandbox) -> Vec<String> {
    sandbox.ledger().to_json()["orders"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|x| x["orderId"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn entries(store: &MemoryStore, ids: &[&str]) {
    let now = jiff::Timestamp::now().as_millisecond();
    let new: Vec<_> = ids
        .iter()
        .map(|id| QueuedOrder::from(create(id)).to_entry(now).expect("entry"))
        .collect();
    store.append(new).await.expect("appended");
}

#[tokio::test(start_paused = true)]
async fn each_threshold_makes_the_queue_due() {
    // Count: the fifth order.
    let mut c = config();
    c.max_orders = 5;
    let store = Arc::new(MemoryStore::new());
    let sender = Sender::new(store.clone(), orders("http://127.0.0.1:9"), c);
    entries(&store, &["A", "B", "C", "D"]).await;
    assert!(!sender.due().await.expect("stats"));
    entries(&store, &["E"]).await;
    assert!(sender.due().await.expect("stats"));

    // Age: ten minutes after the oldest order was enqueued (on tokio's paused clock).
    let store = Arc::new(MemoryStore::new());
    let sender = Sender::new(store.clone(), orders("http://127.0.0.1:9"), config());
    let now = jiff::Timestamp::now().as_millisecond();
    let one = QueuedOrder::from(create("OLD"))
        .to_entry(now)
        .expect("entry");
    store.append(vec![one]).await.expect("appended");
    tokio::time::advance(Duration::from_secs(599)).await;
    assert!(!sender.due().await.expect("stats"));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(sender.due().await.expect("stats"));

    // Size: the bytes of the waiting orders reach the limit.
    let mut c = config();
    let one_size = QueuedOrder::from(create("S1"))
        .to_entry(0)
        .expect("entry")
        .payload
        .len() as u64;
    c.max_bytes = one_size * 3;
    let store = Arc::new(MemoryStore::new());
    let sender = Sender::new(store.clone(), orders("http://127.0.0.1:9"), c);
    entries(&store, &["S1", "S2"]).await;
    assert!(!sender.due().await.expect("stats"));
    entries(&store, &["S3"]).await;
    assert!(sender.due().await.expect("stats"));
}

#[tokio::test]
async fn the_queue_sends_when_due_and_drains_on_shutdown() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    let mut c = config();
    c.max_orders = 3;
    c.max_age = Duration::from_secs(3600);
    let queue = OrderQueue::start(MemoryStore::new(), orders(&sandbox.tracking_url()), c);
    for id in ["Q-1", "Q-2"] {
        queue.enqueue(create(id)).await.expect("stored");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        ledger_ids(&sandbox).is_empty(),
        "below every threshold nothing is sent"
    );
    queue.enqueue(create("Q-3")).await.expect("stored");
    for _ in 0..100 {
        if ledger_ids(&sandbox).len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ledger_ids(&sandbox), ["Q-1", "Q-2", "Q-3"]);
    // Let that round of sending finish, so that Q-4 is left for the shutdown to drain.
    while queue.stats().await.expect("stats").accepted < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    queue.enqueue(create("Q-4")).await.expect("stored");
    let report = queue
        .shutdown(Duration::from_secs(10))
        .await
        .expect("drained");
    assert_eq!(report.accepted, 1);
    assert_eq!(ledger_ids(&sandbox).len(), 4);
}

#[tokio::test]
async fn a_restate_and_a_cancel_follow_their_create() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    let queue = OrderQueue::start(
        MemoryStore::new(),
        orders(&sandbox.tracking_url()),
        config(),
    );
    let restate = OrderRestateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("LIFE-1")
        .update_time(
            "2024-02-01T00:00:00Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("time"),
        )
        .status(OrderStatus::Accepted)
        .build();
    let cancel = OrderCancelRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("LIFE-1")
        .update_time(
            "2024-02-02T00:00:00Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("time"),
        )
        .status(OrderCancellationStatus::Declined)
        .build();
    queue
        .enqueue_all(vec![
            create("LIFE-1").into(),
            restate.into(),
            create("OTHER-1").into(),
            cancel.into(),
        ])
        .await
        .expect("stored");
    let report = queue.flush().await.expect("sent");
    assert_eq!(report.accepted, 4);
    let ledger = sandbox.ledger().to_json();
    let life = ledger["orders"]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["orderId"] == "LIFE-1").cloned())
        .expect("LIFE-1 is in the ledger");
    let actions: Vec<&str> = life["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(actions, ["create", "restate", "cancel"]);
    assert_eq!(life["state"], "declined");
    assert_eq!(queue.stats().await.expect("stats").accepted, 4);
}

#[tokio::test]
async fn refused_orders_become_dead_letters_and_can_be_requeued() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    let queue = OrderQueue::start(
        MemoryStore::new(),
        orders(&sandbox.tracking_url()),
        config(),
    );
    let mut bad = create("BAD-1");
    bad.action_tracker_id = u32::MAX; // not a GraphQL Int: CJ refuses the request
    queue
        .enqueue_all(vec![
            create("GOOD-1").into(),
            bad.into(),
            create("GOOD-2").into(),
        ])
        .await
        .expect("stored");
    let report = queue.flush().await.expect("sent");
    assert_eq!((report.accepted, report.rejected), (2, 1));
    assert_eq!(ledger_ids(&sandbox), ["GOOD-1", "GOOD-2"]);
    let dead = queue.dead_letters().await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].order["orderId"], "BAD-1");
    assert!(
        dead[0].message.contains("actionTrackerId"),
        "{}",
        dead[0].message
    );
    assert_eq!(queue.requeue(None).await.expect("requeued"), 1);
    assert_eq!(queue.stats().await.expect("stats").waiting, 1);
    assert_eq!(
        queue.flush().await.expect("sent").rejected,
        1,
        "still refused"
    );
}

#[tokio::test]
async fn unanswered_batches_wait_to_retry_and_nothing_is_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let queue = OrderQueue::start(
        MemoryStore::new(),
        orders(&format!("http://127.0.0.1:{port}")),
        config(),
    );
    queue.enqueue(create("R-1")).await.expect("stored");
    let report = queue.flush().await.expect("tried");
    assert_eq!((report.accepted, report.retrying), (0, 1));
    let stats = queue.stats().await.expect("stats");
    assert_eq!((stats.waiting, stats.accepted, stats.dead), (1, 0, 0));
}

#[tokio::test]
async fn orders_cj_does_not_name_are_sent_again_then_dead_lettered() {
    // CJ's answer returns U-2 only: U-1 is neither accepted nor refused.
    let server = httpmock::MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path("/graphql");
            then.status(200)
                .json_body(serde_json::json!({"data": {"createOrders": {
                    "orders": [{
                        "submissionId": "s-2", "batchId": "b-1",
                        "orderReceivedTime": "2024-01-15T18:08:37Z",
                        "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
                        "orderId": "U-2", "customParameters": [], "items": []
                    }],
                    "errors": null
                }}}));
        })
        .await;
    // A delay far longer than one round, so `send_all` cannot resend U-1 within its own loop
    // however slow the machine is; the test waits it out between rounds.
    let mut c = config();
    c.retry_delay = Duration::from_millis(300);
    c.max_retry_delay = Duration::from_millis(300);
    c.max_unconfirmed_sends = 3;
    let store = Arc::new(MemoryStore::new());
    let sender = Sender::new(store.clone(), orders(&server.base_url()), c);
    entries(&store, &["U-1", "U-2"]).await;
    let mut report = sender.send_all().await.expect("sent");
    assert_eq!(
        (report.accepted, report.retrying),
        (1, 1),
        "U-1 is not accepted"
    );
    for _ in 0..10 {
        let stats = store.stats().await.expect("stats");
        if stats.waiting == 0 && stats.in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(350)).await;
        report = sender.send_all().await.expect("sent");
    }
    assert_eq!(report.rejected, 1, "the third unconfirmed send gives up");
    mock.assert_calls_async(3).await;
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.accepted, stats.dead), (1, 1));
    let dead = store.dead_letters().await.expect("dead letters");
    assert_eq!(dead[0].order["orderId"], "U-1");
    assert!(
        dead[0].message.contains("neither accepted nor refused"),
        "{}",
        dead[0].message
    );
}

#[tokio::test]
async fn a_429_or_5xx_with_graphql_errors_is_retried_not_dead_lettered() {
    for status in [429, 503] {
        let server = httpmock::MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.path("/graphql");
                then.status(status).json_body(serde_json::json!({
                    "data": null, "errors": [{"message": "Service busy"}]
                }));
            })
            .await;
        let store = Arc::new(MemoryStore::new());
        let sender = Sender::new(store.clone(), orders(&server.base_url()), config());
        entries(&store, &["BUSY-1", "BUSY-2"]).await;
        let report = sender.send_all().await.expect("sent");
        assert_eq!((report.rejected, report.retrying), (0, 2), "{status}");
        let stats = store.stats().await.expect("stats");
        assert_eq!((stats.waiting, stats.dead), (2, 0), "{status}");
    }
}

#[tokio::test]
async fn a_redirected_batch_is_neither_accepted_nor_sent_elsewhere() {
    let elsewhere = httpmock::MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(
                serde_json::json!({"data": {"createOrders": {"orders": [], "errors": []}}}),
            );
        })
        .await;
    let target = elsewhere.url("/graphql");
    for status in [301, 302, 307, 308] {
        let server = httpmock::MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.path("/graphql");
                then.status(status).header("location", target.as_str());
            })
            .await;
        let store = Arc::new(MemoryStore::new());
        let sender = Sender::new(store.clone(), orders(&server.base_url()), config());
        entries(&store, &["MOVED-1", "MOVED-2"]).await;
        let report = sender.send_all().await.expect("tried");
        assert_eq!(
            (report.accepted, report.rejected, report.retrying),
            (0, 0, 2),
            "{status}"
        );
        let stats = store.stats().await.expect("stats");
        assert_eq!(
            (stats.waiting, stats.accepted, stats.dead),
            (2, 0, 0),
            "{status}"
        );
    }
    stolen.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_token_cj_echoes_never_reaches_the_dead_letters() {
    const CANARY: &str = "CANARY-queue-4b1d-never-stored";
    let server = httpmock::MockServer::start_async().await;
    // CJ echoes it in a `RequestError` (ECHO-1), in the GraphQL errors of a request refused
    // as a whole (ECHO-2), and in the body of an HTTP error (ECHO-3).
    server
        .mock_async(|when, then| {
            when.path("/graphql").body_includes("ECHO-1");
            then.status(200)
                .json_body(serde_json::json!({"data": {"createOrders": {
                    "orders": [],
                    "errors": [{"message": format!("Not Authenticated: {CANARY} for newOrders[0]"),
                                "fields": [format!("newOrders[0].{CANARY}")]}]
                }}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/graphql").body_includes("ECHO-2");
            then.status(200)
                .json_body(serde_json::json!({"data": null, "errors": [{
                    "message": format!("Validation error: bad input from {CANARY}"),
                    "extensions": {"token": CANARY}
                }]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/graphql").body_includes("ECHO-3");
            then.status(400)
                .body(format!(r#"{{"message":"bad request with key {CANARY}"}}"#));
        })
        .await;
    let transport = cj_transport::Transport::builder()
        .credentials(cj_transport::Credentials::token(CANARY))
        .retry(cj_transport::RetryPolicy::none())
        .build()
        .expect("transport");
    let orders = cj_graphql::tracking::Orders::new(
        transport,
        &server.base_url(),
        cj_graphql::tracking::Mode::Live,
    )
    .expect("orders");
    let dir = std::env::temp_dir().join(format!("cj-queue-canary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("queue.sqlite");
    let store = Arc::new(SqliteStore::open(&path).expect("store"));
    let sender = Sender::new(store.clone(), orders, config());
    // One batch each.
    for id in ["ECHO-1", "ECHO-2", "ECHO-3"] {
        let now = jiff::Timestamp::now().as_millisecond();
        let entry = QueuedOrder::from(create(id)).to_entry(now).expect("entry");
        store.append(vec![entry]).await.expect("stored");
        assert_eq!(sender.send_all().await.expect("sent").rejected, 1, "{id}");
    }
    let dead = store.dead_letters().await.expect("dead letters");
    assert_eq!(dead.len(), 3);
    let kept = format!("{dead:?} {}", serde_json::to_string(&dead).expect("json"));
    assert!(!kept.contains(CANARY), "{kept}");
    for echo in [
        "Not Authenticated: [REDACTED]",
        "bad input from [REDACTED]",
        "bad request with key [REDACTED]",
    ] {
        assert!(kept.contains(echo), "{echo}: {kept}");
    }
    drop(sender);
    drop(store);
    let on_disk = std::fs::read(&path).expect("the store file");
    assert!(
        !on_disk
            .windows(CANARY.len())
            .any(|w| w == CANARY.as_bytes()),
        "the token is in the store file"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn invalid_orders_are_refused_and_a_full_store_can_refuse() {
    let queue = OrderQueue::start(MemoryStore::new(), orders("http://127.0.0.1:9"), config());
    let err = queue
        .enqueue(create("has space"))
        .await
        .expect_err("invalid");
    assert!(matches!(err, QueueError::Invalid(_)), "{err:?}");
    assert_eq!(queue.stats().await.expect("stats").waiting, 0);

    let mut c = config();
    c.max_store_bytes = 10;
    c.backpressure = Backpressure::Fail;
    c.max_age = Duration::from_secs(3600);
    let full = OrderQueue::start(MemoryStore::new(), orders("http://127.0.0.1:9"), c);
    full.enqueue(create("F-1")).await.expect("the first fits");
    let err = full.enqueue(create("F-2")).await.expect_err("full");
    assert!(matches!(err, QueueError::Full { .. }), "{err:?}");
}

#[tokio::test]
async fn a_full_store_makes_enqueue_wait_until_the_sender_makes_room() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    let mut c = config();
    let size = QueuedOrder::from(create("W-0"))
        .to_entry(0)
        .expect("entry")
        .payload
        .len() as u64;
    c.max_store_bytes = size * 2;
    c.max_age = Duration::from_secs(3600); // no threshold but the store's limit
    let queue = OrderQueue::start(MemoryStore::new(), orders(&sandbox.tracking_url()), c);
    for i in 0..6 {
        let id = format!("W-{i}");
        tokio::time::timeout(Duration::from_secs(10), queue.enqueue(create(&id)))
            .await
            .expect("enqueue waits for room, then stores")
            .expect("stored");
    }
    let stats = queue.stats().await.expect("stats");
    assert!(
        stats.waiting <= 2,
        "never more than the limit waits: {stats:?}"
    );
    assert!(
        ledger_ids(&sandbox).len() >= 4,
        "the sender made room by sending"
    );
}

#[tokio::test]
async fn shutdown_keeps_its_deadline_and_unsent_orders_stay_stored() {
    // A server that takes connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let dir = std::env::temp_dir().join(format!("cj-queue-deadline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("queue.sqlite");
    let _ = std::fs::remove_file(&path);
    let queue = OrderQueue::open(&path, orders(&url), config()).expect("opens");
    queue.enqueue(create("SLOW-1")).await.expect("stored");
    let started = std::time::Instant::now();
    let report = queue
        .shutdown(Duration::from_millis(300))
        .await
        .expect("shut down");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.accepted, 0);
    held.abort();
    let stats = SqliteStore::open(&path)
        .expect("reopens")
        .stats()
        .await
        .expect("stats");
    assert_eq!(
        (stats.waiting, stats.accepted),
        (1, 0),
        "the unsent order is still there"
    );
}

#[tokio::test]
async fn a_durable_store_keeps_orders_across_reopening() {
    let dir = std::env::temp_dir().join(format!("cj-queue-reopen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("queue.sqlite");
    let _ = std::fs::remove_file(&path);
    {
        let store = SqliteStore::open(&path).expect("opens");
        let new = QueuedOrder::from(create("D-1")).to_entry(1).expect("entry");
        store.append(vec![new]).await.expect("stored");
        let claimed = store
            .claim(
                "w",
                cj_queue::BatchLimits {
                    max_orders: 10,
                    max_bytes: 1 << 20,
                    lease_ms: 60_000,
                },
                2,
            )
            .await
            .expect("claimed");
        assert_eq!(claimed.len(), 1);
        // The process "dies" with the order in flight.
    }
    let store = SqliteStore::open(&path).expect("reopens");
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.waiting, stats.in_flight),
        (1, 0),
        "in-flight orders are waiting again"
    );
}

/// The child of the crash test: enqueues orders one by one, printing each acknowledgement,
/// while its sender sends small batches; the parent kills it with SIGKILL.
#[tokio::test]
#[ignore = "run by crash_test_kill_9_loses_no_acknowledged_order"]
async fn crash_child() {
    let (Ok(path), Ok(url), Ok(life)) = (
        std::env::var("CJ_QUEUE_CHILD_STORE"),
        std::env::var("CJ_QUEUE_CHILD_URL"),
        std::env::var("CJ_QUEUE_CHILD_LIFE"),
    ) else {
        return;
    };
    let store = SqliteStore::open(std::path::Path::new(&path)).expect("store");
    let mut c = config();
    c.max_orders = 25;
    c.max_age = Duration::from_millis(20);
    let queue = OrderQueue::start(store, orders(&url), c);
    let mut out = std::io::stdout();
    for i in 0.. {
        let id = format!("CRASH-{life}-{i}");
        queue.enqueue(create(&id)).await.expect("stored");
        let _ = writeln!(out, "ACK {id}");
        let _ = out.flush();
    }
}

#[tokio::test]
async fn crash_test_kill_9_loses_no_acknowledged_order() {
    let sandbox = Sandbox::start().await.expect("sandbox");
    let dir = std::env::temp_dir().join(format!("cj-queue-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("queue.sqlite");
    let _ = std::fs::remove_file(&path);
    let mut acked = Vec::new();
    // Three lives, each killed in the middle of enqueueing and sending.
    for life in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CJ_QUEUE_CHILD_STORE", &path)
            .env("CJ_QUEUE_CHILD_URL", sandbox.tracking_url())
            .env("CJ_QUEUE_CHILD_LIFE", life.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the child starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let target = 120 + life * 37;
        let mut seen = 0;
        while seen < target {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(id) = line.strip_prefix("ACK ") {
                        acked.push(id.to_string());
                        seen += 1;
                    }
                }
                _ => break,
            }
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // Acknowledgements printed before the kill landed still count.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.to_string());
            }
        }
    }
    // Restart: send everything left.
    let store = Arc::new(SqliteStore::open(&path).expect("reopens"));
    let sender = Sender::new(store.clone(), orders(&sandbox.tracking_url()), config());
    sender.send_all().await.expect("sent");
    assert_eq!(store.stats().await.expect("stats").waiting, 0);
    let delivered: std::collections::HashSet<String> = ledger_ids(&sandbox).into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !delivered.contains(*id)).collect();
    assert!(acked.len() >= 120 * 3, "{} acknowledgements", acked.len());
    assert!(
        lost.is_empty(),
        "{} acknowledged orders lost: {lost:?}",
        lost.len()
    );
}

/// The queue checks an order's time against the `Orders` client's clock skew: a time a second
/// ahead of this host's clock is accepted by default (5 minutes), refused with none allowed.
#[tokio::test]
async fn the_queue_checks_times_with_the_clients_clock_skew() {
    let ahead = || {
        let mut order = create("SKEW-1");
        let soon = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(1))
            .expect("a time");
        order.event_time = Some(soon.into());
        order
    };
    let queue = OrderQueue::start(MemoryStore::new(), orders("http://127.0.0.1:9"), config());
    queue
        .enqueue(ahead())
        .await
        .expect("a second ahead: clock skew");

    let exact = orders("http://127.0.0.1:9").with_clock_skew(Duration::ZERO);
    let queue = OrderQueue::start(MemoryStore::new(), exact, config());
    let err = queue.enqueue(ahead()).await.expect_err("none allowed");
    let QueueError::Invalid(invalid) = err else {
        panic!("{err:?}");
    };
    assert_eq!(invalid.problems[0].field, "eventTime", "{invalid}");
}
