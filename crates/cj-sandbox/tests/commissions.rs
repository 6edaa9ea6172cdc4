//! The Commission Detail API of the sandbox over plain HTTP: records built from the live
//! Tracking endpoint's orders, corrections, silent failures, CJ's range rule, paging, the
//! seeded publisher commissions and CJ's token answers.

use std::collections::BTreeSet;
use std::time::Duration;

use cj_sandbox::{Sandbox, SandboxConfig, SeedData};
use serde_json::{Value, json};

/// An HTTP client for the tests, with the SDK's TLS setup (see the dev-dependency on cj-transport).
fn http() -> reqwest::Client {
    cj_transport::tls::client_builder()
        .expect("a TLS setup")
        .build()
        .expect("an HTTP client")
}

const TOKEN: &str = "sandbox-test-token";

async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = http().post(url).json(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.expect("the sandbox answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The time `days` days ago.
fn days_ago(days: i64) -> String {
    jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * days))
        .expect("a time")
        .to_string()
}

/// A new order of Acme Outdoor's action tracker, of an hour ago: `fields` override or add to
/// it.
fn order(id: &str, fields: Value) -> Value {
    let an_hour_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .expect("a time");
    let mut order = json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": id,
        "eventTime": an_hour_ago.to_string(), "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
        "currency": "USD", "amount": "149.98"});
    if let (Some(o), Some(f)) = (order.as_object_mut(), fields.as_object()) {
        o.extend(f.clone());
    }
    order
}

/// Sends a mutation's orders to the live (or test) Tracking endpoint.
async fn send(sandbox: &Sandbox, live: bool, mutation: &str, orders: Vec<Value>) {
    let (argument, input) = match mutation {
        "createOrders" => ("newOrders", "OrderCreateRequest"),
        "restateOrders" => ("restatedOrders", "OrderRestateRequest"),
        _ => ("cancelledOrders", "OrderCancelRequest"),
    };
    let path = if live { "graphql" } else { "graphqltest" };
    let body = json!({
        "query": format!("mutation($o: [{input}!]!) {{ {mutation}({argument}: $o) {{ errors {{ message }} }} }}"),
        "variables": {"o": orders},
    });
    let url = format!("{}/{path}", sandbox.tracking_url());
    let (status, answer) = post(&url, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"][mutation]["errors"], json!([]), "{answer}");
}

const FIELDS: &str = "count limit maxCommissionId payloadComplete records { commissionId \
    originalActionId original orderId actionStatus actionType advertiserId publisherId \
    postingDate eventDate lockingDate lockingMethod validationStatus correctionReason \
    saleAmountUsd pubCommissionAmountUsd websiteId verticalAttributes { custStatus } \
    items { sku quantity totalCommissionUsd } }";

/// `advertiserCommissions` (or `publisherCommissions`) with these arguments (GraphQL text).
async fn query(sandbox: &Sandbox, root: &str, arguments: &str) -> Value {
    let (cids, fields) = if root == "advertiserCommissions" {
        (
            "forAdvertisers",
            FIELDS.replace("records {", "records { cjFeeUsd"),
        )
    } else {
        ("forPublishers", FIELDS.to_string())
    };
    let body = json!({"query": format!("{{ {root}({cids}: {arguments}) {{ {fields} }} }}")});
    let url = format!("{}/query", sandbox.commissions_url());
    let (status, answer) = post(&url, Some(TOKEN), &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The event dates of February 2026: one seeded commission.
const FEBRUARY_EVENTS: &str =
    "sinceEventDate: \"2026-02-01T00:00:00Z\", beforeEventDate: \"2026-03-01T00:00:00Z\"";

/// `publisherCommissions` of the sandbox's publisher with these further arguments.
async fn publisher_page(sandbox: &Sandbox, arguments: &str) -> Value {
    let arguments = format!("[\"7654321\"], {arguments}");
    query(sandbox, "publisherCommissions", &arguments).await
}

/// The records of Acme Outdoor's commissions posted in the last 24 hours (CJ's default).
async fn recent(sandbox: &Sandbox) -> Vec<Value> {
    let answer = query(sandbox, "advertiserCommissions", "[\"1234567\"]").await;
    records(&answer["data"]["advertiserCommissions"])
}

fn records(page: &Value) -> Vec<Value> {
    page["records"].as_array().cloned().unwrap_or_default()
}

fn order_ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["orderId"].as_str().map(String::from))
        .collect()
}

fn message(answer: &Value) -> String {
    answer["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_live_order_becomes_an_original_record() {
    let sandbox = Sandbox::start().await.expect("starts");
    let items = json!({"amount": null, "discount": "5.00", "promotionalPropertyId": 987654,
        "eventTime": "2026-11-01T10:00:00Z",
        "items": [{"sku": "SKU-BLK-LG", "unitPrice": "74.99", "quantity": 2, "discount": "0.98"}],
        "verticalParameters": {"customerStatus": "New", "advertiserVertical": "Retail"}});
    send(&sandbox, true, "createOrders", vec![order("ORD-1", items)]).await;
    let answer = query(&sandbox, "advertiserCommissions", "[\"1234567\"]").await;
    let page = &answer["data"]["advertiserCommissions"];
    assert_eq!(page["count"], 1, "{answer}");
    assert_eq!(page["payloadComplete"], true);
    assert_eq!(page["limit"], 10_000);
    let record = &page["records"][0];
    assert_eq!(page["maxCommissionId"], record["commissionId"]);
    assert_eq!(record["originalActionId"], record["commissionId"]);
    assert_eq!(record["original"], true);
    assert_eq!(record["orderId"], "ORD-1");
    assert_eq!(record["actionType"], "item_sale", "Acme's seeded tracker");
    assert_eq!(record["publisherId"], cj_sandbox::SANDBOX_PUBLISHER_ID);
    assert_eq!(record["eventDate"], "2026-11-01T10:00:00Z");
    assert_eq!(record["lockingDate"], "2026-12-01T10:00:00Z");
    assert_eq!(record["lockingMethod"], "FIXED_DURATION");
    assert_eq!(record["validationStatus"], "AUTOMATED");
    // 2 x 74.99 - 0.98 = 149.00; 10% to the publisher, 3% to CJ.
    assert_eq!(record["saleAmountUsd"], "149.00");
    assert_eq!(record["pubCommissionAmountUsd"], "14.90");
    assert_eq!(record["cjFeeUsd"], "4.47");
    assert_eq!(
        record["items"],
        json!([{"sku": "SKU-BLK-LG", "quantity": 2, "totalCommissionUsd": "14.90"}])
    );
    let posted = record["postingDate"].as_str().unwrap_or_default();
    let posted: jiff::Timestamp = posted.parse().expect("a posting date");
    assert!(jiff::Timestamp::now().duration_since(posted) < jiff::SignedDuration::from_secs(60));
    assert_eq!(record["verticalAttributes"]["custStatus"], "New");
    assert_eq!(record["websiteId"], "987654");

    // The publisher side sees it too, for the sandbox's publisher.
    let answer = query(&sandbox, "publisherCommissions", "[\"7654321\"]").await;
    let page = &answer["data"]["publisherCommissions"];
    assert_eq!(order_ids(&records(page)), BTreeSet::from(["ORD-1".into()]));
    let answer = query(&sandbox, "publisherCommissions", "[\"1111111\"]").await;
    assert_eq!(answer["data"]["publisherCommissions"]["count"], 0);
}

#[tokio::test]
async fn a_restate_and_a_cancel_become_corrections_of_the_difference() {
    let sandbox = Sandbox::start().await.expect("starts");
    let orders = vec![
        order("ORD-R", json!({})),
        order("ORD-C", json!({"amount": "80.00"})),
    ];
    send(&sandbox, true, "createOrders", orders).await;
    let restate = json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "ORD-R",
        "updateTime": "2026-11-02T10:00:00Z", "amount": "100.00",
        "correctionReason": "ReturnedMerchandise"});
    send(&sandbox, true, "restateOrders", vec![restate.clone()]).await;
    let cancel = json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "ORD-C",
        "updateTime": "2026-11-02T10:00:00Z", "correctionReason": "InvalidCreditCard"});
    send(&sandbox, true, "cancelOrders", vec![cancel.clone()]).await;
    // A second restate corrects from the restated state; a second cancel fails processing.
    let mut again = restate;
    again["amount"] = json!("100.50");
    again["correctionReason"] = Value::Null;
    send(&sandbox, true, "restateOrders", vec![again]).await;
    let mut late = cancel;
    late["orderId"] = json!("ORD-C");
    send(&sandbox, true, "cancelOrders", vec![late]).await;

    let records = recent(&sandbox).await;
    let summary: Vec<(String, bool, String, String, Value)> = records
        .iter()
        .map(|r| {
            (
                r["orderId"].as_str().unwrap_or_default().to_string(),
                r["original"].as_bool().unwrap_or_default(),
                r["saleAmountUsd"].as_str().unwrap_or_default().to_string(),
                r["pubCommissionAmountUsd"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["correctionReason"].clone(),
            )
        })
        .collect();
    let row = |id: &str, original, sale: &str, commission: &str, reason: Value| {
        (
            id.to_string(),
            original,
            sale.into(),
            commission.into(),
            reason,
        )
    };
    assert_eq!(
        summary,
        [
            row("ORD-R", true, "149.98", "15.00", Value::Null),
            row("ORD-C", true, "80.00", "8.00", Value::Null),
            // A restatement is two records, as CJ shows it: a reversal to zero, then the
            // new state.
            row(
                "ORD-R",
                false,
                "-149.98",
                "-15.00",
                json!("RETURNED_MERCHANDISE")
            ),
            row(
                "ORD-R",
                false,
                "100.00",
                "10.00",
                json!("RETURNED_MERCHANDISE")
            ),
            row(
                "ORD-C",
                false,
                "-80.00",
                "-8.00",
                json!("INVALID_CREDIT_CARD")
            ),
            row("ORD-R", false, "-100.00", "-10.00", Value::Null),
            row("ORD-R", false, "100.50", "10.05", Value::Null),
        ]
    );
    let id = |i: usize| records[i]["commissionId"].clone();
    for (correction, original) in [(2, 0), (3, 0), (4, 1), (5, 0), (6, 0)] {
        assert_eq!(records[correction]["originalActionId"], id(original));
        assert_eq!(
            records[correction]["eventDate"],
            records[original]["eventDate"]
        );
    }
    assert_eq!(records[4]["items"], json!([]), "a cancel leaves no items");
    assert_eq!(records[2]["items"], json!([]), "a reversal has no items");
    let ids: Vec<u64> = records
        .iter()
        .filter_map(|r| r["commissionId"].as_str()?.parse().ok())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[tokio::test]
async fn open_ended_orders_are_validated_through_their_corrections() {
    let sandbox = Sandbox::start().await.expect("starts");
    let stay = |id: &str| {
        json!({"enterpriseId": "3456789", "actionTrackerId": 334455, "orderId": id,
            "eventTime": "2026-11-01T10:00:00Z", "cjEvent": "abc", "amount": "300.00"})
    };
    send(
        &sandbox,
        true,
        "createOrders",
        vec![stay("STAY-1"), stay("STAY-2"), stay("STAY-3")],
    )
    .await;
    let update = |id: &str, status: Value| {
        json!({"enterpriseId": "3456789", "actionTrackerId": 334455, "orderId": id,
            "updateTime": "2026-11-02T10:00:00Z", "amount": "280.00", "status": status})
    };
    // Accepted; declined; and a restate without its status, which fails processing.
    send(
        &sandbox,
        true,
        "restateOrders",
        vec![
            update("STAY-1", json!("Accepted")),
            update("STAY-3", Value::Null),
        ],
    )
    .await;
    let decline = json!({"enterpriseId": "3456789", "actionTrackerId": 334455,
        "orderId": "STAY-2", "updateTime": "2026-11-02T10:00:00Z", "status": "Declined"});
    send(&sandbox, true, "cancelOrders", vec![decline]).await;

    let answer = query(&sandbox, "advertiserCommissions", "[\"3456789\"]").await;
    let statuses: Vec<(String, String, String)> = records(&answer["data"]["advertiserCommissions"])
        .iter()
        .map(|r| {
            let text = |f: &str| r[f].as_str().unwrap_or_default().to_string();
            (
                text("orderId"),
                text("validationStatus"),
                text("saleAmountUsd"),
            )
        })
        .collect();
    let row = |id: &str, status: &str, sale: &str| (id.into(), status.into(), sale.into());
    assert_eq!(
        statuses,
        [
            row("STAY-1", "PENDING", "300.00"),
            row("STAY-2", "PENDING", "300.00"),
            row("STAY-3", "PENDING", "300.00"),
            // The reversal keeps the state it reverses; the new state is accepted.
            row("STAY-1", "PENDING", "-300.00"),
            row("STAY-1", "ACCEPTED", "280.00"),
            row("STAY-2", "DECLINED", "-300.00"),
        ]
    );
}

#[tokio::test]
async fn unattributed_and_test_mode_orders_never_appear() {
    let sandbox = Sandbox::start().await.expect("starts");
    send(
        &sandbox,
        false,
        "createOrders",
        vec![order("TEST-1", json!({}))],
    )
    .await;
    let lost = order("LOST-1", json!({"cjEvent": "unattributed-42"}));
    send(
        &sandbox,
        true,
        "createOrders",
        vec![order("KEPT-1", json!({})), lost],
    )
    .await;
    // Its restate is not a record either: there is no original to correct.
    let restate = json!({"enterpriseId": "1234567", "actionTrackerId": 123456,
        "orderId": "LOST-1", "updateTime": "2026-11-02T10:00:00Z", "amount": "1.00"});
    send(&sandbox, true, "restateOrders", vec![restate]).await;

    let counts = sandbox.ledger().counts().expect("counts");
    assert_eq!(counts.orders, 2, "the live endpoint recorded both");
    assert_eq!(
        order_ids(&recent(&sandbox).await),
        BTreeSet::from(["KEPT-1".into()])
    );
}

/// The order ids, of `ids`, that a sandbox with this share and seed makes records of.
async fn processed(share: f64, seed: u64, ids: &[String]) -> BTreeSet<String> {
    let config = SandboxConfig::new().unprocessed_share(share, seed);
    let sandbox = Sandbox::start_with(config).await.expect("starts");
    let orders = ids.iter().map(|id| order(id, json!({}))).collect();
    send(&sandbox, true, "createOrders", orders).await;
    order_ids(&recent(&sandbox).await)
}

#[tokio::test]
async fn the_unprocessed_share_is_the_same_orders_for_a_seed() {
    let ids: Vec<String> = (0..60).map(|i| format!("SHARE-{i}")).collect();
    let first = processed(0.25, 7, &ids).await;
    assert_eq!(first, processed(0.25, 7, &ids).await, "deterministic");
    assert_ne!(first, processed(0.25, 8, &ids).await, "another seed");
    let failed = ids.len() - first.len();
    assert!((5..=25).contains(&failed), "{failed} of 60 failed");
    assert_eq!(processed(0.0, 7, &ids).await.len(), 60);
    assert!(processed(1.0, 7, &ids).await.is_empty());
}

#[tokio::test]
async fn the_processing_delay_holds_records_back() {
    let config = SandboxConfig::new().processing_delay(Duration::from_secs(1));
    let sandbox = Sandbox::start_with(config).await.expect("starts");
    let sent = jiff::Timestamp::now();
    send(
        &sandbox,
        true,
        "createOrders",
        vec![order("SLOW-1", json!({}))],
    )
    .await;
    assert_eq!(
        recent(&sandbox).await,
        Vec::<Value>::new(),
        "not processed yet"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let records = recent(&sandbox).await;
    assert_eq!(order_ids(&records), BTreeSet::from(["SLOW-1".into()]));
    let posted: jiff::Timestamp = records[0]["postingDate"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .expect("a posting date");
    assert!(
        posted.duration_since(sent) >= jiff::SignedDuration::from_secs(1),
        "posted when processed: {posted}, sent {sent}"
    );
}

#[tokio::test]
async fn pages_follow_since_commission_id_up_to_the_payload_limit() {
    let config = SandboxConfig::new().commission_page_limit(3);
    let sandbox = Sandbox::start_with(config).await.expect("starts");
    let orders = (0..7)
        .map(|i| order(&format!("PAGE-{i}"), json!({})))
        .collect();
    send(&sandbox, true, "createOrders", orders).await;
    let mut since = String::new();
    let mut pages = Vec::new();
    loop {
        let arguments = if since.is_empty() {
            "[\"1234567\"]".to_string()
        } else {
            format!("[\"1234567\"], sinceCommissionId: \"{since}\"")
        };
        let answer = query(&sandbox, "advertiserCommissions", &arguments).await;
        let page = answer["data"]["advertiserCommissions"].clone();
        let records = records(&page);
        assert_eq!(page["count"], records.len());
        assert_eq!(page["limit"], 3);
        pages.push(order_ids(&records).len());
        if page["payloadComplete"] == true {
            break;
        }
        assert_eq!(
            page["maxCommissionId"],
            records
                .last()
                .map_or(Value::Null, |r| r["commissionId"].clone())
        );
        since = page["maxCommissionId"].as_str().unwrap_or_default().into();
        assert!(pages.len() < 10, "the cursor advances");
    }
    assert_eq!(pages, [3, 3, 1]);
}

#[tokio::test]
async fn a_page_also_ends_where_the_answer_limit_would_be_passed() {
    let config = SandboxConfig::new().max_answer_bytes(30_000);
    let sandbox = Sandbox::start_with(config).await.expect("starts");
    let orders = (0..40)
        .map(|i| order(&format!("BIG-{i}"), json!({})))
        .collect();
    send(&sandbox, true, "createOrders", orders).await;
    let all = "{ advertiserCommissions(forAdvertisers: [\"1234567\"], sinceCommissionId: SINCE) \
        { count payloadComplete maxCommissionId records { ...R } } } \
        fragment R on AdvertiserCommission { commissionId orderId actionStatus actionTrackerId \
        actionTrackerName actionType adOwner advCommissionAmountAdvCurrency advertiserId \
        advertiserName aid clickDate commissionId concludingBrowser country coupon eventDate \
        lockingDate orderId original originalActionId postingDate publisherId publisherName \
        saleAmountUsd websiteId verticalAttributes { brand city } }";
    let url = format!("{}/query", sandbox.commissions_url());
    let (mut since, mut seen, mut calls) = ("\"0\"".to_string(), BTreeSet::new(), 0);
    loop {
        calls += 1;
        let body = json!({"query": all.replace("SINCE", &since)});
        let (_, answer) = post(&url, Some(TOKEN), &body).await;
        let page = &answer["data"]["advertiserCommissions"];
        assert!(page.is_object(), "{answer}");
        seen.extend(order_ids(&records(page)));
        if page["payloadComplete"] == true {
            break;
        }
        since = page["maxCommissionId"].to_string();
    }
    assert_eq!(seen.len(), 40);
    assert!(calls > 1, "the answers were cut to fit");
}

#[tokio::test]
async fn a_range_longer_than_31_days_is_a_graphql_error() {
    let sandbox = Sandbox::start().await.expect("starts");
    let answer = query(
        &sandbox,
        "advertiserCommissions",
        "[\"1234567\"], sinceEventDate: \"2026-01-01T00:00:00Z\", \
         beforeEventDate: \"2026-02-10T00:00:00Z\"",
    )
    .await;
    assert!(answer["data"].is_null(), "{answer}");
    assert_eq!(
        message(&answer),
        "The date range from sinceEventDate to beforeEventDate is longer than 31 days \
         (40 days); the maximum date range is 31 days"
    );
    let answer = publisher_page(
        &sandbox,
        "sinceLockingDate: \"2026-02-10T00:00:00Z\", \
         beforeLockingDate: \"2026-01-10T00:00:00Z\"",
    )
    .await;
    assert_eq!(
        message(&answer),
        "sinceLockingDate must be before beforeLockingDate"
    );
    // Exactly 31 days is allowed; one bound alone is the 24 hours from it.
    let answer = publisher_page(
        &sandbox,
        "sincePostingDate: \"2026-02-20T00:00:00Z\", \
         beforePostingDate: \"2026-03-23T00:00:00Z\"",
    )
    .await;
    assert_eq!(
        answer["data"]["publisherCommissions"]["count"], 4,
        "{answer}"
    );
    let answer = publisher_page(&sandbox, "sincePostingDate: \"2026-03-02T00:00:00Z\"").await;
    let page = &answer["data"]["publisherCommissions"];
    assert_eq!(page["records"][0]["commissionId"], "1001", "{answer}");
    assert_eq!(page["count"], 1);
}

#[tokio::test]
async fn the_seed_has_publisher_commissions_with_a_correction_and_an_odd_status() {
    let sandbox = Sandbox::start().await.expect("starts");
    let answer = publisher_page(&sandbox, FEBRUARY_EVENTS).await;
    let page = &answer["data"]["publisherCommissions"];
    assert_eq!(page["records"][0]["commissionId"], "1005", "{answer}");
    assert_eq!(page["records"][0]["actionStatus"], "closed");
    let answer = publisher_page(
        &sandbox,
        "sinceEventDate: \"2026-03-01T00:00:00Z\", \
         beforeEventDate: \"2026-03-31T00:00:00Z\"",
    )
    .await;
    let records = records(&answer["data"]["publisherCommissions"]);
    let ids: Vec<&str> = records
        .iter()
        .filter_map(|r| r["commissionId"].as_str())
        .collect();
    assert_eq!(ids, ["1001", "1002", "1003", "1004"]);
    let correction = &records[1];
    assert_eq!(correction["original"], false);
    assert_eq!(correction["originalActionId"], "1001");
    assert_eq!(correction["saleAmountUsd"], "-74.99");
    assert_eq!(correction["pubCommissionAmountUsd"], "-3.75");
    assert_eq!(correction["correctionReason"], "RETURNED_MERCHANDISE");
    assert_eq!(records[2]["actionStatus"], "New", "kept as seeded");
    assert_eq!(records[3]["lockingMethod"], "OPEN_ENDED");
}

/// The order ids of Acme Outdoor's records with these arguments.
async fn filtered(sandbox: &Sandbox, arguments: String) -> Vec<String> {
    let answer = query(sandbox, "advertiserCommissions", &arguments).await;
    assert!(answer["errors"].is_null(), "{answer}");
    order_ids(&records(&answer["data"]["advertiserCommissions"]))
        .into_iter()
        .collect()
}

#[tokio::test]
async fn filters_narrow_the_records() {
    let sandbox = Sandbox::start().await.expect("starts");
    let orders = vec![
        order("F-1", json!({"adId": 111, "eventTime": days_ago(40)})),
        order("F-2", json!({"promotionalPropertyId": 222})),
        order(
            "F-3",
            json!({"items": [{"sku": "S", "unitPrice": "1.00", "quantity": 1}]}),
        ),
    ];
    send(&sandbox, true, "createOrders", orders).await;
    let all = recent(&sandbox).await;
    let first_id = all[0]["commissionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ids = |arguments: &str| filtered(&sandbox, format!("[\"1234567\"], {arguments}"));
    assert_eq!(
        ids(&format!("commissionIds: [\"{first_id}\", \"x\"]")).await,
        ["F-1"]
    );
    assert_eq!(
        ids(&format!("sinceCommissionId: \"{first_id}\"")).await,
        ["F-2", "F-3"]
    );
    assert_eq!(ids("adIds: [\"111\"]").await, ["F-1"]);
    assert_eq!(ids("websiteIds: [\"222\"]").await, ["F-2"]);
    assert_eq!(ids("actionTypes: [\"item_sale\"]").await.len(), 3);
    assert_eq!(ids("publisherIds: [\"7654321\"]").await.len(), 3);
    assert_eq!(ids("publisherIds: [\"1\"]").await.len(), 0);
    assert_eq!(ids("lockingMethods: [FIXED_DURATION]").await.len(), 3);
    assert_eq!(ids("validationStatuses: [PENDING]").await.len(), 0);
    // F-1 happened 40 days ago: its locking date (30 days after) has passed.
    assert_eq!(ids("actionStatuses: [\"locked\"]").await, ["F-1"]);
    assert_eq!(ids("actionStatuses: [\"new\"]").await, ["F-2", "F-3"]);

    let answer = query(
        &sandbox,
        "advertiserCommissions",
        "[\"1234567\"], sinceCommissionId: \"abc\"",
    )
    .await;
    assert_eq!(
        message(&answer),
        "sinceCommissionId must be a commission id (digits), not \"abc\""
    );
}

#[tokio::test]
async fn advertisers_the_token_may_not_read_are_unauthorized() {
    let mut data = SeedData::bundled();
    data.tracking.enterprises = Some(vec!["1234567".into()]);
    let sandbox = Sandbox::start_with(SandboxConfig::new().data(data))
        .await
        .expect("starts");
    let answer = query(&sandbox, "advertiserCommissions", "[\"2345678\"]").await;
    assert_eq!(message(&answer), "Unauthorized");
    let answer = query(&sandbox, "advertiserCommissions", "[\"1234567\"]").await;
    assert!(answer["errors"].is_null(), "{answer}");
}

#[tokio::test]
async fn a_bad_token_gets_cjs_answer_and_is_never_echoed() {
    let config = SandboxConfig::new().accepted_tokens([TOKEN]);
    let sandbox = Sandbox::start_with(config).await.expect("starts");
    let url = format!("{}/query", sandbox.commissions_url());
    let body = json!({"query": "{ publisherCommissions(forPublishers: [\"7654321\"]) { count } }"});
    let secret = "not-the-token-s3cr3t";
    let (status, answer) = post(&url, Some(secret), &body).await;
    assert_eq!((status, message(&answer)), (200, "Invalid Token".into()));
    assert!(answer["data"].is_null());
    assert!(!answer.to_string().contains(secret), "{answer}");
    let (status, answer) = post(&url, None, &body).await;
    assert_eq!((status, message(&answer)), (200, "Missing Token".into()));
    let (status, answer) = post(&url, Some(TOKEN), &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["publisherCommissions"]["count"], 0);
}

/// A sandbox on the ledger file `path`, after a live create of `order_id`.
async fn restart(path: &std::path::Path, order_id: &str) -> Sandbox {
    let sandbox = Sandbox::start_with(SandboxConfig::new().ledger_path(path))
        .await
        .expect("starts");
    send(
        &sandbox,
        true,
        "createOrders",
        vec![order(order_id, json!({}))],
    )
    .await;
    sandbox
}

#[tokio::test]
async fn a_restarted_sandbox_keeps_its_records_and_seeds_once() {
    let dir = std::env::temp_dir().join(format!("cj-sandbox-commissions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("ledger.sqlite");
    let _ = std::fs::remove_file(&path);
    let first = restart(&path, "KEEP-1").await;
    let before = recent(&first).await;
    first.stop().await;

    let second = restart(&path, "KEEP-2").await;
    let after = recent(&second).await;
    assert_eq!(
        after.first(),
        before.first(),
        "the same record, not processed again"
    );
    assert_eq!(
        order_ids(&after),
        BTreeSet::from(["KEEP-1".into(), "KEEP-2".into()])
    );
    let seeded = publisher_page(&second, FEBRUARY_EVENTS).await;
    assert_eq!(
        seeded["data"]["publisherCommissions"]["count"], 1,
        "{seeded}"
    );
    second.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
