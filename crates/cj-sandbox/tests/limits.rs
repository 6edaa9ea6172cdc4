//! The sandbox stays bounded under abuse: each limit exceeded by a request gets a CJ-shaped
//! answer quickly, and the sandbox keeps serving afterwards. Loopback only.

use std::time::{Duration, Instant};

use cj_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP client for the tests, with the SDK's TLS setup (see the dev-dependency on cj-transport).
fn http() -> reqwest::Client {
    cj_transport::tls::client_builder()
        .expect("a TLS setup")
        .build()
        .expect("an HTTP client")
}

const TOKEN: &str = "sandbox-test-token";

/// Far below what these requests took before the limits (from 58 s to 364 s), and above what
/// a debug build on a busy machine needs.
const QUICK: Duration = Duration::from_secs(10);

/// Posts a body; the status, the JSON answer and how long it took.
async fn post(url: &str, body: Vec<u8>) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = http()
        .post(url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json, started.elapsed())
}

async fn post_json(url: &str, body: &Value) -> (u16, Value, Duration) {
    post(url, body.to_string().into_bytes()).await
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

/// A refusal in CJ's shape: HTTP 200, `data: null`, one error saying why.
fn assert_refused(answer: &(u16, Value, Duration), why: &str) {
    let (status, body, took) = answer;
    assert_eq!(*status, 200, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(message(body).contains(why), "{why}: {body}");
    assert!(*took < QUICK, "{why}: took {took:?}");
}

fn tracking_test(sandbox: &Sandbox) -> String {
    format!("{}/graphqltest", sandbox.tracking_url())
}

fn an_order() -> Value {
    json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "ORD-1",
        "eventTime": "2024-01-15T18:08:36.089Z", "amount": "10.00", "currency": "USD"})
}

const CREATE: &str = "mutation($o: [OrderCreateRequest!]!) { createOrders(newOrders: $o) { orders { orderId } errors { message } } }";

/// The sandbox still serves: its health check and an order.
async fn assert_healthy(sandbox: &Sandbox) {
    let health = http()
        .get(format!("{}/sandbox/health", sandbox.root_url()))
        .send()
        .await
        .expect("the health check answers");
    assert_eq!(health.status().as_u16(), 200);
    let (status, body, _) = post_json(
        &tracking_test(sandbox),
        &json!({"query": CREATE, "variables": {"o": [an_order()]}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["createOrders"]["orders"][0]["orderId"], "ORD-1",
        "{body}"
    );
}

/// graphql-js's standard introspection query (`getIntrospectionQuery()`), as GraphQL tools
/// send it: 13 levels deep, 181 fields.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";

/// An SDK operation from `queries/`, with the fragments it uses appended (as the code
/// generator does).
fn sdk_document(api: &str, operation: &str) -> String {
    let dir = format!("{}/../../queries/{api}", env!("CARGO_MANIFEST_DIR"));
    let read = |file: &str| std::fs::read_to_string(format!("{dir}/{file}")).expect("queries/");
    let fragments_file = read("fragments.graphql");
    let fragments: Vec<(String, String)> = fragments_file
        .split("\nfragment ")
        .skip(1)
        .map(|f| {
            let name = f.split_whitespace().next().unwrap_or_default().to_string();
            (name, format!("fragment {f}"))
        })
        .collect();
    let spreads = |text: &str| -> Vec<String> {
        text.split("...")
            .skip(1)
            .map(|s| s.chars().take_while(|c| c.is_alphanumeric()).collect())
            .collect()
    };
    let mut document = read(&format!("{operation}.graphql"));
    let mut used: Vec<String> = Vec::new();
    let mut todo = spreads(&document);
    while let Some(name) = todo.pop() {
        if used.contains(&name) {
            continue;
        }
        let (_, text) = fragments
            .iter()
            .find(|(n, _)| *n == name)
            .expect("the fragment exists");
        todo.extend(spreads(text));
        used.push(name);
    }
    for name in &used {
        let (_, text) = fragments.iter().find(|(n, _)| n == name).expect("found");
        document.push('\n');
        document.push_str(text);
    }
    document
}

#[tokio::test]
async fn the_defaults_let_cj_shaped_documents_through() {
    let sandbox = Sandbox::start().await.expect("starts");
    let tracking = tracking_test(&sandbox);
    let programs = format!("{}/query", sandbox.program_terms_url());
    let documents = [
        (&tracking, json!({"query": INTROSPECTION})),
        (&programs, json!({"query": INTROSPECTION})),
        (
            &tracking,
            json!({"query": sdk_document("tracking", "create_orders"),
                "variables": {"newOrders": [an_order()]}}),
        ),
        (
            &tracking,
            json!({"query": sdk_document("tracking", "restate_orders"), "variables":
                {"restatedOrders": [{"enterpriseId": "1", "actionTrackerId": 1, "orderId": "A",
                    "updateTime": "2024-01-16T00:00:00Z", "amount": "5.00"}]}}),
        ),
        (
            &tracking,
            json!({"query": sdk_document("tracking", "cancel_orders"), "variables":
                {"cancelledOrders": [{"enterpriseId": "1", "actionTrackerId": 1, "orderId": "A",
                    "updateTime": "2024-01-16T00:00:00Z"}]}}),
        ),
        (
            &programs,
            json!({"query": sdk_document("program_terms", "contracts"),
                "variables": {"publisherId": "7654321", "limit": 100}}),
        ),
        // CJ's own example: an inline single object where the schema takes a list.
        (
            &tracking,
            json!({"query": "mutation cancelOrder { cancelOrders(cancelledOrders:{ enterpriseId:1113122 actionTrackerId:1 orderId:\"myorderId\" updateTime:\"2020-10-10T01:01:01.0-07:00\" correctionReason:InvalidCreditCard status:Declined }) { orders { submissionId status } errors { message, fields } } }"}),
        ),
    ];
    for (url, document) in documents {
        let (status, body, _) = post_json(url, &document).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{document}: {body}");
        assert!(!body["data"].is_null(), "{body}");
    }
    // CJ's largest batch, 10,000 orders, with the SDK's whole selection.
    let (status, body, _) = post_json(&tracking, &batch(10_000, 1)).await;
    assert_eq!(status, 200);
    assert!(body["errors"].is_null(), "{}", message(&body));
    assert_eq!(
        body["data"]["createOrders"]["orders"]
            .as_array()
            .map(Vec::len),
        Some(10_000)
    );
    // An answer may be twice its request on top of `max_answer_bytes`: the echo of a batch
    // with many items (about 200 KB here) passes a far lower limit.
    let small = Sandbox::start_with(SandboxConfig::new().max_answer_bytes(64 * 1024))
        .await
        .expect("starts");
    let (_, body, _) = post_json(&tracking_test(&small), &batch(100, 20)).await;
    assert!(body["errors"].is_null(), "{}", message(&body));
    assert_eq!(
        body["data"]["createOrders"]["orders"][99]["items"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
}

/// The SDK's `createOrders` with `orders` orders of `items` items each.
fn batch(orders: usize, items: usize) -> Value {
    let item =
        json!({"sku": "SKU-BLK-LG", "unitPrice": "74.99", "quantity": 2, "discount": "0.00"});
    let orders: Vec<Value> = (0..orders)
        .map(|i| {
            let mut order = an_order();
            order["orderId"] = json!(format!("ORD-{i}"));
            order["items"] = json!(vec![item.clone(); items]);
            order
        })
        .collect();
    json!({"query": sdk_document("tracking", "create_orders"), "variables": {"newOrders": orders}})
}

#[tokio::test]
async fn too_complex_too_deep_or_too_long_documents_are_refused_at_once() {
    let sandbox = Sandbox::start().await.expect("starts");
    let tracking = tracking_test(&sandbox);

    // 256 aliases of an introspection, 9 KB: a 157 MB answer before.
    let answer = post_json(&tracking, &introspections(256)).await;
    assert_refused(&answer, "Query is too complex");

    // 1.5 KB of fragments spreading fragments: 16^10 fields once expanded (validating it
    // would take hours).
    let mut fragments = String::from("fragment F0 on __Type { name }\n");
    for level in 1..=10 {
        let spreads: String = (0..16)
            .map(|i| format!("a{i}: ofType {{ ...F{} }} ", level - 1))
            .collect();
        fragments.push_str(&format!("fragment F{level} on __Type {{ {spreads} }}\n"));
    }
    let query = format!("{{ __schema {{ types {{ ...F10 }} }} }}\n{fragments}");
    let answer = post_json(&tracking, &json!({ "query": query })).await;
    assert_refused(&answer, "Query is too complex");

    // Nested 21 levels, one past the default depth.
    let deep = format!(
        "{{ __schema {{ types {{ {} name {} }} }} }}",
        "ofType { ".repeat(18),
        "} ".repeat(18)
    );
    let answer = post_json(&tracking, &json!({ "query": deep })).await;
    assert_refused(&answer, "Query is nested too deep");

    // 17 directives on a field.
    let directives = "@skip(if: false) ".repeat(17);
    let query = format!("{{ getBuildNumber {directives} }}");
    let answer = post_json(&tracking, &json!({ "query": query })).await;
    assert_refused(&answer, "directives");

    // A document over 256 KiB (the default), whatever it holds.
    let long = format!("{{ getBuildNumber {} }}", " ".repeat(256 * 1024));
    let answer = post_json(&tracking, &json!({ "query": long })).await;
    assert_refused(&answer, "over this sandbox's limit of 262144");

    assert_healthy(&sandbox).await;
}

#[tokio::test]
async fn each_document_limit_can_be_set() {
    let sandbox = Sandbox::start_with(
        SandboxConfig::new()
            .max_depth(3)
            .max_complexity(5)
            .max_query_bytes(150)
            .max_directives(1),
    )
    .await
    .expect("starts");
    let tracking = tracking_test(&sandbox);
    let long = format!("{{ {} }}", "getBuildNumber ".repeat(10));
    for (query, why) in [
        (
            "{ __schema { types { fields { name } } } }",
            "nested too deep",
        ),
        (
            "{ a: getBuildNumber b: getBuildNumber c: getBuildNumber d: getBuildNumber e: getBuildNumber f: getBuildNumber }",
            "too complex",
        ),
        (long.as_str(), "over this sandbox's limit of 150"),
        (
            "{ getBuildNumber @skip(if: false) @include(if: true) }",
            "directives",
        ),
    ] {
        let answer = post_json(&tracking, &json!({ "query": query })).await;
        assert_refused(&answer, why);
    }
    let (_, body, _) = post_json(&tracking, &json!({"query": "{ getBuildNumber }"})).await;
    assert!(body["data"]["getBuildNumber"].is_string(), "{body}");
}

/// `copies` aliases of the types of a standard introspection (181 fields each).
fn introspections(copies: usize) -> Value {
    let aliases: String = (0..copies)
        .map(|i| format!("a{i}: __schema {{ types {{ ...FullType }} }} "))
        .collect();
    let (_, fragments) = INTROSPECTION.split_once('\n').expect("fragments");
    json!({ "query": format!("{{ {aliases} }}\n{fragments}") })
}

#[tokio::test]
async fn an_answer_is_abandoned_as_soon_as_it_grows_past_its_limit() {
    let sandbox = Sandbox::start_with(SandboxConfig::new().max_answer_bytes(256 * 1024))
        .await
        .expect("starts");
    let tracking = tracking_test(&sandbox);
    // Four introspections, within the complexity limit: 340 KB of answer.
    let answer = post_json(&tracking, &introspections(4)).await;
    assert_refused(&answer, "would exceed");
    // The limit is the answer's: one (86 KB) fits.
    let (_, body, _) = post_json(&tracking, &introspections(1)).await;
    assert!(body["errors"].is_null(), "{}", message(&body));
    assert_healthy(&sandbox).await;

    let tiny = Sandbox::start_with(SandboxConfig::new().max_answer_bytes(10 * 1024))
        .await
        .expect("starts");
    let answer = post_json(&tracking_test(&tiny), &json!({ "query": INTROSPECTION })).await;
    assert_refused(&answer, "would exceed");
    assert_healthy(&tiny).await;
}

#[tokio::test]
async fn variables_are_built_only_as_far_as_they_fit_their_types() {
    let sandbox = Sandbox::start().await.expect("starts");
    let tracking = tracking_test(&sandbox);

    // 20 MB of `0` where orders belong (a 105 MB one took 10.8 GB and 364 s before): refused
    // at the first `0`, never built.
    let zeros = format!("[{}0]", "0,".repeat(10 * 1024 * 1024));
    let body = format!(r#"{{"query": "{CREATE}", "variables": {{"o": {zeros}}}}}"#);
    let answer = post(&tracking, body.into_bytes()).await;
    assert_refused(
        &answer,
        "Invalid value for variable \"$o.0\", expected type \"OrderCreateRequest\"",
    );
    // The same array as the whole body.
    let (status, body, took) = post(&tracking, zeros.into_bytes()).await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("must be a JSON object"), "{body}");
    assert!(took < QUICK);

    let mut wrong = an_order();
    wrong["items"] = json!([[1, 2, 3]]);
    let answer = post_json(
        &tracking,
        &json!({"query": CREATE, "variables": {"o": [an_order(), wrong]}}),
    )
    .await;
    assert_refused(
        &answer,
        "Invalid value for variable \"$o.1.items.0\", expected type \"OrderItemInput\"",
    );
    let mut unknown = an_order();
    unknown["notAField"] = json!({"deep": [1, 2, 3]});
    let answer = post_json(
        &tracking,
        &json!({"query": CREATE, "variables": {"o": [unknown]}}),
    )
    .await;
    assert_refused(
        &answer,
        "unknown field \"notAField\" of type \"OrderCreateRequest\"",
    );
    let mut missing = an_order();
    missing.as_object_mut().expect("an order").remove("orderId");
    let answer = post_json(
        &tracking,
        &json!({"query": CREATE, "variables": {"o": [missing]}}),
    )
    .await;
    assert_refused(&answer, "field \"orderId\" of type \"String!\" is required");

    // A variable of a type no argument takes is never built; async-graphql says why.
    let answer = post_json(
        &tracking,
        &json!({"query": "query($x: [Int]) { getBuildNumber }", "variables": {"x": vec![0; 100_000]}}),
    )
    .await;
    assert_refused(&answer, "Variable \"$x\" is not used");
    // Variables the operation does not declare are skipped.
    let (_, body, _) = post_json(
        &tracking,
        &json!({"query": "{ getBuildNumber }", "variables": {"y": vec![0; 100_000]}}),
    )
    .await;
    assert!(body["data"]["getBuildNumber"].is_string(), "{body}");

    // More than CJ's 10,000 orders: refused at the 10,001st with CJ's 504.
    let batch = vec![an_order(); 10_001];
    let response = http()
        .post(&tracking)
        .bearer_auth(TOKEN)
        .json(&json!({"query": CREATE, "variables": {"o": batch}}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 504);
    assert_healthy(&sandbox).await;
}

/// Orders in variables are read one at a time from the body, never built into a tree that
/// async-graphql would check: the sandbox checks each value as async-graphql would.
#[tokio::test]
async fn orders_in_variables_are_checked_value_by_value() {
    let sandbox = Sandbox::start().await.expect("starts");
    let tracking = tracking_test(&sandbox);
    let refused = [
        (
            "amount",
            json!("abc"),
            "$o.0.amount",
            "NonNegativeDecimalNumber",
        ),
        (
            "amount",
            json!("-1.00"),
            "$o.0.amount",
            "NonNegativeDecimalNumber",
        ),
        (
            "actionTrackerId",
            json!(-5),
            "$o.0.actionTrackerId",
            "NonNegativeInt",
        ),
        (
            "actionTrackerId",
            json!("123456"),
            "$o.0.actionTrackerId",
            "NonNegativeInt",
        ),
        ("eventTime", json!("yesterday"), "$o.0.eventTime", "Instant"),
        ("orderId", json!(42), "$o.0.orderId", "String"),
        ("orderId", Value::Null, "$o.0.orderId", "String!"),
        (
            "items",
            json!([{"sku": "A", "quantity": 1.5, "unitPrice": "1"}]),
            "$o.0.items.0.quantity",
            "NonNegativeInt",
        ),
    ];
    for (field, value, path, ty) in refused {
        let mut order = an_order();
        order[field] = value.clone();
        let answer = post_json(
            &tracking,
            &json!({"query": CREATE, "variables": {"o": [order]}}),
        )
        .await;
        assert_refused(
            &answer,
            &format!("Invalid value for variable \"{path}\", expected type \"{ty}\""),
        );
    }
    const RESTATE: &str = "mutation($o: [OrderRestateRequest!]!) { restateOrders(restatedOrders: $o) { orders { orderId status } } }";
    let restate = json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "ORD-1",
        "updateTime": "2024-01-16T00:00:00Z", "amount": "5.00", "status": "Approved"});
    let answer = post_json(
        &tracking,
        &json!({"query": RESTATE, "variables": {"o": [restate]}}),
    )
    .await;
    assert_refused(
        &answer,
        "Invalid value for variable \"$o.0.status\", expected type \"OrderStatus\"",
    );

    // What GraphQL allows: an integer ID, and a single order where a list belongs.
    let mut order = an_order();
    order["enterpriseId"] = json!(1234567);
    let (status, body, _) = post_json(
        &tracking,
        &json!({"query": CREATE, "variables": {"o": order}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["createOrders"]["orders"][0]["orderId"], "ORD-1",
        "{body}"
    );
}

/// Reads until the sandbox closes the connection; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn slow_headers_slow_requests_and_idle_connections_are_closed() {
    let sandbox = Sandbox::start_with(
        SandboxConfig::new()
            .header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_millis(600))
            .request_timeout(Duration::from_millis(300)),
    )
    .await
    .expect("starts");
    let connect = || TcpStream::connect(sandbox.addr());

    // Headers that never end.
    let mut slow = connect().await.expect("connects");
    slow.write_all(b"POST /tracking/graphqltest HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("writes");
    let took = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(took < Duration::from_millis(600), "{took:?}");

    // A body that never arrives.
    let mut stalled = connect().await.expect("connects");
    stalled
        .write_all(
            b"POST /tracking/graphqltest HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"qu",
        )
        .await
        .expect("writes");
    let took = closed_within(&mut stalled, Duration::from_secs(5)).await;
    assert!(took < Duration::from_millis(600), "{took:?}");

    // A connection that says nothing: the idle timeout, not the header one.
    let mut idle = connect().await.expect("connects");
    let took = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // A kept-alive connection after its answer, the same.
    let mut kept = connect().await.expect("connects");
    kept.write_all(b"GET /sandbox/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("writes");
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.expect("an answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let took = closed_within(&mut kept, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(550), "{took:?}");

    assert_healthy(&sandbox).await;
}

#[tokio::test]
async fn the_health_check_answers_while_idle_connections_fill_the_cap() {
    let sandbox = Sandbox::start_with(SandboxConfig::new().max_connections(16))
        .await
        .expect("starts");
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(sandbox.addr()).await.expect("connects"));
    }
    // Past the quarter of a second a new client gets to send its first request in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let health = tokio::time::timeout(
        QUICK,
        http()
            .get(format!("{}/sandbox/health", sandbox.root_url()))
            .send(),
    )
    .await
    .expect("in time")
    .expect("answers");
    assert_eq!(health.status().as_u16(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_healthy(&sandbox).await;
    drop(idle);
}

/// Not part of the normal suite: 60 s (`SOAK_SECS`) of 200 concurrent clients (`SOAK_CLIENTS`)
/// sending orders, program terms queries and some abuse, against an in-process sandbox or the
/// one at `SOAK_URL`. Prints the requests served and the peak memory of this process.
///
/// `cargo test -p cj-sandbox --release --test limits -- --ignored --nocapture soak`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a soak test: a minute of load"]
async fn soak() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let clients: usize = std::env::var("SOAK_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let local = match std::env::var("SOAK_URL") {
        Ok(_) => None,
        Err(_) => Some(Sandbox::start().await.expect("starts")),
    };
    let root = local.as_ref().map_or_else(
        || std::env::var("SOAK_URL").unwrap_or_default(),
        Sandbox::root_url,
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let root = root.clone();
        tasks.push(tokio::spawn(async move {
            let http = http();
            let (mut served, mut failed, mut orders) = (0u64, 0u64, 0u64);
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let (url, body) = match i % 10 {
                    // Abuse: 256 introspections at once, and zeros where orders belong.
                    0 => (format!("{root}/tracking/graphqltest"), introspections(256)),
                    1 => (
                        format!("{root}/tracking/graphqltest"),
                        json!({"query": CREATE, "variables": {"o": vec![0; 10_000]}}),
                    ),
                    2 | 3 => (
                        format!("{root}/programs/query"),
                        json!({"query": "{ publisher { contracts(publisherId: \"7654321\") { totalCount resultList { advertiserId } } } }"}),
                    ),
                    _ => {
                        let batch: Vec<Value> = (0..5)
                            .map(|n| {
                                let mut order = an_order();
                                order["orderId"] = json!(format!("SOAK-{client}-{i}-{n}"));
                                order
                            })
                            .collect();
                        orders += 5;
                        (
                            format!("{root}/tracking/graphql"),
                            json!({"query": CREATE, "variables": {"o": batch}}),
                        )
                    }
                };
                let ok = match http.post(url).bearer_auth(TOKEN).json(&body).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    served += 1;
                } else {
                    failed += 1;
                }
            }
            (served, failed, orders)
        }));
    }
    let (mut served, mut failed, mut orders) = (0, 0, 0);
    for task in tasks {
        let (s, f, o) = task.await.expect("a client");
        served += s;
        failed += f;
        orders += o;
    }
    let elapsed = started.elapsed();
    let health = http()
        .get(format!("{root}/sandbox/health"))
        .send()
        .await
        .expect("the health check answers");
    assert_eq!(health.status().as_u16(), 200);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    println!(
        "soak: {clients} clients, {elapsed:?}: {served} requests served ({:.0}/s), {failed} \
         failed, {orders} orders sent live; peak memory of this process {peak}",
        served as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn requests_over_the_budget_in_flight_take_turns() {
    // A budget of 1 KiB: each request takes all of it.
    let sandbox = Sandbox::start_with(SandboxConfig::new().max_body_bytes_in_flight(1024))
        .await
        .expect("starts");
    let url = tracking_test(&sandbox);
    let body = json!({"query": CREATE, "variables": {"o": [an_order()]}}).to_string();
    let slow = {
        let (url, body) = (url.clone(), body.clone());
        tokio::spawn(async move {
            let response = http()
                .post(&url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .header(cj_sandbox::FAULT_HEADER, "delay=1500")
                .body(body)
                .send()
                .await
                .expect("answers");
            assert_eq!(response.status().as_u16(), 200);
            response.text().await.expect("a body");
            Instant::now()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer, _) = post(&url, body.into_bytes()).await;
    let second_done = Instant::now();
    let first_done = slow.await.expect("the first request");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"]["createOrders"]["orders"][0]["orderId"],
        "ORD-1"
    );
    // The second waited for the first's answer to be written.
    assert!(second_done >= first_done);
    // The health check is outside the budget.
    assert_healthy(&sandbox).await;
}
