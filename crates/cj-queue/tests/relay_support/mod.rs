//! Helpers of the relay's tests: a Commission Detail mock serving pages by CJ's cursor, a
//! loopback partner that keeps every postback, and CJ-shaped records.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cj_graphql::commissions::CommissionsApi;
use cj_queue::relay::{PostbackMethod, RelayConfig};
use cj_transport::{Credentials, RetryPolicy, Transport};
use httpmock::{HttpMockRequest, HttpMockResponse, MockServer};
use serde_json::{Value, json};

pub const TOKEN: &str = "relay-test-token-5d1f0c2e9a";

/// A publisher record with every required field; `changes` overrides or adds fields.
pub fn record(id: u64, changes: Value) -> Value {
    let mut record = json!({
        "actionStatus": "new",
        "actionTrackerId": "123456",
        "actionTrackerName": "Online Sale",
        "actionType": "item_sale",
        "advertiserId": "1234567",
        "advertiserName": "Acme Outdoor",
        "commissionId": id.to_string(),
        "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z",
        "original": true,
        "originalActionId": id.to_string(),
        "orderId": format!("ORD-{id}"),
        "postingDate": "2026-01-05T11:00:00Z",
        "pubCommissionAmountPubCurrency": "15.00",
        "pubCommissionAmountUsd": "15.00",
        "publisherId": "7654321",
        "publisherName": "Trail Blog",
        "saleAmountUsd": "149.98",
        "saleAmountPubCurrency": "149.98",
        "shopperId": format!("click-{id}"),
        "items": [],
        "situationDetails": []
    });
    if let (Some(r), Some(c)) = (record.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            r.insert(k.clone(), v.clone());
        }
    }
    record
}

/// Records `first..first + n`, plain originals.
pub fn records(first: u64, n: u64) -> Vec<Value> {
    (first..first + n).map(|id| record(id, json!({}))).collect()
}

fn id_of(record: &Value) -> u64 {
    record["commissionId"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0)
}

/// The records CJ holds, shared with the mock (tests add records as CJ posts them).
pub type Ledger = Arc<Mutex<Vec<Value>>>;
/// The variables of every query the mock answered.
pub type Queries = Arc<Mutex<Vec<Value>>>;

/// A Commission Detail mock: pages of `page_size` records after `sinceCommissionId`, in
/// reverse commission id order within a page (CJ promises no order), `payloadComplete` false
/// while more follow. Answers only the token [`TOKEN`].
pub async fn cj(records: Vec<Value>, page_size: usize) -> (MockServer, Ledger, Queries) {
    let server = MockServer::start_async().await;
    let ledger: Ledger = Arc::new(Mutex::new(records));
    let queries = Queries::default();
    let (held, seen) = (ledger.clone(), queries.clone());
    server
        .mock_async(move |when, then| {
            when.method("POST")
                .path("/query")
                .header("authorization", format!("Bearer {TOKEN}"));
            then.respond_with(move |req: &HttpMockRequest| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                let vars = body["variables"].clone();
                let since: u64 = vars["sinceCommissionId"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                seen.lock().expect("lock").push(vars);
                let mut after: Vec<Value> = held
                    .lock()
                    .expect("lock")
                    .iter()
                    .filter(|r| id_of(r) > since)
                    .cloned()
                    .collect();
                after.sort_by_key(id_of);
                let complete = after.len() <= page_size;
                after.truncate(page_size);
                let max = after.last().map(|r| r["commissionId"].clone());
                after.reverse();
                let answer = json!({"data": {"publisherCommissions": {
                    "count": after.len(), "limit": page_size, "maxCommissionId": max,
                    "payloadComplete": complete, "records": after
                }}});
                json_response(200, &answer.to_string())
            });
        })
        .await;
    (server, ledger, queries)
}

pub fn json_response(status: u16, body: &str) -> HttpMockResponse {
    HttpMockResponse::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// A postback the partner received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The commission id it carried (`tx=` in the query, or `commissionId` in a JSON body).
    pub id: String,
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// What the partner answered.
    pub status: u16,
}

pub type Calls = Arc<Mutex<Vec<Call>>>;

/// A loopback partner: `answer(commission id, number of earlier calls)` decides each answer;
/// every call is kept, after `delay`.
pub async fn partner(
    delay: Duration,
    answer: impl Fn(&str, usize) -> HttpMockResponse + Send + Sync + 'static,
) -> (MockServer, Calls) {
    let server = MockServer::start_async().await;
    let calls = Calls::default();
    let kept = calls.clone();
    server
        .mock_async(move |_when, then| {
            then.respond_with(move |req: &HttpMockRequest| {
                let body = req.body_string();
                let id = req
                    .query_params()
                    .into_iter()
                    .find(|(k, _)| k == "tx")
                    .map(|(_, v)| v)
                    .or_else(|| {
                        serde_json::from_str::<Value>(&body).ok()?["commissionId"]
                            .as_str()
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                let mut calls = kept.lock().expect("lock");
                let response = answer(&id, calls.len());
                calls.push(Call {
                    id,
                    method: req.method().to_string(),
                    uri: req
                        .uri()
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    headers: req.headers_vec().clone(),
                    body,
                    status: response.status.unwrap_or(200),
                });
                drop(calls);
                std::thread::sleep(delay);
                response
            });
        })
        .await;
    (server, calls)
}

/// A partner that accepts everything.
pub async fn accepting_partner() -> (MockServer, Calls) {
    partner(Duration::ZERO, |_, _| json_response(200, "{}")).await
}

/// The ids the partner answered 2xx, in order.
pub fn delivered(calls: &Calls) -> Vec<String> {
    calls
        .lock()
        .expect("lock")
        .iter()
        .filter(|c| (200..300).contains(&c.status))
        .map(|c| c.id.clone())
        .collect()
}

pub fn ids(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

/// A Commission Detail client of `server` with `token`, without retries.
pub fn commissions(base: &str, token: &str) -> CommissionsApi {
    let transport = Transport::builder()
        .credentials(Credentials::token(token))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::none())
        .build()
        .expect("transport");
    CommissionsApi::new(transport, base).expect("commissions")
}

/// Quick retries; reads from an hour ago (the mocks ignore dates).
pub fn config(method: PostbackMethod) -> RelayConfig {
    let mut c = RelayConfig::default();
    c.method = method;
    c.since_posting = Some(
        jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(1))
            .expect("an hour ago")
            .into(),
    );
    c.retry_delay = Duration::from_millis(20);
    c.max_retry_delay = Duration::from_millis(40);
    c.timeout = Duration::from_secs(5);
    c.lease = Duration::from_secs(30);
    c
}

/// A fresh SQLite file for `name`.
pub fn sqlite_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cj-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// The GET template of the tests: the fields a partner such as Aspire takes, and more.
pub fn get_template(partner: &MockServer) -> String {
    format!(
        "{}/postback?tx={{commissionId}}&click={{shopperId}}&order={{orderId}}&sale={{saleAmountPubCurrency}}&payout={{pubCommissionAmountPubCurrency}}&status={{actionStatus}}&original={{original}}&reason={{correctionReason}}&event={{eventDate}}",
        partner.base_url()
    )
}

/// Stores `ids` in `relay` and settles them delivered at `settled_ms`, in line order, as a
/// relay would have (the line must hold nothing else).
pub async fn delivered_at<S: cj_queue::relay::RelayStore>(
    store: &S,
    relay: &str,
    ids: std::ops::Range<u64>,
    settled_ms: i64,
) {
    use cj_queue::relay::{NewRecord, Next, RelayCursor, Settle};
    let last = ids.end.saturating_sub(1).to_string();
    let records: Vec<NewRecord> = ids
        .clone()
        .map(|id| NewRecord {
            commission_id: id.to_string(),
            payload: record(id, json!({})).to_string(),
        })
        .collect();
    let cursor = RelayCursor {
        since_posting: jiff::Timestamp::from_millisecond(settled_ms)
            .expect("a time")
            .into(),
        since_commission_id: Some(last),
    };
    for chunk in records.chunks(1000) {
        store
            .store_page(relay, chunk.to_vec(), cursor.clone(), settled_ms)
            .await
            .expect("stored");
    }
    for _ in ids {
        let Next::Record(claimed) = store
            .claim_record(relay, "w", settled_ms, 60_000)
            .await
            .expect("claimed")
        else {
            panic!("the line ran out early");
        };
        let settled = store
            .settle_record(
                relay,
                "w",
                &claimed,
                Settle::Delivered { status: 200 },
                settled_ms,
            )
            .await
            .expect("settled");
        assert!(settled);
    }
}

/// Milliseconds since the Unix epoch, `days` ago.
pub fn days_ago_ms(days: i64) -> i64 {
    jiff::Timestamp::now().as_millisecond() - days * 24 * 3600 * 1000
}
