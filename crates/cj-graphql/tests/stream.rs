//! The streaming submission (`Orders::stream`) against httpmock and the sandbox: requests of
//! 10,000 orders, answers in input order, a failure that keeps what was answered.

use cj_graphql::tracking::{
    EncodedOrder, Mode, OrderCreateRequest, OrderReceipt, Orders, StreamAnswer, StreamError,
    StreamExt, Validation, stream,
};
use cj_graphql::transport::{
    Credentials, Delivery, Error, RetryPolicy, Transport, TransportBuilder,
};
use httpmock::prelude::*;
use serde_json::{Value, json};

fn order(i: usize) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(format!("S-{i:05}"))
        .event_time(
            "2024-01-15T18:08:36.089Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("a time"),
        )
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .currency("USD")
        .amount("149.98".parse().expect("an amount"))
        .build()
}

fn orders(n: usize) -> Vec<OrderCreateRequest> {
    (0..n).map(order).collect()
}

fn client(base_url: &str) -> Orders {
    client_of(
        base_url,
        Transport::builder().credentials(Credentials::token("stream-test-token")),
    )
}

/// A client of `base_url` through the transport `builder` makes, without retries.
fn client_of(base_url: &str, builder: TransportBuilder) -> Orders {
    let transport = builder
        .retry(RetryPolicy::none())
        .build()
        .expect("a transport");
    Orders::new(transport, base_url, Mode::Test).expect("a client")
}

/// CJ's answer accepting the orders `range` (their ids), with `errors`.
fn accepting(range: std::ops::Range<usize>, errors: Value) -> Value {
    let orders: Vec<Value> = range
        .map(|i| {
            json!({
                "submissionId": format!("sub-{i}"), "batchId": "b-1",
                "orderReceivedTime": "2024-01-15T18:08:37Z",
                "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
                "orderId": format!("S-{i:05}"), "customParameters": [], "items": []
            })
        })
        .collect();
    json!({"data": {"createOrders": {"orders": orders, "errors": errors}}})
}

fn order_count(body: &[u8]) -> usize {
    serde_json::from_slice::<Value>(body).expect("a JSON body")["variables"]["newOrders"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A mock of the request whose first order is `first` and that carries `count` orders.
fn request<'a>(
    server: &'a MockServer,
    first: usize,
    count: usize,
    answer: Value,
) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.path("/graphqltest")
            .body_includes(format!("\"orderId\":\"S-{first:05}\""))
            .is_true(move |req| order_count(req.body_ref()) == count);
        then.status(200).json_body(answer);
    })
}

async fn collect(
    stream: impl futures_util::Stream<Item = Result<StreamAnswer<OrderReceipt>, StreamError>>,
) -> Vec<Result<StreamAnswer<OrderReceipt>, StreamError>> {
    stream.collect().await
}

#[tokio::test]
async fn orders_go_as_10000_10000_and_5001_and_answers_come_in_input_order() {
    let server = MockServer::start_async().await;
    let refusal = json!([{"message": "Invalid cjEvent", "fields": ["newOrders[5].cjEvent"]}]);
    let first = request(&server, 0, 10_000, accepting(0..10_000, json!([])));
    // The second answer refuses its sixth order and says nothing of its last one.
    let second = request(&server, 10_000, 10_000, accepting(10_006..19_999, refusal));
    let third = request(
        &server,
        20_000,
        5_001,
        accepting(20_000..25_001, json!(null)),
    );
    let answers = collect(client(&server.base_url()).stream(stream::iter(orders(25_001)))).await;
    first.assert();
    second.assert();
    third.assert();
    let answers: Vec<StreamAnswer<OrderReceipt>> =
        answers.into_iter().map(|a| a.expect("answered")).collect();
    let ranges: Vec<_> = answers.iter().map(|a| a.orders.clone()).collect();
    assert_eq!(ranges, [0..10_000, 10_000..20_000, 20_000..25_001]);
    let accepted: Vec<usize> = answers.iter().map(|a| a.accepted_count()).collect();
    assert_eq!(accepted, [10_000, 9_993, 5_001]);

    // Each accepted order comes with its input position, in order.
    let (index, order) = answers[2].accepted().nth(7).expect("an order");
    let order = order.expect("reads as an Order");
    assert_eq!((index, order.order_id.as_str()), (Some(20_007), "S-20007"));
    // CJ's error is rebased onto the input; the orders CJ did not name are unconfirmed.
    let error = &answers[1].errors[0];
    assert_eq!(error.index, Some(10_005));
    assert_eq!(error.order_id.as_deref(), Some("S-10005"));
    assert_eq!(error.fields, ["newOrders[10005].cjEvent"]);
    let unconfirmed: Vec<usize> = answers[1].unconfirmed.iter().map(|u| u.index).collect();
    assert_eq!(
        unconfirmed,
        [10_000, 10_001, 10_002, 10_003, 10_004, 19_999]
    );
    assert!(answers[0].is_success() && answers[2].is_success());
}

#[tokio::test]
async fn a_failed_third_request_keeps_the_first_two_answered_and_names_the_rest() {
    let server = MockServer::start_async().await;
    let first = request(&server, 0, 10_000, accepting(0..10_000, json!([])));
    let second = request(
        &server,
        10_000,
        10_000,
        accepting(10_000..20_000, json!([])),
    );
    let third = server.mock(|when, then| {
        when.path("/graphqltest")
            .body_includes("\"orderId\":\"S-20000\"");
        then.status(503).body("unavailable");
    });
    let answers = collect(client(&server.base_url()).stream(stream::iter(orders(25_001)))).await;
    first.assert();
    second.assert();
    third.assert();
    assert_eq!(
        answers.len(),
        3,
        "two answers, then the failure, then the end"
    );
    assert_eq!(
        answers[0].as_ref().expect("answered").accepted_count(),
        10_000
    );
    assert_eq!(
        answers[1].as_ref().expect("answered").accepted_count(),
        10_000
    );
    let failure = answers[2].as_ref().expect_err("the third request failed");
    assert_eq!(failure.orders, 20_000..25_001);
    assert_eq!(failure.answered, 20_000);
    assert_eq!(failure.unsent, 25_001);
    assert_eq!(failure.error.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(
        failure.delivery(),
        cj_graphql::transport::Delivery::MaybeSent
    );
    assert_eq!(
        failure.to_string(),
        "the request of input orders 20000..25001 failed; orders 0..20000 were answered; \
         orders from 20000 on were not answered, from 25001 on not sent"
    );
}

#[tokio::test]
async fn a_later_failure_stops_reading_and_sends_nothing_more() {
    let server = MockServer::start_async().await;
    let first = server.mock(|when, then| {
        when.path("/graphqltest")
            .body_includes("\"orderId\":\"S-00000\"");
        then.status(401).body("");
    });
    let rest = server.mock(|when, then| {
        when.path("/graphqltest")
            .body_includes("\"orderId\":\"S-10000\"");
        then.status(200);
    });
    let answers = collect(client(&server.base_url()).stream(stream::iter(orders(30_000)))).await;
    first.assert();
    assert_eq!(rest.calls(), 0);
    assert_eq!(answers.len(), 1);
    let failure = answers[0].as_ref().expect_err("the first request failed");
    assert_eq!((failure.orders.clone(), failure.answered), (0..10_000, 0));
    // The second request was being encoded, never sent.
    assert_eq!(failure.unsent, 10_000);
}

#[tokio::test]
async fn an_invalid_order_stops_the_stream_before_its_request() {
    let server = MockServer::start_async().await;
    let first = request(&server, 0, 10_000, accepting(0..10_000, json!([])));
    let second = server.mock(|when, then| {
        when.path("/graphqltest")
            .body_includes("\"orderId\":\"S-10000\"");
        then.status(200);
    });
    let mut input = orders(25_000);
    input[15_000].currency = Some("usd".into());
    input[16_000].order_id = input[10_001].order_id.clone();
    let answers = collect(client(&server.base_url()).stream(stream::iter(input))).await;
    first.assert();
    assert_eq!(
        second.calls(),
        0,
        "the request of the invalid order is not sent"
    );
    assert_eq!(answers.len(), 2);
    let failure = answers[1].as_ref().expect_err("invalid");
    assert_eq!(
        (failure.orders.clone(), failure.answered, failure.unsent),
        (10_000..20_000, 10_000, 10_000)
    );
    let Error::Invalid(invalid) = &failure.error else {
        panic!("{failure:?}")
    };
    let problems: Vec<(Option<usize>, &str)> = invalid
        .problems
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(
        problems,
        [(Some(15_000), "currency"), (Some(16_000), "orderId")]
    );
    assert!(invalid.problems[1].message.contains("repeats order 10001"));
}

#[tokio::test]
async fn the_stream_sends_the_slice_apis_orders_and_selects_receipts() {
    let orders_client = client("http://127.0.0.1:9");
    let input = orders(25);
    let small = orders_client.clone().with_max_orders_per_request(10);
    let slice = small.encode_create(&input).expect("encodes");
    let streamed: Vec<_> = small
        .encode_iter(input.clone())
        .map(|b| b.expect("encodes"))
        .collect();
    let json = |body: &bytes::Bytes| -> Value { serde_json::from_slice(body).expect("JSON") };
    assert_eq!(streamed.len(), slice.len());
    for (streamed, slice) in streamed.iter().zip(&slice) {
        let (streamed, slice) = (json(streamed), json(slice));
        // The same orders, byte for byte once parsed; a receipt per accepted order selected
        // instead of the echo of every field.
        assert_eq!(streamed["variables"], slice["variables"]);
        assert_eq!(slice["operationName"], "CreateOrders");
        assert_eq!(streamed["operationName"], "CreateOrderReceipts");
        let query = streamed["query"].as_str().expect("a query");
        assert!(query.contains("orders { ...OrderReceipt }"), "{query}");
        assert!(!query.contains("verticalParameters"), "{query}");
    }
    // Pre-encoded orders make the same bodies.
    let encoded = input.iter().map(|o| EncodedOrder::new(o).expect("encodes"));
    let again: Vec<_> = small.encode_iter(encoded).map(|b| b.expect("ok")).collect();
    assert_eq!(again, streamed);
}

#[tokio::test]
async fn a_request_never_passes_the_byte_limit() {
    let limit = 4_000;
    let orders_client = client("http://127.0.0.1:9")
        .with_max_request_bytes(limit)
        .with_validation(Validation::Off);
    let bodies: Vec<_> = orders_client
        .encode_iter(orders(100))
        .map(|b| b.expect("encodes"))
        .collect();
    assert!(bodies.len() > 1);
    let mut count = 0;
    for body in &bodies {
        assert!(body.len() <= limit, "{} bytes", body.len());
        count += order_count(body);
    }
    assert_eq!(count, 100);
    // An order that cannot fit a request alone is refused, naming it.
    let tiny = client("http://127.0.0.1:9").with_max_request_bytes(100);
    let first = tiny.encode_iter(orders(3)).next().expect("an item");
    let problem = &first.expect_err("too large").error;
    assert!(problem.to_string().contains("too large"), "{problem}");
}

#[tokio::test]
async fn twenty_five_thousand_and_one_orders_reach_the_sandbox_in_three_requests() {
    let sandbox = cj_sandbox::Sandbox::start().await.expect("a sandbox");
    let transport = Transport::builder()
        .credentials(Credentials::token("any"))
        .retry(RetryPolicy::none())
        .build()
        .expect("a transport");
    let client = Orders::new(transport, &sandbox.tracking_url(), Mode::Live).expect("a client");
    let mut stream = client.stream(stream::iter(orders(25_001)));
    let mut ranges = Vec::new();
    while let Some(answer) = stream.next().await {
        let answer = answer.expect("answered");
        assert!(answer.is_success(), "{answer:?}");
        assert_eq!(answer.accepted_count(), answer.orders.len());
        ranges.push(answer.orders);
    }
    assert_eq!(ranges, [0..10_000, 10_000..20_000, 20_000..25_001]);
    assert_eq!(stream.requests(), 3);
    let counts = sandbox.ledger().counts().expect("the ledger");
    assert_eq!(counts.orders, 25_001, "{counts:?}");
}

/// A server answering every request to the test endpoint with `status` and `body`.
fn answering(status: u16, body: String) -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        then.status(status).body(body);
    });
    server
}

#[tokio::test]
async fn an_answer_that_names_no_order_leaves_its_orders_unconfirmed() {
    // Nothing counts as accepted unless CJ returned it: an empty or missing `orders`, an error
    // naming no order (or a position outside the request) confirm none.
    for payload in [
        json!({"orders": [], "errors": null}),
        json!({"orders": null, "errors": []}),
        json!({}),
        json!(null),
        json!({"orders": [], "errors": [{"message": "something went wrong", "fields": null}]}),
        json!({"orders": [], "errors": [{"message": "Invalid", "fields": ["newOrders[7].amount"]}]}),
    ] {
        let server = answering(200, json!({"data": {"createOrders": payload}}).to_string());
        let answers = collect(client(&server.base_url()).stream(stream::iter(orders(3)))).await;
        assert_eq!(answers.len(), 1, "{payload}");
        let answer = answers[0].as_ref().expect("answered");
        assert!(!answer.is_success(), "{payload}");
        assert_eq!(answer.accepted_count(), 0, "{payload}");
        assert!(answer.errors.iter().all(|e| e.index.is_none()), "{payload}");
        let unconfirmed: Vec<(usize, &str)> = answer
            .unconfirmed
            .iter()
            .map(|u| (u.index, u.order_id.as_str()))
            .collect();
        assert_eq!(
            unconfirmed,
            [(0, "S-00000"), (1, "S-00001"), (2, "S-00002")],
            "{payload}"
        );
    }
}

#[tokio::test]
async fn only_the_requests_own_orders_count_as_accepted_each_once() {
    // CJ names order 0 twice and an order the request did not carry: one accepted order, one
    // unrequested, and the two orders it did not name unconfirmed.
    let mut answer = accepting(0..1, json!([]));
    let echoed = &mut answer["data"]["createOrders"]["orders"];
    let first = echoed[0].clone();
    let mut stranger = first.clone();
    stranger["orderId"] = json!("NOT-SENT");
    echoed
        .as_array_mut()
        .expect("a list")
        .extend([first, stranger]);
    let server = answering(200, answer.to_string());
    let answers = collect(client(&server.base_url()).stream(stream::iter(orders(3)))).await;
    let answer = answers[0].as_ref().expect("answered");
    assert_eq!(answer.accepted_count(), 1);
    assert_eq!(answer.unrequested_count(), 1);
    let named: Vec<(Option<usize>, String)> = answer
        .accepted()
        .map(|(index, order)| (index, order.expect("reads").order_id))
        .collect();
    assert_eq!(
        named,
        [
            (Some(0), "S-00000".to_string()),
            (None, "NOT-SENT".to_string())
        ]
    );
    let unconfirmed: Vec<usize> = answer.unconfirmed.iter().map(|u| u.index).collect();
    assert_eq!(unconfirmed, [1, 2]);
}

#[tokio::test]
async fn a_redirect_ends_the_stream_naming_its_location_and_no_order_reaches_it() {
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere.mock(|when, then| {
        when.any_request();
        then.status(200).json_body(accepting(0..5, json!([])));
    });
    for status in [301, 302, 303, 307, 308] {
        let server = MockServer::start_async().await;
        let target = elsewhere.url("/graphqltest");
        let mock = server.mock(|when, then| {
            when.path("/graphqltest");
            then.status(status).header("location", target.as_str());
        });
        let sender = client(&server.base_url()).with_max_orders_per_request(2);
        let answers = collect(sender.stream(stream::iter(orders(5)))).await;
        assert_eq!(answers.len(), 1, "{status}: only the failure");
        let failure = answers[0].as_ref().expect_err("a redirect is an error");
        assert!(
            matches!(&failure.error, Error::Redirect { location: Some(l), .. } if *l == target),
            "{status}: {failure:?}"
        );
        assert!(failure.error.to_string().contains(&target), "{status}");
        assert_eq!(failure.delivery(), Delivery::NotProcessed, "{status}");
        assert_eq!(
            (failure.orders.clone(), failure.answered, failure.unsent),
            (0..2, 0, 2),
            "{status}"
        );
        // Neither followed nor retried, and no later request sent.
        mock.assert_calls(1);
    }
    stolen.assert_calls(0);
}

#[tokio::test]
async fn a_failed_request_in_the_stream_says_whether_cj_may_have_processed_it() {
    let graphql_errors = json!({"data": null, "errors": [{"message": "Service busy"}]});
    let cases: [(u16, String, Delivery); 8] = [
        (429, "slow down".into(), Delivery::NotProcessed),
        (429, graphql_errors.to_string(), Delivery::NotProcessed),
        (500, "oops".into(), Delivery::MaybeSent),
        (503, graphql_errors.to_string(), Delivery::MaybeSent),
        (504, "Gateway Timeout".into(), Delivery::MaybeSent),
        (
            200,
            r#"{"data": {"createOrders""#.into(),
            Delivery::MaybeSent,
        ),
        (200, "<html>maintenance</html>".into(), Delivery::MaybeSent),
        (400, graphql_errors.to_string(), Delivery::Answered),
    ];
    for (status, body, delivery) in cases {
        let server = answering(status, body.clone());
        let answers = collect(client(&server.base_url()).stream(stream::iter(orders(3)))).await;
        assert_eq!(answers.len(), 1, "{status} {body}");
        let failure = answers[0].as_ref().expect_err("failed");
        assert_eq!(failure.delivery(), delivery, "{status} {body}: {failure:?}");
        assert_eq!(
            failure.error.is_refusal(),
            delivery == Delivery::Answered,
            "{status} {body}"
        );
        assert_eq!((failure.orders.clone(), failure.answered), (0..3, 0));
    }

    // An answer past the transport's limit is not read: outcome unknown.
    let server = answering(200, "x".repeat(10_000));
    let limited = client_of(
        &server.base_url(),
        Transport::builder()
            .credentials(Credentials::token("stream-test-token"))
            .max_response_bytes(1_024),
    );
    let answers = collect(limited.stream(stream::iter(orders(3)))).await;
    let failure = answers[0].as_ref().expect_err("too large");
    assert!(
        matches!(failure.error, Error::TooLarge { .. }),
        "{failure:?}"
    );
    assert_eq!(failure.delivery(), Delivery::MaybeSent);

    // Nothing listening: not sent, and the transport's cause stays in the chain.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let answers =
        collect(client(&format!("http://127.0.0.1:{port}")).stream(stream::iter(orders(3)))).await;
    let failure = answers[0].as_ref().expect_err("refused connection");
    assert_eq!(failure.delivery(), Delivery::NotSent);
    let error = std::error::Error::source(failure).expect("the request's error");
    assert!(
        matches!(failure.error, Error::Connect { .. }),
        "{failure:?}"
    );
    assert!(error.source().is_some(), "the cause is kept: {error:?}");
}

const CANARY: &str = "CANARY-stream-lib-91c4-never-kept";

#[tokio::test]
async fn a_token_echoed_in_a_streamed_answer_is_kept_nowhere() {
    let server = MockServer::start_async().await;
    // The first request's answer accepts S-00000 and refuses S-00001, echoing the token in
    // the order, CJ's `RequestError` and the GraphQL errors beside the data.
    let mut answer = accepting(
        0..1,
        json!([{"message": format!("Not Authenticated: {CANARY}"),
                "fields": [format!("newOrders[1].{CANARY}")]}]),
    );
    let order = &mut answer["data"]["createOrders"]["orders"][0];
    order["batchId"] = json!(CANARY);
    order["customParameters"] = json!([{"name": CANARY, "value": format!("x {CANARY} y")}]);
    answer["errors"] = json!([{
        "message": format!("warning {CANARY}"), "path": ["createOrders", CANARY],
        "extensions": {"echo": CANARY, "nested": [{"k": CANARY}]}
    }]);
    request(&server, 0, 2, answer);
    // The second request is refused as a whole, echoing it again.
    server.mock(|when, then| {
        when.path("/graphqltest")
            .body_includes("\"orderId\":\"S-00002\"");
        then.status(200).json_body(json!({"data": null, "errors": [
            {"message": format!("Invalid Token: {CANARY}"), "extensions": {"token": CANARY}}]}));
    });
    let sender = client_of(
        &server.base_url(),
        Transport::builder().credentials(Credentials::token(CANARY)),
    )
    .with_max_orders_per_request(2);
    let mut answers = collect(sender.stream(stream::iter(orders(4)))).await;
    assert_eq!(answers.len(), 2);
    let failure = answers.pop().expect("two items").expect_err("refused");
    let answer = answers.pop().expect("one answer").expect("answered");
    assert_eq!(answer.errors[0].message, "Not Authenticated: [REDACTED]");
    assert_eq!(answer.errors[0].index, Some(1), "still traced to its order");
    assert_eq!(answer.accepted_count(), 1);
    let mut kept = vec![
        format!("{answer:?}"),
        serde_json::to_string(&answer.errors).expect("serializes"),
        serde_json::to_string(&answer.graphql_errors).expect("serializes"),
        format!("{failure:?}"),
        failure.to_string(),
        failure.error.to_string(),
    ];
    kept.extend(answer.accepted_json().map(|(_, json)| json.to_string()));
    for (_, order) in answer.accepted() {
        let order = order.expect("reads as an Order");
        kept.push(format!("{order:?}"));
        kept.push(serde_json::to_string(&order).expect("serializes"));
    }
    let response = answer.into_response().expect("every order reads");
    kept.push(format!("{response:?}"));
    kept.push(serde_json::to_string(&response).expect("serializes"));
    for text in &kept {
        assert!(!text.contains(CANARY), "the token was kept: {text}");
    }
    assert!(
        kept.iter().any(|t| t.contains(r#""batchId":"[REDACTED]""#)),
        "{kept:?}"
    );
}

#[tokio::test]
async fn values_outside_cjs_closed_enums_stop_the_stream_and_cjs_own_are_read() {
    let server = MockServer::start_async().await;
    let mock = server.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    let restate = |id: &str, extra: Value| {
        let mut order = json!({
            "enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": id,
            "updateTime": "2024-01-16T10:00:00Z", "status": "Accepted",
            "correctionReason": "ReturnedMerchandise", "amount": "10.00"
        });
        if let (Some(order), Value::Object(extra)) = (order.as_object_mut(), extra) {
            order.extend(extra);
        }
        serde_json::from_value::<cj_graphql::tracking::OrderRestateRequest>(order)
            .expect("parses: unknown values are kept")
    };
    let input = vec![
        restate("R-0", json!({})),
        restate(
            "R-1",
            json!({"status": "Approved", "correctionReason": "RETURNED",
                   "verticalParameters": {"advertiserVertical": "Retailer"}}),
        ),
    ];
    let sender = client(&server.base_url());
    let answers = collect(sender.stream(stream::iter(input.clone()))).await;
    mock.assert_calls(0);
    assert_eq!(answers.len(), 1);
    let failure = answers[0].as_ref().expect_err("refused before sending");
    let Error::Invalid(invalid) = &failure.error else {
        panic!("{failure:?}")
    };
    // The three values, all of order 1, as the slice API refuses them.
    assert_eq!(invalid.problems.len(), 3, "{invalid}");
    assert!(invalid.problems.iter().all(|p| p.index == Some(1)));
    let Err(Error::Invalid(slice)) = sender.encode_restate(&input) else {
        panic!("the slice API refuses them too")
    };
    assert_eq!(invalid, &slice);

    // Values CJ answers with that this SDK does not know are kept, not an error.
    let mut answer = accepting(0..1, json!([]));
    let order = &mut answer["data"]["createOrders"]["orders"][0];
    order["status"] = json!("Approved");
    order["correctionReason"] = json!("RETURNED");
    order["verticalParameters"] = json!({"advertiserVertical": "Retailer"});
    let server = answering(200, answer.to_string());
    let answers = collect(client(&server.base_url()).stream(stream::iter(orders(1)))).await;
    let answer = answers[0].as_ref().expect("answered");
    assert!(answer.is_success(), "{answer:?}");
    let (_, order) = answer.accepted().next().expect("the order");
    let order = order.expect("reads as an Order");
    assert_eq!(
        order.status.map(|s| s.to_string()).as_deref(),
        Some("Approved")
    );
}

#[tokio::test]
async fn the_default_answer_limit_holds_cjs_largest_tracking_answer() {
    // The largest answer the SDK asks for: 10,000 orders with every field selected, each with
    // 3 items and 11 vertical parameters (CJ writes the other vertical parameters as null):
    // 33 MB, about the 31 MB measured when the limit was set.
    let items: Vec<Value> = (1..=3)
        .map(|n| json!({"unitPrice": "74.99", "quantity": 2, "sku": format!("SKU-BLK-LG-{n}"), "discount": "0.00"}))
        .collect();
    let template = json!({
        "submissionId": "4f1c1a8e-77b1-4f2b-9a1d-5c3f0e2b9a10", "batchId": "b-20240115-01",
        "orderReceivedTime": "2024-01-15T18:08:37.512Z",
        "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
        "orderId": "S-TEMPLATE", "eventTime": "2024-01-15T13:08:36.089-05:00",
        "updateTime": "2024-01-16T13:08:36.089-05:00", "ad": {"id": 13579},
        "promotionalProperty": {"id": 987654}, "sid": "newsletter-2024-01",
        "cjEvent": "7166ddf3b35b11eb834200a10a1eb972", "amount": "149.98", "discount": "0.00",
        "verticalParameters": {
            "advertiserVertical": "Retail", "brand": "Acme Outdoor", "category": "Jackets",
            "customerStatus": "New", "customerCountry": "US", "itemName": "Storm Shell",
            "paymentMethod": "CreditCard", "promotion": "SUMMER10", "promotionAmount": "10.00",
            "taxAmount": "12.00", "shopifyOrderId": "5501234567890"
        },
        "customParameters": [{"name": "mkt_channel", "value": "affiliate"}],
        "items": items, "coupon": "SUMMER10", "currency": "USD",
        "bypassChannel": {"name": "email", "timestamp": "2024-01-15T18:00:00Z"},
        "status": "Pending", "correctionReason": "ReturnedMerchandise",
        "ids": {"universalTagCjUser": "u-1", "userId": "user-1", "emailHash": "0f3a9c1e"}
    });
    let template: cj_graphql::tracking::Order =
        serde_json::from_value(template).expect("an order CJ returns");
    let template = serde_json::to_string(&template).expect("serializes");
    let returned: Vec<String> = (0..10_000)
        .map(|i| template.replace("\"S-TEMPLATE\"", &format!("\"S-{i:05}\"")))
        .collect();
    let body = format!(
        r#"{{"data":{{"createOrders":{{"orders":[{}],"errors":[]}}}}}}"#,
        returned.join(",")
    );
    assert!(
        body.len() > 30_000_000,
        "as large as CJ's largest: {} bytes",
        body.len()
    );
    let server = answering(200, body);
    // The client's transport keeps the default limit.
    let answers = collect(client(&server.base_url()).stream(stream::iter(orders(10_000)))).await;
    let answer = answers[0]
        .as_ref()
        .expect("read whole under the default limit");
    assert!(answer.is_success(), "{answer:?}");
    assert_eq!(answer.accepted_count(), 10_000);
}

#[tokio::test]
async fn an_order_cj_names_is_accepted_even_when_the_rest_of_its_echo_does_not_read() {
    // Order 1's echo has a time this SDK cannot read and an amount that is no decimal: CJ
    // named it, so it is accepted; reading its echo fails for it alone.
    let mut answer = accepting(0..3, json!([]));
    let odd = &mut answer["data"]["createOrders"]["orders"][1];
    odd["orderReceivedTime"] = json!("yesterday");
    odd["amount"] = json!({"value": 1});
    let server = answering(200, answer.to_string());
    let mut answers = collect(client(&server.base_url()).stream(stream::iter(orders(3)))).await;
    let answer = answers.remove(0).expect("answered");
    assert_eq!(answer.accepted_count(), 3);
    assert!(answer.is_success(), "{answer:?}");
    let read: Vec<(Option<usize>, bool)> = answer
        .accepted()
        .map(|(index, order)| (index, order.is_ok()))
        .collect();
    assert_eq!(read, [(Some(0), true), (Some(1), false), (Some(2), true)]);
    let json: Vec<&str> = answer.accepted_json().map(|(_, json)| json).collect();
    assert!(json[1].contains("yesterday"), "{}", json[1]);
    // The whole answer as a response needs every echo read.
    assert!(answer.into_response().is_err());
}

#[test]
fn the_clients_clock_skew_decides_which_times_ahead_pass_both_ways_of_sending() {
    let ahead = |i: usize| {
        let mut o = order(i);
        let soon = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(30))
            .expect("a time");
        o.event_time = Some(soon.into());
        o
    };
    let orders = [ahead(0), ahead(1)];
    let default = client("http://127.0.0.1:9");
    assert_eq!(
        default.clock_skew(),
        cj_graphql::tracking::DEFAULT_CLOCK_SKEW
    );
    assert!(default.encode_create(&orders).is_ok());
    assert!(default.encode_iter(orders.clone()).all(|body| body.is_ok()));

    let exact = default.with_clock_skew(std::time::Duration::ZERO);
    let Err(Error::Invalid(invalid)) = exact.encode_create(&orders) else {
        panic!("30 s ahead with no tolerance is refused");
    };
    let named: Vec<(Option<usize>, &str)> = invalid
        .problems
        .iter()
        .map(|p| (p.index, p.field.as_str()))
        .collect();
    assert_eq!(named, [(Some(0), "eventTime"), (Some(1), "eventTime")]);
    let streamed: Vec<_> = exact.encode_iter(orders).collect();
    assert!(
        matches!(streamed.as_slice(), [Err(e)] if matches!(e.error, Error::Invalid(_))),
        "{streamed:?}"
    );
}
