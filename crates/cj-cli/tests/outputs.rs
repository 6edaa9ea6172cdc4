//! What `cj` prints and exits with when things go wrong: orders' times a little ahead of this
//! host's clock, `--output json` after a failed request, read-only commands that fail before
//! or after reading, messages that follow the error's delivery, and `cj commissions`' filters.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "CANARY-outputs-41c9-never-printed";

/// `cj ARGS` with `stdin`, the caller's CJ variables replaced by `envs`.
fn cj(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(args)
        .env_remove("CJ_TOKEN")
        .env_remove("CJ_TRACKING_URL")
        .env_remove("CJ_COMMISSIONS_URL")
        .env_remove("CJ_PROGRAM_TERMS_URL")
        .env_remove("CJ_ADVERTISER_LOOKUP_URL")
        .env_remove("CJ_CLOCK_SKEW")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cj runs");
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    // cj may exit before it reads its input (a usage error): its closed stdin is no failure.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().expect("cj finishes");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains(TOKEN), "the token was printed: {text}");
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn order(id: &str, event_time: &str) -> String {
    json!({
        "enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": id,
        "eventTime": event_time, "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
        "currency": "USD", "amount": "149.98"
    })
    .to_string()
        + "\n"
}

/// Two valid orders, lines 1 and 2.
fn two_orders() -> String {
    order("OUT-1", "2024-01-15T18:08:36.089Z") + &order("OUT-2", "2024-01-15T18:08:36.089Z")
}

/// An `eventTime` `seconds` from now.
fn from_now(seconds: i64) -> String {
    let now = cj::jiff::Timestamp::now();
    now.checked_add(cj::jiff::SignedDuration::from_secs(seconds))
        .expect("a time")
        .to_string()
}

/// A loopback URL nothing listens on.
fn refused_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    format!("http://127.0.0.1:{port}")
}

fn dry_run(stdin: &str, extra: &[&str]) -> Output {
    let mut args = vec!["orders", "create", "--file", "-", "--dry-run"];
    args.extend_from_slice(extra);
    cj(&args, stdin, &[])
}

#[test]
fn an_event_time_a_second_ahead_passes_and_one_beyond_the_clock_skew_is_refused() {
    // A second ahead: a host whose clock runs ahead. Within the default 5 minutes.
    let ahead = order("SOON-1", &from_now(1));
    let out = dry_run(&ahead, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("SOON-1"), "{}", stdout(&out));

    // Ten minutes ahead: refused before anything is sent, naming the line, order and field.
    let far = two_orders() + &order("FUT-1", &from_now(600));
    let out = dry_run(&far, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 3 (orderId \"FUT-1\"): field `eventTime`: "),
        "{err}"
    );
    assert!(err.contains("is in the future"), "{err}");
    assert!(
        err.contains("more than the 5m allowed for clock skew"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "nothing encoded: {}", stdout(&out));

    // The tolerance is the caller's: wider with --clock-skew (or CJ_CLOCK_SKEW), or none.
    let out = dry_run(&far, &["--clock-skew", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cj(
        &["orders", "create", "--file", "-", "--dry-run"],
        &far,
        &[("CJ_CLOCK_SKEW", "15m")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let soon = order("SOON-2", &from_now(60));
    let out = dry_run(&soon, &["--clock-skew", "0s"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than the 0s allowed"),
        "{}",
        stderr(&out)
    );
    for bad in ["soon", "-5m"] {
        let out = dry_run(&soon, &["--clock-skew", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }

    // A restate's updateTime and a cancel's too.
    let restate = json!({"enterpriseId": "1234567", "actionTrackerId": 123456,
        "orderId": "R-1", "updateTime": from_now(1), "amount": "10.00"})
    .to_string();
    let out = cj(
        &["orders", "restate", "--file", "-", "--dry-run"],
        &restate,
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cancel = json!({"enterpriseId": "1234567", "actionTrackerId": 123456,
        "orderId": "C-1", "updateTime": from_now(900)})
    .to_string();
    let out = cj(
        &["orders", "cancel", "--file", "-", "--dry-run"],
        &cancel,
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("(orderId \"C-1\"): field `updateTime`"),
        "{}",
        stderr(&out)
    );
}

/// `cj orders create --output OUTPUT` of `stdin` to `url`.
fn create(url: &str, output: &str, stdin: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "orders",
        "create",
        "--file",
        "-",
        "--retries",
        "0",
        "--output",
        output,
    ];
    args.extend_from_slice(extra);
    cj(
        &args,
        stdin,
        &[("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", url)],
    )
}

/// The one JSON document of `out`.
fn document(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {}", stdout(out)))
}

#[test]
fn json_output_after_a_refused_connection_carries_the_failure() {
    let out = create(&refused_url(), "json", &two_orders(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let doc = document(&out);
    assert_eq!(doc["orders"], json!([]));
    let failed = &doc["failed"];
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(failed[0]["fromLine"], 1, "{doc}");
    assert_eq!(failed[0]["toLine"], 2, "{doc}");
    assert_eq!(failed[0]["orders"], 2, "{doc}");
    assert_eq!(failed[0]["delivery"], "notSent", "{doc}");
    let message = failed[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("could not connect"), "{doc}");
    let err = stderr(&out);
    assert!(
        err.contains("nothing was sent: no order reached CJ; safe to send again"),
        "{err}"
    );
    assert!(
        err.contains("the request of lines 1 to 2 (2 order(s)) failed"),
        "{err}"
    );

    // jsonl: a `failed` line; the table: a line and the summary say so.
    let out = create(&refused_url(), "jsonl", &two_orders(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", stdout(&out));
    assert_eq!(lines[0]["outcome"], "failed");
    assert_eq!(lines[0]["delivery"], "notSent");
    assert_eq!(lines[0]["fromLine"], 1);
    let out = create(&refused_url(), "table", &two_orders(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ORDER ID"), "the header first: {text}");
    assert!(
        text.contains("failed: lines 1 to 2: 2 order(s) not answered (notSent)"),
        "{text}"
    );
    assert!(
        text.contains("0 accepted, 0 error(s), 0 unconfirmed, 2 in a failed request"),
        "{text}"
    );
}

/// A sandbox playing `faults` on every Tracking request, on a runtime of its own.
fn sandbox(faults: &str) -> (tokio::runtime::Runtime, cj_sandbox::Sandbox) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let config = cj_sandbox::SandboxConfig::new().faults(faults.parse().expect("a fault spec"));
    let sandbox = runtime
        .block_on(cj_sandbox::Sandbox::start_with(config))
        .expect("the sandbox starts");
    (runtime, sandbox)
}

#[test]
fn json_output_after_a_504_once_cj_recorded_the_orders_carries_the_failure() {
    let (_runtime, sandbox) = sandbox("status=504-after-record");
    let out = create(&sandbox.tracking_url(), "json", &two_orders(), &["--live"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    // CJ recorded them: the output must not read as "nothing happened".
    for id in ["OUT-1", "OUT-2"] {
        let recorded = sandbox
            .ledger()
            .order("1234567", 123456, id)
            .expect("the ledger");
        assert!(recorded.is_some(), "{id} was recorded");
    }
    let doc = document(&out);
    assert_eq!(doc["failed"][0]["delivery"], "maybeSent", "{doc}");
    assert_eq!(doc["failed"][0]["orders"], 2, "{doc}");
    assert_eq!(doc["failed"][0]["toLine"], 2, "{doc}");
    let message = doc["failed"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("504"), "{doc}");
    let err = stderr(&out);
    assert!(err.contains("HTTP 504"), "{err}");
    assert!(
        err.contains(
            "outcome unknown: CJ may have recorded the orders; safe to resend (CJ deduplicates \
             orders)"
        ),
        "{err}"
    );
    assert!(!err.contains("CJ refused"), "a 504 is no refusal: {err}");
}

#[test]
fn a_429_says_cj_did_not_process_the_orders() {
    let (_runtime, sandbox) = sandbox("status=429");
    let out = create(&sandbox.tracking_url(), "json", &two_orders(), &["--live"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(document(&out)["failed"][0]["delivery"], "notProcessed");
    let recorded = sandbox
        .ledger()
        .order("1234567", 123456, "OUT-1")
        .expect("the ledger");
    assert!(recorded.is_none(), "nothing recorded after a 429");
    let err = stderr(&out);
    assert!(err.contains("HTTP 429"), "{err}");
    assert!(
        err.contains(
            "CJ did not process the request: no order was recorded; safe to send again later \
             (CJ's rate limit)"
        ),
        "{err}"
    );
    assert!(!err.contains("CJ refused"), "a 429 is no refusal: {err}");
    assert!(!err.contains("outcome unknown"), "{err}");
}

fn commission_record(id: &str) -> Value {
    json!({
        "actionStatus": "new", "actionTrackerId": "123456", "actionTrackerName": "Online Sale",
        "actionType": "sim_sale", "advertiserId": "1234567", "advertiserName": "Acme",
        "commissionId": id, "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z", "original": true,
        "originalActionId": format!("A-{id}"), "orderId": format!("ORD-{id}"),
        "postingDate": "2026-01-05T11:00:00Z", "pubCommissionAmountPubCurrency": "1.00",
        "pubCommissionAmountUsd": "1.00", "publisherId": "7654321", "publisherName": "Blog",
        "saleAmountUsd": "10.00", "correctionReason": null, "items": [], "situationDetails": []
    })
}

fn page(field: &str, ids: &[&str], complete: bool, max: Value) -> Value {
    let records: Vec<Value> = ids.iter().map(|id| commission_record(id)).collect();
    json!({"data": {field: {
        "count": records.len(), "limit": 2, "maxCommissionId": max,
        "payloadComplete": complete, "records": records
    }}})
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// A Commission Detail mock: the first page (records 1 and 2, more to come) and, after the
/// cursor, `second` (status and body); every request's variables kept.
fn commissions_server(field: &'static str, second: (u16, Value)) -> (MockServer, Seen) {
    let server = MockServer::start();
    let seen = Seen::default();
    let sink = seen.clone();
    server.mock(move |when, then| {
        when.method(POST).path("/query");
        then.respond_with(move |req| {
            let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
            let vars = body["variables"].clone();
            let (status, answer) = match vars["sinceCommissionId"].as_str() {
                Some("2") => second.clone(),
                _ => (200, page(field, &["1", "2"], false, json!("2"))),
            };
            sink.lock().expect("lock").push(vars);
            httpmock::HttpMockResponse::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(answer.to_string())
                .build()
        });
    });
    (server, seen)
}

const RANGE: [&str; 4] = [
    "--since-posting",
    "2026-01-01",
    "--before-posting",
    "2026-01-10",
];

fn commissions(url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["commissions", "--retries", "0"];
    args.extend_from_slice(extra);
    cj(
        &args,
        "",
        &[("CJ_TOKEN", TOKEN), ("CJ_COMMISSIONS_URL", url)],
    )
}

fn publisher(url: &str, extra: &[&str]) -> Output {
    let args = [&["--publisher-id", "7654321"][..], &RANGE, extra].concat();
    commissions(url, &args)
}

#[test]
fn commissions_json_that_fails_before_reading_prints_nothing() {
    // No connection: no lone `[`, no empty array.
    let out = publisher(&refused_url(), &["--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "no partial document");
    let err = stderr(&out);
    assert!(err.contains("nothing was sent; safe to run again"), "{err}");
    assert!(!err.contains("resend"), "a read resends nothing: {err}");

    // Usage errors: a reversed range, the other side's CID filter, a status CJ has not.
    let server = MockServer::start();
    let any = server.mock(|when, then| {
        when.path("/query");
        then.status(500);
    });
    let url = server.base_url();
    for args in [
        &[
            "--since-event",
            "2026-02-01",
            "--before-event",
            "2026-01-01",
        ][..],
        &["--publisher-ids", "1"],
        &["--action-statuses", "lockd"],
    ] {
        let out = commissions(
            &url,
            &[&["--publisher-id", "7654321", "--output", "json"][..], args].concat(),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}: no partial document");
    }
    any.assert_calls(0);
    let out = commissions(&url, &["--publisher-id", "1", "--publisher-ids", "2"]);
    assert!(
        stderr(&out).contains("--publisher-ids is not a filter of this query"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn commissions_that_fail_after_reading_say_the_output_is_incomplete() {
    let gateway = (504, json!({"errors": [{"message": "Gateway Timeout"}]}));
    let (server, _) = commissions_server("publisherCommissions", gateway);
    let url = server.base_url();

    let out = publisher(&url, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("[{"), "{text}");
    assert!(text.contains("\"commissionId\":\"2\""), "{text}");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "a partial array never parses as a whole answer: {text}"
    );
    let err = stderr(&out);
    assert!(err.contains("the JSON array is left open"), "{err}");
    assert!(err.contains("HTTP 504"), "{err}");
    assert!(!err.contains("CJ refused"), "{err}");
    assert!(!err.contains("resend"), "{err}");
    assert!(err.contains("safe to run again"), "{err}");

    let out = publisher(&url, &["--output", "jsonl"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    for line in stdout(&out).lines() {
        serde_json::from_str::<Value>(line).expect("whole lines only");
    }
    assert_eq!(stdout(&out).lines().count(), 2);
    assert!(
        stderr(&out).contains("the list is incomplete"),
        "{}",
        stderr(&out)
    );

    let out = publisher(&url, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("COMMISSION  ORDER"), "{text}");
    assert!(text.contains("ORD-2"), "the records read are shown: {text}");
    assert!(
        text.contains("2 record(s) read before the error: incomplete"),
        "{text}"
    );
}

#[test]
fn read_only_commands_never_speak_of_resending() {
    let cases = [
        (
            504,
            "outcome",
            "CJ's answer did not come or could not be read; safe to run again",
        ),
        (
            429,
            "limit",
            "CJ did not process the request; safe to run again later",
        ),
    ];
    for (status, body, says) in cases {
        let server = MockServer::start();
        server.mock(|when, then| {
            when.any_request();
            then.status(status)
                .json_body(json!({"errors": [{"message": format!("{body} {status}")}]}));
        });
        let url = server.base_url();
        let runs = [
            publisher(&url, &["--output", "json"]),
            cj(
                &[
                    "program-terms",
                    "--publisher-id",
                    "7654321",
                    "--retries",
                    "0",
                ],
                "",
                &[("CJ_TOKEN", TOKEN), ("CJ_PROGRAM_TERMS_URL", &url)],
            ),
            cj(
                &[
                    "advertisers",
                    "lookup",
                    "--requestor-cid",
                    "7654321",
                    "--advertiser-ids",
                    "joined",
                    "--retries",
                    "0",
                ],
                "",
                &[("CJ_TOKEN", TOKEN), ("CJ_ADVERTISER_LOOKUP_URL", &url)],
            ),
        ];
        for out in runs {
            assert_eq!(out.status.code(), Some(3), "{status}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains(says), "{status}: {err}");
            assert!(err.contains(&format!("HTTP {status}")), "{status}: {err}");
            assert!(!err.contains("resend"), "{status}: {err}");
            assert!(!err.contains("deduplicates"), "{status}: {err}");
            assert!(!err.contains("CJ refused"), "{status}: {err}");
        }
    }
}

#[test]
fn inconsistent_commission_pages_exit_3_as_documented() {
    // More to come, but no cursor to read it with: CJ's pages do not add up.
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/query");
        then.status(200)
            .json_body(page("publisherCommissions", &["1"], false, Value::Null));
    });
    let out = publisher(&server.base_url(), &["--output", "jsonl"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("pages did not add up"), "{err}");
    assert!(
        err.contains("could not be read completely; safe to run again"),
        "{err}"
    );
    let help = cj(&["commissions", "--help"], "", &[]);
    assert!(
        stdout(&help).contains("3 Commission Detail could not be read completely"),
        "{}",
        stdout(&help)
    );
}

#[test]
fn every_commission_filter_reaches_the_query_with_cjs_names() {
    let done = (200, page("publisherCommissions", &[], true, json!("2")));
    let (server, seen) = commissions_server("publisherCommissions", done);
    let out = publisher(
        &server.base_url(),
        &[
            "--output",
            "jsonl",
            "--commission-ids",
            "11,12",
            "--commission-ids",
            "13",
            "--advertiser-ids",
            "1234567",
            "--ad-ids",
            "555",
            "--website-ids",
            "777,778",
            "--action-statuses",
            "new,LOCKED",
            "--action-types",
            "sim_sale,item_sale",
            "--locking-methods",
            "immediate,OPEN_ENDED",
            "--validation-statuses",
            "pending",
            "--since-commission-id",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let vars = seen.lock().expect("lock")[0].clone();
    assert_eq!(vars["forPublishers"], json!(["7654321"]));
    assert_eq!(vars["commissionIds"], json!(["11", "12", "13"]));
    assert_eq!(vars["advertiserIds"], json!(["1234567"]));
    assert_eq!(vars["adIds"], json!(["555"]));
    assert_eq!(vars["websiteIds"], json!(["777", "778"]));
    assert_eq!(vars["actionStatuses"], json!(["new", "locked"]));
    assert_eq!(vars["actionTypes"], json!(["sim_sale", "item_sale"]));
    assert_eq!(vars["lockingMethods"], json!(["IMMEDIATE", "OPEN_ENDED"]));
    assert_eq!(vars["validationStatuses"], json!(["PENDING"]));
    assert_eq!(vars["sinceCommissionId"], "0");
    assert_eq!(vars["sincePostingDate"], "2026-01-01T00:00:00Z");
    assert!(
        vars.get("publisherIds").is_none_or(Value::is_null),
        "{vars}"
    );

    // The advertiser's side takes the publishers' CIDs; a filter not given is not sent (an
    // empty list would mean "none").
    let done = (200, page("advertiserCommissions", &[], true, json!("2")));
    let (server, seen) = commissions_server("advertiserCommissions", done);
    let args = [
        &[
            "--advertiser-id",
            "1234567",
            "--publisher-ids",
            "7654321,7654322",
        ][..],
        &RANGE,
    ]
    .concat();
    let out = commissions(&server.base_url(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let vars = seen.lock().expect("lock")[0].clone();
    assert_eq!(vars["forAdvertisers"], json!(["1234567"]));
    assert_eq!(vars["publisherIds"], json!(["7654321", "7654322"]));
    for absent in [
        "commissionIds",
        "adIds",
        "websiteIds",
        "actionStatuses",
        "lockingMethods",
    ] {
        assert!(
            vars.get(absent).is_none_or(Value::is_null),
            "{absent}: {vars}"
        );
    }

    // A value CJ does not document: refused, naming the ones it does.
    let out = commissions(
        &server.base_url(),
        &["--advertiser-id", "1", "--locking-methods", "SOMETIMES"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("IMMEDIATE"), "{}", stderr(&out));
}
