//! The streaming submission (`Orders::stream`) against httpmock and the sandbox: requests of
//! 10,000 orders, answers in input order, a failure that keeps what was answered.

use cj_graphql::tracking::{
    EncodedOrder, Mode, Order, OrderCreateRequest, Orders, StreamAnswer, StreamError, StreamExt,
    Validation, stream,
};
use cj_graphql::transport::{Credentials, Error, RetryPolicy, Transport};
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
    let transport = Transport::builder()
        .credentials(Credentials::token("stream-test-token"))
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
    stream: impl futures_util::Stream<Item = Result<StreamAnswer<Order>, StreamError>>,
) -> Vec<Result<StreamAnswer<Order>, StreamError>> {
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
    let answers: Vec<StreamAnswer<Order>> =
        answers.into_iter().map(|a| a.expect("answered")).collect();
    let ranges: Vec<_> = answers.iter().map(|a| a.orders.clone()).collect();
    assert_eq!(ranges, [0..10_000, 10_000..20_000, 20_000..25_001]);
    let accepted: Vec<usize> = answers.iter().map(|a| a.accepted_count()).collect();
    assert_eq!(accepted, [10_000, 9_993, 5_001]);

    // Each accepted order comes with its input position, in order.
    let (index, order) = answers[2].accepted().nth(7).expect("an order");
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
async fn the_stream_sends_what_the_slice_api_sends() {
    let orders_client = client("http://127.0.0.1:9");
    let input = orders(25);
    let small = orders_client.clone().with_max_orders_per_request(10);
    let slice = small.encode_create(&input).expect("encodes");
    let streamed: Vec<_> = small
        .encode_iter(input.clone())
        .map(|b| b.expect("encodes"))
        .collect();
    assert_eq!(streamed, slice);
    // Pre-encoded orders make the same bodies.
    let encoded = input.iter().map(|o| EncodedOrder::new(o).expect("encodes"));
    let again: Vec<_> = small.encode_iter(encoded).map(|b| b.expect("ok")).collect();
    assert_eq!(again, slice);
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
