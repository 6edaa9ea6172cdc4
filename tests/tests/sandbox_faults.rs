//! Every fault the sandbox can play, through the SDK: what a user's code sees for each answer
//! CJ (or the network) can give, and what the sandbox's ledger then holds.

use std::time::{Duration, Instant};

use cj::tracking::Mode;
use cj::{Delivery, Error, RetryPolicy};
use cj_sandbox::Faults;
use cj_tests::{client_with, sample_cancel, sample_restate};
use serde_json::Value;

// README: begin
use cj::tracking::OrderCreateRequest;
use cj_sandbox::{Sandbox, SandboxConfig};

fn order(id: &str) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(id)
        .event_time(cj::jiff::Timestamp::now())
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .currency("USD")
        .amount("149.98".parse().expect("an amount"))
        .build()
}

fn client(sandbox: &Sandbox) -> cj::Client {
    cj::Client::builder()
        .token("any")
        .mode(cj::tracking::Mode::Live)
        .tracking_url(sandbox.tracking_url())
        .retry(cj::RetryPolicy::none())
        .build()
        .expect("a client")
}

#[tokio::test]
async fn a_partial_success_names_the_refused_orders() {
    // CJ refuses ORD-2 with a RequestError and accepts the others.
    let faults = "request-error=ORD-2".parse().expect("a fault spec");
    let config = SandboxConfig::new().faults(faults);
    let sandbox = Sandbox::start_with(config).await.expect("a sandbox");
    let orders = [order("ORD-1"), order("ORD-2"), order("ORD-3")];

    let response = client(&sandbox)
        .orders()
        .create(&orders)
        .await
        .expect("answered");

    assert!(!response.is_success());
    assert_eq!(response.errors[0].index, Some(1));
    assert_eq!(response.errors[0].order_id.as_deref(), Some("ORD-2"));
    let accepted: Vec<&str> = response
        .orders
        .iter()
        .map(|o| o.order_id.as_str())
        .collect();
    assert_eq!(accepted, ["ORD-1", "ORD-3"]);
    let ledger = sandbox.ledger().to_json();
    assert_eq!(ledger["orders"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_504_after_recording_is_an_unknown_outcome() {
    // CJ records the order, then its gateway answers 504.
    let faults = "status=504-after-record".parse().expect("a fault spec");
    let config = SandboxConfig::new().faults(faults);
    let sandbox = Sandbox::start_with(config).await.expect("a sandbox");

    let error = client(&sandbox)
        .orders()
        .create(&[order("ORD-1")])
        .await
        .expect_err("a 504");

    // Unknown: the order may have been recorded, and it was. Sending it again is safe (CJ
    // deduplicates on enterprise id + action tracker + order id).
    assert_eq!(error.delivery(), cj::Delivery::MaybeSent);
    let ledger = sandbox.ledger().to_json();
    assert_eq!(ledger["orders"][0]["orderId"], "ORD-1");
}
// README: end

/// A sandbox playing `spec` on every Tracking request.
async fn sandbox(spec: &str) -> Sandbox {
    let faults: Faults = spec.parse().expect("a valid spec");
    Sandbox::start_with(SandboxConfig::new().faults(faults))
        .await
        .expect("the sandbox starts")
}

/// A client that makes `retries` retries, 1 to 5 ms apart.
fn retrying(sandbox: &Sandbox, retries: u32) -> cj::Client {
    client_with(
        &sandbox.tracking_url(),
        Mode::Live,
        RetryPolicy::new(retries, Duration::from_millis(1), Duration::from_millis(5)),
    )
}

/// The ids of the orders in the ledger, and each one's actions.
fn recorded(sandbox: &Sandbox) -> Vec<(String, Vec<String>)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let ledger = sandbox.ledger().to_json();
    ledger["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let history = o["history"].as_array().into_iter().flatten();
            (
                text(&o["orderId"]),
                history.map(|e| text(&e["action"])).collect(),
            )
        })
        .collect()
}

fn orders(ids: &[&str]) -> Vec<OrderCreateRequest> {
    ids.iter().map(|id| order(id)).collect()
}

/// What a create of ORD-1 through `client` fails with.
async fn create_fails(client: &cj::Client) -> Error {
    client
        .orders()
        .create(&orders(&["ORD-1"]))
        .await
        .expect_err("a failure")
        .error
}

/// The ledger after ORD-1 was created once.
fn ord_1_created() -> Vec<(String, Vec<String>)> {
    vec![("ORD-1".into(), vec!["create".into()])]
}

#[tokio::test]
async fn refused_restates_and_cancels_name_their_own_argument() {
    let sandbox = sandbox("request-error=ORD-B").await;
    let client = retrying(&sandbox, 0);
    client
        .orders()
        .create(&orders(&["ORD-A"]))
        .await
        .expect("created");

    let restated = client
        .orders()
        .restate(&[sample_restate("ORD-A"), sample_restate("ORD-B")])
        .await
        .expect("answered");
    assert_eq!(restated.errors.len(), 1);
    assert_eq!(restated.errors[0].fields, ["restatedOrders[1]"]);
    assert_eq!(restated.errors[0].order_id.as_deref(), Some("ORD-B"));
    assert_eq!(restated.orders.len(), 1);

    let cancelled = client
        .orders()
        .cancel(&[sample_cancel("ORD-B"), sample_cancel("ORD-A")])
        .await
        .expect("answered");
    assert_eq!(cancelled.errors[0].fields, ["cancelledOrders[0]"]);
    assert_eq!(cancelled.errors[0].index, Some(0));
    assert_eq!(cancelled.orders[0].order_id, "ORD-A");
    assert!(cancelled.unconfirmed.is_empty());
    assert_eq!(
        recorded(&sandbox),
        [(
            "ORD-A".into(),
            vec!["create".into(), "restate".into(), "cancel".into()]
        )]
    );
}

#[tokio::test]
async fn a_5xx_is_an_unknown_outcome_and_nothing_is_recorded() {
    for status in [500, 502, 503] {
        let sandbox = sandbox(&format!("status={status}")).await;
        let error = create_fails(&retrying(&sandbox, 2)).await;
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(error.delivery(), Delivery::MaybeSent, "{error:?}");
        assert!(!error.is_refusal(), "a 5xx may be sent again");
        assert_eq!(recorded(&sandbox), []);
    }
}

#[tokio::test]
async fn a_429_is_not_processed() {
    let sandbox = sandbox("status=429").await;
    let error = create_fails(&retrying(&sandbox, 1)).await;
    assert_eq!(error.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(error.delivery(), Delivery::NotProcessed, "{error:?}");
    assert!(!error.is_refusal(), "a 429 may be sent again");
    assert_eq!(recorded(&sandbox), []);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_after_the_wait() {
    // CJ throttles the first request; the SDK waits as asked (up to its `max_delay`) and the
    // retry is accepted.
    let sandbox = sandbox("status=429;retry-after=1;times=1").await;
    let client = client_with(
        &sandbox.tracking_url(),
        Mode::Live,
        RetryPolicy::new(2, Duration::from_millis(1), Duration::from_secs(5)),
    );
    let started = Instant::now();
    let response = client
        .orders()
        .create(&orders(&["ORD-1"]))
        .await
        .expect("accepted on the retry");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert!(response.is_success());
    assert_eq!(recorded(&sandbox), ord_1_created());
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_and_the_order_may_have_been_recorded() {
    let sandbox = sandbox("delay=2000").await;
    let client = cj::Client::builder()
        .token("any")
        .mode(Mode::Live)
        .tracking_url(sandbox.tracking_url())
        .timeout(Duration::from_millis(200))
        .retry(RetryPolicy::none())
        .build()
        .expect("a client");
    let started = Instant::now();
    let error = create_fails(&client).await;
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(error.delivery(), Delivery::MaybeSent);
    assert_eq!(recorded(&sandbox), ord_1_created());
}

#[tokio::test]
async fn a_reset_after_recording_is_interrupted() {
    let sandbox = sandbox("reset-after-record").await;
    let error = create_fails(&retrying(&sandbox, 0)).await;
    assert!(matches!(error, Error::Interrupted { .. }), "{error:?}");
    assert_eq!(error.delivery(), Delivery::MaybeSent);
    assert_eq!(recorded(&sandbox), ord_1_created());
}

#[tokio::test]
async fn a_retry_after_a_reset_is_recorded_once() {
    // The answer is lost once; the SDK sends the order again, and CJ counts it once.
    let sandbox = sandbox("reset-after-record;times=1").await;
    let response = retrying(&sandbox, 2)
        .orders()
        .create(&orders(&["ORD-1"]))
        .await
        .expect("accepted on the retry");
    assert!(response.is_success());
    assert_eq!(
        recorded(&sandbox),
        [(
            "ORD-1".into(),
            vec!["create".into(), "duplicate create".into()]
        )]
    );
}

#[tokio::test]
async fn a_truncated_answer_is_an_unknown_outcome() {
    let sandbox = sandbox("truncate-after-record").await;
    let error = create_fails(&retrying(&sandbox, 0)).await;
    assert!(matches!(error, Error::Decode { .. }), "{error:?}");
    assert_eq!(error.delivery(), Delivery::MaybeSent);
    assert_eq!(recorded(&sandbox), ord_1_created());
}

#[tokio::test]
async fn a_rate_with_a_seed_refuses_the_same_orders_every_time() {
    let ids: Vec<String> = (0..40).map(|i| format!("ORD-{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sandbox = sandbox("request-error-rate=0.25;seed=2024").await;
        let response = retrying(&sandbox, 0)
            .orders()
            .create(&orders(&ids))
            .await
            .expect("answered");
        let refused: Vec<usize> = response.errors.iter().filter_map(|e| e.index).collect();
        assert_eq!(refused.len(), response.errors.len(), "each names its order");
        assert_eq!(response.orders.len() + refused.len(), ids.len());
        assert_eq!(recorded(&sandbox).len(), response.orders.len());
        runs.push(refused);
    }
    assert!((1..ids.len()).contains(&runs[0].len()), "{:?}", runs[0]);
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn the_readme_shows_these_tests_verbatim() {
    let source = include_str!("sandbox_faults.rs");
    let readme = include_str!("../../README.md");
    let shown = source
        .split("// README: begin\n")
        .nth(1)
        .and_then(|rest| rest.split("// README: end\n").next())
        .expect("the README part of this file");
    assert!(
        readme.contains(shown),
        "README.md's sandbox fault tests differ from tests/tests/sandbox_faults.rs"
    );
}
