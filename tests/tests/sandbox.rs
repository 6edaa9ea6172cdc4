//! The whole product through the facade, against the bundled sandbox: the order lifecycle in
//! live and test mode, program terms with an estimate, advertiser lookups, and refusals.

use cj::advertiser_lookup::{AdvertiserIds, Keywords, LookupQuery};
use cj::program_terms::{OrderContext, TryStreamExt, estimate};
use cj::tracking::{
    Mode, OrderCancelRequest, OrderCancellationStatus, OrderRestateRequest, OrderStatus,
};
use cj::{Delivery, Error};
use cj_sandbox::{Sandbox, SandboxConfig};
use cj_tests::{past, sample_create};
use serde_json::Value;

fn client(sandbox: &Sandbox, mode: Mode, token: &str) -> cj::Client {
    cj::Client::builder()
        .token(token)
        .mode(mode)
        .tracking_url(sandbox.tracking_url())
        .program_terms_url(sandbox.program_terms_url())
        .advertiser_lookup_url(sandbox.advertiser_lookup_url())
        .build()
        .expect("the client builds")
}

fn states(ledger: &Value) -> Vec<(String, String)> {
    ledger["orders"]
        .as_array()
        .map(|orders| {
            orders
                .iter()
                .map(|o| {
                    (
                        o["orderId"].as_str().unwrap_or_default().into(),
                        o["state"].as_str().unwrap_or_default().into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_order_lifecycle_end_to_end() {
    let sandbox = Sandbox::start().await.expect("the sandbox starts");
    let live = client(&sandbox, Mode::Live, "demo-token");

    let mut stay = sample_create("STAY-1");
    stay.enterprise_id = "3456789".into();
    stay.action_tracker_id = 334455; // open-ended in the bundled seed
    let mut stay2 = stay.clone();
    stay2.order_id = "STAY-2".into();
    let created = live
        .orders()
        .create(&[sample_create("ORD-1"), stay, stay2])
        .await
        .expect("created");
    assert!(created.is_success());
    let statuses: Vec<Option<OrderStatus>> =
        created.orders.iter().map(|o| o.status.clone()).collect();
    assert_eq!(
        statuses,
        [None, Some(OrderStatus::Pending), Some(OrderStatus::Pending)]
    );
    assert_eq!(
        created.orders[0].amount.map(|a| a.to_string()).as_deref(),
        Some("149.98")
    );
    assert_eq!(created.orders[0].items.len(), 2);

    let restate = OrderRestateRequest::builder()
        .enterprise_id("3456789")
        .action_tracker_id(334455)
        .order_id("STAY-1")
        .update_time(past("2024-02-01T00:00:00Z"))
        .amount("280.00".parse().expect("decimal"))
        .status(OrderStatus::Accepted)
        .build();
    let restated = live.orders().restate(&[restate]).await.expect("restated");
    assert_eq!(restated.orders[0].status, Some(OrderStatus::Accepted));

    let cancel = OrderCancelRequest::builder()
        .enterprise_id("3456789")
        .action_tracker_id(334455)
        .order_id("STAY-2")
        .update_time(past("2024-02-02T00:00:00Z"))
        .status(OrderCancellationStatus::Declined)
        .build();
    let cancelled = live.orders().cancel(&[cancel]).await.expect("cancelled");
    assert_eq!(
        cancelled.orders[0].status,
        Some(OrderCancellationStatus::Declined)
    );

    // A resend after a lost answer is safe: CJ (and the sandbox) count the order once.
    live.orders()
        .create(&[sample_create("ORD-1")])
        .await
        .expect("resent");

    let ledger = sandbox.ledger().to_json();
    assert_eq!(
        states(&ledger),
        [
            ("ORD-1".into(), "new".into()),
            ("STAY-1".into(), "accepted".into()),
            ("STAY-2".into(), "declined".into())
        ]
    );
    // A restatement replaces what it carries and keeps the attribution it leaves out.
    let restated = &ledger["orders"][1]["order"];
    assert_eq!(restated["amount"], "280.00");
    assert_eq!(restated["cjEvent"], "7166ddf3b35b11eb834200a10a1eb972");
    assert_eq!(restated["eventTime"], "2024-01-15T18:08:36.089Z");
    assert_eq!(restated["currency"], "USD");
    // A cancel sets the order's status with its state.
    assert_eq!(ledger["orders"][2]["order"]["status"], "Declined");

    // Test mode validates the same way and records nothing.
    let test = client(&sandbox, Mode::Test, "demo-token");
    test.orders()
        .create(&[sample_create("ORD-TEST")])
        .await
        .expect("validated");
    assert_eq!(
        sandbox.ledger().to_json()["orders"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn refusals_from_the_sandbox_are_typed() {
    let sandbox = Sandbox::start_with(SandboxConfig::new().accepted_tokens(["good"]))
        .await
        .expect("starts");
    let err = client(&sandbox, Mode::Test, "bad")
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect_err("refused");
    assert_eq!(err.delivery(), Delivery::Answered);
    assert!(
        matches!(&err.error, Error::GraphQL { errors, .. } if errors[0].message == "Invalid Token")
    );
    let err = client(&sandbox, Mode::Test, "bad")
        .advertiser_lookup()
        .page(&LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
        .await
        .expect_err("refused");
    match &err {
        Error::Api { status, message } => {
            assert_eq!(status.as_u16(), 401);
            assert_eq!(
                message, "Not Authenticated: [REDACTED]",
                "the echoed token is redacted"
            );
        }
        other => panic!("expected a CJ error, got {other:?}"),
    }
}

#[tokio::test]
async fn program_terms_and_an_estimate_end_to_end() {
    let sandbox = Sandbox::start().await.expect("starts");
    let client = client(&sandbox, Mode::Test, "demo-token");
    let contracts: Vec<_> = client
        .program_terms()
        .contracts("7654321")
        .stream()
        .try_collect()
        .await
        .expect("every contract");
    assert_eq!(contracts.len(), 5);
    let page = client
        .program_terms()
        .contracts("7654321")
        .page(2, 0)
        .await
        .expect("a page");
    assert_eq!((page.count, page.total_count), (2, 5));
    let acme = client
        .program_terms()
        .contracts("7654321")
        .advertiser("1234567")
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .expect("acme");
    assert_eq!(acme.len(), 1);
    let order = sample_create("ORD-1");
    let e = estimate(
        &acme[0].program_terms,
        &order,
        &OrderContext::new().item_list("777", ["SKU-BLK-LG"]),
    )
    .expect("an estimate");
    // 2 × 74.99 at the Tents rate (12.5%); the gift wrap at the base rate on 0.
    assert_eq!(
        e.items[0]
            .amount
            .as_ref()
            .map(|m| m.amount.to_string())
            .as_deref(),
        Some("18.75")
    );
    assert_eq!(
        e.items[0].commission.as_ref().map(|c| c.commission.rank),
        Some(10)
    );
    assert_eq!(e.performance_incentives.len(), 1);
}

#[tokio::test]
async fn advertiser_lookups_end_to_end() {
    let sandbox = Sandbox::start().await.expect("starts");
    let client = client(&sandbox, Mode::Test, "demo-token");
    let lookup = client.advertiser_lookup();
    let joined: Vec<_> = lookup
        .stream(
            LookupQuery::new("4567")
                .advertiser_ids(AdvertiserIds::Joined)
                .records_per_page(2),
        )
        .try_collect()
        .await
        .expect("every page");
    let ids: Vec<&str> = joined.iter().map(|a| a.advertiser_id.as_str()).collect();
    assert_eq!(ids, ["1234567", "2345678", "3456789"]);
    let page = lookup
        .page(
            &LookupQuery::new("4567")
                .keywords(Keywords::new().required("kitchen").excluded("sink")),
        )
        .await
        .expect("a page");
    assert_eq!(page.advertisers.len(), 1);
    assert_eq!(
        page.advertisers[0].advertiser_name.as_deref(),
        Some("Acme Outdoor")
    );
    let by_url = lookup
        .page(&LookupQuery::new("4567").advertiser_name("nordic-stays.example"))
        .await
        .expect("a page");
    assert_eq!(by_url.advertisers[0].advertiser_id, "3456789");
}
