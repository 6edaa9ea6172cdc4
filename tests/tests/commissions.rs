//! Commission Detail through the facade, against loopback mocks: the exact queries sent, the
//! stream across date windows and pages (every record once), the cursor that does not advance,
//! every error path, CJ's call limit, and the token never shown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cj::Error;
use cj::commissions::{
    ActionStatus, ActionType, LockingMethod, PublisherCommission, TryStreamExt, ValidationStatus,
};
use cj::jiff::{SignedDuration, Timestamp};
use cj_tests::{CANARY, capture_logs, past};
use httpmock::HttpMockResponse;
use httpmock::prelude::*;
use serde_json::{Value, json};

/// A client with the canary token and fast retries, reading commissions from `base_url`.
fn client(base_url: &str) -> cj::Client {
    client_with(base_url, |b| b)
}

fn client_with(
    base_url: &str,
    configure: impl FnOnce(cj::ClientBuilder) -> cj::ClientBuilder,
) -> cj::Client {
    let builder = cj::Client::builder()
        .token(CANARY)
        .commissions_url(base_url)
        .timeout(Duration::from_millis(1500))
        .retry(cj::RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ));
    configure(builder).build().expect("the client builds")
}

/// A publisher record with CJ's required fields.
fn record(id: u64, event: Timestamp) -> Value {
    json!({
        "actionStatus": "new", "actionTrackerId": "123456", "actionTrackerName": "Online Sale",
        "actionType": "sim_sale", "advertiserId": "1234567", "advertiserName": "Acme",
        "commissionId": id.to_string(), "eventDate": event.to_string(),
        "lockingDate": "2026-06-10T00:00:00Z", "original": true,
        "originalActionId": format!("A-{id}"), "orderId": format!("ORD-{id}"),
        "postingDate": event.to_string(), "pubCommissionAmountPubCurrency": "1.00",
        "pubCommissionAmountUsd": "1.00", "publisherId": "7654321", "publisherName": "Blog",
        "items": [], "situationDetails": []
    })
}

fn answer(records: Vec<Value>, complete: bool, max: Option<&str>) -> Value {
    json!({"data": {"publisherCommissions": {
        "count": records.len(), "limit": 10000, "maxCommissionId": max,
        "payloadComplete": complete, "records": records
    }}})
}

fn json_response(status: u16, body: &Value) -> HttpMockResponse {
    HttpMockResponse::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// Every request body the mock receives.
type Seen = Arc<Mutex<Vec<Value>>>;

fn variables(seen: &Seen) -> Vec<Value> {
    seen.lock()
        .expect("lock")
        .iter()
        .map(|b| b["variables"].clone())
        .collect()
}

/// Answers every request with `reply(variables)`, keeping the bodies.
async fn serve(
    server: &MockServer,
    reply: impl Fn(&Value) -> (u16, Value) + Send + Sync + 'static,
) -> (httpmock::Mock<'_>, Seen) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path("/query")
                .header("authorization", format!("Bearer {CANARY}"))
                .header("content-type", "application/json");
            then.respond_with(move |req| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                let (status, answer) = reply(&body["variables"]);
                sink.lock().expect("lock").push(body);
                json_response(status, &answer)
            });
        })
        .await;
    (mock, seen)
}

#[tokio::test]
async fn a_publisher_page_sends_every_argument_and_reads_the_answer() {
    let server = MockServer::start_async().await;
    let (mock, seen) = serve(&server, |_| {
        let mut r = record(1001, past("2026-01-05T10:00:00Z").timestamp());
        r["actionStatus"] = json!("on_hold");
        r["saleAmountUsd"] = json!("-149.98");
        (200, answer(vec![r], true, Some("1001")))
    })
    .await;
    let page = client(&server.base_url())
        .commissions()
        .publisher(["7654321", "7654322"])
        .since_posting(past("2026-01-01T00:00:00Z"))
        .before_posting(past("2026-01-31T12:30:00.5Z"))
        .since_event(past("2025-12-15"))
        .before_event(past("2026-01-10T00:00:00-05:00"))
        .since_locking(past("2026-02-01"))
        .before_locking(past("2026-03-01"))
        .since_commission_id("1000")
        .commission_ids(["1001", "1002"])
        .advertiser_ids(["1234567"])
        .ad_ids(["111"])
        .website_ids(["222"])
        .action_statuses([ActionStatus::New, ActionStatus::Locked])
        .action_types([ActionType::SimSale, ActionType::ItemSale])
        .locking_methods([LockingMethod::FixedDate])
        .validation_statuses([ValidationStatus::Pending, ValidationStatus::Accepted])
        .page()
        .await
        .expect("a page");
    mock.assert_async().await;
    let sent = seen.lock().expect("lock")[0].clone();
    assert_eq!(sent["operationName"], "PublisherCommissionsQuery");
    let query = sent["query"].as_str().expect("query");
    assert!(query.contains("publisherCommissions(\n    forPublishers: $forPublishers"));
    assert!(query.contains("fragment PublisherCommission on PublisherCommission"));
    assert!(
        !query.contains("customPixel"),
        "deprecated fields are not asked for"
    );
    insta::assert_snapshot!(
        "publisher_request_body",
        serde_json::to_string_pretty(&sent).expect("json")
    );

    assert!(page.payload_complete);
    let r = &page.records[0];
    assert_eq!(r.action_status, ActionStatus::Unknown("on_hold".into()));
    assert_eq!(r.sale_amount_usd, Some("-149.98".parse().expect("decimal")));
}

#[tokio::test]
async fn an_advertiser_page_sends_its_own_arguments() {
    let server = MockServer::start_async().await;
    let (_mock, seen) = serve(&server, |_| {
        let body = json!({"data": {"advertiserCommissions": {
            "count": 0, "limit": 10000, "maxCommissionId": null,
            "payloadComplete": true, "records": []
        }}});
        (200, body)
    })
    .await;
    let page = client(&server.base_url())
        .commissions()
        .advertiser(["1234567"])
        .publisher_ids(["7654321"])
        .since_event(past("2026-01-01"))
        .before_event(past("2026-02-01"))
        .page()
        .await
        .expect("a page");
    assert!(page.records.is_empty());
    let sent = seen.lock().expect("lock")[0].clone();
    assert_eq!(sent["operationName"], "AdvertiserCommissionsQuery");
    assert!(
        sent["query"]
            .as_str()
            .expect("query")
            .contains("fragment AdvertiserCommission on AdvertiserCommission")
    );
    insta::assert_snapshot!(
        "advertiser_request_variables",
        serde_json::to_string_pretty(&sent["variables"]).expect("json")
    );
}

/// CJ in a few lines: `records` sorted by id, filtered by the event range and the cursor,
/// `limit` per answer.
fn fake_cj(
    records: Vec<Value>,
    limit: usize,
) -> impl Fn(&Value) -> (u16, Value) + Send + Sync + 'static {
    move |vars| {
        let time = |key: &str| {
            vars[key]
                .as_str()
                .map(|t| t.parse::<Timestamp>().expect(key))
        };
        let (since, before) = (time("sinceEventDate"), time("beforeEventDate"));
        let cursor: u64 = vars["sinceCommissionId"]
            .as_str()
            .map_or(0, |c| c.parse().expect("a numeric cursor"));
        if let (Some(s), Some(b)) = (since, before)
            && b.duration_since(s) > SignedDuration::from_hours(31 * 24)
        {
            return (
                200,
                json!({"errors": [{"message": "date range exceeds 31 days"}]}),
            );
        }
        let matching: Vec<&Value> = records
            .iter()
            .filter(|r| {
                let event: Timestamp = r["eventDate"].as_str().expect("date").parse().expect("t");
                let id: u64 = r["commissionId"].as_str().expect("id").parse().expect("id");
                since.is_none_or(|s| event >= s) && before.is_none_or(|b| event < b) && id > cursor
            })
            .collect();
        let page: Vec<Value> = matching.iter().take(limit).map(|r| (*r).clone()).collect();
        let max = page
            .last()
            .map(|r| r["commissionId"].as_str().expect("id").to_string());
        (200, answer(page, matching.len() <= limit, max.as_deref()))
    }
}

fn ids(records: &[PublisherCommission]) -> Vec<String> {
    records.iter().map(|r| r.commission_id.clone()).collect()
}

#[tokio::test]
async fn the_stream_reads_every_record_once_across_windows_and_pages() {
    // 50 records, one every 37 hours from 2026-01-01: 78 days, three 31-day windows.
    let start = past("2026-01-01").timestamp();
    let all: Vec<Value> = (0..50)
        .map(|i| {
            let event = start
                .checked_add(SignedDuration::from_hours(37 * i))
                .expect("in range");
            record(1001 + u64::try_from(i).expect("small"), event)
        })
        .collect();
    let expected: Vec<String> = (1001..=1050).map(|i| i.to_string()).collect();
    let server = MockServer::start_async().await;
    let (_mock, seen) = serve(&server, fake_cj(all, 7)).await;

    let records: Vec<PublisherCommission> = client(&server.base_url())
        .commissions()
        .publisher(["7654321"])
        .since_event(past("2026-01-01"))
        .before_event(past("2026-03-20"))
        .stream()
        .try_collect()
        .await
        .expect("every record");
    assert_eq!(ids(&records), expected, "every record once, in order");

    let calls = variables(&seen);
    let windows: Vec<(Value, Value)> = calls
        .iter()
        .map(|v| (v["sinceEventDate"].clone(), v["beforeEventDate"].clone()))
        .collect();
    let mut distinct = windows.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        [
            (json!("2026-01-01T00:00:00Z"), json!("2026-02-01T00:00:00Z")),
            (json!("2026-02-01T00:00:00Z"), json!("2026-03-04T00:00:00Z")),
            (json!("2026-03-04T00:00:00Z"), json!("2026-03-20T00:00:00Z")),
        ]
    );
    // 21 + 21 + 8 records: 3 + 3 + 2 calls (the first window's 21 fill three pages of 7, the
    // last of which says the payload is complete).
    assert_eq!(calls.len(), 8, "{calls:#?}");
    let cursors: Vec<Value> = calls
        .iter()
        .map(|v| v["sinceCommissionId"].clone())
        .collect();
    assert_eq!(cursors[0], Value::Null, "the first call has no cursor");
    assert_eq!(
        cursors[1],
        json!("1007"),
        "the next asks after maxCommissionId"
    );
    assert_eq!(cursors[3], Value::Null, "a new window starts over");
}

#[tokio::test]
async fn a_record_sent_again_is_yielded_once() {
    // A server whose cursor is inclusive: every page repeats the last record of the one before.
    let t = past("2026-01-05").timestamp();
    let server = MockServer::start_async().await;
    let (_mock, _seen) = serve(&server, move |vars| {
        match vars["sinceCommissionId"].as_str() {
            None => (
                200,
                answer(vec![record(1, t), record(2, t)], false, Some("2")),
            ),
            Some("2") => (
                200,
                answer(
                    vec![record(2, t), record(3, t), record(3, t)],
                    false,
                    Some("3"),
                ),
            ),
            _ => (
                200,
                answer(
                    vec![record(3, t), record(1, t), record(4, t)],
                    true,
                    Some("4"),
                ),
            ),
        }
    })
    .await;
    let records: Vec<PublisherCommission> = client(&server.base_url())
        .commissions()
        .publisher(["7654321"])
        .stream()
        .try_collect()
        .await
        .expect("every record");
    assert_eq!(ids(&records), ["1", "2", "3", "4"]);
}

/// Every item of a stream, errors included.
async fn everything(
    stream: impl cj::commissions::Stream<Item = Result<PublisherCommission, Error>>,
) -> (Vec<String>, Vec<Error>) {
    let items: Vec<Result<PublisherCommission, Error>> =
        cj::commissions::StreamExt::collect(stream).await;
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            Ok(r) => ok.push(r.commission_id),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_ends_the_stream_with_a_paging_error() {
    let t = past("2026-01-05").timestamp();
    for max in [Some("2"), Some("1"), None] {
        let server = MockServer::start_async().await;
        let (mock, _seen) = serve(&server, move |vars| {
            match vars["sinceCommissionId"].as_str() {
                None => (
                    200,
                    answer(vec![record(1, t), record(2, t)], false, Some("2")),
                ),
                // Ignores the cursor: the same page again, or a cursor going back, or none.
                Some(_) => (200, answer(vec![record(1, t), record(2, t)], false, max)),
            }
        })
        .await;
        let (ok, errors) = everything(
            client(&server.base_url())
                .commissions()
                .publisher(["7654321"])
                .stream(),
        )
        .await;
        assert_eq!(ok, ["1", "2"], "{max:?}: what was read is kept, once");
        assert_eq!(errors.len(), 1, "{max:?}");
        assert!(
            matches!(&errors[0], Error::Paging(m) if m.contains("does not advance")),
            "{:?}",
            errors[0]
        );
        assert_eq!(mock.calls_async().await, 2, "{max:?}: no loop");
    }
}

#[tokio::test]
async fn a_walk_that_never_completes_ends_with_a_paging_error_naming_the_window() {
    // Short pages, each with a new record and an advancing cursor, never complete.
    let t = past("2026-01-05").timestamp();
    let server = MockServer::start_async().await;
    let (mock, _seen) = serve(&server, move |vars| {
        let after: u64 = vars["sinceCommissionId"]
            .as_str()
            .map_or(0, |c| c.parse().expect("a number"));
        let next = after + 1;
        (
            200,
            answer(vec![record(next, t)], false, Some(&next.to_string())),
        )
    })
    .await;
    let (ok, errors) = everything(
        client(&server.base_url())
            .commissions()
            .publisher(["7654321"])
            .since_posting(past("2026-01-01"))
            .before_posting(past("2026-01-10"))
            .max_pages(4)
            .stream(),
    )
    .await;
    assert_eq!(
        ok,
        ["1", "2", "3", "4"],
        "the pages within the bound are kept"
    );
    assert_eq!(errors.len(), 1);
    let Error::Paging(message) = &errors[0] else {
        panic!("{:?}", errors[0]);
    };
    assert!(
        message.contains("4 pages")
            && message.contains("sincePostingDate 2026-01-01T00:00:00Z")
            && message.contains("after commission 4"),
        "{message}"
    );
    assert_eq!(mock.calls_async().await, 4, "no call after the bound");
}

#[tokio::test]
async fn a_page_whose_cursor_does_not_follow_its_records_is_not_yielded() {
    let t = past("2026-01-05").timestamp();
    // An empty page with an advancing cursor, and a record after maxCommissionId.
    let broken: [fn(Timestamp) -> Value; 2] = [
        |_| answer(vec![], false, Some("9")),
        |t| answer(vec![record(3, t), record(7, t)], false, Some("5")),
    ];
    for second in broken {
        let server = MockServer::start_async().await;
        let (mock, _seen) = serve(&server, move |vars| {
            match vars["sinceCommissionId"].as_str() {
                None => (
                    200,
                    answer(vec![record(1, t), record(2, t)], false, Some("2")),
                ),
                Some(_) => (200, second(t)),
            }
        })
        .await;
        let (ok, errors) = everything(
            client(&server.base_url())
                .commissions()
                .publisher(["7654321"])
                .stream(),
        )
        .await;
        assert_eq!(ok, ["1", "2"], "nothing of the broken page");
        assert!(
            matches!(&errors[..], [Error::Paging(m)] if m.contains("does not follow the records")),
            "{errors:?}"
        );
        assert_eq!(mock.calls_async().await, 2);
    }
}

#[tokio::test]
async fn a_graphql_error_message_surfaces() {
    let server = MockServer::start_async().await;
    let (_mock, _seen) = serve(&server, |_| {
        (
            200,
            json!({"data": null, "errors": [{"message": "Date range must not exceed 31 days",
                "extensions": {"code": "BAD_USER_INPUT"}}]}),
        )
    })
    .await;
    let err = client(&server.base_url())
        .commissions()
        .publisher(["7654321"])
        .page()
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, Error::GraphQL { errors, .. }
            if errors[0].message == "Date range must not exceed 31 days"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("Date range must not exceed 31 days"),
        "{err}"
    );
    assert_eq!(err.delivery(), cj::Delivery::Answered);

    // The same as an HTTP 400, and in a stream.
    let server = MockServer::start_async().await;
    let (_mock, _seen) = serve(&server, |_| {
        (
            400,
            json!({"errors": [{"message": "forPublishers: not authorized for 1"}]}),
        )
    })
    .await;
    let (ok, errors) = everything(
        client(&server.base_url())
            .commissions()
            .publisher(["1"])
            .stream(),
    )
    .await;
    assert!(ok.is_empty());
    assert!(
        matches!(&errors[..], [Error::GraphQL { status, errors }]
            if status.as_u16() == 400 && errors[0].message.contains("not authorized")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn errors_of_every_kind_are_reported() {
    let t = past("2026-01-05").timestamp();
    type Expected = fn(&Error) -> bool;
    let cases: Vec<(u16, Value, Expected)> = vec![
        (
            500,
            json!({"oops": true}),
            |e| matches!(e, Error::Http { status, .. } if status.as_u16() == 500),
        ),
        (
            200,
            json!({"data": {"publisherCommissions": {"count": "many"}}}),
            |e| matches!(e, Error::Decode { message, .. } if message.contains("publisherCommissions.count")),
        ),
        (200, json!({"unexpected": []}), |e| {
            matches!(e, Error::Decode { .. })
        }),
        // Data with an error beside it: a page with holes is not kept.
        (
            200,
            {
                let mut a = answer(vec![record(1, t)], true, Some("1"));
                a["errors"] = json!([{"message": "advertiser 1234567 could not be read"}]);
                a
            },
            |e| matches!(e, Error::GraphQL { errors, .. } if errors[0].message.contains("could not be read")),
        ),
    ];
    for (status, body, expected) in cases {
        let server = MockServer::start_async().await;
        let reply = body.clone();
        let (_mock, _seen) = serve(&server, move |_| (status, reply.clone())).await;
        let err = client(&server.base_url())
            .commissions()
            .publisher(["7654321"])
            .page()
            .await
            .expect_err("an error");
        assert!(expected(&err), "{status} {body}: {err:?}");
    }
}

#[tokio::test]
async fn what_cj_would_refuse_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let (mock, _seen) = serve(&server, |_| (200, answer(vec![], true, None))).await;
    let api = client(&server.base_url());
    let api = api.commissions();
    let no_cid = api
        .publisher(Vec::<String>::new())
        .page()
        .await
        .expect_err("no CID");
    assert!(
        matches!(&no_cid, Error::Invalid(i) if i.problems[0].field == "forPublishers"),
        "{no_cid:?}"
    );
    let no_cid = api
        .advertiser(Vec::<String>::new())
        .page()
        .await
        .expect_err("no CID");
    assert!(
        matches!(&no_cid, Error::Invalid(i) if i.problems[0].field == "forAdvertisers"),
        "{no_cid:?}"
    );

    let reversed = api
        .publisher(["1"])
        .since_locking(past("2026-02-01"))
        .before_locking(past("2026-01-01"));
    let err = reversed.clone().page().await.expect_err("reversed");
    assert!(matches!(&err, Error::Invalid(_)), "{err:?}");
    let (ok, errors) = everything(reversed.stream()).await;
    assert!(
        ok.is_empty() && matches!(&errors[..], [Error::Invalid(_)]),
        "{errors:?}"
    );

    let long = api
        .publisher(["1"])
        .since_posting(past("2026-01-01"))
        .before_posting(past("2026-03-01"));
    let err = long
        .clone()
        .page()
        .await
        .expect_err("one call cannot span 59 days");
    assert!(
        err.to_string().contains("`stream` reads a longer range"),
        "{err}"
    );
    let (_, errors) = everything(
        long.since_event(past("2025-01-01"))
            .before_event(past("2025-06-01"))
            .stream(),
    )
    .await;
    assert!(
        errors[0].to_string().contains("only one range"),
        "{:?}",
        errors[0]
    );
    assert_eq!(mock.calls_async().await, 0, "nothing was sent");
}

#[tokio::test]
async fn the_token_is_never_shown() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401)
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"errors": [{{"message": "Not Authenticated: {CANARY}", "extensions": {{"token": "{CANARY}"}}}}]}}"#
                ));
        })
        .await;
    let api = client(&server.base_url());
    let (err, logs) = capture_logs(async {
        api.commissions()
            .publisher(["7654321"])
            .page()
            .await
            .expect_err("refused")
    })
    .await;
    assert!(
        matches!(&err, Error::GraphQL { status, .. } if status.as_u16() == 401),
        "{err:?}"
    );
    let shown = format!("{err} {err:?} {logs} {api:?} {:?}", api.commissions());
    assert!(!shown.contains(CANARY), "{shown}");
    assert!(
        logs.contains("cj.commissions"),
        "the call is traced: {logs}"
    );
}

#[tokio::test]
async fn calls_wait_for_the_configured_limit() {
    let t = past("2026-01-05").timestamp();
    let server = MockServer::start_async().await;
    let (_mock, _seen) = serve(&server, move |vars| {
        let n: u64 = vars["sinceCommissionId"]
            .as_str()
            .map_or(0, |c| c.parse().expect("n"));
        let next = n + 1;
        (
            200,
            answer(vec![record(next, t)], next == 3, Some(&next.to_string())),
        )
    })
    .await;
    let limited = client_with(&server.base_url(), |b| {
        b.commissions_rate_limit(cj::RateLimit::new(1, Duration::from_millis(250)))
    });
    let started = std::time::Instant::now();
    let records: Vec<PublisherCommission> = limited
        .commissions()
        .publisher(["7654321"])
        .stream()
        .try_collect()
        .await
        .expect("three pages");
    assert_eq!(ids(&records), ["1", "2", "3"]);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "three calls, one per 250 ms: {:?}",
        started.elapsed()
    );
}
