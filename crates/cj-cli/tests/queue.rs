//! `cj queue` through the binary against the sandbox: an order enqueued twice is stored once,
//! `run --until-empty` exits as documented, and `prune` removes settled orders.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const TOKEN: &str = "CANARY-queue-7f2a-never-printed";

const ORDER: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","eventTime":"2024-01-15T18:08:36.089Z","cjEvent":"7166ddf3b35b11eb834200a10a1eb972","currency":"USD","amount":"149.98"}"#;

fn cj(args: &[&str], stdin: &str, envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(args)
        .env_remove("CJ_TOKEN")
        .env_remove("CJ_TRACKING_URL")
        .env_remove("CJ_QUEUE_STORE")
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
    if let Err(e) = written {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writes stdin: {e}"
        );
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

/// A fresh store file for test `name`.
fn store(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("cj-cli-queue-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path.to_str().expect("a UTF-8 path").to_string()
}

fn status(env: &[(&str, &str)]) -> Value {
    let out = cj(&["queue", "status", "--output", "json"], "", env);
    serde_json::from_str(&stdout(&out)).expect("status")
}

fn orders(ids: &[&str]) -> String {
    ids.iter()
        .map(|id| ORDER.replace("ORD-1", id) + "\n")
        .collect()
}

/// The sandbox, and the environment for `cj` to send to it with store `store`.
fn sandbox() -> (tokio::runtime::Runtime, cj_sandbox::Sandbox) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the sandbox");
    let sandbox = runtime
        .block_on(cj_sandbox::Sandbox::start())
        .expect("the sandbox starts");
    (runtime, sandbox)
}

#[test]
fn the_same_file_enqueued_twice_is_stored_once_and_a_changed_order_again() {
    let store = store("twice");
    let env = [("CJ_QUEUE_STORE", store.as_str())];
    let file = orders(&["TWICE-1", "TWICE-2"]);
    let out = cj(&["queue", "enqueue", "--file", "-"], &file, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored 2 order(s)"),
        "{}",
        stdout(&out)
    );

    let out = cj(&["queue", "enqueue", "--file", "-"], &file, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored 0 order(s)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("2 order(s) already queued"),
        "{}",
        stdout(&out)
    );
    assert_eq!(status(&env)["waiting"], 2);

    // TWICE-2 changed (a new amount): stored; TWICE-1 is not.
    let changed = file.replacen(
        "\"orderId\":\"TWICE-2\",\"eventTime\":\"2024-01-15T18:08:36.089Z\",\"cjEvent\":\"7166ddf3b35b11eb834200a10a1eb972\",\"currency\":\"USD\",\"amount\":\"149.98\"",
        "\"orderId\":\"TWICE-2\",\"eventTime\":\"2024-01-15T18:08:36.089Z\",\"cjEvent\":\"7166ddf3b35b11eb834200a10a1eb972\",\"currency\":\"USD\",\"amount\":\"120.00\"",
        1,
    );
    assert_ne!(changed, file);
    let out = cj(&["queue", "enqueue", "--file", "-"], &changed, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stored 1 order(s)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("1 order(s) already queued"),
        "{}",
        stdout(&out)
    );
    assert_eq!(status(&env)["waiting"], 3);

    // Sent and accepted, the orders are still queued: not stored again.
    let (_runtime, sandbox) = sandbox();
    let tracking = sandbox.tracking_url();
    let env = [
        ("CJ_QUEUE_STORE", store.as_str()),
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", tracking.as_str()),
    ];
    let out = cj(&["queue", "run", "--until-empty", "--live"], "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cj(&["queue", "enqueue", "--file", "-"], &file, &env);
    assert!(
        stdout(&out).contains("2 order(s) already queued"),
        "{}",
        stdout(&out)
    );
    let s = status(&env);
    assert_eq!(
        (s["waiting"].clone(), s["accepted"].clone()),
        (0.into(), 3.into())
    );
}

#[test]
fn run_until_empty_exits_0_when_every_order_is_accepted() {
    let (_runtime, sandbox) = sandbox();
    let store = store("exit0");
    let tracking = sandbox.tracking_url();
    let env = [
        ("CJ_QUEUE_STORE", store.as_str()),
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", tracking.as_str()),
    ];
    cj(
        &["queue", "enqueue", "--file", "-"],
        &orders(&["OK-1", "OK-2"]),
        &env,
    );
    let out = cj(&["queue", "run", "--until-empty", "--live"], "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 accepted"), "{}", stdout(&out));
}

#[test]
fn run_until_empty_exits_1_on_new_dead_letters() {
    let (_runtime, sandbox) = sandbox();
    let store = store("exit1");
    let tracking = sandbox.tracking_url();
    let env = [
        ("CJ_QUEUE_STORE", store.as_str()),
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", tracking.as_str()),
    ];
    // CJ refuses an action tracker that is not the advertiser's.
    let refused = ORDER.replace("ORD-1", "REFUSED-1").replace(
        "\"actionTrackerId\":123456",
        "\"actionTrackerId\":4294967295",
    );
    let file = format!("{}{refused}\n", orders(&["FINE-1"]));
    let out = cj(&["queue", "enqueue", "--file", "-"], &file, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cj(&["queue", "run", "--until-empty", "--live"], "", &env);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("1 accepted, 1 refused"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("dead letters"), "{}", stderr(&out));
    // Those dead letters are not new the next time.
    let out = cj(&["queue", "run", "--until-empty", "--live"], "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn run_until_empty_exits_3_when_orders_remain_waiting() {
    // A loopback port nothing listens on: CJ cannot be reached.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let tracking = format!("http://127.0.0.1:{port}/tracking");
    let store = store("exit3");
    let env = [
        ("CJ_QUEUE_STORE", store.as_str()),
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", tracking.as_str()),
    ];
    cj(
        &["queue", "enqueue", "--file", "-"],
        &orders(&["WAIT-1"]),
        &env,
    );
    let out = cj(
        &["queue", "run", "--until-empty", "--live", "--retries", "0"],
        "",
        &env,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains("stay queued"), "{}", stderr(&out));
    assert_eq!(status(&env)["waiting"], 1);
}

#[test]
fn run_documents_its_exit_statuses() {
    let out = cj(&["queue", "run", "--help"], "", &[]);
    let help = stdout(&out);
    for status in [
        "0 every order sent was accepted",
        "1 CJ refused orders",
        "3 orders remain waiting",
    ] {
        assert!(help.contains(status), "{help}");
    }
}

#[test]
fn prune_removes_settled_orders_and_keeps_dead_letters() {
    let (_runtime, sandbox) = sandbox();
    let store = store("prune");
    let tracking = sandbox.tracking_url();
    let env = [
        ("CJ_QUEUE_STORE", store.as_str()),
        ("CJ_TOKEN", TOKEN),
        ("CJ_TRACKING_URL", tracking.as_str()),
    ];
    let refused = ORDER.replace("ORD-1", "REFUSED-1").replace(
        "\"actionTrackerId\":123456",
        "\"actionTrackerId\":4294967295",
    );
    let file = format!("{}{refused}\n", orders(&["P-1", "P-2"]));
    cj(&["queue", "enqueue", "--file", "-"], &file, &env);
    let out = cj(&["queue", "run", "--until-empty", "--live"], "", &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    cj(
        &["queue", "enqueue", "--file", "-"],
        &orders(&["LATER-1"]),
        &env,
    );

    // By default (90 days) nothing this young goes.
    let out = cj(&["queue", "prune", "--output", "json"], "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pruned: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(pruned["entries"], 0, "{pruned}");

    let out = cj(&["queue", "prune", "--keep-accepted", "0s"], "", &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("pruned 2 order(s)"),
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
        (1.into(), 0.into(), 1.into()),
        "the waiting order and the dead letter stay"
    );
    let out = cj(
        &[
            "queue",
            "prune",
            "--keep-accepted",
            "0s",
            "--prune-dead-letters",
        ],
        "",
        &env,
    );
    assert!(
        stdout(&out).contains("pruned 1 order(s)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(status(&env)["dead"], 0);

    let out = cj(&["queue", "prune", "--keep-accepted", "soon"], "", &env);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
