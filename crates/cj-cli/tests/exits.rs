//! The README's table of exit statuses ("### Exit statuses"), cell by cell: each command run
//! as a user runs it, against loopback mocks of CJ (and of a partner) or the sandbox, with the
//! exit status and what standard error (or, for 0, standard output) says of it.

use std::io::{BufRead, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cj::jiff::{SignedDuration, Timestamp};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "CANARY-exits-3b9e-never-printed";

const ORDER: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","eventTime":"2024-01-15T18:08:36.089Z","cjEvent":"7166ddf3b35b11eb834200a10a1eb972","currency":"USD","amount":"149.98"}"#;

const RESTATE: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","updateTime":"2024-01-20T09:00:00Z","amount":"74.99","status":"Accepted"}"#;

const CANCEL: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","updateTime":"2024-01-21T10:30:00Z","status":"Declined","correctionReason":"BookingCanceled"}"#;

/// Where a cell's key phrase is printed.
#[derive(Clone, Copy)]
enum Says {
    Out(&'static str),
    Err(&'static str),
}

/// One cell of the table: a command line, its input and environment, the exit status it must
/// earn and what it must say.
struct Row {
    cell: &'static str,
    args: Vec<String>,
    stdin: String,
    env: Vec<(&'static str, String)>,
    code: i32,
    says: Says,
}

fn row(cell: &'static str, args: &[&str], code: i32, says: Says) -> Row {
    Row {
        cell,
        args: args.iter().map(|a| a.to_string()).collect(),
        stdin: String::new(),
        env: Vec::new(),
        code,
        says,
    }
}

impl Row {
    fn stdin(mut self, text: &str) -> Self {
        self.stdin = text.to_string();
        self
    }

    fn env(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_string()));
        self
    }

    /// The token and `name` pointing at `url`.
    fn at(self, name: &'static str, url: &str) -> Self {
        self.env("CJ_TOKEN", TOKEN).env(name, url)
    }
}

/// `cj ARGS`, the caller's CJ variables replaced by `env`, `stdin` closed after `stdin`.
fn spawn(args: &[String], env: &[(&str, String)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cj"));
    for name in [
        "CJ_TOKEN",
        "CJ_TRACKING_URL",
        "CJ_COMMISSIONS_URL",
        "CJ_PROGRAM_TERMS_URL",
        "CJ_ADVERTISER_LOOKUP_URL",
        "CJ_DEVELOPER_KEY",
        "CJ_QUEUE_STORE",
        "CJ_RELAY_STORE",
        "CJ_CLOCK_SKEW",
    ] {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cj runs")
}

/// Waits for `child`, checking that the token was printed nowhere.
fn finish(child: Child) -> Output {
    let out = child.wait_with_output().expect("cj finishes");
    let text = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!text.contains(TOKEN), "the token was printed: {text}");
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(row: &Row) -> Output {
    let mut child = spawn(&row.args, &row.env);
    let written = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(row.stdin.as_bytes());
    // cj may exit before it reads its input (a usage error): its closed stdin is no failure.
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "{}: {e}",
            row.cell
        );
    }
    finish(child)
}

/// Whether `out` is what `row` must earn; the mismatch otherwise.
fn mismatch(cell: &str, code: i32, says: Says, out: &Output) -> Option<String> {
    let (stream, phrase) = match says {
        Says::Out(p) => (text(&out.stdout), p),
        Says::Err(p) => (text(&out.stderr), p),
    };
    (out.status.code() != Some(code) || !stream.contains(phrase)).then(|| {
        format!(
            "{cell}: want {code} saying {phrase:?}, got {:?}\n  stdout: {}\n  stderr: {}",
            out.status.code(),
            text(&out.stdout).trim_end(),
            text(&out.stderr).trim_end()
        )
    })
}

/// Runs every row, then fails with every cell the binary does not honour.
fn check(rows: Vec<Row>) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|r| mismatch(r.cell, r.code, r.says, &run(r)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sends Ctrl-C (SIGINT) to `child`.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits (at most a minute) until `done`.
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback URL nothing listens on.
fn refused_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A mock answering every request with `status` and the JSON `body`.
fn answering(status: u16, body: Value) -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.any_request();
        then.status(status).json_body(body);
    });
    server
}

/// A mock answering every request with `status` and the text `body`.
fn answering_text(status: u16, body: &str) -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.any_request();
        then.status(status).body(body);
    });
    server
}

/// CJ's GraphQL refusal: HTTP 200, no data, an error.
fn graphql_refusal() -> Value {
    json!({"data": null, "errors": [{"message": "Not Authorized to access this resource"}]})
}

fn accepted(order_id: &str) -> Value {
    json!({
        "submissionId": "s-1", "batchId": "b-1", "orderReceivedTime": "2024-01-15T18:08:37Z",
        "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
        "orderId": order_id, "customParameters": [], "items": [], "status": "Pending"
    })
}

/// A fresh directory for test `name`.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cj-exits-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory");
    dir
}

fn path(p: &std::path::Path) -> String {
    p.to_str().expect("a UTF-8 path").to_string()
}

fn orders_args(action: &str) -> Vec<&str> {
    vec!["orders", action, "--file", "-", "--retries", "0"]
}

#[test]
fn orders_create_restate_cancel() {
    let url = |server: &MockServer| server.base_url();
    let create = orders_args("create");
    let second = ORDER.replace("ORD-1", "ORD-2");
    let two = format!("{ORDER}\n{second}\n");

    let ok = answering(
        200,
        json!({"data": {"createOrders": {"orders": [accepted("ORD-1")], "errors": []}}}),
    );
    let restated = answering(
        200,
        json!({"data": {"restateOrders": {"orders": [accepted("ORD-1")]}}}),
    );
    let cancelled = answering(
        200,
        json!({"data": {"cancelOrders": {"orders": [{
            "submissionId": "s-9", "batchId": "b-9", "advertiser": {"enterpriseId": "1234567"},
            "actionTracker": {"id": 123456}, "orderId": "ORD-1",
            "updateTime": "2024-01-21T10:30:00Z", "status": "Declined"}]}}}),
    );
    let order_errors = answering(
        200,
        json!({"data": {"createOrders": {"orders": [accepted("ORD-1")],
            "errors": [{"message": "Order may not have a eventTime/updateTime in the future",
                        "fields": ["newOrders[1].eventTime"]}]}}}),
    );
    let refusal = answering(200, graphql_refusal());
    let server_error = answering(
        500,
        json!({"errors": [{"message": "Internal Server Error"}]}),
    );
    let unnamed = answering(200, json!({"data": {"createOrders": {"orders": []}}}));
    // ORD-2 is refused, ORD-1 not named: the order not named wins.
    let refused_and_unnamed = answering(
        200,
        json!({"data": {"createOrders": {"orders": [],
            "errors": [{"message": "Invalid currency", "fields": ["newOrders[1].currency"]}]}}}),
    );
    let never = MockServer::start();
    let never_called = never.mock(|when, then| {
        when.any_request();
        then.status(200);
    });
    let invalid = ORDER.replace("USD", "usd");
    let rows = vec![
        row(
            "create 0: every order accepted",
            &create,
            0,
            Says::Out("ORD-1"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &url(&ok)),
        row("restate 0", &orders_args("restate"), 0, Says::Out("ORD-1"))
            .stdin(RESTATE)
            .at("CJ_TRACKING_URL", &url(&restated)),
        row("cancel 0", &orders_args("cancel"), 0, Says::Out("ORD-1"))
            .stdin(CANCEL)
            .at("CJ_TRACKING_URL", &url(&cancelled)),
        row(
            "create 1: CJ refused orders",
            &create,
            1,
            Says::Err("1 accepted, 1 refused"),
        )
        .stdin(&two)
        .at("CJ_TRACKING_URL", &url(&order_errors)),
        row(
            "create 1: CJ refused the request",
            &create,
            1,
            Says::Err("Not Authorized"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &url(&refusal)),
        row(
            "create 2: an invalid order, named by line and field",
            &create,
            2,
            Says::Err(r#"line 2 (orderId "ORD-2"): field `currency`"#),
        )
        .stdin(&format!("{ORDER}\n{}\n", invalid.replace("ORD-1", "ORD-2")))
        .at("CJ_TRACKING_URL", &url(&never)),
        row(
            "restate 2: an invalid order",
            &orders_args("restate"),
            2,
            Says::Err("line 1"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &url(&never)),
        row(
            "cancel 2: an invalid order",
            &orders_args("cancel"),
            2,
            Says::Err("line 1"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &url(&never)),
        row(
            "create 2: usage",
            &[
                "orders",
                "create",
                "--file",
                "-",
                "--max-orders-per-request",
                "0",
            ],
            2,
            Says::Err("--max-orders-per-request"),
        )
        .stdin(ORDER),
        row(
            "create 2: no token",
            &create,
            2,
            Says::Err("no access token"),
        )
        .stdin(ORDER)
        .env("CJ_TRACKING_URL", &url(&never)),
        row(
            "create 3: not sent",
            &create,
            3,
            Says::Err("nothing was sent: no order reached CJ"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &refused_url()),
        row(
            "create 3: outcome unknown (HTTP 500)",
            &create,
            3,
            Says::Err("outcome unknown"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &url(&server_error)),
        row(
            "create 3: an order CJ's answer did not name",
            &create,
            3,
            Says::Err("1 unconfirmed"),
        )
        .stdin(ORDER)
        .at("CJ_TRACKING_URL", &url(&unnamed)),
        row(
            "create 3 wins over 1: one order refused, one not named",
            &create,
            3,
            Says::Err("1 refused, 1 unconfirmed"),
        )
        .stdin(&two)
        .at("CJ_TRACKING_URL", &url(&refused_and_unnamed)),
    ];
    check(rows);
    never_called.assert_calls(0);
}

#[test]
fn orders_create_ctrl_c_exits_130_after_the_request_in_flight() {
    let server = MockServer::start();
    let first = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"ORD-1\"");
        then.status(200)
            .delay(Duration::from_millis(1500))
            .json_body(json!({"data": {"createOrders": {"orders": [accepted("ORD-1")]}}}));
    });
    let second = server.mock(|when, then| {
        when.path("/graphqltest").body_includes("\"ORD-2\"");
        then.status(200);
    });
    let file = temp_dir("ctrl-c-orders").join("orders.jsonl");
    std::fs::write(
        &file,
        format!("{ORDER}\n{}\n", ORDER.replace("ORD-1", "ORD-2")),
    )
    .expect("writes");
    let args: Vec<String> = [
        "orders",
        "create",
        "--file",
        &path(&file),
        "--retries",
        "0",
        "--max-orders-per-request",
        "1",
    ]
    .map(String::from)
    .into();
    let child = spawn(
        &args,
        &[
            ("CJ_TOKEN", TOKEN.to_string()),
            ("CJ_TRACKING_URL", server.base_url()),
        ],
    );
    wait_for(|| first.calls() > 0);
    interrupt(&child);
    let out = finish(child);
    let failure = mismatch(
        "orders create 130: stopped, the rest named",
        130,
        Says::Err("from line 2 on nothing was sent"),
        &out,
    );
    assert!(failure.is_none(), "{}", failure.unwrap_or_default());
    assert!(text(&out.stdout).contains("ORD-1"), "the answer is printed");
    assert_eq!(second.calls(), 0, "nothing is sent after Ctrl-C");
}

/// The sandbox, on loopback, with the runtime that serves it.
fn sandbox() -> (tokio::runtime::Runtime, cj_sandbox::Sandbox) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the sandbox");
    let sandbox = runtime
        .block_on(cj_sandbox::Sandbox::start())
        .expect("the sandbox starts");
    (runtime, sandbox)
}

/// A queue store made by `cj`, then damaged with `sql` (through the `sqlite3` shell) so that
/// the store opens but fails later: what a full disk or a broken file does.
fn damaged_store(dir: &std::path::Path, name: &str, sql: &str) -> String {
    let store = path(&dir.join(format!("{name}.sqlite")));
    let out = run(&row("", &["queue", "status"], 0, Says::Out("")).env("CJ_QUEUE_STORE", &store));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status = Command::new("sqlite3")
        .args([&store, sql])
        .status()
        .expect("the sqlite3 shell runs (it damages the store)");
    assert!(status.success(), "{sql}");
    store
}

/// SQL that makes each write of a queue order fail.
const NO_WRITES: &str =
    "CREATE TRIGGER no_insert BEFORE INSERT ON queue BEGIN SELECT RAISE(ABORT, 'disk full'); END;
     CREATE TRIGGER no_update BEFORE UPDATE ON queue BEGIN SELECT RAISE(ABORT, 'disk full'); END;";
/// SQL that breaks reading the dead letters (and putting them back).
const NO_DEAD_LETTERS: &str = "ALTER TABLE queue DROP COLUMN error_fields;";
/// SQL that breaks reading the reconciliation verdicts.
const NO_VERDICTS: &str = "DROP TABLE verdicts; CREATE TABLE verdicts (key TEXT PRIMARY KEY, checked_at INTEGER NOT NULL);";
/// SQL that breaks deleting verdicts (pruning).
const VERDICTS_A_VIEW: &str = "DROP TABLE verdicts; CREATE VIEW verdicts AS SELECT 'k' AS key, 'recorded' AS verdict, 0 AS checked_at;";

fn orders_file(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| ORDER.replace("ORD-1", id) + "\n")
        .collect()
}

#[test]
fn queue_commands() {
    let dir = temp_dir("queue");
    let store = |name: &str| path(&dir.join(format!("{name}.sqlite")));
    let (_runtime, sandbox) = sandbox();
    let tracking = sandbox.tracking_url();
    let enqueue = ["queue", "enqueue", "--file", "-"];
    let until_empty = ["queue", "run", "--until-empty", "--live", "--retries", "0"];

    // Stores with orders waiting, for `run`: CJ accepts FINE-*, refuses REFUSED-1.
    let refused = ORDER.replace("ORD-1", "REFUSED-1").replace(
        "\"actionTrackerId\":123456",
        "\"actionTrackerId\":4294967295",
    );
    let filled = |name: &str, orders: &str| {
        let store = store(name);
        let out = run(&row("", &enqueue, 0, Says::Out(""))
            .stdin(orders)
            .env("CJ_QUEUE_STORE", &store));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        store
    };
    let accepted_store = filled("accepted", &orders_file(&["FINE-1", "FINE-2"]));
    let refused_store = filled(
        "refused",
        &format!("{}{refused}\n", orders_file(&["FINE-3"])),
    );
    let waiting_store = filled("waiting", &orders_file(&["WAIT-1"]));
    let unwritable = damaged_store(&dir, "unwritable", NO_WRITES);
    let stuck = filled("stuck", &orders_file(&["STUCK-1"]));
    let status = Command::new("sqlite3")
        .args([&stuck, NO_WRITES])
        .status()
        .expect("the sqlite3 shell runs");
    assert!(status.success());
    let no_dead_letters = damaged_store(&dir, "no-dead-letters", NO_DEAD_LETTERS);
    let no_verdicts = damaged_store(&dir, "no-verdicts", NO_VERDICTS);
    let verdicts_view = damaged_store(&dir, "verdicts-view", VERDICTS_A_VIEW);

    let live =
        |r: Row, store: &str, url: &str| r.env("CJ_QUEUE_STORE", store).at("CJ_TRACKING_URL", url);
    let rows = vec![
        row(
            "enqueue 0: every order stored",
            &enqueue,
            0,
            Says::Out("stored 2 order(s)"),
        )
        .stdin(&orders_file(&["E-1", "E-2"]))
        .env("CJ_QUEUE_STORE", &store("enqueue")),
        row(
            "enqueue 0: already queued",
            &enqueue,
            0,
            Says::Out("1 order(s) already queued"),
        )
        .stdin(&orders_file(&["WAIT-1"]))
        .env("CJ_QUEUE_STORE", &waiting_store),
        row(
            "enqueue 2: an invalid order",
            &enqueue,
            2,
            Says::Err("field `currency`"),
        )
        .stdin(&ORDER.replace("USD", "usd"))
        .env("CJ_QUEUE_STORE", &store("invalid")),
        row(
            "enqueue 2: usage",
            &["queue", "enqueue"],
            2,
            Says::Err("--file"),
        ),
        row(
            "enqueue 3: the store failed",
            &enqueue,
            3,
            Says::Err("the queue's store failed"),
        )
        .stdin(ORDER)
        .env("CJ_QUEUE_STORE", &unwritable),
        live(
            row(
                "run --until-empty 0: every order accepted",
                &until_empty,
                0,
                Says::Out("2 accepted"),
            ),
            &accepted_store,
            &tracking,
        ),
        live(
            row(
                "run --until-empty 1: new dead letters",
                &until_empty,
                1,
                Says::Err("dead letters"),
            ),
            &refused_store,
            &tracking,
        ),
        row(
            "run --until-empty 2: usage",
            &["queue", "run", "--until-empty", "--max-orders", "0"],
            2,
            Says::Err("--max-orders"),
        ),
        live(
            row(
                "run --until-empty 3: orders remain waiting",
                &until_empty,
                3,
                Says::Err("stay queued"),
            ),
            &waiting_store,
            &refused_url(),
        ),
        live(
            row(
                "run --until-empty 3: the store failed",
                &until_empty,
                3,
                Says::Err("the queue's store failed"),
            ),
            &stuck,
            &tracking,
        ),
        row(
            "run 2: usage",
            &["queue", "run", "--max-bytes", "0"],
            2,
            Says::Err("--max-bytes"),
        ),
        live(
            row(
                "run 3: the store failed",
                &["queue", "run", "--live", "--max-orders", "1"],
                3,
                Says::Err("the queue's store failed"),
            ),
            &stuck,
            &tracking,
        ),
        row("status 0", &["queue", "status"], 0, Says::Out("waiting 1"))
            .env("CJ_QUEUE_STORE", &waiting_store),
        row(
            "dead-letters 0",
            &["queue", "dead-letters"],
            0,
            Says::Out("dead letter(s)"),
        )
        .env("CJ_QUEUE_STORE", &waiting_store),
        row(
            "retry 0",
            &["queue", "retry"],
            0,
            Says::Out("put back in the queue"),
        )
        .env("CJ_QUEUE_STORE", &waiting_store),
        row(
            "prune 0",
            &["queue", "prune"],
            0,
            Says::Out("pruned 0 order(s)"),
        )
        .env("CJ_QUEUE_STORE", &waiting_store),
        row(
            "status 2",
            &["queue", "status", "--output", "xml"],
            2,
            Says::Err("--output"),
        ),
        row(
            "dead-letters 2",
            &["queue", "dead-letters", "--output", "xml"],
            2,
            Says::Err("--output"),
        ),
        row(
            "retry 2",
            &["queue", "retry", "--id", "one"],
            2,
            Says::Err("--id"),
        ),
        row(
            "prune 2",
            &["queue", "prune", "--keep-accepted", "soon"],
            2,
            Says::Err("--keep-accepted"),
        ),
        row(
            "status 3: the store failed",
            &["queue", "status"],
            3,
            Says::Err("the queue's store failed"),
        )
        .env("CJ_QUEUE_STORE", &no_verdicts),
        row(
            "dead-letters 3: the store failed",
            &["queue", "dead-letters"],
            3,
            Says::Err("the queue's store failed"),
        )
        .env("CJ_QUEUE_STORE", &no_dead_letters),
        row(
            "retry 3: the store failed",
            &["queue", "retry"],
            3,
            Says::Err("the queue's store failed"),
        )
        .env("CJ_QUEUE_STORE", &no_dead_letters),
        row(
            "prune 3: the store failed",
            &["queue", "prune", "--keep-accepted", "0s"],
            3,
            Says::Err("the queue's store failed"),
        )
        .env("CJ_QUEUE_STORE", &verdicts_view),
    ];
    check(rows);
}

#[test]
fn queue_run_until_ctrl_c_exits_0() {
    let dir = temp_dir("queue-ctrl-c");
    let store = path(&dir.join("q.sqlite"));

    // `cj queue run` until Ctrl-C: 0.
    let args: Vec<String> = ["queue", "run", "--live"].map(String::from).into();
    let env_run = [
        ("CJ_QUEUE_STORE", store.clone()),
        ("CJ_TOKEN", TOKEN.to_string()),
        ("CJ_TRACKING_URL", refused_url()),
    ];
    let mut child = spawn(&args, &env_run);
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut first)
        .expect("reads");
    assert!(first.contains("Ctrl-C stops"), "{first}");
    // Its Ctrl-C handler is set as its loop starts, just after that line.
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&child);
    let out = finish(child);
    assert_eq!(
        out.status.code(),
        Some(0),
        "queue run 0: stopped with Ctrl-C: {}",
        text(&out.stderr)
    );
}

#[test]
fn queue_enqueue_ctrl_c_exits_130_before_storing() {
    let dir = temp_dir("enqueue-ctrl-c");
    let store = path(&dir.join("q.sqlite"));
    let env = [("CJ_QUEUE_STORE", store.clone())];
    let args: Vec<String> = ["queue", "enqueue", "--file", "-"].map(String::from).into();
    let mut child = spawn(&args, &env);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(orders_file(&["CTRL-C-1"]).as_bytes())
        .expect("writes");
    // The input stays open: cj waits for the rest of it.
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(&child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().expect("waits").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped = child.try_wait().expect("waits").is_some();
    // End the input either way, so that cj never outlives the test.
    drop(stdin);
    let out = finish(child);
    assert!(stopped, "cj still waited for its input 5 s after Ctrl-C");
    let failure = mismatch(
        "queue enqueue 130: stopped before storing",
        130,
        Says::Err("nothing was sent or stored"),
        &out,
    );
    assert!(failure.is_none(), "{}", failure.unwrap_or_default());
    let status = run(&row(
        "",
        &["queue", "status", "--output", "json"],
        0,
        Says::Out(""),
    )
    .env("CJ_QUEUE_STORE", &store));
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(status["waiting"], 0, "nothing stored: {status}");
}

/// An empty, complete page of Commission Detail.
fn empty_page(field: &str) -> Value {
    json!({"data": {field: {
        "count": 0, "limit": 100, "maxCommissionId": null, "payloadComplete": true, "records": []
    }}})
}

fn commission(id: &str) -> Value {
    json!({
        "actionStatus": "new", "actionTrackerId": "123456", "actionTrackerName": "Sale",
        "actionType": "item_sale", "advertiserId": "1234567", "advertiserName": "Acme",
        "commissionId": id, "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z", "original": true,
        "originalActionId": id, "orderId": format!("ORD-{id}"),
        "postingDate": "2026-01-05T11:00:00Z", "pubCommissionAmountPubCurrency": "15.00",
        "pubCommissionAmountUsd": "15.00", "publisherId": "7654321", "publisherName": "Blog",
        "saleAmountPubCurrency": "149.98", "shopperId": format!("aspire-{id}"),
        "items": [], "situationDetails": []
    })
}

fn publisher_page(ids: &[&str]) -> Value {
    let records: Vec<Value> = ids.iter().map(|id| commission(id)).collect();
    json!({"data": {"publisherCommissions": {
        "count": records.len(), "limit": 100, "maxCommissionId": ids.last(),
        "payloadComplete": true, "records": records
    }}})
}

#[test]
fn reconcile() {
    let dir = temp_dir("reconcile");
    let now = Timestamp::from_second(Timestamp::now().as_second()).expect("now");
    let at = |d: SignedDuration| now.checked_sub(d).expect("a time").to_string();
    let line = |event: String| ORDER.replace("2024-01-15T18:08:36.089Z", &event);
    let old = dir.join("old.jsonl");
    std::fs::write(&old, line(at(SignedDuration::from_hours(72)))).expect("writes");
    let recent = dir.join("recent.jsonl");
    std::fs::write(&recent, line(at(SignedDuration::from_mins(10)))).expect("writes");
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "{\"orderId\": }\n").expect("writes");
    let nothing = answering(200, empty_page("advertiserCommissions"));
    let args = |file: &std::path::Path| {
        [
            "reconcile",
            "--advertiser-id",
            "1234567",
            "--retries",
            "0",
            "--created",
            &path(file),
        ]
        .map(String::from)
    };
    let rows = vec![
        row(
            "reconcile 0: pending",
            &args(&recent).each_ref().map(String::as_str),
            0,
            Says::Out("pending"),
        )
        .at("CJ_COMMISSIONS_URL", &nothing.base_url()),
        row(
            "reconcile 1: missing",
            &args(&old).each_ref().map(String::as_str),
            1,
            Says::Out("missing"),
        )
        .at("CJ_COMMISSIONS_URL", &nothing.base_url()),
        row(
            "reconcile 2: usage",
            &["reconcile", "--advertiser-id", "1234567"],
            2,
            Says::Err("nothing to reconcile"),
        )
        .at("CJ_COMMISSIONS_URL", &nothing.base_url()),
        row(
            "reconcile 2: unreadable input",
            &args(&garbage).each_ref().map(String::as_str),
            2,
            Says::Err("line 1"),
        )
        .at("CJ_COMMISSIONS_URL", &nothing.base_url()),
        row(
            "reconcile 3: Commission Detail could not be read",
            &args(&old).each_ref().map(String::as_str),
            3,
            Says::Err("safe to run again"),
        )
        .at("CJ_COMMISSIONS_URL", &refused_url()),
    ];
    check(rows);
}

#[test]
fn commissions() {
    let read = ["commissions", "--publisher-id", "7654321", "--retries", "0"];
    let ok = answering(200, publisher_page(&["101"]));
    let refusal = answering(200, graphql_refusal());
    let rows = vec![
        row(
            "commissions 0: every record read",
            &read,
            0,
            Says::Out("ORD-101"),
        )
        .at("CJ_COMMISSIONS_URL", &ok.base_url()),
        row(
            "commissions 1: CJ refused the query",
            &read,
            1,
            Says::Err("Not Authorized"),
        )
        .at("CJ_COMMISSIONS_URL", &refusal.base_url()),
        row(
            "commissions 2: usage",
            &["commissions"],
            2,
            Says::Err("--publisher-id"),
        ),
        row(
            "commissions 3: not read completely",
            &read,
            3,
            Says::Err("safe to run again"),
        )
        .at("CJ_COMMISSIONS_URL", &refused_url()),
    ];
    check(rows);
}

/// `cj commissions relay ACTION` of publisher 7654321 with `store`.
fn relay_args(partner: &str, store: &str, extra: &[&str]) -> Vec<String> {
    let template = format!("{partner}/postback?tx={{commissionId}}&click={{shopperId}}");
    let mut args = vec![
        "commissions",
        "relay",
        "--publisher-id",
        "7654321",
        "--postback-url",
        &template,
        "--store",
        store,
        "--retries",
        "0",
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

fn relay_row(cell: &'static str, args: Vec<String>, code: i32, says: Says) -> Row {
    let mut r = row(cell, &[], code, says);
    r.args = args;
    r
}

#[test]
fn commissions_relay() {
    let dir = temp_dir("relay");
    let store = |name: &str| path(&dir.join(format!("{name}.sqlite")));
    let cj_ok = answering(200, publisher_page(&["101"]));
    let refusal = answering(200, graphql_refusal());
    let partner_ok = MockServer::start();
    let postbacks = partner_ok.mock(|when, then| {
        when.any_request();
        then.status(200).body("ok");
    });
    let partner_redirect = MockServer::start();
    partner_redirect.mock(|when, then| {
        when.any_request();
        then.status(302)
            .header("location", "http://127.0.0.1:9/elsewhere");
    });
    let partner_refuses = answering_text(400, "no");
    let partner_fails = answering_text(503, "later");
    let cj_url = cj_ok.base_url();
    let once = ["--once"];
    let rows = vec![
        relay_row(
            "relay --once 0: every record delivered",
            relay_args(&partner_ok.base_url(), &store("ok"), &once),
            0,
            Says::Out("delivered 1"),
        )
        .at("CJ_COMMISSIONS_URL", &cj_url),
        relay_row(
            "relay --once 1: dead letters",
            relay_args(&partner_refuses.base_url(), &store("dead"), &once),
            1,
            Says::Err("dead letter"),
        )
        .at("CJ_COMMISSIONS_URL", &cj_url),
        relay_row(
            "relay --once 1: a partner redirect",
            relay_args(&partner_redirect.base_url(), &store("redirect"), &once),
            1,
            Says::Err("redirect"),
        )
        .at("CJ_COMMISSIONS_URL", &cj_url),
        relay_row(
            "relay --once 1: CJ refused the query",
            relay_args(&partner_ok.base_url(), &store("refused"), &once),
            1,
            Says::Err("Not Authorized"),
        )
        .at("CJ_COMMISSIONS_URL", &refusal.base_url()),
        relay_row(
            "relay --once 2: usage (an unknown placeholder)",
            relay_args(
                &format!("{}/{{nope}}", partner_ok.base_url()),
                &store("usage"),
                &once,
            ),
            2,
            Says::Err("nope"),
        )
        .at("CJ_COMMISSIONS_URL", &cj_url),
        relay_row(
            "relay --once 3: CJ not read completely",
            relay_args(&partner_ok.base_url(), &store("unread"), &once),
            3,
            Says::Err("safe to run again"),
        )
        .at("CJ_COMMISSIONS_URL", &refused_url()),
        relay_row(
            "relay --once 3: records wait to be delivered again",
            relay_args(&partner_fails.base_url(), &store("wait"), &once),
            3,
            Says::Err("wait"),
        )
        .at("CJ_COMMISSIONS_URL", &cj_url),
    ];
    check(rows);
    postbacks.assert_calls(1);

    let settled = store("ok");
    let store_cmd = |action: &str, extra: &[&str]| {
        let mut args = vec![
            "commissions",
            "relay",
            action,
            "--publisher-id",
            "7654321",
            "--store",
            &settled,
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let rows = vec![
        relay_row(
            "relay status 0",
            store_cmd("status", &[]),
            0,
            Says::Out("delivered 1"),
        ),
        relay_row(
            "relay dead-letters 0",
            store_cmd("dead-letters", &[]),
            0,
            Says::Out("0 dead letter(s)"),
        ),
        relay_row(
            "relay retry 0",
            store_cmd("retry", &[]),
            0,
            Says::Out("put back in line"),
        ),
        relay_row(
            "relay prune 0",
            store_cmd("prune", &[]),
            0,
            Says::Out("pruned"),
        ),
        relay_row(
            "relay status 2",
            store_cmd("status", &["--output", "xml"]),
            2,
            Says::Err("--output"),
        ),
        relay_row(
            "relay dead-letters 2",
            store_cmd("dead-letters", &["--output", "xml"]),
            2,
            Says::Err("--output"),
        ),
        relay_row(
            "relay retry 2",
            store_cmd("retry", &["--bogus"]),
            2,
            Says::Err("unexpected argument"),
        ),
        relay_row(
            "relay prune 2",
            store_cmd("prune", &["--bogus"]),
            2,
            Says::Err("unexpected argument"),
        ),
    ];
    check(rows);
}

#[test]
fn commissions_relay_once_ctrl_c_exits_130() {
    let cj_server = answering(200, publisher_page(&["101", "102", "103"]));
    let partner = MockServer::start();
    let slow = partner.mock(|_, then| {
        then.status(200).delay(Duration::from_millis(1500));
    });
    let store = path(&temp_dir("relay-ctrl-c").join("r.sqlite"));
    let child = spawn(
        &relay_args(&partner.base_url(), &store, &["--once"]),
        &[
            ("CJ_TOKEN", TOKEN.to_string()),
            ("CJ_COMMISSIONS_URL", cj_server.base_url()),
        ],
    );
    wait_for(|| slow.calls() > 0);
    interrupt(&child);
    let out = finish(child);
    let failure = mismatch(
        "relay --once 130: stopped, what was delivered printed",
        130,
        Says::Err("interrupted: 1 record(s) delivered"),
        &out,
    );
    assert!(failure.is_none(), "{}", failure.unwrap_or_default());
    assert_eq!(slow.calls(), 1, "nothing is sent after Ctrl-C");
}

fn contracts_page() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/program_terms/contracts_page.json"
    );
    std::fs::read_to_string(path).expect("fixture")
}

#[test]
fn program_terms_and_estimate() {
    let read = [
        "program-terms",
        "--publisher-id",
        "7654321",
        "--retries",
        "0",
    ];
    let ok = answering_text(200, &contracts_page());
    let refusal = answering(200, graphql_refusal());
    let mut page: Value = serde_json::from_str(&contracts_page()).expect("JSON");
    page["data"]["publisher"]["contracts"]["resultList"][1]["programTerms"]["actionTerms"][0]["commissions"]
        [0]["rate"]["value"] = json!("twelve");
    let unreadable = answering(200, page);

    let dir = temp_dir("estimate");
    let terms = dir.join("terms.json");
    let contracts: Value = serde_json::from_str(&contracts_page()).expect("JSON");
    std::fs::write(
        &terms,
        contracts["data"]["publisher"]["contracts"]["resultList"].to_string(),
    )
    .expect("writes");
    let order = |name: &str, tracker: u32| {
        let file = dir.join(name);
        std::fs::write(
            &file,
            format!(
                r#"{{"enterpriseId":"1234567","actionTrackerId":{tracker},"orderId":"ORD-9","currency":"USD","items":[{{"sku":"TENT-2P","unitPrice":"200.00","quantity":1}}]}}"#
            ),
        )
        .expect("writes");
        path(&file)
    };
    let (matching, other) = (order("order.json", 123456), order("other.json", 999));
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "not JSON").expect("writes");
    let (terms, garbage) = (path(&terms), path(&garbage));
    let estimate = |terms: &str, order: &str| {
        [
            "program-terms",
            "estimate",
            "--terms",
            terms,
            "--order",
            order,
        ]
        .map(String::from)
    };
    let estimate_row =
        |cell, args: [String; 6], code, says| relay_row(cell, args.into(), code, says);
    let rows = vec![
        row(
            "program-terms 0: every contract read",
            &read,
            0,
            Says::Out("3 contract(s)"),
        )
        .at("CJ_PROGRAM_TERMS_URL", &ok.base_url()),
        row(
            "program-terms 1: CJ refused the query",
            &read,
            1,
            Says::Err("Not Authorized"),
        )
        .at("CJ_PROGRAM_TERMS_URL", &refusal.base_url()),
        row(
            "program-terms 1: a contract could not be read",
            &read,
            1,
            Says::Err("could not be read"),
        )
        .at("CJ_PROGRAM_TERMS_URL", &unreadable.base_url()),
        row(
            "program-terms 2: usage",
            &["program-terms"],
            2,
            Says::Err("--publisher-id"),
        ),
        row(
            "program-terms 3: not read completely",
            &read,
            3,
            Says::Err("safe to run again"),
        )
        .at("CJ_PROGRAM_TERMS_URL", &refused_url()),
        estimate_row(
            "estimate 0: an estimate",
            estimate(&terms, &matching),
            0,
            Says::Out("estimated commission"),
        ),
        estimate_row(
            "estimate 1: no action term applies",
            estimate(&terms, &other),
            1,
            Says::Err("action tracker 999"),
        ),
        estimate_row(
            "estimate 2: unreadable input",
            estimate(&garbage, &matching),
            2,
            Says::Err("garbage.json"),
        ),
        row(
            "estimate 2: usage",
            &["program-terms", "estimate"],
            2,
            Says::Err("--terms"),
        ),
    ];
    check(rows);
}

fn lookup_fixture(name: &str) -> String {
    let path = format!(
        "{}/../cj-advertiser-lookup/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn advertisers_lookup_and_demo() {
    let lookup = [
        "advertisers",
        "lookup",
        "--requestor-cid",
        "4567",
        "--advertiser-ids",
        "joined",
        "--retries",
        "0",
    ];
    let ok = answering_text(200, &lookup_fixture("many.xml"));
    let refusal = answering_text(400, &lookup_fixture("error_requestor.xml"));
    let rows = vec![
        row(
            "advertisers lookup 0: every page read",
            &lookup,
            0,
            Says::Out("advertiser(s) shown"),
        )
        .at("CJ_ADVERTISER_LOOKUP_URL", &ok.base_url()),
        row(
            "advertisers lookup 1: CJ refused the query",
            &lookup,
            1,
            Says::Err("requestor-cid"),
        )
        .at("CJ_ADVERTISER_LOOKUP_URL", &refusal.base_url()),
        row(
            "advertisers lookup 2: usage",
            &["advertisers", "lookup", "--requestor-cid", "4567"],
            2,
            Says::Err("a criterion is required"),
        )
        .at("CJ_ADVERTISER_LOOKUP_URL", &ok.base_url()),
        row(
            "advertisers lookup 3: not read completely",
            &lookup,
            3,
            Says::Err("safe to run again"),
        )
        .at("CJ_ADVERTISER_LOOKUP_URL", &refused_url()),
        row(
            "demo 0: every API answered",
            &["demo"],
            0,
            Says::Out("Done:"),
        ),
    ];
    check(rows);
}
