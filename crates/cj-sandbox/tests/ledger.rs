//! The sandbox's ledger, over plain HTTP: what a restate keeps and replaces, what a cancel
//! sets, the requests each order's history keeps, the query methods and `GET /sandbox/ledger`'s
//! filters and pages, and a ledger file that outlives its sandbox.

use cj_sandbox::{LedgerEntry, LedgerQuery, Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// An HTTP client for the tests, with the SDK's TLS setup (see the dev-dependency on cj-transport).
fn http() -> reqwest::Client {
    cj_transport::tls::client_builder()
        .expect("a TLS setup")
        .build()
        .expect("an HTTP client")
}

const CREATE: &str = "mutation($o: [OrderCreateRequest!]!) { createOrders(newOrders: $o) { orders { orderId } errors { message } } }";
const RESTATE: &str = "mutation($o: [OrderRestateRequest!]!) { restateOrders(restatedOrders: $o) { orders { orderId } errors { message } } }";
const CANCEL: &str = "mutation($o: [OrderCancelRequest!]!) { cancelOrders(cancelledOrders: $o) { orders { orderId } errors { message } } }";

/// Sends `orders` to the live endpoint with `mutation`, and checks CJ accepted them.
async fn send(sandbox: &Sandbox, mutation: &str, orders: Value) {
    let body = json!({"query": mutation, "variables": {"o": orders}});
    let response = http()
        .post(format!("{}/graphql", sandbox.tracking_url()))
        .bearer_auth("ledger-test")
        .json(&body)
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("JSON");
    assert!(answer.get("errors").is_none(), "{answer}");
}

/// `GET /sandbox/ledger?{query}`: its status and body.
async fn read(sandbox: &Sandbox, query: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}/sandbox/ledger?{query}", sandbox.root_url()))
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// The ledger's entry for this order key, which must be recorded.
fn recorded(sandbox: &Sandbox, enterprise: &str, tracker: u32, order_id: &str) -> LedgerEntry {
    sandbox
        .ledger()
        .order(enterprise, tracker, order_id)
        .expect("the ledger is readable")
        .expect("the order is recorded")
}

/// An order on the bundled seed's open-ended action tracker, with every attribution field.
fn open_ended(order_id: &str) -> Value {
    json!({
        "enterpriseId": "3456789", "actionTrackerId": 334455, "orderId": order_id,
        "eventTime": "2024-05-01T10:00:00Z", "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
        "adId": 13, "promotionalPropertyId": 100200, "sid": "checkout-7", "currency": "USD",
        "amount": "300.00", "discount": "10.00", "coupon": "SPRING",
        "items": [{"sku": "ROOM-KING", "unitPrice": "150.00", "quantity": 2}],
        "customParameters": [{"name": "nights", "value": "2"}],
        "verticalParameters": {"advertiserVertical": "Travel"}
    })
}

fn restatement(order_id: &str) -> Value {
    json!({
        "enterpriseId": "3456789", "actionTrackerId": 334455, "orderId": order_id,
        "updateTime": "2024-05-10T10:00:00Z", "status": "Accepted",
        "amount": "150.00", "discount": "0.00",
        "items": [{"sku": "ROOM-KING", "unitPrice": "150.00", "quantity": 1}],
        "customParameters": [{"name": "nights", "value": "1"}]
    })
}

fn cancellation(order_id: &str) -> Value {
    json!({
        "enterpriseId": "3456789", "actionTrackerId": 334455, "orderId": order_id,
        "updateTime": "2024-05-11T08:00:00Z", "correctionReason": "BookingCanceled",
        "status": "Declined"
    })
}

#[tokio::test]
async fn a_restate_keeps_the_attribution_and_replaces_amounts_and_items() {
    let sandbox = Sandbox::start().await.expect("starts");
    send(&sandbox, CREATE, json!([open_ended("STAY-1")])).await;
    send(&sandbox, RESTATE, json!([restatement("STAY-1")])).await;

    let entry = recorded(&sandbox, "3456789", 334455, "STAY-1");
    assert_eq!(entry.state, "accepted");
    let order = &entry.order;
    // The attribution a restatement has no fields for, or left out, is kept.
    assert_eq!(order["eventTime"], "2024-05-01T10:00:00Z");
    assert_eq!(order["cjEvent"], "7166ddf3b35b11eb834200a10a1eb972");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["sid"], "checkout-7");
    assert_eq!(order["ad"], json!({"id": 13}));
    assert_eq!(order["promotionalProperty"], json!({"id": 100200}));
    // What it carries replaces the order's.
    assert_eq!(order["amount"], "150.00");
    assert_eq!(order["discount"], "0.00");
    assert_eq!(order["items"], restatement("STAY-1")["items"]);
    assert_eq!(
        order["customParameters"],
        json!([{"name": "nights", "value": "1"}])
    );
    assert_eq!(order["status"], "Accepted");
    assert_eq!(order["updateTime"], "2024-05-10T10:00:00Z");
    // CJ: a restatement is a full replacement; what it leaves out of the order is gone.
    assert_eq!(order["coupon"], Value::Null);
    assert_eq!(order["verticalParameters"], Value::Null);

    // A restatement that carries attribution it may carry replaces it.
    let mut euros = restatement("STAY-1");
    euros["currency"] = json!("EUR");
    euros["cjEvent"] = json!("another-click");
    send(&sandbox, RESTATE, json!([euros])).await;
    let order = recorded(&sandbox, "3456789", 334455, "STAY-1").order;
    assert_eq!(
        (&order["currency"], &order["cjEvent"], &order["eventTime"]),
        (
            &json!("EUR"),
            &json!("another-click"),
            &json!("2024-05-01T10:00:00Z")
        )
    );
}

#[tokio::test]
async fn a_cancel_sets_the_status_and_the_state() {
    let sandbox = Sandbox::start().await.expect("starts");
    send(&sandbox, CREATE, json!([open_ended("STAY-2")])).await;
    send(&sandbox, RESTATE, json!([restatement("STAY-2")])).await;
    send(&sandbox, CANCEL, json!([cancellation("STAY-2")])).await;

    let entry = recorded(&sandbox, "3456789", 334455, "STAY-2");
    assert_eq!(entry.state, "declined");
    assert_eq!(entry.order["status"], "Declined", "{}", entry.order);
    assert_eq!(entry.order["updateTime"], "2024-05-11T08:00:00Z");
    assert_eq!(entry.order["correctionReason"], "BookingCanceled");
    assert_eq!(
        entry.order["submissionId"].as_str(),
        entry.history.last().map(|e| e.submission_id.as_str())
    );
    // The rest of the order stands.
    assert_eq!(entry.order["amount"], "150.00");
    assert_eq!(entry.order["cjEvent"], "7166ddf3b35b11eb834200a10a1eb972");

    // A cancel without a status (an order on a tracker that is not open-ended) cancels it.
    let mut plain = json!({"enterpriseId": "1234567", "actionTrackerId": 123456,
        "orderId": "ORD-9", "eventTime": "2024-05-01T10:00:00Z", "amount": "20.00"});
    send(&sandbox, CREATE, json!([plain.clone()])).await;
    plain = json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "ORD-9",
        "updateTime": "2024-05-02T10:00:00Z", "correctionReason": "ReturnedMerchandise"});
    send(&sandbox, CANCEL, json!([plain])).await;
    let entry = recorded(&sandbox, "1234567", 123456, "ORD-9");
    assert_eq!(entry.state, "cancelled");
    assert_eq!(entry.order["status"], Value::Null);
    assert_eq!(entry.order["correctionReason"], "ReturnedMerchandise");
}

#[tokio::test]
async fn the_history_holds_each_steps_request() {
    let sandbox = Sandbox::start().await.expect("starts");
    send(&sandbox, CREATE, json!([open_ended("STAY-3")])).await;
    send(&sandbox, CREATE, json!([open_ended("STAY-3")])).await;
    send(&sandbox, RESTATE, json!([restatement("STAY-3")])).await;
    send(&sandbox, CANCEL, json!([cancellation("STAY-3")])).await;

    let entry = recorded(&sandbox, "3456789", 334455, "STAY-3");
    let steps: Vec<(&str, &str, &Value)> = entry
        .history
        .iter()
        .map(|e| (e.action.as_str(), e.state.as_str(), &e.request))
        .collect();
    assert_eq!(
        steps,
        [
            ("create", "pending", &open_ended("STAY-3")),
            ("duplicate create", "pending", &open_ended("STAY-3")),
            ("restate", "accepted", &restatement("STAY-3")),
            ("cancel", "declined", &cancellation("STAY-3")),
        ]
    );
    let submissions: std::collections::HashSet<&str> = entry
        .history
        .iter()
        .map(|e| e.submission_id.as_str())
        .collect();
    assert_eq!(submissions.len(), 4, "one submission id per step");

    // The same over HTTP, in the JSON users read.
    let (_, page) = read(&sandbox, "orderId=STAY-3").await;
    assert_eq!(
        page["orders"][0]["history"][2]["request"],
        restatement("STAY-3")
    );
}

#[tokio::test]
async fn the_ledger_answers_by_order_key_and_counts() {
    let sandbox = Sandbox::start().await.expect("starts");
    let ledger = sandbox.ledger();
    assert_eq!(ledger.counts().expect("counts").orders, 0);
    send(
        &sandbox,
        CREATE,
        json!([open_ended("A-1"), open_ended("A-2")]),
    )
    .await;
    // The same order id for another advertiser is another order.
    let mut other = open_ended("A-1");
    other["enterpriseId"] = json!("1234567");
    other["actionTrackerId"] = json!(123456);
    send(&sandbox, CREATE, json!([other.clone()])).await;
    send(&sandbox, CREATE, json!([other])).await;
    send(&sandbox, RESTATE, json!([restatement("A-2")])).await;

    let counts = ledger.counts().expect("counts");
    assert_eq!(counts.orders, 3);
    assert_eq!(
        counts.states.into_iter().collect::<Vec<_>>(),
        [
            ("accepted".to_string(), 1),
            ("new".to_string(), 1),
            ("pending".to_string(), 1)
        ]
    );
    assert_eq!(counts.requests, 5, "three creates, a duplicate, a restate");

    let a1 = ledger
        .query(&LedgerQuery::new().order_id("A-1"))
        .expect("query");
    assert_eq!(a1.total, 2);
    let advertisers: Vec<&str> = a1.orders.iter().map(|e| e.enterprise_id.as_str()).collect();
    assert_eq!(advertisers, ["1234567", "3456789"]);
    let pending = ledger
        .query(&LedgerQuery::new().state("pending"))
        .expect("query");
    assert_eq!(
        pending
            .orders
            .iter()
            .map(|e| &e.order_id)
            .collect::<Vec<_>>(),
        ["A-1"]
    );
    assert!(
        ledger
            .order("3456789", 334455, "A-3")
            .expect("readable")
            .is_none(),
        "never sent"
    );
    let entry = ledger
        .order("1234567", "123456", "A-1")
        .expect("readable")
        .expect("the tracker as text or number");
    assert_eq!(entry.history.len(), 2);
}

#[tokio::test]
async fn get_sandbox_ledger_filters_and_pages() {
    let sandbox = Sandbox::start().await.expect("starts");
    let orders: Vec<Value> = (0..25).map(|i| open_ended(&format!("P-{i:02}"))).collect();
    send(&sandbox, CREATE, Value::Array(orders)).await;
    send(&sandbox, RESTATE, json!([restatement("P-07")])).await;

    let ids = |page: &Value| -> Vec<String> {
        page["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["orderId"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Without parameters: the whole ledger (up to a page of 10,000), as before.
    let (status, all) = read(&sandbox, "").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&all).len(), 25);
    assert_eq!(
        (&all["total"], &all["offset"], &all["limit"]),
        (&json!(25), &json!(0), &json!(10_000))
    );

    let (_, page) = read(&sandbox, "limit=10&offset=20").await;
    assert_eq!(ids(&page), ["P-20", "P-21", "P-22", "P-23", "P-24"]);
    assert_eq!(page["total"], 25);
    let (_, page) = read(&sandbox, "offset=30").await;
    assert_eq!((ids(&page).len(), &page["total"]), (0, &json!(25)));

    let (_, one) = read(&sandbox, "orderId=P-07").await;
    assert_eq!(ids(&one), ["P-07"]);
    assert_eq!(one["orders"][0]["state"], "accepted");
    let (_, one) = read(
        &sandbox,
        "enterpriseId=3456789&actionTrackerId=334455&orderId=P-07",
    )
    .await;
    assert_eq!(ids(&one), ["P-07"]);
    let (_, none) = read(&sandbox, "enterpriseId=1234567&orderId=P-07").await;
    assert_eq!((ids(&none).len(), &none["total"]), (0, &json!(0)));
    // A count without the orders.
    let (_, count) = read(&sandbox, "state=pending&limit=0").await;
    assert_eq!((ids(&count).len(), &count["total"]), (0, &json!(24)));

    for (query, message) in [
        ("limit=ten", "`limit` must be a whole number, not `ten`"),
        ("offset=-1", "`offset` must be a whole number, not `-1`"),
        ("limit=10001", "`limit` must be at most 10000"),
        (
            "order_id=P-07",
            "unknown parameter `order_id` (enterpriseId, actionTrackerId, orderId, state, offset and limit are known)",
        ),
    ] {
        let (status, body) = read(&sandbox, query).await;
        assert_eq!(
            (status, body["errors"][0]["message"].as_str()),
            (400, Some(message)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_ledger_file_outlives_its_sandbox() {
    let dir = std::env::temp_dir().join(format!("cj-sandbox-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("ledger.sqlite");
    let _ = std::fs::remove_file(&path);

    let first = Sandbox::start_with(SandboxConfig::new().ledger_path(&path))
        .await
        .expect("starts");
    send(&first, CREATE, json!([open_ended("KEEP-1")])).await;
    first.stop().await;

    let second = Sandbox::start_with(SandboxConfig::new().ledger_path(&path))
        .await
        .expect("restarts");
    send(&second, CREATE, json!([open_ended("KEEP-1")])).await;
    // Kept across the restart.
    let entry = recorded(&second, "3456789", 334455, "KEEP-1");
    let actions: Vec<&str> = entry.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "duplicate create"]);
    assert_ne!(
        entry.history[0].submission_id, entry.history[1].submission_id,
        "submission ids continue"
    );
    second.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
