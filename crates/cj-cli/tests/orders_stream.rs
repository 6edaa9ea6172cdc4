//! `cj orders` and `cj queue enqueue` on files of any size: the whole file checked before
//! anything is sent or stored, requests of 10,000, answers printed as they arrive.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "CANARY-stream-77a1-never-printed";

fn line(i: usize) -> String {
    format!(
        r#"{{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"L-{i:05}","eventTime":"2024-01-15T18:08:36.089Z","cjEvent":"7166ddf3b35b11eb834200a10a1eb972","currency":"USD","amount":"149.98"}}"#
    )
}

fn lines(n: usize) -> String {
    (0..n).map(|i| line(i) + "\n").collect()
}

fn accepted(i: usize) -> Value {
    json!({
        "submissionId": format!("sub-{i}"), "batchId": "b-1",
        "orderReceivedTime": "2024-01-15T18:08:37Z",
        "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
        "orderId": format!("L-{i:05}"), "customParameters": [], "items": [], "status": null
    })
}

fn cj(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let child = spawn(args, envs);
    finish(child, stdin)
}

fn spawn(args: &[&str], envs: &[(&str, &str)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(args)
        .env_remove("CJ_TOKEN")
        .env_remove("CJ_TRACKING_URL")
        .env_remove("CJ_QUEUE_STORE")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cj runs")
}

fn finish(mut child: std::process::Child, stdin: &str) -> Output {
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("writes stdin");
    drop(input);
    let out = child.wait_with_output().expect("cj finishes");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(TOKEN), "the token was printed");
    assert!(!text.contains("panicked"), "{text}");
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn env(server: &MockServer) -> [(&'static str, String); 2] {
    [
        ("CJ_TOKEN", TOKEN.to_string()),
        ("CJ_TRACKING_URL", server.base_url()),
    ]
}

fn create(server: &MockServer, extra: &[&str], stdin: &str) -> Output {
    let [(k1, v1), (k2, v2)] = env(server);
    let mut args = vec!["orders", "create", "--file", "-", "--retries", "0"];
    args.extend_from_slice(extra);
    cj(&args, stdin, &[(k1, &v1), (k2, &v2)])
}

fn order_count(body: &[u8]) -> usize {
    serde_json::from_slice::<Value>(body).expect("a JSON body")["variables"]["newOrders"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn an_invalid_order_on_line_24000_sends_nothing() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    let mut input: Vec<String> = (0..25_001).map(line).collect();
    input[23_999] = input[23_999].replace("\"USD\"", "\"usd\"");
    let out = create(&server, &[], &(input.join("\n") + "\n"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(r#"line 24000 (orderId "L-23999"): field `currency`"#),
        "{err}"
    );
    assert!(err.contains("nothing was sent"), "{err}");
    assert_eq!(mock.calls(), 0);
}

#[test]
fn the_same_order_twice_far_apart_sends_nothing() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    // Line 2 and line 20,003 (a blank line in between) are the same order: more than one
    // request apart, found all the same.
    let mut input: Vec<String> = (0..20_002).map(line).collect();
    input.insert(5, String::new());
    input[20_002] = line(1);
    let out = create(&server, &[], &(input.join("\n") + "\n"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(r#"line 20003 (orderId "L-00001"): field `orderId`: repeats line 2"#),
        "{err}"
    );
    assert_eq!(mock.calls(), 0);
}

#[test]
fn jsonl_prints_a_line_per_order_and_error_as_answers_arrive() {
    let server = MockServer::start();
    // Two requests of two orders: the first answer accepts one and refuses one; the second
    // accepts one and says nothing of the other; then a GraphQL error beside the data.
    let first = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"L-00000\"");
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [accepted(0)],
            "errors": [{"message": "Invalid cjEvent", "fields": ["newOrders[1].cjEvent"]}]}}}));
    });
    let second = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"L-00002\"");
        then.status(200).json_body(json!({
            "data": {"createOrders": {"orders": [accepted(3)], "errors": []}},
            "errors": [{"message": "a warning beside the data"}]}));
    });
    let input = format!("{}\n\n{}\n{}\n{}\n", line(0), line(1), line(2), line(3));
    let out = create(
        &server,
        &["--output", "jsonl", "--max-orders-per-request", "2"],
        &input,
    );
    first.assert();
    second.assert();
    // Exit 3: an order is unconfirmed (outcome unknown), which outranks the refusal.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    insta::assert_snapshot!("orders_jsonl", stdout(&out));
    for l in stdout(&out).lines() {
        serde_json::from_str::<Value>(l).expect("each line is one JSON object");
    }
}

#[test]
fn a_pretty_printed_answer_still_gives_one_json_line_per_order() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        let answer = json!({"data": {"createOrders": {
            "orders": [accepted(0), accepted(1)], "errors": []}}});
        then.status(200)
            .header("content-type", "application/json")
            .body(serde_json::to_string_pretty(&answer).expect("serializes"));
    });
    let input = format!("{}\n{}\n", line(0), line(1));
    let out = create(&server, &["--output", "jsonl"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(l["outcome"], "accepted");
        assert_eq!(l["line"], n + 1);
        assert_eq!(l["order"]["orderId"], format!("L-{n:05}"));
    }
}

#[test]
fn an_accepted_order_whose_echo_does_not_read_is_still_accepted_in_the_table() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest");
        let mut odd = accepted(1);
        odd["orderReceivedTime"] = json!("yesterday");
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [accepted(0), odd], "errors": []}}}));
    });
    let input = format!("{}\n{}\n", line(0), line(1));
    let out = create(&server, &[], &input);
    // Both orders were named by CJ: accepted, exit 0.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ORDER ID"), "{text}");
    assert!(lines[1].starts_with("L-00000"), "{text}");
    assert!(
        lines[2].starts_with("accepted: line 2: CJ named the order, but the rest of its answer"),
        "{text}"
    );
    assert!(
        text.contains("2 accepted, 0 error(s), 0 unconfirmed"),
        "{text}"
    );
}

#[test]
fn json_stays_one_document_over_several_requests() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest")
            .is_true(|req| order_count(req.body_ref()) == 10_000);
        let all: Vec<Value> = (0..10_000).map(accepted).collect();
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": all}}}));
    });
    server.mock(|when, then| {
        when.path("/graphqltest")
            .is_true(|req| order_count(req.body_ref()) == 1);
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [], "errors": [{"message": "Invalid", "fields": ["newOrders[0].amount"]}]}}}));
    });
    let out = create(&server, &["--output", "json"], &lines(10_001));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    assert_eq!(printed["orders"].as_array().map(Vec::len), Some(10_000));
    assert_eq!(printed["orders"][9_999]["orderId"], "L-09999");
    assert_eq!(printed["errors"][0]["index"], 10_000);
    assert_eq!(printed["errors"][0]["fields"][0], "newOrders[10000].amount");
    assert_eq!(printed["unconfirmed"], json!([]));
    assert!(
        stderr(&out).contains("10001 of 10001 order(s) answered in 2 request(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failed_later_request_names_the_lines_answered_and_not() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/graphqltest")
            .is_true(|req| order_count(req.body_ref()) == 10_000);
        let all: Vec<Value> = (0..10_000).map(accepted).collect();
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": all}}}));
    });
    server.mock(|when, then| {
        when.path("/graphqltest")
            .is_true(|req| order_count(req.body_ref()) == 5);
        then.status(503).body("unavailable");
    });
    let out = create(&server, &["--output", "jsonl"], &lines(10_005));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "the first 10000 of 10005 orders were answered (up to line 10000); the rest were \
             not (from line 10001)"
        ),
        "{err}"
    );
    let last = stdout(&out)
        .lines()
        .last()
        .map(str::to_string)
        .unwrap_or_default();
    let last: Value = serde_json::from_str(&last).expect("a JSON line");
    assert_eq!(last["outcome"], "failed");
    assert_eq!(
        (last["fromLine"].clone(), last["toLine"].clone()),
        (json!(10_001), json!(10_005))
    );
}

#[test]
fn ctrl_c_lets_the_request_in_flight_finish_and_exits_130() {
    let server = MockServer::start();
    let first = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"L-00000\"");
        let all: Vec<Value> = (0..10_000).map(accepted).collect();
        then.status(200)
            .delay(Duration::from_secs(2))
            .json_body(json!({"data": {"createOrders": {"orders": all}}}));
    });
    let second = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"L-10000\"");
        then.status(200);
    });
    let [(k1, v1), (k2, v2)] = env(&server);
    let file = tempfile_with(&lines(20_000));
    let path = file.to_string_lossy().into_owned();
    let args = [
        "orders",
        "create",
        "--file",
        &path,
        "--retries",
        "0",
        "--output",
        "jsonl",
    ];
    let child = spawn(&args, &[(k1, &v1), (k2, &v2)]);
    // Once the first request is at the mock, interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while first.calls() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = finish(child, "");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(second.calls(), 0, "nothing is sent after Ctrl-C");
    // The request in flight was answered and printed, and the orders never sent named.
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 10_001);
    let last: Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .expect("a JSON line");
    assert_eq!(
        last,
        json!({"outcome": "notSent", "fromLine": 10_001, "toLine": 20_000, "orders": 10_000})
    );
    let err = stderr(&out);
    assert!(
        err.contains("10000 of 20000 orders answered; from line 10001 on nothing was sent"),
        "{err}"
    );
    let _ = std::fs::remove_file(file);
}

fn tempfile_with(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "cj-orders-stream-{}-{}.jsonl",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&path, text).expect("writes the input");
    path
}

#[test]
fn the_queue_stores_a_large_file_in_groups_and_nothing_of_an_invalid_one() {
    let dir = std::env::temp_dir().join(format!("cj-queue-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let store = dir.join("queue.sqlite");
    let store = store.to_string_lossy().into_owned();
    let env = [("CJ_QUEUE_STORE", store.as_str())];
    let mut bad: Vec<String> = (0..25_001).map(line).collect();
    bad[20_000] = bad[20_000].replace("\"L-20000\"", "\"L 20000\"");
    let out = cj(
        &["queue", "enqueue", "--file", "-"],
        &(bad.join("\n") + "\n"),
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("line 20001"), "{}", stderr(&out));

    let out = cj(&["queue", "enqueue", "--file", "-"], &lines(25_001), &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored 25001 order(s) on disk (ids 1..=25001)"),
        "{}",
        stdout(&out)
    );
    let out = cj(&["queue", "status", "--output", "json"], "", &env);
    let status: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(
        status["waiting"], 25_001,
        "nothing of the invalid file was stored"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_token_cj_echoes_in_its_answers_is_printed_in_no_output() {
    let server = MockServer::start();
    // The first request's answer accepts L-00000 and refuses L-00001, echoing the token in the
    // order, the refusal and a GraphQL error beside the data; the second refuses the request.
    let mut order = accepted(0);
    order["batchId"] = json!(TOKEN);
    order["customParameters"] = json!([{"name": "echo", "value": format!("x {TOKEN} y")}]);
    server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"L-00000\"");
        then.status(200).json_body(json!({
            "data": {"createOrders": {
                "orders": [order],
                "errors": [{"message": format!("Not Authenticated: {TOKEN}"),
                            "fields": [format!("newOrders[1].{TOKEN}")]}]}},
            "errors": [{"message": format!("warning {TOKEN}"), "path": [TOKEN],
                        "extensions": {"echo": TOKEN, "nested": [{"k": TOKEN}]}}]}));
    });
    server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"L-00002\"");
        then.status(200).json_body(json!({"data": null, "errors": [
            {"message": format!("Invalid Token: {TOKEN}"), "extensions": {"token": TOKEN}}]}));
    });
    for output in ["table", "json", "jsonl"] {
        // `create` fails the test if the token is anywhere in the output.
        let out = create(
            &server,
            &["--output", output, "--max-orders-per-request", "2"],
            &lines(3),
        );
        assert_eq!(out.status.code(), Some(1), "{output}: {}", stderr(&out));
        let printed = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            printed.contains("Not Authenticated: [REDACTED]"),
            "{output}: {printed}"
        );
        assert!(
            printed.contains("Invalid Token: [REDACTED]"),
            "{output}: {printed}"
        );
        if output != "table" {
            assert!(
                printed.contains(r#""batchId":"[REDACTED]""#),
                "{output}: {printed}"
            );
        }
    }
}

#[test]
fn a_redirect_or_a_5xx_after_answered_requests_exits_3_and_keeps_the_answers() {
    let elsewhere = MockServer::start();
    let stolen = elsewhere.mock(|when, then| {
        when.any_request();
        then.status(200)
            .json_body(json!({"data": {"createOrders": {"orders": []}}}));
    });
    let target = elsewhere.url("/graphqltest");
    for status in [301, 302, 307, 308, 429, 500, 503, 504] {
        for refuse_one in [false, true] {
            let server = MockServer::start();
            // The first request: both orders accepted, or one refused.
            let errors = if refuse_one {
                json!([{"message": "Invalid cjEvent", "fields": ["newOrders[1].cjEvent"]}])
            } else {
                json!([])
            };
            let answered: Vec<Value> = (0..if refuse_one { 1 } else { 2 }).map(accepted).collect();
            server.mock(|when, then| {
                when.path("/graphqltest").body_includes("\"L-00000\"");
                then.status(200).json_body(
                    json!({"data": {"createOrders": {"orders": answered, "errors": errors}}}),
                );
            });
            server.mock(|when, then| {
                when.path("/graphqltest").body_includes("\"L-00002\"");
                then.status(status)
                    .header("location", target.as_str())
                    .body("not here");
            });
            let out = create(
                &server,
                &["--output", "jsonl", "--max-orders-per-request", "2"],
                &lines(4),
            );
            let case = format!("{status} (refused one: {refuse_one})");
            assert_eq!(out.status.code(), Some(3), "{case}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.contains("the first 2 of 4 orders were answered (up to line 2); the rest were not (from line 3)"),
                "{case}: {err}"
            );
            let printed: Vec<Value> = stdout(&out)
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect();
            let outcomes: Vec<&str> = printed
                .iter()
                .map(|l| l["outcome"].as_str().unwrap_or_default())
                .collect();
            let first = if refuse_one { "refused" } else { "accepted" };
            assert_eq!(outcomes, ["accepted", first, "failed"], "{case}");
            let failed = &printed[2];
            assert_eq!(
                (failed["fromLine"].clone(), failed["toLine"].clone()),
                (json!(3), json!(4))
            );
            if (300..400).contains(&status) {
                let message = failed["message"].as_str().unwrap_or_default();
                assert!(message.contains(&target), "{case}: {message}");
            }
        }
    }
    stolen.assert_calls(0);
}
