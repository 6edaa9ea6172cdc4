//! The order lifecycle through the facade, against loopback servers: what is sent, how both of
//! CJ's error channels and every transport failure come back, splitting, retries, and the token.

use cj::tracking::{Mode, OrderCreateRequest, SubmitError, Validation};
use cj::{Delivery, Error};
use cj_tests::{
    CANARY, Reply, ScriptedServer, capture_logs, client, patient_client, sample_cancel,
    sample_create, sample_restate,
};
use httpmock::prelude::*;
use serde_json::{Value, json};

fn body_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the body is JSON")
}

/// A body as indented JSON text, written by serde_json itself (insta's own JSON writer does not
/// know serde_json's exact-number representation).
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("prints")
}

/// A mock of CJ's test endpoint that answers every request with `status` and `body`.
async fn cj_answering(status: u16, body: impl ToString) -> MockServer {
    let server = MockServer::start_async().await;
    let body = body.to_string();
    server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(status).body(body);
        })
        .await;
    server
}

/// One sample order sent to `server`'s test endpoint.
async fn create_one(
    server: &MockServer,
) -> Result<cj::tracking::OrderResponse, SubmitError<cj::tracking::Order>> {
    client(&server.base_url(), Mode::Test)
        .orders()
        .create(&[sample_create("A-1")])
        .await
}

/// A realistic `Order` as CJ returns it.
fn order_json(order_id: &str, submission: &str) -> Value {
    json!({
        "submissionId": submission,
        "batchId": "b-20240115-01",
        "orderReceivedTime": "2024-01-15T18:08:37.512Z",
        "advertiser": {"enterpriseId": 1234567},
        "actionTracker": {"id": 123456},
        "orderId": order_id,
        "eventTime": "2024-01-15T13:08:36.089-05:00",
        "updateTime": null,
        "ad": null,
        "promotionalProperty": {"id": 987654},
        "sid": null,
        "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
        "amount": "149.98",
        "discount": "0.00",
        "verticalParameters": {"advertiserVertical": "Retail", "customerStatus": "New"},
        "customParameters": [{"name": "mkt_channel", "value": "affiliate"}],
        "items": [{"unitPrice": "74.99", "quantity": 2, "sku": "SKU-BLK-LG", "discount": "0.00"}],
        "coupon": "SUMMER10",
        "currency": "USD",
        "bypassChannel": null,
        "status": "Pending",
        "correctionReason": null,
        "ids": null
    })
}

#[tokio::test]
async fn create_posts_the_exact_body_to_the_test_endpoint_and_parses_the_answer() {
    let server = MockServer::start_async().await;
    let client = client(&server.base_url(), Mode::Test);
    let orders = [sample_create("ORD-2024-001234")];
    let bodies = client.orders().encode_create(&orders).expect("valid");
    assert_eq!(bodies.len(), 1);
    let sent = body_json(&bodies[0]);
    insta::assert_snapshot!("create_request_body", pretty(&sent));

    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/graphqltest")
                .header("authorization", format!("Bearer {CANARY}"))
                .header("content-type", "application/json")
                .header("user-agent", cj::DEFAULT_USER_AGENT)
                .json_body(sent.clone());
            then.status(200).json_body(json!({
                "data": {"createOrders": {
                    "orders": [order_json("ORD-2024-001234", "s-1")],
                    "errors": []
                }}
            }));
        })
        .await;
    let response = client.orders().create(&orders).await.expect("accepted");
    mock.assert_async().await;
    assert!(response.is_success());
    insta::assert_debug_snapshot!("create_response_parsed", response);
}

#[tokio::test]
async fn live_mode_posts_to_graphql() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/graphql");
            then.status(200)
                .json_body(json!({"data": {"createOrders": {"orders": [], "errors": null}}}));
        })
        .await;
    let client = client(&format!("{}/", server.base_url()), Mode::Live);
    assert_eq!(client.orders().endpoint().path(), "/graphql");
    client
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect("answered");
    mock.assert_async().await;
}

#[tokio::test]
async fn restate_and_cancel_send_their_own_mutations() {
    let server = MockServer::start_async().await;
    let client = client(&server.base_url(), Mode::Test);
    let restate = body_json(
        &client
            .orders()
            .encode_restate(&[sample_restate("ORD-1")])
            .expect("valid")[0],
    );
    let cancel = body_json(
        &client
            .orders()
            .encode_cancel(&[sample_cancel("ORD-1")])
            .expect("valid")[0],
    );
    insta::assert_snapshot!("restate_request_body", pretty(&restate));
    insta::assert_snapshot!("cancel_request_body", pretty(&cancel));

    let mut restated = order_json("ORD-1", "s-2");
    restated["status"] = json!("Accepted");
    restated["correctionReason"] = json!("ReturnedMerchandise");
    let restate_mock = server
        .mock_async(|when, then| {
            when.path("/graphqltest").json_body(restate.clone());
            then.status(200).json_body(
                json!({"data": {"restateOrders": {"orders": [restated], "errors": null}}}),
            );
        })
        .await;
    let cancel_mock = server
        .mock_async(|when, then| {
            when.path("/graphqltest").json_body(cancel.clone());
            then.status(200).json_body(json!({"data": {"cancelOrders": {
                "orders": [{
                    "submissionId": "s-3", "batchId": "b-2",
                    "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
                    "orderId": "ORD-1", "updateTime": "2024-01-21T10:30:00Z",
                    "status": "Declined", "correctionReason": "BookingCanceled"
                }],
                "errors": null
            }}}));
        })
        .await;

    let r = client
        .orders()
        .restate(&[sample_restate("ORD-1")])
        .await
        .expect("restated");
    assert_eq!(
        r.orders[0].status,
        Some(cj::tracking::OrderStatus::Accepted)
    );
    let c = client
        .orders()
        .cancel(&[sample_cancel("ORD-1")])
        .await
        .expect("cancelled");
    insta::assert_debug_snapshot!("cancel_response_parsed", c);
    restate_mock.assert_async().await;
    cancel_mock.assert_async().await;
}

#[tokio::test]
async fn graphql_errors_without_data_are_a_refusal() {
    for message in ["Missing Token", "Invalid Token", "Unauthorized"] {
        let server =
            cj_answering(200, json!({"data": null, "errors": [{"message": message}]})).await;
        let err = create_one(&server).await.expect_err("refused");
        assert_eq!(err.delivery(), Delivery::Answered);
        match &err.error {
            Error::GraphQL { errors, .. } => assert_eq!(errors[0].message, message),
            other => panic!("expected GraphQL errors, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn schema_validation_errors_come_back_with_their_message() {
    let server = MockServer::start_async().await;
    let message = "Validation error of type WrongType: argument 'newOrders[0].amount' with value \
                   'StringValue{value='abc'}' is not a valid 'NonNegativeDecimalNumber'";
    server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(200).json_body(json!({
                "errors": [{"message": message, "locations": [{"line": 1, "column": 40}],
                            "extensions": {"classification": "ValidationError"}}],
                "data": null
            }));
        })
        .await;
    let err = create_one(&server).await.expect_err("refused");
    let Error::GraphQL { errors, .. } = &err.error else {
        panic!("expected GraphQL errors, got {:?}", err.error);
    };
    assert_eq!(errors[0].message, message);
    assert_eq!(
        errors[0].extensions,
        Some(json!({"classification": "ValidationError"}))
    );
}

#[tokio::test]
async fn partial_success_keeps_accepted_orders_and_request_errors() {
    let server = cj_answering(
        200,
        json!({"data": {"createOrders": {
            "orders": [order_json("A-1", "s-1")],
            "errors": [{"message": "Order may not have more than 100 items",
                        "fields": ["newOrders[1].items"]}]
        }}}),
    )
    .await;
    let response = client(&server.base_url(), Mode::Test)
        .orders()
        .create(&[sample_create("A-1"), sample_create("A-2")])
        .await
        .expect("answered");
    assert!(!response.is_success());
    assert_eq!(response.orders.len(), 1);
    assert_eq!(response.orders[0].order_id, "A-1");
    assert_eq!(
        response.errors[0].message,
        "Order may not have more than 100 items"
    );
    assert_eq!(response.errors[0].fields, ["newOrders[1].items"]);
    assert_eq!(response.errors[0].index, Some(1));
    assert_eq!(response.errors[0].order_id.as_deref(), Some("A-2"));
    assert!(
        response.unconfirmed.is_empty(),
        "A-2 is refused, not unconfirmed"
    );
}

#[tokio::test]
async fn graphql_errors_beside_data_are_kept() {
    let server = cj_answering(
        200,
        json!({
            "data": {"createOrders": {"orders": [order_json("A-1", "s-1")], "errors": null}},
            "errors": [{"message": "Exception while fetching data (/createOrders/orders/0/ad)",
                        "path": ["createOrders", "orders", 0, "ad"]}]
        }),
    )
    .await;
    let response = create_one(&server).await.expect("answered");
    assert_eq!(response.orders.len(), 1);
    assert_eq!(response.graphql_errors.len(), 1);
    assert_eq!(
        response.graphql_errors[0].path,
        Some(vec![
            json!("createOrders"),
            json!("orders"),
            json!(0),
            json!("ad")
        ])
    );
    assert!(!response.is_success());
}

#[tokio::test]
async fn unknown_enum_values_and_numeric_ids_do_not_fail_the_response() {
    let server = MockServer::start_async().await;
    let mut order = order_json("A-1", "s-1");
    order["status"] = json!("Locked");
    order["correctionReason"] = json!("PriceAdjustment");
    order["verticalParameters"]["advertiserVertical"] = json!("Gaming");
    order["submissionId"] = json!(998877);
    // Written by hand: `json!` would pass the number through f64.
    let body = json!({"data": {"createOrders": {"orders": [order]}}})
        .to_string()
        .replace(r#""amount":"149.98""#, r#""amount":12.345678901234567891"#);
    assert!(body.contains("12.345678901234567891"));
    server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(200).body(body);
        })
        .await;
    let response = create_one(&server).await.expect("answered");
    let o = &response.orders[0];
    assert_eq!(
        o.status,
        Some(cj::tracking::OrderStatus::Unknown("Locked".into()))
    );
    assert_eq!(
        o.correction_reason,
        Some(cj::tracking::CorrectionReason::Unknown(
            "PriceAdjustment".into()
        ))
    );
    assert_eq!(o.submission_id.as_str(), "998877");
    assert_eq!(
        o.amount.map(|a| a.to_string()).as_deref(),
        Some("12.345678901234567891")
    );
    assert_eq!(
        o.event_time.map(|t| t.to_string()).as_deref(),
        Some("2024-01-15T18:08:36.089Z")
    );
}

#[tokio::test]
async fn http_401_is_typed_and_the_echoed_token_is_redacted() {
    let server = cj_answering(401, format!("Not Authenticated: {CANARY}")).await;
    let err = create_one(&server).await.expect_err("refused");
    match &err.error {
        Error::Http { status, body, .. } => {
            assert_eq!(status.as_u16(), 401);
            assert_eq!(body, "Not Authenticated: [REDACTED]");
        }
        other => panic!("expected HTTP 401, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(CANARY));
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    for status in [500, 502, 503, 504] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.path("/graphqltest");
                then.status(status).body("upstream timed out");
            })
            .await;
        let err = create_one(&server).await.expect_err("fails");
        // 1 attempt + 2 retries, as configured in `client`.
        assert_eq!(mock.calls_async().await, 3, "status {status}");
        match &err.error {
            Error::Http {
                status: s,
                attempts,
                ..
            } => {
                assert_eq!(s.as_u16(), status);
                assert_eq!(*attempts, 3);
            }
            other => panic!("expected HTTP {status}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_retry_after_a_504_succeeds() {
    let ok =
        json!({"data": {"createOrders": {"orders": [order_json("A-1", "s-1")], "errors": null}}});
    let server = ScriptedServer::start(vec![
        Reply::Json(504, r#"{"message":"Gateway Timeout"}"#.into()),
        Reply::Hangup,
        Reply::Json(200, ok.to_string()),
    ])
    .await;
    let response = client(&server.url, Mode::Test)
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect("the third attempt is answered");
    assert_eq!(response.orders.len(), 1);
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every attempt sends the same body"
    );
}

#[tokio::test]
async fn retries_can_be_turned_off() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(503);
        })
        .await;
    let client = cj_tests::client_with(&server.base_url(), Mode::Test, cj::RetryPolicy::none());
    let err = client
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect_err("fails");
    assert_eq!(mock.calls_async().await, 1);
    assert_eq!(err.error.status().map(|s| s.as_u16()), Some(503));
}

#[tokio::test]
async fn a_timeout_may_have_been_sent() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(200)
                .delay(std::time::Duration::from_secs(3))
                .json_body(json!({"data": {"createOrders": {"orders": []}}}));
        })
        .await;
    let client = cj_tests::client_with(&server.base_url(), Mode::Test, cj::RetryPolicy::none());
    let err = client
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect_err("times out");
    assert!(
        matches!(err.error, Error::Timeout { .. }),
        "{:?}",
        err.error
    );
    assert_eq!(err.delivery(), Delivery::MaybeSent);
}

#[tokio::test]
async fn a_hangup_after_the_request_may_have_been_sent() {
    let server = ScriptedServer::start(vec![Reply::Hangup]).await;
    let err = cj_tests::client_with(&server.url, Mode::Test, cj::RetryPolicy::none())
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect_err("no answer");
    assert_eq!(err.delivery(), Delivery::MaybeSent, "{:?}", err.error);
    assert_eq!(server.bodies().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_was_not_sent() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let err = client(&format!("http://127.0.0.1:{port}"), Mode::Test)
        .orders()
        .create(&[sample_create("A-1")])
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err.error, Error::Connect { attempts: 3, .. }),
        "{:?}",
        err.error
    );
    assert_eq!(err.delivery(), Delivery::NotSent);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    for body in [
        "{\"data\": {\"createOrders\": ",
        "<html>Bad gateway</html>",
        "{}",
    ] {
        let server = cj_answering(200, body).await;
        let err = create_one(&server).await.expect_err("unreadable");
        assert!(
            matches!(err.error, Error::Decode { .. }),
            "{body}: {:?}",
            err.error
        );
        // CJ may have processed the orders before the answer went wrong.
        assert_eq!(err.delivery(), Delivery::MaybeSent);
    }
}

#[tokio::test]
async fn a_wrong_field_in_the_answer_is_named() {
    let server = MockServer::start_async().await;
    let mut order = order_json("A-1", "s-1");
    order["amount"] = json!("-3.00");
    server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(200)
                .json_body(json!({"data": {"createOrders": {"orders": [order]}}}));
        })
        .await;
    let err = create_one(&server).await.expect_err("unreadable");
    let Error::Decode { message, .. } = &err.error else {
        panic!("expected a decode error, got {:?}", err.error);
    };
    assert!(
        message.contains("data.createOrders.orders[0].amount"),
        "{message}"
    );
}

fn many(n: usize) -> Vec<OrderCreateRequest> {
    let template = sample_create("X");
    (0..n)
        .map(|i| {
            let mut o = template.clone();
            o.order_id = format!("O-{i}");
            o
        })
        .collect()
}

fn order_count(body: &[u8]) -> usize {
    body_json(body)["variables"]["newOrders"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn more_than_10000_orders_are_split_and_merged_in_input_order() {
    let server = MockServer::start_async().await;
    let first = server
        .mock_async(|when, then| {
            when.path("/graphqltest")
                .is_true(|req| order_count(req.body_ref()) == 10_000);
            then.status(200).json_body(json!({"data": {"createOrders": {
                "orders": [order_json("O-0", "s-first")],
                "errors": [{"message": "first request", "fields": null}]
            }}}));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.path("/graphqltest")
                .is_true(|req| order_count(req.body_ref()) == 1)
                .body_includes("\"O-10000\"");
            then.status(200).json_body(json!({"data": {"createOrders": {
                "orders": [order_json("O-10000", "s-second")],
                "errors": [{"message": "second request"}]
            }}}));
        })
        .await;
    let client = patient_client(&server.base_url(), Mode::Test);
    let orders = many(10_001);
    let response = client.orders().create(&orders).await.expect("answered");
    first.assert_async().await;
    second.assert_async().await;
    let ids: Vec<&str> = response
        .orders
        .iter()
        .map(|o| o.submission_id.as_str())
        .collect();
    assert_eq!(ids, ["s-first", "s-second"]);
    let messages: Vec<&str> = response.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["first request", "second request"]);
}

#[tokio::test]
async fn a_failed_later_request_reports_what_was_answered() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest")
                .is_true(|req| order_count(req.body_ref()) == 10_000);
            then.status(200).json_body(json!({"data": {"createOrders": {
                "orders": [order_json("O-0", "s-first")]
            }}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest")
                .is_true(|req| order_count(req.body_ref()) == 5);
            then.status(401).body("");
        })
        .await;
    let err: SubmitError<_> = patient_client(&server.base_url(), Mode::Test)
        .orders()
        .create(&many(10_005))
        .await
        .expect_err("the second request fails");
    assert_eq!(err.answered_orders, 10_000);
    assert_eq!(err.answered.orders.len(), 1);
    assert_eq!(err.error.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(
        err.to_string(),
        "the submission failed after its first 10000 orders were answered"
    );
    // O-1 .. O-9999 were neither returned nor refused: unconfirmed, not accepted.
    assert_eq!(err.answered.unconfirmed.len(), 9_999);
    assert_eq!(err.answered.unconfirmed[0].order_id, "O-1");
}

#[tokio::test]
async fn invalid_orders_send_nothing_and_name_order_and_field() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200);
        })
        .await;
    let mut future = sample_create("GOOD-1");
    future.event_time = Some(cj_tests::past("2999-01-01T00:00:00Z"));
    let mut bad_id = sample_create("bad@example.com");
    bad_id.currency = Some("usd".into());
    let mut too_many = sample_create("BIG-1");
    too_many.items = Some(vec![
        sample_create("x").items.expect("items")[0].clone();
        101
    ]);
    let duplicate = sample_create("GOOD-1");
    let orders = [future, bad_id, too_many, duplicate];

    let err = client(&server.base_url(), Mode::Test)
        .orders()
        .create(&orders)
        .await
        .expect_err("invalid");
    assert_eq!(mock.calls_async().await, 0, "nothing is sent");
    assert_eq!(err.delivery(), Delivery::NotSent);
    let Error::Invalid(invalid) = &err.error else {
        panic!("expected invalid input, got {:?}", err.error);
    };
    let found: Vec<(Option<usize>, Option<&str>, &str)> = invalid
        .problems
        .iter()
        .map(|p| (p.index, p.id.as_deref(), p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(0), Some("GOOD-1"), "eventTime"),
            (Some(1), Some("bad@example.com"), "orderId"),
            (Some(1), Some("bad@example.com"), "currency"),
            (Some(2), Some("BIG-1"), "items"),
            (Some(3), Some("GOOD-1"), "orderId"),
        ]
    );
    insta::assert_snapshot!("invalid_orders_message", err.to_string());
}

#[tokio::test]
async fn validation_can_be_turned_off() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path("/graphqltest");
            then.status(200)
                .json_body(json!({"data": {"createOrders": {"orders": []}}}));
        })
        .await;
    let client = cj::Client::builder()
        .token(CANARY)
        .tracking_url(server.base_url())
        .validation(Validation::Off)
        .build()
        .expect("builds");
    let mut order = sample_create("has space");
    order.cj_event = None;
    client.orders().create(&[order]).await.expect("sent as is");
    mock.assert_async().await;
}

#[tokio::test]
async fn the_token_never_appears_in_errors_debug_or_logs() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest").body_includes("ECHO-GRAPHQL");
            then.status(200).json_body(json!({
                "data": null,
                "errors": [{"message": format!("Invalid Token: {CANARY}")}]
            }));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest").body_includes("ECHO-500");
            then.status(500)
                .body(format!("{{\"error\":\"bad key {CANARY}\"}}"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest").body_includes("ECHO-JSON");
            then.status(200)
                .body(format!("{{\"data\": \"Bearer {CANARY}\""));
        })
        .await;
    let client = client(&server.base_url(), Mode::Test);
    let mut outputs = vec![format!("{client:?}")];
    let (results, logs) = capture_logs(async {
        let mut errors = Vec::new();
        for id in ["ECHO-GRAPHQL", "ECHO-500", "ECHO-JSON"] {
            errors.push(
                client
                    .orders()
                    .create(&[sample_create(id)])
                    .await
                    .expect_err(id),
            );
        }
        errors
    })
    .await;
    assert!(logs.contains("cj.http"), "spans are logged: {logs}");
    outputs.push(logs);
    for err in &results {
        outputs.push(format!("{err}"));
        outputs.push(format!("{err:?}"));
        outputs.push(format!("{}", err.error));
    }
    for text in &outputs {
        assert!(!text.contains(CANARY), "the token leaked: {text}");
        assert!(
            !text.contains("7f3a9c1e"),
            "part of the token leaked: {text}"
        );
    }
    let Error::GraphQL { errors, .. } = &results[0].error else {
        panic!("expected GraphQL errors");
    };
    assert_eq!(errors[0].message, "Invalid Token: [REDACTED]");
}

#[tokio::test]
async fn logs_carry_no_customer_data() {
    let server = cj_answering(
        200,
        json!({"data": {"createOrders": {
                "orders": [order_json("CUSTOMER-ORDER-77", "s-1")]}}}),
    )
    .await;
    let client = client(&server.base_url(), Mode::Test);
    let (_, logs) = capture_logs(
        client
            .orders()
            .create(&[sample_create("CUSTOMER-ORDER-77")]),
    )
    .await;
    assert!(logs.contains("createOrders"), "{logs}");
    for private in [
        "CUSTOMER-ORDER-77",
        "SUMMER10",
        "7166ddf3b35b11eb834200a10a1eb972",
        "149.98",
    ] {
        assert!(!logs.contains(private), "{private} was logged: {logs}");
    }
}

#[tokio::test]
async fn an_answer_that_names_no_order_confirms_none() {
    let server = cj_answering(
        200,
        json!({"data": {"createOrders": {"orders": [], "errors": null}}}),
    )
    .await;
    let response = client(&server.base_url(), Mode::Test)
        .orders()
        .create(&[sample_create("A-1"), sample_create("A-2")])
        .await
        .expect("answered");
    assert!(!response.is_success());
    assert!(response.orders.is_empty());
    let unconfirmed: Vec<(usize, &str)> = response
        .unconfirmed
        .iter()
        .map(|u| (u.index, u.order_id.as_str()))
        .collect();
    assert_eq!(unconfirmed, [(0, "A-1"), (1, "A-2")]);

    // An order CJ returns is accepted; one it does not return stays unconfirmed, even beside
    // an error that names no order.
    let server = cj_answering(
        200,
        json!({"data": {"createOrders": {
            "orders": [order_json("A-2", "s-2")],
            "errors": [{"message": "something went wrong", "fields": null}]
        }}}),
    )
    .await;
    let response = client(&server.base_url(), Mode::Test)
        .orders()
        .create(&[sample_create("A-1"), sample_create("A-2")])
        .await
        .expect("answered");
    assert_eq!(response.orders.len(), 1);
    assert_eq!(response.errors[0].index, None);
    assert_eq!(response.unconfirmed.len(), 1);
    assert_eq!(response.unconfirmed[0].order_id, "A-1");
}

#[tokio::test]
async fn an_order_returned_twice_or_never_sent_is_not_an_accepted_one() {
    let server = cj_answering(
        200,
        json!({"data": {"createOrders": {
            "orders": [order_json("A-1", "s-1"), order_json("A-1", "s-1"), order_json("NOT-SENT", "s-9")],
            "errors": null
        }}}),
    )
    .await;
    let response = client(&server.base_url(), Mode::Test)
        .orders()
        .create(&[sample_create("A-1"), sample_create("A-2")])
        .await
        .expect("answered");
    let ids = |orders: &[cj::tracking::Order]| -> Vec<String> {
        orders.iter().map(|o| o.order_id.clone()).collect()
    };
    assert_eq!(ids(&response.orders), ["A-1"], "A-1 once");
    assert_eq!(ids(&response.unrequested), ["NOT-SENT"]);
    assert_eq!(response.unconfirmed.len(), 1);
    assert_eq!(response.unconfirmed[0].order_id, "A-2");
}

#[tokio::test]
async fn errors_of_a_split_submission_name_the_callers_order() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest")
                .is_true(|req| order_count(req.body_ref()) == 10_000);
            then.status(200).json_body(json!({"data": {"createOrders": {
                "orders": [],
                "errors": [{"message": "eventTime in the future", "fields": ["newOrders[5].eventTime"]}]
            }}}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/graphqltest")
                .is_true(|req| order_count(req.body_ref()) == 10);
            then.status(200).json_body(json!({"data": {"createOrders": {
                "orders": [],
                "errors": [{"message": "Order may not have more than 100 items",
                            "fields": ["newOrders[5].items", "newOrders[5].items[3].sku"]}]
            }}}));
        })
        .await;
    let response = patient_client(&server.base_url(), Mode::Test)
        .orders()
        .create(&many(10_010))
        .await
        .expect("answered");
    let traced: Vec<(Option<usize>, Option<&str>, Vec<&str>)> = response
        .errors
        .iter()
        .map(|e| {
            (
                e.index,
                e.order_id.as_deref(),
                e.fields.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        traced,
        [
            (Some(5), Some("O-5"), vec!["newOrders[5].eventTime"]),
            (
                Some(10_005),
                Some("O-10005"),
                vec!["newOrders[10005].items", "newOrders[10005].items[3].sku"]
            ),
        ]
    );
    assert_eq!(response.unconfirmed.len(), 10_010 - 2);
}

#[tokio::test]
async fn values_outside_cjs_closed_enums_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body("{}");
        })
        .await;
    let client = client(&server.base_url(), Mode::Test);
    let restate: cj::tracking::OrderRestateRequest = serde_json::from_value(json!({
        "enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "R-1",
        "updateTime": "2024-01-16T10:00:00Z", "status": "Approved",
        "correctionReason": "RETURNED",
        "verticalParameters": {"advertiserVertical": "Retailer"}
    }))
    .expect("parses: unknown values are kept");
    let err = client
        .orders()
        .restate(&[sample_restate("R-0"), restate])
        .await
        .expect_err("refused before sending");
    let Error::Invalid(invalid) = &err.error else {
        panic!("expected invalid input, got {:?}", err.error);
    };
    let fields: Vec<(Option<usize>, &str)> = invalid
        .problems
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            (Some(1), "verticalParameters.advertiserVertical"),
            (Some(1), "status"),
            (Some(1), "correctionReason"),
        ]
    );
    let text = err.error.to_string();
    assert!(
        text.contains(r#""RETURNED" is not one of CJ's values"#),
        "{text}"
    );
    assert!(
        text.contains(r#"did you mean "ReturnedMerchandise"?"#),
        "{text}"
    );
    assert!(text.contains(r#"did you mean "Retail"?"#), "{text}");

    let cancel: cj::tracking::OrderCancelRequest = serde_json::from_value(json!({
        "enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "C-1",
        "updateTime": "2024-01-16T10:00:00Z", "status": "Cancelled",
        "correctionReason": "ReturnedMerchandise"
    }))
    .expect("parses");
    let err = client
        .orders()
        .cancel(&[cancel])
        .await
        .expect_err("refused");
    assert!(
        err.error.to_string().contains("field `status`"),
        "{}",
        err.error
    );
    mock.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_token_echoed_inside_a_successful_answer_is_redacted_everywhere() {
    let server = cj_answering(
        200,
        json!({
            "data": {"createOrders": {
                "orders": [order_json("A-1", "s-1")],
                "errors": [{"message": format!("Not Authenticated: {CANARY}"),
                            "fields": [format!("newOrders[1].{CANARY}")]}]
            }},
            "errors": [{"message": "warning", "extensions": {"echo": CANARY, "nested": [{"k": CANARY}]}}]
        }),
    )
    .await;
    let response = client(&server.base_url(), Mode::Test)
        .orders()
        .create(&[sample_create("A-1"), sample_create("A-2")])
        .await
        .expect("answered");
    let everything = format!(
        "{response:?} {} {}",
        serde_json::to_string(&response).expect("serializes"),
        response.errors[0].message
    );
    assert!(!everything.contains(CANARY), "{everything}");
    assert!(!everything.contains("7f3a9c1e"), "{everything}");
    assert_eq!(response.errors[0].index, Some(1));
}

#[tokio::test]
async fn a_redirect_is_an_error_and_the_orders_never_reach_the_new_location() {
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200)
                .json_body(json!({"data": {"createOrders": {"orders": [], "errors": []}}}));
        })
        .await;
    for status in [301, 302, 307, 308] {
        let server = MockServer::start_async().await;
        let location = elsewhere.url("/graphqltest");
        server
            .mock_async(|when, then| {
                when.any_request();
                then.status(status).header("location", location.as_str());
            })
            .await;
        let err = create_one(&server).await.expect_err("not followed");
        assert!(
            matches!(err.error, Error::Redirect { .. }),
            "{:?}",
            err.error
        );
        assert_eq!(err.delivery(), Delivery::NotProcessed);
    }
    stolen.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_504_or_an_unreadable_answer_leaves_the_outcome_unknown() {
    let server = cj_answering(504, "Gateway Timeout").await;
    let err = create_one(&server).await.expect_err("504");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    let server = cj_answering(200, "{\"data\": {\"createOrders\"").await;
    let err = create_one(&server).await.expect_err("truncated");
    assert_eq!(err.delivery(), Delivery::MaybeSent);
    assert!(
        err.error.to_string().contains("outcome is unknown"),
        "{}",
        err.error
    );
    let server = cj_answering(429, "slow down").await;
    let err = create_one(&server).await.expect_err("429");
    assert_eq!(err.delivery(), Delivery::NotProcessed);
}

#[tokio::test]
async fn a_wrong_base_url_names_the_url_and_hints_at_it() {
    let server = cj_answering(404, r#"{"errors":[{"message":"Not Found"}]}"#).await;
    let err = create_one(&server).await.expect_err("404");
    let text = err.error.to_string();
    assert!(
        text.contains(&format!("{}/graphqltest", server.base_url())),
        "{text}"
    );
    assert!(text.contains("is the base URL right?"), "{text}");
    assert!(!text.contains(CANARY));
}

#[tokio::test]
async fn a_submit_error_never_repeats_its_cause_down_the_chain() {
    let server = cj_answering(
        200,
        json!({"data": null, "errors": [{"message": "Invalid Token"}]}),
    )
    .await;
    let err = create_one(&server).await.expect_err("refused");
    let mut chain = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    assert_eq!(chain, ["CJ refused the request: Invalid Token"]);
}
