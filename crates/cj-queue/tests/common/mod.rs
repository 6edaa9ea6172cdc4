//! Helpers shared by the queue's tests.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cj_graphql::tracking::{Mode, OrderCreateRequest, Orders};
use cj_queue::{BatchLimits, Claim, Entry, Kind, Outcome, QueueConfig, QueuedOrder, Sender, Store};
use cj_sandbox::Sandbox;
use cj_transport::{Credentials, RetryPolicy, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An orders client for `base` in live mode, without retries.
pub fn orders(base: &str) -> Orders {
    let transport = Transport::builder()
        .credentials(Credentials::token("queue-test-token"))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::none())
        .build()
        .expect("transport");
    Orders::new(transport, base, Mode::Live).expect("orders")
}

/// A valid new order with id `id`.
pub fn create(id: &str) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(id)
        .event_time(
            "2024-01-15T18:08:36Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("time"),
        )
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .amount("10.00".parse().expect("decimal"))
        .build()
}

/// Appends orders `{prefix}-0` to `{prefix}-{n - 1}` to `store`; returns their order ids.
pub async fn fill<S: Store>(store: &S, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    let now = jiff::Timestamp::now().as_millisecond();
    let entries = ids
        .iter()
        .map(|id| QueuedOrder::from(create(id)).to_entry(now).expect("entry"))
        .collect();
    store.append(entries).await.expect("stored");
    ids
}

/// Batches of up to 10 orders, leased for `lease_ms`.
pub fn limits(lease_ms: i64) -> BatchLimits {
    BatchLimits {
        max_orders: 10,
        max_bytes: 1 << 20,
        lease_ms,
    }
}

fn ids(batch: &[Entry]) -> Vec<i64> {
    batch.iter().map(|e| e.id).collect()
}

fn refused(message: &str) -> Outcome {
    Outcome::Rejected {
        message: message.into(),
        fields: Vec::new(),
    }
}

fn accepted() -> Outcome {
    Outcome::Accepted {
        submission_id: None,
    }
}

fn retry() -> Outcome {
    Outcome::Retry {
        at_ms: 0,
        reason: "no answer".into(),
    }
}

/// Worker "late" claims two orders of the empty store `late`; its lease runs out and worker
/// "owner" claims them again through `owner` (the same store, another connection to it, or the
/// store reopened), refuses the first and accepts the second. Then "late"'s answers arrive:
/// "accepted" for the refused order, "retry" for the accepted one. They are not recorded and are
/// counted as lost leases: the dead letter stays and the accepted order is not sent again.
pub async fn late_outcomes_are_lost<S: Store>(late: Arc<S>, owner: impl Future<Output = Arc<S>>) {
    fill(late.as_ref(), "LATE", 2).await;
    let stale = late
        .claim("late", limits(100), 1_000)
        .await
        .expect("claimed");
    let owner = owner.await;
    let batch = owner
        .claim("owner", limits(100), 2_000)
        .await
        .expect("claimed");
    assert_eq!(ids(&batch), ids(&stale), "the batch was taken over");
    let (dead, done) = (batch[0].id, batch[1].id);
    let mine = Claim::new("owner", &batch);
    let lost = owner
        .finish(
            &mine,
            vec![(dead, refused("refused by CJ")), (done, accepted())],
        )
        .await
        .expect("finished");
    assert_eq!(lost, 0, "the owner holds its claim");

    let theirs = Claim::new("late", &stale);
    assert_eq!(late.renew(&theirs, 10_000).await.expect("renewed"), 0);
    let lost = late
        .finish(&theirs, vec![(dead, accepted()), (done, retry())])
        .await
        .expect("finished");
    assert_eq!(lost, 2, "both late outcomes are lost leases");

    let letters = owner.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1, "the dead letter stays: {letters:?}");
    assert_eq!(
        (letters[0].id, letters[0].message.as_str()),
        (dead, "refused by CJ")
    );
    let stats = owner.stats().await.expect("stats");
    assert_eq!(
        (stats.waiting, stats.in_flight, stats.accepted, stats.dead),
        (0, 0, 1, 1),
        "the accepted order is not queued again"
    );
    // A settled order stays settled, even under the claim that settled it.
    let lost = owner
        .finish(&mine, vec![(done, retry())])
        .await
        .expect("finished");
    assert_eq!(lost, 1);
    let again = owner
        .claim("owner", limits(100), i64::MAX / 2)
        .await
        .expect("claimed");
    assert!(again.is_empty(), "nothing to send again: {again:?}");
}

/// A renewed lease keeps the batch from other workers past the lease's first end; once it runs
/// out unrenewed, another worker takes the batch over and the first can no longer renew it.
pub async fn renewal_keeps_the_batch<S: Store>(store: &S) {
    fill(store, "RENEW", 3).await;
    let batch = store.claim("first", limits(100), 0).await.expect("claimed");
    assert_eq!(batch.len(), 3);
    let claim = Claim::new("first", &batch);
    assert_eq!(store.renew(&claim, 1_000).await.expect("renewed"), 3);
    let other = store
        .claim("second", limits(100), 500)
        .await
        .expect("claimed");
    assert!(other.is_empty(), "still leased: {other:?}");
    let other = store
        .claim("second", limits(100), 1_001)
        .await
        .expect("claimed");
    assert_eq!(
        ids(&other),
        ids(&batch),
        "taken over when the lease ran out"
    );
    assert_eq!(store.renew(&claim, 5_000).await.expect("renewed"), 0);
}

/// A loopback proxy to `target` that holds each request for `delay` before passing it on: a slow
/// CJ. Returns its address.
pub async fn slow_proxy(target: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(request) = read_request(&mut client).await else {
                    return;
                };
                tokio::time::sleep(delay).await;
                let Ok(mut server) = TcpStream::connect(target).await else {
                    return;
                };
                let mut response = Vec::new();
                if server.write_all(&request).await.is_ok()
                    && server.read_to_end(&mut response).await.is_ok()
                {
                    let _ = client.write_all(&response).await;
                }
            });
        }
    });
    addr
}

/// One HTTP/1.1 request (with a `Content-Length` body), with `Connection: close` added so that
/// the server's answer ends where its connection does.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut need = None;
    loop {
        if need.is_none()
            && let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            need = Some(end + 4 + length);
        }
        if need.is_some_and(|n| request.len() >= n) {
            let line = request.windows(2).position(|w| w == b"\r\n")? + 2;
            request.splice(line..line, b"connection: close\r\n".iter().copied());
            return Some(request);
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&chunk[..n]);
    }
}

/// A sender of `store` through a CJ slower than three leases: it renews its lease while it
/// sends, so worker "eager" (on `other`, the same store or another connection to it) cannot
/// claim the batch meanwhile, and each order is sent once and recorded, no lease lost.
pub async fn a_slow_send_keeps_its_batch<S: Store>(store: Arc<S>, other: &S) {
    let sandbox = Sandbox::start().await.expect("sandbox");
    let lease = Duration::from_millis(450);
    let proxy = slow_proxy(sandbox.addr(), lease * 3 + lease / 2).await;
    fill(store.as_ref(), "SLOW", 5).await;
    let mut config = QueueConfig::default();
    config.lease = lease;
    config.worker = "slow".into();
    let sender = Sender::new(store, orders(&format!("http://{proxy}/tracking")), config);
    let sending = tokio::spawn(async move { sender.send_all().await });
    let watching = async {
        while other.stats().await.expect("stats").in_flight == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        while !sending.is_finished() {
            let now = jiff::Timestamp::now().as_millisecond();
            let lease_ms = lease.as_millis() as i64;
            let taken = other
                .claim("eager", limits(lease_ms), now)
                .await
                .expect("claimed");
            assert!(
                taken.is_empty(),
                "a batch being sent was taken over: {taken:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sending.await.expect("the sender finished").expect("sent")
    };
    let report = tokio::time::timeout(Duration::from_secs(20), watching)
        .await
        .expect("the slow send ended in time");
    assert_eq!((report.batches, report.accepted), (1, 5));
    assert_eq!(report.lost_leases, 0);
    let stats = other.stats().await.expect("stats");
    assert_eq!((stats.in_flight, stats.accepted), (0, 5));
    let ledger = sandbox.ledger().to_json();
    for e in ledger["orders"].as_array().expect("orders") {
        assert_eq!(
            e["history"].as_array().map(Vec::len),
            Some(1),
            "sent once: {e}"
        );
    }
}

/// Reconciliation's reads and writes on the empty store `store`: the accepted orders page by
/// id (creates, restates and cancels, not refused or waiting ones) with when CJ accepted them;
/// verdicts are recorded per order key, a later one replacing the earlier, and counted.
pub async fn accepted_orders_and_verdicts<S: Store>(store: &S) {
    use cj_graphql::reconcile::Verdict;

    let ids = fill(store, "REC", 4).await;
    let restate = cj_graphql::tracking::OrderRestateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(ids[0].as_str())
        .update_time(cj_graphql::tracking::Instant::now())
        .amount("8.00".parse().expect("decimal"))
        .build();
    let entry = QueuedOrder::from(restate)
        .to_entry(jiff::Timestamp::now().as_millisecond())
        .expect("entry");
    store.append(vec![entry]).await.expect("stored");
    let before = jiff::Timestamp::now().as_millisecond();
    // The creates, then the restate (held back until its create is settled). REC-3 is refused.
    for _ in 0..2 {
        let batch = store.claim("w", limits(60_000), 0).await.expect("claimed");
        let outcomes = batch
            .iter()
            .map(|e| {
                let outcome = if e.key.ends_with("REC-3") {
                    refused("refused by CJ")
                } else {
                    Outcome::Accepted {
                        submission_id: Some(format!("S-{}", e.id)),
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
    let after = jiff::Timestamp::now().as_millisecond();
    let mut read = Vec::new();
    let mut from = 0;
    loop {
        let page = store.accepted(from, 2).await.expect("a page");
        assert!(page.len() <= 2, "{page:?}");
        let Some(last) = page.last() else { break };
        from = last.id;
        read.extend(page);
    }
    let got: Vec<(Kind, &str)> = read.iter().map(|e| (e.kind, e.key.as_str())).collect();
    assert_eq!(
        got,
        [
            (Kind::Create, "1234567|123456|REC-0"),
            (Kind::Create, "1234567|123456|REC-1"),
            (Kind::Create, "1234567|123456|REC-2"),
            (Kind::Restate, "1234567|123456|REC-0"),
        ]
    );
    for e in &read {
        assert!(
            (before..=after).contains(&e.accepted_at_ms),
            "accepted between {before} and {after}: {e:?}"
        );
        assert_eq!(e.submission_id, Some(format!("S-{}", e.id)));
        assert!(e.payload.contains("\"orderId\""), "{}", e.payload);
    }

    assert_eq!(
        store.reconciliation().await.expect("read"),
        Default::default()
    );
    let key = |i: usize| format!("1234567|123456|REC-{i}");
    let verdicts = vec![(key(0), Verdict::Corrected), (key(1), Verdict::Missing)];
    store
        .record_verdicts(verdicts, 1_000)
        .await
        .expect("recorded");
    let verdicts = vec![
        (key(1), Verdict::Recorded),
        (key(2), Verdict::AmountDiffers),
    ];
    store
        .record_verdicts(verdicts, 2_000)
        .await
        .expect("recorded");
    let reconciled = store.reconciliation().await.expect("read");
    let counts: Vec<(&str, u64)> = reconciled
        .verdicts
        .iter()
        .map(|(v, n)| (v.as_str(), *n))
        .collect();
    assert_eq!(
        counts,
        [("amount-differs", 1), ("corrected", 1), ("recorded", 1)],
        "one verdict per order, the latest"
    );
    assert_eq!((reconciled.confirmed(), reconciled.missing()), (3, 0));
    assert_eq!(reconciled.checked_at_ms, Some(2_000));
}
