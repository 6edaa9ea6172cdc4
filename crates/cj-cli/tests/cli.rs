//! The `cj` binary against a loopback mock of CJ: what it sends, prints and exits with.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "CANARY-cli-5d1e-never-printed";

const ORDER: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","eventTime":"2024-01-15T18:08:36.089Z","cjEvent":"7166ddf3b35b11eb834200a10a1eb972","currency":"USD","amount":149.98,"discount":"0.00","items":[{"sku":"SKU-1","unitPrice":"74.99","quantity":2}]}"#;

/// Starts `cj` with `args`, the caller's CJ variables replaced by `envs`, its outputs going to
/// `stdout` and `stderr`, and gives it `stdin`.
fn start(
    args: &[&str],
    stdin: &str,
    envs: &[(&str, &str)],
    stdout: Stdio,
    stderr: Stdio,
) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(args)
        .env_remove("CJ_TOKEN")
        .env_remove("CJ_TRACKING_URL")
        .env_remove("CJ_COMMISSIONS_URL")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("cj runs");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // cj may exit before it reads its input (a usage error): its closed stdin is no failure.
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writes stdin: {e}"
        );
    }
    child
}

fn cj(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let child = start(args, stdin, envs, Stdio::piped(), Stdio::piped());
    let out = child.wait_with_output().expect("cj finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(TOKEN), "the token was printed: {text}");
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn accepted(order_id: &str) -> Value {
    json!({
        "submissionId": "s-1", "batchId": "b-1", "orderReceivedTime": "2024-01-15T18:08:37Z",
        "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
        "orderId": order_id, "customParameters": [], "items": [], "status": "Pending"
    })
}

fn create(server: &MockServer, extra: &[&str], stdin: &str) -> Output {
    let url = server.base_url();
    let mut args = vec!["orders", "create", "--file", "-", "--retries", "0"];
    args.extend_from_slice(extra);
    cj(
        &args,
        stdin,
        &[("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", &url)],
    )
}

#[test]
fn create_sends_jsonl_in_test_mode_and_prints_json_with_cj_names() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST)
            .path("/graphqltest")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body_includes(r#""amount":"149.98""#)
            .body_includes(r#""orderId":"ORD-2""#);
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [accepted("ORD-1"), accepted("ORD-2")], "errors": []}}}));
    });
    let second = ORDER.replace("ORD-1", "ORD-2");
    let out = create(
        &server,
        &["--output", "json"],
        &format!("{ORDER}\n\n{second}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    mock.assert();
    let printed: Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(printed["orders"][1]["orderId"], "ORD-2");
    assert_eq!(printed["orders"][0]["submissionId"], "s-1");
    assert_eq!(printed["errors"], json!([]));
}

#[test]
fn the_table_lists_orders_and_cj_errors_and_exits_1() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [accepted("ORD-1")],
            "errors": [{"message": "Order may not have a eventTime/updateTime in the future",
                        "fields": ["newOrders[1].eventTime"]}]}}}));
    });
    let out = create(&server, &[], ORDER);
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    assert!(table.contains("ORDER ID"), "{table}");
    assert!(table.contains("ORD-1"), "{table}");
    assert!(table.contains("1 accepted, 1 error(s)"), "{table}");
    assert!(table.contains("fields: newOrders[1].eventTime"), "{table}");
}

#[test]
fn live_posts_to_graphql() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.path("/graphql");
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": [accepted("ORD-1")]}}}));
    });
    let out = create(&server, &["--live"], ORDER);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    mock.assert();
}

#[test]
fn invalid_orders_exit_2_naming_line_and_field_and_send_nothing() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    let bad = ORDER.replace("ORD-1", "ORD 2").replace("USD", "usd");
    let out = create(&server, &[], &format!("{ORDER}\n{bad}\n"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(r#"line 2 (orderId "ORD 2"): field `orderId`"#),
        "{err}"
    );
    assert!(
        err.contains(r#"line 2 (orderId "ORD 2"): field `currency`"#),
        "{err}"
    );
    assert_eq!(mock.calls(), 0);
}

#[test]
fn unreadable_lines_exit_2_naming_line_and_field() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    let bad = ORDER.replace(r#""quantity":2"#, r#""quantity":-2"#);
    let out = create(&server, &[], &format!("{ORDER}\n{bad}\n"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("line 2: field `items[0].quantity`"), "{err}");
    let out = create(&server, &[], "{\"orderId\": }\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    assert_eq!(mock.calls(), 0);
}

#[test]
fn a_refusal_exits_1_and_a_transport_failure_exits_3() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        then.status(200)
            .json_body(json!({"data": null, "errors": [{"message": "Invalid Token"}]}));
    });
    let out = create(&server, &[], ORDER);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Invalid Token"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = cj(
        &[
            "orders",
            "create",
            "--file",
            "-",
            "--retries",
            "0",
            "--tracking-url",
            &url,
        ],
        ORDER,
        &[("CJ_TOKEN", TOKEN)],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was sent"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn restate_and_cancel_read_their_own_shapes() {
    let server = MockServer::start();
    let restate = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("restatedOrders");
        then.status(200)
            .json_body(json!({"data": {"restateOrders": {"orders": [accepted("ORD-1")]}}}));
    });
    let cancel = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("cancelledOrders");
        then.status(200)
            .json_body(json!({"data": {"cancelOrders": {"orders": [{
            "submissionId": "s-9", "batchId": "b-9", "advertiser": {"enterpriseId": "1234567"},
            "actionTracker": {"id": 123456}, "orderId": "ORD-1",
            "updateTime": "2024-01-21T10:30:00Z", "status": "Declined"}]}}}));
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", &server.base_url() as &str),
    ];
    let line = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","updateTime":"2024-01-20T09:00:00Z","amount":"74.99","status":"Accepted"}"#;
    let out = cj(&["orders", "restate", "--file", "-"], line, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","updateTime":"2024-01-21T10:30:00Z","status":"Declined","correctionReason":"BookingCanceled"}"#;
    let out = cj(
        &["orders", "cancel", "--file", "-", "--output", "json"],
        line,
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(r#""status":"Declined""#),
        "{}",
        stdout(&out)
    );
    restate.assert();
    cancel.assert();
}

#[test]
fn a_missing_token_is_a_usage_error() {
    let out = cj(&["orders", "create", "--file", "-"], ORDER, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CJ_TOKEN"), "{}", stderr(&out));
}

#[test]
fn a_dry_run_prints_the_request_and_sends_nothing() {
    let out = cj(
        &["orders", "create", "--file", "-", "--dry-run"],
        ORDER,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let body: Value = serde_json::from_str(stdout(&out).trim()).expect("the request body");
    // What the CLI sends: a receipt for each accepted order, not the echo of every field.
    assert_eq!(body["operationName"], "CreateOrderReceipts");
    let query = body["query"].as_str().expect("the query");
    assert!(query.contains("orders { ...OrderReceipt }"), "{query}");
    assert_eq!(body["variables"]["newOrders"][0]["amount"], "149.98");
    assert!(stderr(&out).contains("nothing was sent"));
}

#[test]
fn the_bundled_samples_are_valid_for_every_mutation() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    for (action, file, count) in [
        ("create", "orders.jsonl", 2),
        ("restate", "restates.jsonl", 1),
        ("cancel", "cancels.jsonl", 1),
    ] {
        let path = format!("{dir}/{file}");
        let out = cj(&["orders", action, "--file", &path, "--dry-run"], "", &[]);
        assert_eq!(out.status.code(), Some(0), "{action}: {}", stderr(&out));
        let body: Value = serde_json::from_str(stdout(&out).trim()).expect("one request");
        let variable = ["newOrders", "restatedOrders", "cancelledOrders"]
            .into_iter()
            .find_map(|v| body["variables"][v].as_array())
            .expect("the orders");
        assert_eq!(variable.len(), count, "{action}");
    }
}

fn contracts_page() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/program_terms/contracts_page.json"
    );
    std::fs::read_to_string(path).expect("fixture")
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cj-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writes");
    path
}

#[test]
fn program_terms_prints_the_contracts_it_can_read_and_names_the_other() {
    // The second contract (advertiser 2345678) has a rate that is no number; the first an
    // item list without a name, which CJ sends.
    let mut page: Value = serde_json::from_str(&contracts_page()).expect("JSON");
    let list = &mut page["data"]["publisher"]["contracts"]["resultList"];
    list[1]["programTerms"]["actionTerms"][0]["commissions"][0]["rate"]["value"] = json!("twelve");
    list[0]["programTerms"]["actionTerms"][0]["commissions"][1]["itemList"]["name"] = Value::Null;
    let server = MockServer::start();
    let body = page.to_string();
    server.mock(|when, then| {
        when.method(POST).path("/query");
        then.status(200).body(body);
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_PROGRAM_TERMS_URL", &server.base_url() as &str),
    ];
    let args = ["program-terms", "--publisher-id", "7654321"];
    let field = "field `programTerms.actionTerms[0].commissions[0].rate.value`";
    let named = "contract #1 (advertiser 2345678, program terms 880022) could not be read";

    let json_out = cj(&[&args[..], &["--output", "json"]].concat(), "", &env);
    assert_eq!(json_out.status.code(), Some(1), "{}", stderr(&json_out));
    let contracts: Value = serde_json::from_str(&stdout(&json_out)).expect("a JSON array");
    let advertisers: Vec<&str> = contracts
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|c| c["advertiserId"].as_str())
        .collect();
    assert_eq!(advertisers, ["1234567", "3456789"]);
    assert!(
        contracts[0]["programTerms"]["actionTerms"][0]["commissions"][1]["itemList"]["name"]
            .is_null()
    );
    let errors = stderr(&json_out);
    assert!(errors.contains(named) && errors.contains(field), "{errors}");
    assert!(
        errors.contains("1 contract(s) could not be read"),
        "{errors}"
    );

    let table = cj(&args, "", &env);
    assert_eq!(table.status.code(), Some(1), "{}", stderr(&table));
    assert!(
        stdout(&table).contains("2 contract(s)"),
        "{}",
        stdout(&table)
    );
    assert!(stderr(&table).contains(named), "{}", stderr(&table));
}

#[test]
fn program_terms_prints_every_contract_and_feeds_the_estimate() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST)
            .path("/query")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body_includes(r#""publisherId":"7654321""#)
            .body_includes(r#""advertiserId":"1234567""#);
        then.status(200).body(contracts_page());
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_PROGRAM_TERMS_URL", &server.base_url() as &str),
    ];
    let args = [
        "program-terms",
        "--publisher-id",
        "7654321",
        "--advertiser-id",
        "1234567",
    ];
    let table = cj(&args, "", &env);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.contains("ADVERTISER") && text.contains("Acme Outdoor"),
        "{text}"
    );
    assert!(text.contains("3 contract(s)"), "{text}");

    let json_out = cj(&[&args[..], &["--output", "json"]].concat(), "", &env);
    assert_eq!(json_out.status.code(), Some(0), "{}", stderr(&json_out));
    mock.assert_calls(2);
    let contracts: Value = serde_json::from_str(&stdout(&json_out)).expect("a JSON array");
    assert_eq!(contracts.as_array().map(Vec::len), Some(3));
    assert_eq!(
        contracts[0]["programTerms"]["actionTerms"][0]["actionTracker"]["type"],
        "item_sale"
    );
    assert_eq!(
        contracts[2]["status"], "PENDING_REVIEW",
        "unknown values are kept"
    );

    let terms = temp_file("terms.json", &stdout(&json_out));
    let order = temp_file(
        "order.json",
        r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-9","currency":"USD",
            "items":[{"sku":"TENT-2P","unitPrice":"200.00","quantity":1},
                     {"sku":"MUG","unitPrice":"10.00","quantity":2,"discount":"2.00"}]}"#,
    );
    let estimate = |extra: &[&str]| {
        let mut args = vec![
            "program-terms",
            "estimate",
            "--terms",
            terms.to_str().expect("path"),
            "--order",
            order.to_str().expect("path"),
        ];
        args.extend_from_slice(extra);
        cj(&args, "", &[])
    };
    let out = estimate(&["--item-list", "777=TENT-2P,TENT-4P", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let e: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(e["items"][0]["commission"]["commission"]["rank"], 10);
    assert_eq!(
        e["items"][0]["amount"],
        json!({"currency": "USD", "amount": "25.00"})
    );
    assert_eq!(e["items"][1]["commission"]["commission"]["rank"], 1);
    assert_eq!(e["items"][1]["amount"]["amount"], "0.90");
    assert_eq!(e["total"], json!([{"currency": "USD", "amount": "25.90"}]));
    assert_eq!(
        e["performanceIncentives"][0]["threshold"]["type"],
        "SALES_AMOUNT"
    );

    let out = estimate(&["--situation", "31"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("FIXED_PER_ORDER 40 GBP [situation New customer]"),
        "{text}"
    );
    assert!(text.contains("estimated commission: 40 GBP"), "{text}");
    assert!(
        text.contains("performance incentive (not included)"),
        "{text}"
    );

    let out = estimate(&["--view-through", "--promotional-property-id", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("PERCENT 1.5 [view-through]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_estimate_with_no_matching_terms_says_so() {
    let terms = temp_file(
        "terms-nomatch.json",
        &serde_json::to_string(
            &serde_json::from_str::<Value>(&contracts_page()).expect("fixture")["data"]["publisher"]
                ["contracts"]["resultList"],
        )
        .expect("json"),
    );
    let order = temp_file(
        "order-nomatch.json",
        r#"{"enterpriseId":"1234567","actionTrackerId":999,"orderId":"ORD-9","amount":"10"}"#,
    );
    let out = cj(
        &[
            "commission",
            "estimate",
            "--terms",
            terms.to_str().expect("path"),
            "--order",
            order.to_str().expect("path"),
        ],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("action tracker 999"),
        "{}",
        stderr(&out)
    );
}

fn lookup_fixture(name: &str) -> String {
    let path = format!(
        "{}/../cj-advertiser-lookup/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn advertisers_lookup_prints_json_with_cj_element_names() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(GET)
            .path("/v2/advertiser-lookup")
            .query_param("requestor-cid", "4567")
            .query_param("keywords", "+kitchen -sink")
            .query_param("advertiser-ids", "joined")
            .header("authorization", format!("Bearer {TOKEN}"));
        then.status(200).body(lookup_fixture("many.xml"));
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_ADVERTISER_LOOKUP_URL", &server.base_url() as &str),
    ];
    let args = [
        "advertisers",
        "lookup",
        "--requestor-cid",
        "4567",
        "--advertiser-ids",
        "joined",
        "--keywords",
        "+kitchen -sink",
    ];
    let out = cj(&[&args[..], &["--output", "json"]].concat(), "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let advertisers: Value = serde_json::from_str(&stdout(&out)).expect("a JSON array");
    assert_eq!(advertisers[0]["advertiser-id"], "2345678");
    assert_eq!(advertisers[0]["seven-day-epc"], "12.33");
    assert_eq!(
        advertisers[0]["actions"][0]["commission"]["default"],
        json!({"type": "fixed", "currency": "GBP", "value": "50.00", "level": "order-level"})
    );
    assert_eq!(
        advertisers[0]["actions"][1]["commission"]["default"],
        json!({"type": "percent", "value": "10.00", "level": "item-level"})
    );
    assert_eq!(
        advertisers[0]["link-types"],
        json!(["Text Link", "DeepLink"])
    );

    let table = cj(&args, "", &env);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("Fjord Finance & Cards"), "{text}");
    assert!(text.contains("Approved application: GBP 50.00"), "{text}");
    assert!(
        text.contains("3 advertiser(s) shown of 596 matched"),
        "{text}"
    );
    mock.assert_calls(2);
}

#[test]
fn advertisers_lookup_all_walks_pages_and_reports_cj_errors() {
    let server = MockServer::start();
    let page = |ids: std::ops::Range<u32>, n: u32| {
        let list: String = ids
            .map(|i| format!("<advertiser><advertiser-id>{i}</advertiser-id></advertiser>"))
            .collect();
        format!(
            "<cj-api><advertisers total-matched=\"3\" records-returned=\"2\" page-number=\"{n}\">{list}</advertisers></cj-api>"
        )
    };
    server.mock(|when, then| {
        when.query_param("page-number", "1")
            .query_param("records-per-page", "2");
        then.status(200).body(page(1..3, 1));
    });
    server.mock(|when, then| {
        when.query_param("page-number", "2")
            .query_param("records-per-page", "2");
        then.status(200).body(page(3..4, 2));
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_ADVERTISER_LOOKUP_URL", &server.base_url() as &str),
    ];
    let out = cj(
        &[
            "advertisers",
            "lookup",
            "--requestor-cid",
            "4567",
            "--advertiser-ids",
            "1,2,3",
            "--records-per-page",
            "2",
            "--all",
            "--output",
            "json",
        ],
        "",
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids: Vec<String> = serde_json::from_str::<Vec<Value>>(&stdout(&out))
        .expect("JSON")
        .iter()
        .map(|a| a["advertiser-id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);

    let refusing = MockServer::start();
    refusing.mock(|when, then| {
        when.any_request();
        then.status(400).body(lookup_fixture("error_requestor.xml"));
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_ADVERTISER_LOOKUP_URL", &refusing.base_url() as &str),
    ];
    let out = cj(
        &[
            "advertisers",
            "lookup",
            "--requestor-cid",
            "4567",
            "--advertiser-name",
            "Acme",
        ],
        "",
        &env,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("requestor-cid"), "{}", stderr(&out));

    let out = cj(
        &["advertisers", "lookup", "--requestor-cid", "4567"],
        "",
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "no criterion is a usage error");
    assert!(
        stderr(&out).contains("a criterion is required"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_demo_walks_every_api_offline() {
    let out = cj(&["demo"], "", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "created STAY-DEMO-1 (submission",
        "STAY-DEMO-1  accepted",
        "STAY-DEMO-2  declined",
        "Acme Outdoor - Standard Publisher Terms",
        "estimated commission: 26.00 USD",
        "1234567 Acme Outdoor",
        "Done:",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is missing from:\n{text}"
        );
    }
}

/// `GET {url}` over a plain TCP connection: the body.
fn http_get(url: &str) -> String {
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// `cj sandbox ARGS` on a free port, with the URLs it printed (`CJ_TRACKING_URL`, ...).
fn cj_sandbox(
    args: &[&str],
) -> (
    std::process::Child,
    std::collections::HashMap<String, String>,
) {
    use std::io::BufRead;
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(["sandbox", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cj sandbox starts");
    let lines = std::io::BufReader::new(sandbox.stdout.take().expect("stdout")).lines();
    let mut urls = std::collections::HashMap::new();
    for line in lines.take(6) {
        let line = line.expect("a line");
        if let Some((name, value)) = line.trim().split_once('=') {
            urls.insert(name.to_string(), value.to_string());
        }
    }
    (sandbox, urls)
}

#[test]
fn cj_sandbox_keeps_its_ledger_in_the_file_given() {
    let dir = std::env::temp_dir().join(format!("cj-cli-ledger-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("ledger.sqlite");
    let _ = std::fs::remove_file(&path);
    let ledger_arg = path.to_str().expect("a UTF-8 path");
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    let (mut first, urls) = cj_sandbox(&["--ledger", ledger_arg]);
    let tracking = urls.get("CJ_TRACKING_URL").cloned().expect("printed");
    let out = cj(
        &[
            "orders",
            "create",
            "--live",
            "--file",
            &format!("{samples}/orders.jsonl"),
        ],
        "",
        &[("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", &tracking)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let _ = first.kill();
    let _ = first.wait();

    // A new sandbox on the same file still knows the orders.
    let (mut second, urls) = cj_sandbox(&["--ledger", ledger_arg]);
    let root = urls
        .get("CJ_TRACKING_URL")
        .expect("printed")
        .trim_end_matches("/tracking")
        .to_string();
    let ledger: Value =
        serde_json::from_str(&http_get(&format!("{root}/sandbox/ledger"))).expect("the ledger");
    let _ = second.kill();
    let _ = second.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let sent = std::fs::read_to_string(format!("{samples}/orders.jsonl")).expect("samples");
    assert_eq!(
        ledger["total"].as_u64(),
        Some(sent.lines().filter(|l| !l.trim().is_empty()).count() as u64),
        "{ledger}"
    );
}

#[test]
fn the_lifecycle_through_the_binary_against_cj_sandbox() {
    let (mut sandbox, urls) = cj_sandbox(&[]);
    let url = |name: &str| {
        urls.get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} was not printed"))
    };
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", &url("CJ_TRACKING_URL") as &str),
        ("CJ_PROGRAM_TERMS_URL", &url("CJ_PROGRAM_TERMS_URL") as &str),
        (
            "CJ_ADVERTISER_LOOKUP_URL",
            &url("CJ_ADVERTISER_LOOKUP_URL") as &str,
        ),
    ];
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    let results: Vec<Output> = vec![
        cj(
            &[
                "orders",
                "create",
                "--live",
                "--file",
                &format!("{samples}/orders.jsonl"),
            ],
            "",
            &env,
        ),
        cj(
            &[
                "orders",
                "restate",
                "--live",
                "--file",
                &format!("{samples}/restates.jsonl"),
            ],
            "",
            &env,
        ),
        cj(
            &[
                "orders",
                "cancel",
                "--live",
                "--file",
                &format!("{samples}/cancels.jsonl"),
            ],
            "",
            &env,
        ),
        cj(
            &[
                "program-terms",
                "--publisher-id",
                "7654321",
                "--output",
                "json",
            ],
            "",
            &env,
        ),
        cj(
            &[
                "advertisers",
                "lookup",
                "--requestor-cid",
                "7654321",
                "--keywords",
                "+kitchen",
            ],
            "",
            &env,
        ),
    ];
    let root = url("CJ_TRACKING_URL")
        .trim_end_matches("/tracking")
        .to_string();
    let ledger: Value =
        serde_json::from_str(&http_get(&format!("{root}/sandbox/ledger"))).expect("the ledger");
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    for out in &results {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    }
    let states: Vec<(&str, &str)> = ledger["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| {
            (
                o["orderId"].as_str().unwrap_or_default(),
                o["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("ORD-2024-001234", "accepted"),
            ("ORD-2024-001235", "declined")
        ]
    );
    let contracts: Value = serde_json::from_str(&stdout(&results[3])).expect("contracts");
    assert_eq!(contracts.as_array().map(Vec::len), Some(5));
    assert!(
        stdout(&results[4]).contains("Kitchen Sink Supply"),
        "{}",
        stdout(&results[4])
    );
}

#[test]
fn the_queue_stores_sends_and_keeps_dead_letters() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the sandbox");
    let sandbox = runtime
        .block_on(cj_sandbox::Sandbox::start())
        .expect("the sandbox starts");
    let dir = std::env::temp_dir().join(format!("cj-cli-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let store = dir.join("queue.sqlite");
    let _ = std::fs::remove_file(&store);
    let store = store.to_str().expect("path").to_string();
    let tracking = sandbox.tracking_url();
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", tracking.as_str()),
        ("CJ_QUEUE_STORE", store.as_str()),
    ];
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

    let out = cj(
        &[
            "queue",
            "enqueue",
            "--file",
            &format!("{samples}/orders.jsonl"),
        ],
        "",
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored 2 order(s) on disk"),
        "{}",
        stdout(&out)
    );
    for (kind, file) in [("restate", "restates.jsonl"), ("cancel", "cancels.jsonl")] {
        let out = cj(
            &[
                "queue",
                "enqueue",
                "--kind",
                kind,
                "--file",
                &format!("{samples}/{file}"),
            ],
            "",
            &env,
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let mut bad = ORDER.replace("ORD-1", "REFUSED-1");
    bad = bad.replace(
        "\"actionTrackerId\":123456",
        "\"actionTrackerId\":4294967295",
    );
    let out = cj(&["queue", "enqueue", "--file", "-"], &bad, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cj(
        &["queue", "enqueue", "--file", "-"],
        &ORDER.replace("ORD-1", "BAD ID"),
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "an invalid order is not stored");
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));

    let status = |env: &[(&str, &str)]| -> Value {
        serde_json::from_str(&stdout(&cj(
            &["queue", "status", "--output", "json"],
            "",
            env,
        )))
        .expect("status")
    };
    assert_eq!(status(&env)["waiting"], 5);
    // Nothing is sent before `run`: the queue is durable on its own.
    assert_eq!(sandbox.ledger().to_json()["orders"], json!([]));

    let out = cj(&["queue", "run", "--until-empty", "--live"], "", &env);
    assert_eq!(
        out.status.code(),
        Some(1),
        "new dead letters: {}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("4 accepted, 1 refused"),
        "{}",
        stdout(&out)
    );
    let s = status(&env);
    assert_eq!(
        (
            s["waiting"].clone(),
            s["accepted"].clone(),
            s["dead"].clone()
        ),
        (json!(0), json!(4), json!(1))
    );
    let ledger = sandbox.ledger().to_json();
    let states: Vec<(&str, &str)> = ledger["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| {
            (
                o["orderId"].as_str().unwrap_or_default(),
                o["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("ORD-2024-001234", "accepted"),
            ("ORD-2024-001235", "declined")
        ]
    );

    let dead: Value = serde_json::from_str(&stdout(&cj(
        &["queue", "dead-letters", "--output", "json"],
        "",
        &env,
    )))
    .expect("dead letters");
    assert_eq!(dead[0]["order"]["orderId"], "REFUSED-1");
    assert!(
        dead[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("actionTrackerId")),
        "{dead}"
    );
    let out = cj(&["queue", "retry"], "", &env);
    assert!(
        stdout(&out).contains("1 order(s) put back"),
        "{}",
        stdout(&out)
    );
    assert_eq!(status(&env)["waiting"], 1);
    drop(sandbox);
}

/// Runs `cj` with its standard output closed before it writes (`cj ... | head -0`): the exit
/// status and standard error.
fn cj_into_a_closed_pipe(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> (i32, String) {
    let child = start(args, stdin, envs, closed_pipe().into(), Stdio::piped());
    let out = child.wait_with_output().expect("cj finishes");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(!err.contains(TOKEN), "the token was printed: {err}");
    (out.status.code().expect("an exit status"), err)
}

fn many_orders(count: usize) -> String {
    (1..=count)
        .map(|i| ORDER.replace("ORD-1", &format!("ORD-{i}")) + "\n")
        .collect()
}

#[test]
fn a_closed_stdout_keeps_the_exit_status_cj_earned_without_a_panic() {
    let orders = many_orders(200);
    let server = MockServer::start();
    let accepted_all = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("ORD-1\"");
        let all: Vec<Value> = (1..=200).map(|i| accepted(&format!("ORD-{i}"))).collect();
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": all, "errors": []}}}));
    });
    let url = server.base_url();
    let env = [("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", url.as_str())];
    let create = ["orders", "create", "--file", "-", "--retries", "0"];
    for output in ["table", "json", "jsonl"] {
        let args = [&create[..], &["--output", output]].concat();
        let (code, err) = cj_into_a_closed_pipe(&args, &orders, &env);
        assert_eq!(code, 0, "{output}: {err}");
    }
    accepted_all.assert_calls(3);

    // What CJ answered still decides the status: here it refused an order.
    let refused = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("REFUSED");
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [], "errors": [{"message": "Invalid actionTrackerId",
                                      "fields": ["newOrders[0].actionTrackerId"]}]}}}));
    });
    let (code, err) = cj_into_a_closed_pipe(&create, &ORDER.replace("ORD-1", "REFUSED"), &env);
    assert_eq!(code, 1, "{err}");
    refused.assert();
    // An order CJ's answer does not name, printed as JSON lines to a closed pipe: exit 3.
    let unconfirmed = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("UNNAMED");
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": [], "errors": []}}}));
    });
    let jsonl = [&create[..], &["--output", "jsonl"]].concat();
    let (code, err) = cj_into_a_closed_pipe(&jsonl, &ORDER.replace("ORD-1", "UNNAMED"), &env);
    assert_eq!(code, 3, "{err}");
    unconfirmed.assert();

    let dry_run = ["orders", "create", "--file", "-", "--dry-run"];
    let (code, err) = cj_into_a_closed_pipe(&dry_run, &orders, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing was sent"), "{err}");

    let (code, err) = cj_into_a_closed_pipe(&["demo"], "", &[]);
    assert_eq!(code, 0, "{err}");
}

/// The writing end of a pipe whose reader is gone.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    writer
}

/// Runs `cj` with standard output and standard error both going to a pipe whose reader is
/// gone (`cj ... 2>&1 | head -1`): the exit status.
fn cj_into_a_closed_pipe_with_stderr(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> i32 {
    let closed = closed_pipe();
    let stdout = closed.try_clone().expect("a second writer").into();
    start(args, stdin, envs, stdout, closed.into())
        .wait()
        .expect("cj finishes")
        .code()
        .expect("an exit status, not a signal")
}

#[test]
fn a_closed_stderr_is_no_panic_either() {
    let server = MockServer::start();
    let sent = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("ORD-1\"");
        then.status(200).json_body(
            json!({"data": {"createOrders": {"orders": [accepted("ORD-1")], "errors": []}}}),
        );
    });
    let refused = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("REFUSED");
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [], "errors": [{"message": "Invalid actionTrackerId",
                                      "fields": ["newOrders[0].actionTrackerId"]}]}}}));
    });
    let url = server.base_url();
    let env = [("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", url.as_str())];
    let create = ["orders", "create", "--file", "-", "--retries", "0"];
    // The status CJ's answer earns, not 101 from a panic, once the orders were sent.
    for output in ["table", "json", "jsonl"] {
        let args = [&create[..], &["--output", output]].concat();
        assert_eq!(
            cj_into_a_closed_pipe_with_stderr(&args, ORDER, &env),
            0,
            "{output}"
        );
    }
    sent.assert_calls(3);
    let refusal = ORDER.replace("ORD-1", "REFUSED");
    assert_eq!(
        cj_into_a_closed_pipe_with_stderr(&create, &refusal, &env),
        1
    );
    refused.assert();
    let dry_run = ["orders", "create", "--file", "-", "--dry-run"];
    assert_eq!(cj_into_a_closed_pipe_with_stderr(&dry_run, ORDER, &[]), 0);
    assert_eq!(cj_into_a_closed_pipe_with_stderr(&create, "{", &env), 2);
    assert_eq!(cj_into_a_closed_pipe_with_stderr(&create, ORDER, &[]), 2);
    assert_eq!(cj_into_a_closed_pipe_with_stderr(&["demo"], "", &[]), 0);
}

#[test]
fn output_lost_otherwise_than_to_a_closed_pipe_is_said_and_not_a_success() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // no such device here
    };
    let out = Command::new(env!("CARGO_BIN_EXE_cj"))
        .arg("demo")
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("cj runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.matches("error: cannot write to standard output")
            .count(),
        1,
        "{err}"
    );
}

/// `cj orders <action>` of `input`, which must be refused before anything is sent: the
/// message.
fn refused_input(action: &str, input: &str) -> String {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    let url = server.base_url();
    let out = cj(
        &["orders", action, "--file", "-", "--retries", "0"],
        input,
        &[("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", url.as_str())],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(mock.calls(), 0);
    stderr(&out)
}

const RESTATE: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","updateTime":"2024-01-20T09:00:00Z","currency":"USD","amount":"74.99","discount":"0.00","items":[{"sku":"SKU-1","unitPrice":"74.99","quantity":1}],"status":"Accepted","correctionReason":"ReturnedMerchandise"}"#;
const CANCEL: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","updateTime":"2024-01-21T10:30:00Z","status":"Declined","correctionReason":"BookingCanceled"}"#;

#[test]
fn a_json_array_or_pretty_printed_json_is_told_to_be_json_lines() {
    let orders: Vec<Value> = [ORDER, &ORDER.replace("ORD-1", "ORD-2")]
        .iter()
        .map(|o| serde_json::from_str(o).expect("an order"))
        .collect();
    let one_line = serde_json::to_string(&orders).expect("an array");
    let pretty = serde_json::to_string_pretty(&orders).expect("an array");
    for array in [one_line, pretty] {
        let err = refused_input("create", &array);
        assert!(err.contains("line 1: a JSON array"), "{err}");
        assert!(err.contains("one order per line (JSON Lines)"), "{err}");
        assert!(err.contains("jq -c '.[]' file.json"), "{err}");
    }
    // An order spread over lines, after a good one: named by the line where it starts.
    let pretty = serde_json::to_string_pretty(&orders[1]).expect("an order");
    let err = refused_input("create", &format!("{ORDER}\n{pretty}\n"));
    assert!(
        err.contains("line 2: an order spread over several lines"),
        "{err}"
    );
    assert!(err.contains("one order per line (JSON Lines)"), "{err}");
    assert!(err.contains("jq -c . file.json"), "{err}");
}

#[test]
fn a_decimal_comma_is_told_to_be_a_dot() {
    let err = refused_input("create", &ORDER.replace("149.98", r#""12,50""#));
    assert!(
        err.contains(r#"line 1: field `amount`: "12,50" has a decimal comma: use a dot (`12.50`)"#),
        "{err}"
    );
    let comma_price = ORDER.replace(r#""unitPrice":"74.99""#, r#""unitPrice":"74,99""#);
    let err = refused_input("create", &format!("{ORDER}\n{comma_price}\n"));
    assert!(
        err.contains(r#"line 2: field `items[0].unitPrice`: "74,99" has a decimal comma: use a dot (`74.99`)"#),
        "{err}"
    );
    // Unquoted, the comma breaks the JSON itself.
    let err = refused_input("create", &ORDER.replace("149.98", "12,50"));
    assert!(
        err.contains("line 1: field `amount`: 12,50 has a decimal comma: use a dot (`12.50`)"),
        "{err}"
    );
    // `1,000` may be a thousand: both readings are offered.
    let err = refused_input(
        "restate",
        &RESTATE.replace(r#""amount":"74.99""#, r#""amount":"1,000""#),
    );
    assert!(
        err.contains("line 1: field `amount`: \"1,000\": write decimals with a dot and no thousands separator (`1.000`, or `1000`)"),
        "{err}"
    );
}

#[test]
fn values_outside_cjs_closed_enums_are_refused_before_sending_and_in_a_dry_run() {
    let restate = RESTATE
        .replace(
            r#""status":"Accepted""#,
            r#""verticalParameters":{"advertiserVertical":"Retailer"},"status":"Approved""#,
        )
        .replace("ReturnedMerchandise", "RETURNED");
    let err = refused_input(
        "restate",
        &format!("{}\n{restate}\n", RESTATE.replace("ORD-1", "ORD-0")),
    );
    for field in [
        "verticalParameters.advertiserVertical",
        "status",
        "correctionReason",
    ] {
        assert!(
            err.contains(&format!(r#"line 2 (orderId "ORD-1"): field `{field}`"#)),
            "{field}: {err}"
        );
    }
    assert!(
        err.contains(r#"did you mean "ReturnedMerchandise"?"#),
        "{err}"
    );
    assert!(
        !err.contains("line 1"),
        "the valid line is not named: {err}"
    );
    let cancel = CANCEL.replace("BookingCanceled", "RETURNED");
    let err = refused_input("cancel", &cancel);
    assert!(err.contains("field `correctionReason`"), "{err}");
    let create = ORDER.replace(
        r#""currency":"USD""#,
        r#""verticalParameters":{"advertiserVertical":"Retailer"},"currency":"USD""#,
    );
    let err = refused_input("create", &create);
    assert!(
        err.contains("field `verticalParameters.advertiserVertical`"),
        "{err}"
    );
    // A dry run checks the same rules: no request printed, exit 2.
    let out = cj(
        &["orders", "restate", "--file", "-", "--dry-run"],
        &restate,
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no request body is printed");
    assert!(stderr(&out).contains("field `status`"), "{}", stderr(&out));
}

#[test]
fn an_order_of_another_kind_names_the_command_for_it() {
    let own = |action: &str| match action {
        "create" => ORDER,
        "restate" => RESTATE,
        _ => CANCEL,
    };
    for (action, other, field, kind) in [
        ("create", RESTATE, "updateTime", "restate"),
        ("create", CANCEL, "updateTime", "cancel"),
        ("restate", ORDER, "eventTime", "create"),
        ("restate", CANCEL, "status", "cancel"),
        ("cancel", ORDER, "eventTime", "create"),
        ("cancel", RESTATE, "amount", "restate"),
    ] {
        let first = own(action).replace("ORD-1", "ORD-0");
        let err = refused_input(action, &format!("{first}\n{other}\n"));
        let expected = format!(
            "line 2: field `{field}`: this looks like a {kind} order: use `cj orders {kind}`"
        );
        assert!(err.contains(&expected), "{action} of a {kind} line: {err}");
    }

    // The queue names its own switch.
    let store = temp_file("kind-queue.sqlite", "");
    let _ = std::fs::remove_file(&store);
    let store = store.to_str().expect("path");
    let out = cj(
        &["queue", "enqueue", "--file", "-"],
        RESTATE,
        &[("CJ_QUEUE_STORE", store)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "line 1: field `updateTime`: this looks like a restate order: use `cj queue enqueue --kind restate`"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn advertisers_lookup_shows_new_programs_and_rate_levels() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v2/advertiser-lookup");
        then.status(200).body(lookup_fixture("odd_values.xml"));
    });
    let env = [
        ("CJ_TOKEN", TOKEN),
        ("CJ_ADVERTISER_LOOKUP_URL", &server.base_url() as &str),
    ];
    let args = [
        "advertisers",
        "lookup",
        "--requestor-cid",
        "4567",
        "--advertiser-ids",
        "joined",
    ];
    let table = cj(&args, "", &env);
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    let row = |cid: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(cid))
            .unwrap_or_else(|| panic!("no row for {cid}: {text}"));
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let new = row("4718153");
    assert_eq!(
        new[1..],
        [
            "Smith & Sons <Outfitters>",
            "Active",
            "joined",
            "New",
            "New",
            "Big sale: GBP 10.00/order; Magazine: GBP 4.00/item; \
             Card purchase: 10.00%/item; Old style: 7.00%",
        ],
        "{text}"
    );
    let old = row("1515487");
    assert_eq!(
        old[1..],
        ["hothair", "Deactive", "joined", "15.92", "3"],
        "{text}"
    );
    let mystery = row("4567890");
    assert_eq!(
        mystery[1..],
        [
            "Mystery Shop",
            "-",
            "notjoined",
            "-",
            "-",
            "Sale: see terms"
        ],
        "{text}"
    );

    let out = cj(&[&args[..], &["--output", "json"]].concat(), "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let advertisers: Value = serde_json::from_str(&stdout(&out)).expect("a JSON array");
    let new = &advertisers[0];
    assert_eq!(
        (
            &new["seven-day-epc"],
            &new["three-month-epc"],
            &new["network-rank"]
        ),
        (&json!("New"), &json!("N/A"), &json!("New"))
    );
    assert_eq!(new["account-status"], "Active");
    assert_eq!(
        new["actions"][3]["commission"],
        json!({"default": null, "itemlists": [], "text": {"type": "percent", "value": "7.00"}})
    );
    assert_eq!(new["link-types"], json!(["Text Link, Banner", "DeepLink"]));
    assert_eq!(
        (
            &advertisers[1]["seven-day-epc"],
            &advertisers[1]["network-rank"]
        ),
        (&json!("15.92"), &json!(3))
    );
    assert_eq!(advertisers[2]["seven-day-epc"], Value::Null);
}

#[test]
fn orders_cj_does_not_name_are_reported_unconfirmed_and_exit_3() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": [], "errors": null}}}));
    });
    let out = create(&server, &[], ORDER);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(r#"unconfirmed: line 1 (orderId "ORD-1")"#),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("neither accepted nor refused"),
        "{}",
        stderr(&out)
    );
    let out = create(&server, &["--output", "json"], ORDER);
    let printed: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(
        printed["unconfirmed"],
        json!([{"index": 0, "orderId": "ORD-1"}])
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn an_order_cj_returns_that_was_not_sent_is_never_counted_accepted() {
    let receipt = |order_id: &str| {
        json!({
            "submissionId": "s-1", "batchId": "b-1", "orderReceivedTime": "2024-01-15T18:08:37Z",
            "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
            "orderId": order_id, "status": "Pending"
        })
    };
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [receipt("ORD-1"), receipt("ORD-1"), receipt("NOT-SENT")], "errors": null
        }}}));
    });
    let out = create(&server, &["--output", "jsonl"], ORDER);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outcomes: Vec<(String, Value)> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .map(|v| {
            (
                v["outcome"].as_str().unwrap_or("").to_string(),
                v["order"]["orderId"].clone(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("accepted".to_string(), json!("ORD-1")),
            ("unrequested".to_string(), json!("NOT-SENT"))
        ]
    );
    assert!(stderr(&out).contains("1 accepted"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("returned 1 order(s) that no request carried"),
        "{}",
        stderr(&out)
    );
    let out = create(&server, &["--output", "json"], ORDER);
    let printed: Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(printed["orders"].as_array().map(Vec::len), Some(1));
    assert_eq!(printed["unrequested"][0]["orderId"], "NOT-SENT");
    let out = create(&server, &[], ORDER);
    assert!(
        stdout(&out).contains("unrequested: CJ returned order NOT-SENT that no request carried"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn rate_limits_server_errors_and_unreadable_answers_exit_3_not_1() {
    let cases: [(u16, &str, &str); 5] = [
        (429, "slow down", "CJ did not process the request"),
        (500, "oops", "outcome unknown"),
        (503, "unavailable", "outcome unknown"),
        (504, "Gateway Timeout", "outcome unknown"),
        (200, r#"{"data": {"createOrders""#, "outcome unknown"),
    ];
    for (status, body, says) in cases {
        let server = MockServer::start();
        server.mock(|when, then| {
            when.path("/graphqltest");
            then.status(status).body(body);
        });
        let out = create(&server, &[], ORDER);
        assert_eq!(out.status.code(), Some(3), "{status}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{status}: {}", stderr(&out));
        if says == "outcome unknown" {
            assert!(stderr(&out).contains("safe to resend"), "{}", stderr(&out));
        }
    }
}

#[test]
fn a_redirect_or_a_wrong_url_names_the_url_and_sends_no_order_elsewhere() {
    let elsewhere = MockServer::start();
    let stolen = elsewhere.mock(|when, then| {
        when.any_request();
        then.status(200).body("{}");
    });
    let server = MockServer::start();
    let target = elsewhere.url("/graphqltest");
    server.mock(|when, then| {
        when.path("/graphqltest");
        then.status(307).header("location", target.as_str());
    });
    let out = create(&server, &[], ORDER);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains(&target), "{}", stderr(&out));
    stolen.assert_calls(0);

    let server = MockServer::start();
    server.mock(|when, then| {
        when.any_request();
        then.status(404)
            .body(r#"{"errors":[{"message":"Not Found"}]}"#);
    });
    let out = create(&server, &[], ORDER);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}/graphqltest", server.base_url())),
        "{err}"
    );
    assert!(err.contains("is the base URL right?"), "{err}");
}

#[test]
fn a_pasted_token_is_trimmed_and_an_empty_one_is_refused() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.header("authorization", format!("Bearer {TOKEN}"));
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [accepted("ORD-1")], "errors": []}}}));
    });
    let url = server.base_url();
    let pasted = format!("{TOKEN}\n");
    let out = cj(
        &["orders", "create", "--file", "-", "--retries", "0"],
        ORDER,
        &[("CJ_TOKEN", &pasted), ("CJ_TRACKING_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    mock.assert();
    let out = cj(
        &["orders", "create", "--file", "-"],
        ORDER,
        &[("CJ_TOKEN", "  "), ("CJ_TRACKING_URL", &url)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("access token is empty"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_old_spelling_of_the_estimate_is_hidden() {
    let help = stdout(&cj(&["--help"], "", &[]));
    assert!(help.contains("commissions"), "{help}");
    assert!(!help.contains("\n  commission "), "{help}");
    let out = cj(&["commission", "estimate", "--help"], "", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cj(&["program-terms", "estimate", "--help"], "", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn commission_record(id: &str, order: &str, sale: &str, commission: &str) -> Value {
    let correction = sale.starts_with('-');
    json!({
        "actionStatus": "new", "actionTrackerId": "123456", "actionTrackerName": "Online Sale",
        "actionType": "sim_sale", "advertiserId": "1234567", "advertiserName": "Acme",
        "commissionId": id, "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z", "original": !correction,
        "originalActionId": format!("A-{order}"), "orderId": order,
        "postingDate": "2026-01-05T11:00:00Z", "pubCommissionAmountPubCurrency": commission,
        "pubCommissionAmountUsd": commission, "publisherId": "7654321", "publisherName": "Blog",
        "saleAmountUsd": sale,
        "correctionReason": if correction { json!("RETURNED_MERCHANDISE") } else { Value::Null },
        "items": [], "situationDetails": []
    })
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// A Commission Detail mock: three records over two pages (after commission 2 the cursor
/// moves on), keeping every request's variables.
fn commissions_server() -> (MockServer, Seen) {
    let server = MockServer::start();
    let seen = Seen::default();
    let sink = seen.clone();
    server.mock(move |when, then| {
        when.method(POST)
            .path("/query")
            .header("authorization", format!("Bearer {TOKEN}"));
        then.respond_with(move |req| {
            let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
            let vars = body["variables"].clone();
            let (records, complete, max) = match vars["sinceCommissionId"].as_str() {
                None => (
                    vec![
                        commission_record("1", "ORD-1", "149.98", "15.00"),
                        commission_record("2", "ORD-2", "20.00", "2.00"),
                    ],
                    false,
                    "2",
                ),
                Some(_) => (
                    vec![commission_record("3", "ORD-1", "-74.99", "-7.50")],
                    true,
                    "3",
                ),
            };
            sink.lock().expect("lock").push(vars);
            let answer = json!({"data": {"publisherCommissions": {
                "count": records.len(), "limit": 2, "maxCommissionId": max,
                "payloadComplete": complete, "records": records
            }}});
            httpmock::HttpMockResponse::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(answer.to_string())
                .build()
        });
    });
    (server, seen)
}

fn commissions(server: &MockServer, extra: &[&str]) -> Output {
    let url = server.base_url();
    let mut args = vec!["commissions", "--publisher-id", "7654321", "--retries", "0"];
    args.extend_from_slice(extra);
    cj(
        &args,
        "",
        &[("CJ_TOKEN", TOKEN), ("CJ_COMMISSIONS_URL", &url)],
    )
}

#[test]
fn commissions_jsonl_prints_every_record_a_line_with_cj_names() {
    let (server, seen) = commissions_server();
    let out = commissions(
        &server,
        &[
            "--since-event",
            "2026-01-01",
            "--before-event",
            "2026-01-31T00:00:00Z",
            "--output",
            "jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record a line"))
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .filter_map(|r| r["commissionId"].as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(lines[2]["saleAmountUsd"], "-74.99", "exact, as CJ wrote it");
    assert_eq!(lines[2]["pubCommissionAmountUsd"], "-7.50");
    assert_eq!(lines[2]["correctionReason"], "RETURNED_MERCHANDISE");
    let vars = seen.lock().expect("lock").clone();
    assert_eq!(vars.len(), 2);
    assert_eq!(vars[0]["sinceEventDate"], "2026-01-01T00:00:00Z");
    assert_eq!(vars[0]["beforeEventDate"], "2026-01-31T00:00:00Z");
    assert_eq!(vars[1]["sinceCommissionId"], "2");
    assert!(!stderr(&out).contains("note:"), "{}", stderr(&out));
}

#[test]
fn commissions_json_is_one_array_and_the_table_names_each_correction() {
    let (server, _seen) = commissions_server();
    let range = [
        "--since-posting",
        "2026-01-01",
        "--before-posting",
        "2026-01-10",
    ];
    let out = commissions(&server, &[&range[..], &["--output", "json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all: Value = serde_json::from_str(&stdout(&out)).expect("one JSON array");
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    assert_eq!(all[0]["orderId"], "ORD-1");

    let out = commissions(&server, &[&range[..], &["--order-id", "ORD-1"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("COMMISSION  ORDER"), "{text}");
    assert!(text.contains("correction (RETURNED_MERCHANDISE)"), "{text}");
    assert!(text.contains("-74.99"), "{text}");
    assert!(!text.contains("ORD-2"), "only the order asked for: {text}");
    assert!(text.contains("2 record(s)"), "{text}");
}

#[test]
fn commissions_without_a_date_ask_for_cjs_default_and_say_so() {
    let (server, seen) = commissions_server();
    let out = commissions(&server, &["--output", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no date given: reading commissions posted in the last 24 hours"),
        "{}",
        stderr(&out)
    );
    let vars = seen.lock().expect("lock")[0].clone();
    let time = |key: &str| {
        vars[key]
            .as_str()
            .and_then(|t| t.parse::<cj::jiff::Timestamp>().ok())
            .unwrap_or_else(|| panic!("{key}: {vars}"))
    };
    let span = time("beforePostingDate").duration_since(time("sincePostingDate"));
    assert_eq!(span, cj::jiff::SignedDuration::from_hours(24));
    assert!(vars["sinceEventDate"].is_null(), "{vars}");
}

#[test]
fn commissions_need_one_side_and_report_cjs_refusal() {
    for args in [
        &["commissions"][..],
        &["commissions", "--advertiser-id", "1", "--publisher-id", "2"],
    ] {
        let out = cj(args, "", &[("CJ_TOKEN", TOKEN)]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/query");
        then.status(200).json_body(
            json!({"data": null, "errors": [{"message": "Date range must not exceed 31 days"}]}),
        );
    });
    let out = commissions(&server, &["--since-locking", "2026-01-01"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Date range must not exceed 31 days"), "{err}");
    assert!(err.contains("CJ reads the 24 hours from it"), "{err}");
}

#[test]
fn a_file_without_line_breaks_is_refused_at_the_line_limit_not_read_whole() {
    // 17 MiB and no line break: no order is that long, so the reader stops at 16 MiB and
    // says why instead of holding the whole input.
    let endless = "x".repeat(17 << 20);
    let out = cj(
        &["orders", "create", "--file", "-", "--dry-run"],
        &endless,
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 1 is longer than 16777216 bytes"),
        "{err}"
    );
    assert!(err.contains("one order per line"), "{err}");
}
