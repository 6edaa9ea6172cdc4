//! The postback relay against a Commission Detail mock and a loopback partner: every record
//! once and in commission id order, GET templates and POST bodies as a partner sees them,
//! retries while the partner is down, dead letters, the CJ token kept from the partner, and a
//! `kill -9` in the middle of delivering.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use cj_queue::SqliteStore;
use cj_queue::relay::{PostbackMethod, PostbackTemplate, Relay, RelayConfig, RelayReport};
use httpmock::MockServer;
use serde_json::{Value, json};

mod common;
mod relay_support;
use relay_support::*;

fn relay(
    path: &std::path::Path,
    cj: &MockServer,
    template: &str,
    config: RelayConfig,
) -> Relay<SqliteStore> {
    let store = Arc::new(SqliteStore::open(path).expect("store"));
    let template = PostbackTemplate::parse(template).expect("template");
    Relay::new(
        store,
        commissions(&cj.base_url(), TOKEN),
        "7654321",
        template,
        config,
    )
    .expect("relay")
}

/// Rounds until the line is empty (or 10 s pass).
async fn until_settled(relay: &Relay<SqliteStore>) -> Vec<RelayReport> {
    let mut reports = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = relay.run_once().await.expect("a round");
        let waiting = report.next_attempt.is_some();
        reports.push(report);
        let stats = relay.stats().await.expect("stats");
        if !waiting && stats.pending == 0 && stats.in_flight == 0 {
            return reports;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Five records over two pages: originals with awkward shopper ids, and a correction of 101.
fn five_records() -> Vec<Value> {
    vec![
        record(101, json!({"shopperId": "aspire click/1 & more"})),
        record(
            102,
            json!({"shopperId": "ñandú+1=2?#frag", "saleAmountPubCurrency": "20.00", "pubCommissionAmountPubCurrency": "2.00"}),
        ),
        record(103, json!({"shopperId": null, "orderId": "ORD 103;x"})),
        record(
            104,
            json!({
                "original": false, "originalActionId": "101", "orderId": "ORD-101",
                "shopperId": "aspire click/1 & more",
                "correctionReason": "RETURNED_MERCHANDISE", "actionStatus": "extended",
                "saleAmountPubCurrency": "-74.99", "saleAmountUsd": "-74.99",
                "pubCommissionAmountPubCurrency": "-7.50", "pubCommissionAmountUsd": "-7.50",
                "postingDate": "2026-01-07T09:30:00.5Z"
            }),
        ),
        record(105, json!({"actionStatus": "locked"})),
    ]
}

#[tokio::test]
async fn every_record_is_delivered_once_in_commission_id_order() {
    let (cj, ledger, queries) = cj(five_records(), 3).await;
    let (partner, calls) = accepting_partner().await;
    let config = config(PostbackMethod::Get);
    let since = config
        .since_posting
        .expect("set")
        .timestamp()
        .as_millisecond();
    let since = jiff::Timestamp::from_millisecond(since)
        .expect("time")
        .to_string();
    let relay = relay(&sqlite_path("order"), &cj, &get_template(&partner), config);

    let report = relay.run_once().await.expect("a round");
    assert!(report.fetch_error.is_none(), "{:?}", report.fetch_error);
    assert_eq!(
        (report.pages, report.fetched, report.new, report.delivered),
        (2, 5, 5, 5)
    );
    assert_eq!(delivered(&calls), ids(101..106));
    let uris: Vec<String> = calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| format!("{} {}", c.method, c.uri))
        .collect();
    insta::assert_snapshot!(uris.join("\n"));

    // First from the start time, then CJ's watermark.
    let vars = queries.lock().expect("lock").clone();
    assert_eq!(vars.len(), 2);
    assert_eq!(vars[0]["forPublishers"], json!(["7654321"]));
    assert_eq!(vars[0]["sincePostingDate"], since);
    assert!(vars[0]["sinceCommissionId"].is_null(), "{}", vars[0]);
    assert_eq!(vars[1]["sinceCommissionId"], "103");

    // Nothing twice: the next round asks after 105 and delivers only what CJ posted since.
    ledger.lock().expect("lock").push(record(106, json!({})));
    let report = relay.run_once().await.expect("a round");
    assert_eq!((report.new, report.delivered), (1, 1));
    assert_eq!(delivered(&calls), ids(101..107));
    let vars = queries.lock().expect("lock").clone();
    assert_eq!(vars[2]["sinceCommissionId"], "105");
    assert_eq!(
        vars[2]["sincePostingDate"], since,
        "the start stays within the lookback"
    );

    // Another process on the same store carries on from the stored cursor.
    drop(relay);
    let again = self::relay(
        &std::env::temp_dir()
            .join(format!("cj-relay-{}", std::process::id()))
            .join("order.sqlite"),
        &cj,
        &get_template(&partner),
        self::config(PostbackMethod::Get),
    );
    let report = again.run_once().await.expect("a round");
    assert_eq!((report.new, report.delivered), (0, 0));
    assert_eq!(
        queries.lock().expect("lock").last().expect("a query")["sinceCommissionId"],
        "106"
    );
    let stats = again.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.delivered, stats.dead), (0, 6, 0));
}

#[tokio::test]
async fn post_sends_each_record_as_json_with_cj_field_names() {
    let (cj, _, _) = cj(five_records(), 10).await;
    let (partner, calls) = accepting_partner().await;
    let relay = relay(
        &sqlite_path("post"),
        &cj,
        &format!("{}/cj/{{publisherId}}", partner.base_url()),
        config(PostbackMethod::Post),
    );
    let report = relay.run_once().await.expect("a round");
    assert_eq!(report.delivered, 5);
    let calls = calls.lock().expect("lock").clone();
    assert!(
        calls
            .iter()
            .all(|c| c.method == "POST" && c.uri == "/cj/7654321")
    );
    assert!(calls.iter().all(|c| {
        c.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/json")
    }));
    // The correction, as the partner reads it: CJ's names, exact negative amounts.
    let correction: Value = serde_json::from_str(&calls[3].body).expect("JSON");
    insta::assert_json_snapshot!(correction);
}

#[tokio::test]
async fn a_partner_down_for_a_while_gets_everything_after_it_recovers() {
    let (cj, _, _) = cj(five_records(), 3).await;
    // Down for the first four postbacks: three 503s and a 429.
    let (partner, calls) = partner(Duration::ZERO, |_, n| match n {
        0..3 => json_response(503, "down for maintenance"),
        3 => json_response(429, "slow down"),
        _ => json_response(200, "ok"),
    })
    .await;
    let relay = relay(
        &sqlite_path("recovers"),
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let reports = until_settled(&relay).await;
    assert_eq!(delivered(&calls), ids(101..106), "each once, in order");
    let tried: Vec<String> = calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(
        &tried[..5],
        ["101"; 5],
        "later records wait behind the first"
    );
    assert_eq!(reports.iter().map(|r| r.retrying).sum::<u64>(), 4);
    assert!(relay.dead_letters().await.expect("dead letters").is_empty());
}

#[tokio::test]
async fn a_refused_record_is_a_dead_letter_and_can_be_retried() {
    let (cj, _, _) = cj(five_records(), 10).await;
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fixed_now = fixed.clone();
    let (partner, calls) = partner(Duration::ZERO, move |id, _| {
        if fixed_now.load(std::sync::atomic::Ordering::SeqCst) {
            return json_response(200, "ok");
        }
        match id {
            "102" => json_response(
                404,
                "unknown click. Authorization: Bearer partner-secret-key-123 was not accepted",
            ),
            "104" => json_response(400, "bad amount"),
            _ => json_response(200, "ok"),
        }
    })
    .await;
    let relay = relay(
        &sqlite_path("dead"),
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let report = relay.run_once().await.expect("a round");
    assert_eq!((report.delivered, report.dead, report.retrying), (3, 2, 0));
    assert_eq!(delivered(&calls), ["101", "103", "105"]);

    let dead = relay.dead_letters().await.expect("dead letters");
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(
        (dead[0].commission_id.as_str(), dead[0].status),
        ("102", Some(404))
    );
    assert!(dead[0].reason.contains("HTTP 404"), "{}", dead[0].reason);
    let body = dead[0].body.as_deref().expect("the start of the answer");
    assert!(body.starts_with("unknown click."), "{body}");
    assert!(!body.contains("partner-secret-key-123"), "redacted: {body}");
    assert_eq!(
        dead[0].record["shopperId"], "ñandú+1=2?#frag",
        "the whole record"
    );
    assert_eq!(
        (dead[1].commission_id.as_str(), dead[1].status),
        ("104", Some(400))
    );
    assert_eq!(calls.lock().expect("lock").len(), 5);

    // The partner fixed its side: retry one, then the rest.
    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        relay
            .retry_dead_letters(Some(vec!["104".into()]))
            .await
            .expect("retried"),
        1
    );
    let report = relay.run_once().await.expect("a round");
    assert_eq!(report.delivered, 1);
    assert_eq!(relay.retry_dead_letters(None).await.expect("retried"), 1);
    let report = relay.run_once().await.expect("a round");
    assert_eq!(report.delivered, 1);
    assert_eq!(delivered(&calls), ["101", "103", "105", "104", "102"]);
    assert!(relay.dead_letters().await.expect("dead letters").is_empty());
}

#[tokio::test]
async fn a_partner_redirect_keeps_the_backlog_waiting() {
    // http to https, say: the URL is wrong, not the records.
    let (cj, _, _) = cj(five_records(), 10).await;
    let (elsewhere, moved) = accepting_partner().await;
    let target = elsewhere.url("/moved");
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fixed_now = fixed.clone();
    let (partner, calls) = partner(Duration::ZERO, move |id, _| {
        if id == "101" || fixed_now.load(std::sync::atomic::Ordering::SeqCst) {
            return json_response(200, "ok");
        }
        httpmock::HttpMockResponse::builder()
            .status(301)
            .header("location", target.as_str())
            .build()
    })
    .await;
    let relay = relay(
        &sqlite_path("redirect"),
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let report = relay.run_once().await.expect("a round");
    assert_eq!((report.delivered, report.dead, report.retrying), (1, 0, 1));
    let why = report
        .redirected
        .as_deref()
        .expect("the redirect is reported");
    assert!(
        why.contains("HTTP 301") && why.contains("/moved") && why.contains("postback URL"),
        "{why}"
    );
    assert_eq!(
        calls.lock().expect("lock").len(),
        2,
        "the round stops at the first redirect"
    );
    assert!(moved.lock().expect("lock").is_empty(), "not followed");
    assert!(report.next_attempt.is_some(), "the head waits for a retry");
    let stats = relay.stats().await.expect("stats");
    assert_eq!((stats.pending, stats.dead, stats.delivered), (4, 0, 1));
    assert!(relay.dead_letters().await.expect("dead letters").is_empty());

    // Redirects again and again never make dead letters; once the URL works, all go.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let report = relay.run_once().await.expect("a round");
        assert_eq!(report.dead, 0);
    }
    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    until_settled(&relay).await;
    assert_eq!(delivered(&calls), ["101", "102", "103", "104", "105"]);
    assert!(relay.dead_letters().await.expect("dead letters").is_empty());
}

#[tokio::test]
async fn a_partner_echoing_the_cj_token_has_it_scrubbed_from_dead_letters() {
    let (cj, _, _) = cj(records(1, 1), 10).await;
    let echo = format!("who is {TOKEN}? also {{\"key\":\"{TOKEN}\"}}");
    let (partner, _calls) = partner(Duration::ZERO, move |_, _| json_response(403, &echo)).await;
    let relay = relay(
        &sqlite_path("echo"),
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let report = relay.run_once().await.expect("a round");
    assert_eq!(report.dead, 1);
    let dead = relay.dead_letters().await.expect("dead letters");
    let body = dead[0].body.as_deref().expect("the start of the answer");
    assert!(body.starts_with("who is [REDACTED]?"), "{body}");
    assert!(!body.contains(TOKEN), "scrubbed: {body}");
    let shown = format!("{dead:?} {}", serde_json::to_string(&dead).expect("json"));
    assert!(!shown.contains(TOKEN), "{shown}");
}

#[tokio::test]
async fn a_page_whose_cursor_goes_back_is_not_stored_nor_delivered() {
    // The second page's maxCommissionId goes back before the first's: the walk refuses it.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method("POST").path("/query");
            then.respond_with(|req: &httpmock::HttpMockRequest| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                let (records, max) = match body["variables"]["sinceCommissionId"].as_str() {
                    None => (records(1, 2), "2"),
                    Some(_) => (records(3, 2), "1"),
                };
                let answer = json!({"data": {"publisherCommissions": {
                    "count": 2, "limit": 2, "maxCommissionId": max,
                    "payloadComplete": false, "records": records
                }}});
                json_response(200, &answer.to_string())
            });
        })
        .await;
    let (partner, calls) = accepting_partner().await;
    let relay = relay(
        &sqlite_path("backwards"),
        &server,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let report = relay.run_once().await.expect("a round");
    assert!(
        matches!(&report.fetch_error, Some(cj_transport::Error::Paging(m)) if m.contains("not after")),
        "{:?}",
        report.fetch_error
    );
    assert_eq!((report.pages, report.new, report.delivered), (1, 2, 2));
    assert_eq!(delivered(&calls), ["1", "2"]);
    let stats = relay.stats().await.expect("stats");
    assert_eq!(stats.pending + stats.in_flight + stats.dead, 0, "{stats:?}");
    let cursor = stats.cursor.expect("a cursor");
    assert_eq!(cursor.since_commission_id.as_deref(), Some("2"));
}

#[tokio::test]
async fn timeouts_refused_connections_and_5xx_are_retried_a_bounded_number_of_times() {
    let (cj, _, _) = cj(records(1, 1), 10).await;
    // A refused connection: the discard port, where nobody listens (a port freed by this test
    // could be taken by another test's server meanwhile).
    let mut c = config(PostbackMethod::Get);
    c.max_attempts = 2;
    let relay = relay(
        &sqlite_path("refused"),
        &cj,
        "http://127.0.0.1:9/cb?tx={commissionId}",
        c,
    );
    let first = relay.run_once().await.expect("a round");
    assert_eq!((first.retrying, first.dead), (1, 0));
    assert!(first.next_attempt.is_some());
    let reports = until_settled(&relay).await;
    assert_eq!(reports.iter().map(|r| r.dead).sum::<u64>(), 1);
    let dead = relay.dead_letters().await.expect("dead letters");
    assert_eq!(dead[0].attempts, 2);
    assert!(
        dead[0]
            .reason
            .starts_with("gave up after 2 attempts: could not connect"),
        "{}",
        dead[0].reason
    );
    assert!(
        !dead[0].reason.contains("127.0.0.1"),
        "no URL: {}",
        dead[0].reason
    );

    // A partner slower than the timeout: retried.
    let slow = MockServer::start_async().await;
    slow.mock_async(|_, then| {
        then.status(200).delay(Duration::from_millis(800));
    })
    .await;
    let mut c = config(PostbackMethod::Get);
    c.timeout = Duration::from_millis(200);
    let relay = self::relay(
        &sqlite_path("slow"),
        &cj,
        &format!("{}/cb?tx={{commissionId}}", slow.base_url()),
        c,
    );
    let first = relay.run_once().await.expect("a round");
    assert_eq!((first.retrying, first.dead), (1, 0), "a timeout is retried");

    // A partner answering 500: retried, then a dead letter with the status.
    let (failing, calls) = partner(Duration::ZERO, |_, _| json_response(500, "boom")).await;
    let mut c = config(PostbackMethod::Get);
    c.max_attempts = 3;
    let relay = self::relay(
        &sqlite_path("failing"),
        &cj,
        &format!("{}/cb?tx={{commissionId}}", failing.base_url()),
        c,
    );
    until_settled(&relay).await;
    let dead = relay.dead_letters().await.expect("dead letters");
    assert_eq!((dead[0].status, dead[0].attempts), (Some(500), 3));
    assert!(
        dead[0].reason.contains("gave up after 3 attempts"),
        "{}",
        dead[0].reason
    );
    assert_eq!(dead[0].body.as_deref(), Some("boom"));
    assert_eq!(calls.lock().expect("lock").len(), 3);
}

#[tokio::test]
async fn the_cj_token_never_reaches_the_partner() {
    // CJ echoes the token in a record: the transport scrubs it before anything reads it.
    let canary = TOKEN;
    let echo = record(
        1,
        json!({"clickReferringURL": format!("https://x.example/?t={canary}"), "shopperId": canary}),
    );
    let (cj, _, queries) = cj(vec![echo, record(2, json!({}))], 10).await;
    let (partner, calls) = partner(Duration::ZERO, |id, _| match id {
        "2" => json_response(400, "bad"),
        _ => json_response(200, "ok"),
    })
    .await;
    let path = sqlite_path("token");
    for (name, method, template) in [
        (
            "get",
            PostbackMethod::Get,
            format!(
                "{}/cb?tx={{commissionId}}&click={{shopperId}}&ref={{clickReferringURL}}",
                partner.base_url()
            ),
        ),
        (
            "post",
            PostbackMethod::Post,
            format!("{}/cb", partner.base_url()),
        ),
    ] {
        let mut c = config(method);
        c.name = Some(name.into());
        let relay = relay(&path, &cj, &template, c);
        let report = relay.run_once().await.expect("a round");
        assert_eq!((report.delivered, report.dead), (1, 1));
    }
    assert_eq!(
        queries.lock().expect("lock").len(),
        2,
        "CJ was asked with the token"
    );
    let calls = calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 4);
    for call in &calls {
        let everything = format!(
            "{} {} {:?} {}",
            call.method, call.uri, call.headers, call.body
        );
        assert!(!everything.contains(canary), "{everything}");
        assert!(
            !call
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization")),
            "{everything}"
        );
    }
    assert!(calls[0].uri.contains("%5BREDACTED%5D"), "{}", calls[0].uri);
    // Nor is it in the store.
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(canary));
    }
}

#[test]
fn an_unknown_placeholder_is_refused_before_anything_runs() {
    let err = "https://partner.example/cb?tx={transactionId}&sale={saleAmountPubCurrency}"
        .parse::<PostbackTemplate>()
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "unknown placeholder {transactionId}: not a field of CJ's publisher commission record"
    );
}

/// The child of the crash test: relays until killed.
#[tokio::test]
#[ignore = "run by crash_test_kill_9_redelivers_at_most_the_record_in_flight"]
async fn relay_crash_child() {
    let (Ok(path), Ok(cj), Ok(partner)) = (
        std::env::var("CJ_RELAY_CHILD_STORE"),
        std::env::var("CJ_RELAY_CHILD_CJ"),
        std::env::var("CJ_RELAY_CHILD_PARTNER"),
    ) else {
        return;
    };
    let store = Arc::new(SqliteStore::open(std::path::Path::new(&path)).expect("store"));
    let template =
        PostbackTemplate::parse(&format!("{partner}/cb?tx={{commissionId}}")).expect("template");
    let relay = Relay::new(
        store,
        commissions(&cj, TOKEN),
        "7654321",
        template,
        config(PostbackMethod::Get),
    )
    .expect("relay");
    let mut out = std::io::stdout();
    let _ = writeln!(out, "STARTED");
    let _ = out.flush();
    // A guard in case the parent dies without killing this child.
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        relay.run(Duration::from_millis(20), |_| {}),
    )
    .await;
}

#[tokio::test]
async fn crash_test_kill_9_redelivers_at_most_the_record_in_flight() {
    const RECORDS: u64 = 60;
    let (cj, _, _) = cj(records(1, RECORDS), 20).await;
    // A partner that takes a while to answer, so that kills land mid-delivery.
    let (partner, calls) =
        partner(Duration::from_millis(15), |_, _| json_response(200, "ok")).await;
    let path = sqlite_path("crash");
    let kills = 3;
    for life in 0..kills {
        let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "relay_crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CJ_RELAY_CHILD_STORE", &path)
            .env("CJ_RELAY_CHILD_CJ", cj.base_url())
            .env("CJ_RELAY_CHILD_PARTNER", partner.base_url())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the child starts");
        let stdout = child.stdout.take().expect("stdout");
        let started = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("STARTED"));
        assert!(started, "the child did not start");
        let target = 12 + life * 15;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while calls.lock().expect("lock").len() < target {
            assert!(
                std::time::Instant::now() < deadline,
                "the child delivers nothing"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
    // Restart: deliver everything left.
    let relay = relay(
        &path,
        &cj,
        &format!("{}/cb?tx={{commissionId}}", partner.base_url()),
        config(PostbackMethod::Get),
    );
    until_settled(&relay).await;
    let received: Vec<String> = calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| c.id.clone())
        .collect();
    for id in ids(1..RECORDS + 1) {
        assert!(received.contains(&id), "record {id} was never delivered");
    }
    let duplicates = received.len() as u64 - RECORDS;
    assert!(
        duplicates <= kills as u64,
        "{duplicates} duplicates for {kills} kills: {received:?}"
    );
    eprintln!("{duplicates} duplicate(s) after {kills} kills");
}

#[tokio::test]
async fn relay_against_the_sandbox_delivers_its_seeded_and_live_commissions_once_in_order() {
    use cj_graphql::commissions::PublisherCommission;
    use cj_sandbox::{SANDBOX_PUBLISHER_ID, Sandbox};
    use futures_util::TryStreamExt;

    let sandbox = Sandbox::start().await.expect("sandbox");
    // Live orders become records after the seeded ones.
    let orders = common::orders(&sandbox.tracking_url());
    let sent = orders
        .create(&[common::create("RELAY-1"), common::create("RELAY-2")])
        .await
        .expect("sent");
    assert!(sent.is_success(), "{sent:?}");
    // A partner that is down for its first two postbacks.
    let (partner, calls) = partner(Duration::ZERO, |_, n| match n {
        0..2 => json_response(503, "starting up"),
        _ => json_response(200, "ok"),
    })
    .await;
    let api = commissions(&sandbox.commissions_url(), TOKEN);
    let mut c = config(PostbackMethod::Get);
    let since: cj_graphql::commissions::Instant = "2026-03-01".parse().expect("date");
    c.since_posting = Some(since);
    let template = PostbackTemplate::parse(&get_template(&partner)).expect("template");
    let relay = Relay::new(
        Arc::new(SqliteStore::open(&sqlite_path("sandbox")).expect("store")),
        api.clone(),
        SANDBOX_PUBLISHER_ID,
        template,
        c,
    )
    .expect("relay");
    until_settled(&relay).await;

    // What the sandbox holds for the publisher, read with the SDK's own stream.
    let held: Vec<PublisherCommission> = api
        .publisher([SANDBOX_PUBLISHER_ID])
        .since_posting(since)
        .before_posting(cj_graphql::commissions::Instant::now())
        .stream()
        .try_collect()
        .await
        .expect("the sandbox's records");
    let mut expected: Vec<u64> = held
        .iter()
        .map(|r| r.commission_id.parse().expect("digits"))
        .collect();
    expected.sort_unstable();
    assert!(expected.len() >= 6, "seeded and live records: {expected:?}");
    let expected: Vec<String> = expected.iter().map(u64::to_string).collect();
    assert_eq!(
        delivered(&calls),
        expected,
        "each once, in commission id order"
    );
    let seeded_correction = held
        .iter()
        .find(|r| !r.original && r.order_id.as_deref() == Some("ACME-2026-0001"))
        .expect("the seed's correction");
    let uri = |id: &str| {
        calls
            .lock()
            .expect("lock")
            .iter()
            .rev()
            .find(|c| c.id == id)
            .map(|c| c.uri.clone())
            .unwrap_or_default()
    };
    let correction_uri = uri(&seeded_correction.commission_id);
    assert!(
        correction_uri.contains("&sale=-74.99&") && correction_uri.contains("&original=false&"),
        "{correction_uri}"
    );

    // A restate CJ processes later is corrections of its own (as CJ shows a restatement: a
    // reversal to zero, then the new state): the next round relays them alone.
    let restate = cj_graphql::tracking::OrderRestateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("RELAY-1")
        .update_time(cj_graphql::tracking::Instant::now())
        .amount("4.00".parse().expect("amount"))
        .build();
    assert!(orders.restate(&[restate]).await.expect("sent").is_success());
    let before = delivered(&calls).len();
    until_settled(&relay).await;
    let now = delivered(&calls);
    assert_eq!(now.len(), before + 2, "only the new corrections: {now:?}");
    for (id, sale) in now[before..].iter().zip(["-10.00", "4.00"]) {
        let correction = uri(id);
        assert!(
            correction.contains("order=RELAY-1")
                && correction.contains(&format!("&sale={sale}&"))
                && correction.contains("&original=false&"),
            "{correction}"
        );
    }
}

fn file_size(path: &std::path::Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |m| m.len())
        })
        .sum()
}

fn auto_vacuum(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("opens");
    conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0))
        .expect("pragma")
}

#[tokio::test]
async fn prune_deletes_old_delivered_records_gives_the_space_back_and_never_redelivers() {
    use cj_queue::relay::{NewRecord, Next, RelayCursor, RelayStore, Settle};
    let path = sqlite_path("prune");
    // A partner-less relay name as `relay()` builds it: the publisher's CID.
    let name = "7654321";
    // A file made before stores gave space back: written before the store opens it, it
    // keeps `auto_vacuum = NONE` until its first prune.
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch("CREATE TABLE earlier (id INTEGER)"))
        .expect("an earlier file");
    let store = SqliteStore::open(&path).expect("store");
    store.prepare_relay().await.expect("tables");
    assert_eq!(auto_vacuum(&path), 0, "a file made as before");
    delivered_at(&store, name, 1..1001, days_ago_ms(40)).await;
    delivered_at(&store, name, 1001..1051, days_ago_ms(1)).await;
    // An old dead letter stays.
    let cursor = RelayCursor {
        since_posting: jiff::Timestamp::now().into(),
        since_commission_id: Some("1051".into()),
    };
    let dead = NewRecord {
        commission_id: "1051".into(),
        payload: record(1051, json!({})).to_string(),
    };
    store
        .store_page(name, vec![dead], cursor.clone(), days_ago_ms(40))
        .await
        .expect("stored");
    let Next::Record(claimed) = store
        .claim_record(name, "w", days_ago_ms(40), 1000)
        .await
        .expect("claimed")
    else {
        panic!("no record");
    };
    let refused = Settle::Dead {
        status: Some(404),
        reason: "refused".into(),
        body: None,
    };
    store
        .settle_record(name, "w", &claimed, refused, days_ago_ms(40))
        .await
        .expect("settled");
    drop(store);
    let before = file_size(&path);

    // CJ ignoring the cursor: pruned records, and one new.
    let cj = MockServer::start_async().await;
    cj.mock_async(|when, then| {
        when.method("POST").path("/query");
        let answer = json!({"data": {"publisherCommissions": {
            "count": 3, "limit": 10, "maxCommissionId": "1100", "payloadComplete": true,
            "records": [record(5, json!({})), record(1000, json!({})), record(1100, json!({}))]
        }}});
        then.status(200)
            .header("content-type", "application/json")
            .body(answer.to_string());
    })
    .await;
    let (partner, calls) = accepting_partner().await;
    let relay = relay(
        &path,
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let thirty_days = Duration::from_secs(30 * 24 * 3600);
    assert_eq!(relay.prune(thirty_days).await.expect("pruned"), 1000);
    let stats = relay.stats().await.expect("stats");
    assert_eq!((stats.delivered, stats.dead, stats.pending), (50, 1, 0));
    assert_eq!(
        stats.cursor.expect("a cursor").since_commission_id,
        cursor.since_commission_id,
        "the cursor stays"
    );
    let after = file_size(&path);
    assert!(after < before / 2, "{before} bytes before, {after} after");
    assert_eq!(auto_vacuum(&path), 2, "switched to incremental vacuum");
    assert_eq!(relay.prune(thirty_days).await.expect("pruned"), 0);

    // A pruned record offered again is not stored again, whatever the cursor says.
    let again: Vec<NewRecord> = [5, 999, 1000]
        .map(|id| NewRecord {
            commission_id: id.to_string(),
            payload: record(id, json!({})).to_string(),
        })
        .to_vec();
    let stale = RelayCursor {
        since_commission_id: Some("1".into()),
        ..cursor
    };
    let new = relay
        .store()
        .store_page(name, again, stale, days_ago_ms(0))
        .await
        .expect("stored");
    assert_eq!(new, 0, "pruned records are not stored again");
    let report = relay.run_once().await.expect("a round");
    assert_eq!(report.delivered, 1);
    assert_eq!(
        delivered(&calls),
        ["1100"],
        "nothing pruned is delivered again"
    );
}

/// Measures what the relay's SQLite file keeps per record: run with `cargo test -p cj-queue
/// --test relay -- --ignored --nocapture relay_store_bytes_per_record`.
#[tokio::test]
#[ignore = "a measurement: prints bytes per record"]
async fn relay_store_bytes_per_record() {
    use cj_queue::relay::RelayStore;
    let path = sqlite_path("measure");
    let store = SqliteStore::open(&path).expect("store");
    store.prepare_relay().await.expect("tables");
    let name = "7654321";
    let empty = file_size(&path);
    let (old, kept) = (9_000u64, 1_000u64);
    delivered_at(&store, name, 1..old + 1, days_ago_ms(40)).await;
    delivered_at(&store, name, old + 1..old + kept + 1, days_ago_ms(1)).await;
    let delivered = file_size(&path);
    let pruned = store
        .prune_relay(name, days_ago_ms(30))
        .await
        .expect("pruned");
    assert_eq!(pruned, old);
    let after = file_size(&path);
    let per = |bytes: u64, n: u64| bytes.saturating_sub(empty) as f64 / n as f64;
    println!(
        "empty store {empty} B; {} records delivered: {delivered} B ({:.0} B/record); \
         after pruning {old}: {after} B ({:.0} B per record kept, {kept} kept)",
        old + kept,
        per(delivered, old + kept),
        per(after, kept),
    );
}

#[tokio::test]
async fn each_page_is_delivered_before_the_next_is_read() {
    let (cj, _, queries) = cj(records(1, 4), 1).await;
    // The partner notes how many pages CJ had answered when each postback came.
    let seen = queries.clone();
    let answered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = answered.clone();
    let (partner, calls) = partner(Duration::ZERO, move |_, _| {
        let pages = seen.lock().expect("lock").len();
        noted.lock().expect("lock").push(pages);
        json_response(200, "ok")
    })
    .await;
    let relay = relay(
        &sqlite_path("between"),
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let mut progress = Vec::new();
    let report = relay
        .run_once_until(std::future::pending(), |r| {
            progress.push((r.pages, r.delivered))
        })
        .await
        .expect("a round");
    assert_eq!((report.pages, report.delivered), (4, 4));
    assert_eq!(delivered(&calls), ids(1..5));
    assert_eq!(*answered.lock().expect("lock"), [1, 2, 3, 4]);
    assert_eq!(
        progress,
        [
            (1, 0),
            (1, 1),
            (2, 1),
            (2, 2),
            (3, 2),
            (3, 3),
            (4, 3),
            (4, 4)
        ],
        "progress after each page and each postback"
    );
}

#[tokio::test]
async fn a_stopped_round_finishes_its_postback_and_starts_no_other() {
    let (cj, _, _) = cj(records(1, 3), 10).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = std::sync::Mutex::new(Some(stop_tx));
    // The partner asks to stop while it answers the first postback.
    let (partner, calls) = partner(Duration::from_millis(200), move |_, _| {
        if let Some(tx) = stop_tx.lock().expect("lock").take() {
            let _ = tx.send(());
        }
        json_response(200, "ok")
    })
    .await;
    let relay = relay(
        &sqlite_path("stopped"),
        &cj,
        &get_template(&partner),
        config(PostbackMethod::Get),
    );
    let stop = async {
        let _ = stop_rx.await;
    };
    let report = relay.run_once_until(stop, |_| {}).await.expect("a round");
    assert!(report.stopped);
    assert_eq!(report.delivered, 1, "the postback in flight was finished");
    assert_eq!(calls.lock().expect("lock").len(), 1, "no other started");
    let stats = relay.stats().await.expect("stats");
    assert_eq!((stats.delivered, stats.pending, stats.in_flight), (1, 2, 0));
}

#[tokio::test]
async fn run_prunes_by_its_retention_and_stops_when_asked() {
    let path = sqlite_path("run-prune");
    let store = SqliteStore::open(&path).expect("store");
    use cj_queue::relay::RelayStore;
    store.prepare_relay().await.expect("tables");
    delivered_at(&store, "7654321", 1..11, days_ago_ms(40)).await;
    drop(store);
    let (cj, _, _) = cj(records(11, 2), 10).await;
    let (partner, calls) = accepting_partner().await;
    let mut c = config(PostbackMethod::Get);
    c.retention = Some(Duration::from_secs(30 * 24 * 3600));
    let relay = relay(&path, &cj, &get_template(&partner), c);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stop_tx = Some(stop_tx);
    let mut reports = Vec::new();
    let stop = async {
        let _ = stop_rx.await;
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        relay.run_until(Duration::from_secs(3600), stop, |report| {
            reports.push((report.pruned, report.delivered, report.stopped));
            if let Some(tx) = stop_tx.take() {
                let _ = tx.send(());
            }
        }),
    )
    .await
    .expect("stops without waiting for the interval")
    .expect("runs");
    assert_eq!(reports, [(10, 2, false)]);
    assert_eq!(delivered(&calls), ids(11..13));
    let stats = relay.stats().await.expect("stats");
    assert_eq!(stats.delivered, 2, "the old ones pruned, the new kept");
}
