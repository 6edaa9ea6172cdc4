//! The shell's habits: completions, the man page, refused values, options a command cannot use,
//! the test/live notice and `-v`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use httpmock::prelude::*;
use serde_json::json;

const TOKEN: &str = "CANARY-shell-8f2a-never-printed";

const ORDER: &str = r#"{"enterpriseId":"1234567","actionTrackerId":123456,"orderId":"ORD-1","eventTime":"2024-01-15T18:08:36.089Z","cjEvent":"7166ddf3b35b11eb834200a10a1eb972","currency":"USD","amount":149.98,"discount":"0.00","items":[{"sku":"SKU-1","unitPrice":"74.99","quantity":2}]}"#;

/// `cj ARGS` with `envs` and no CJ variable from the caller's environment; orders are read
/// from `--file` ([`orders_file`]).
fn cj(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(args)
        .env_remove("CJ_TOKEN")
        .env_remove("CJ_TRACKING_URL")
        .env_remove("CJ_DEVELOPER_KEY")
        .env_remove("RUST_LOG")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("cj runs")
}

/// A file holding [`ORDER`].
fn orders_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(ORDER.as_bytes()).expect("writes");
    file
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = cj(&["completions", shell], &[]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("orders"), "{shell}: {script}");
        assert!(script.contains("tracking-url"), "{shell}: {script}");
    }
}

#[test]
fn man_renders_a_roff_page_naming_the_subcommands() {
    let out = cj(&["man"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(page.contains(".TH cj 1"), "{page}");
    assert!(page.contains("orders"), "{page}");
}

#[test]
fn zero_and_negative_durations_and_counts_are_refused_by_clap() {
    for args in [
        &["orders", "create", "--file", "-", "--timeout", "0"][..],
        &["orders", "create", "--file", "-", "--timeout=-5"],
        &[
            "orders",
            "create",
            "--file",
            "-",
            "--max-orders-per-request",
            "0",
        ],
        &["queue", "run", "--max-orders", "0"],
        &["commissions", "relay", "--interval", "0"],
        &["advertisers", "lookup", "--records-per-page", "0"],
    ] {
        let out = cj(args, &[("CJ_TOKEN", TOKEN)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
    let out = cj(&["orders", "create", "--file", "-", "--timeout", "0"], &[]);
    assert!(
        text(&out.stderr).contains("must be at least 1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn developer_key_is_offered_only_where_cj_takes_it() {
    for args in [
        &["orders", "create", "--file", "-"][..],
        &["commissions", "--publisher-id", "1"],
        &["program-terms", "--publisher-id", "1"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--developer-key", "k"]);
        let out = cj(&args, &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("unexpected argument '--developer-key'"),
            "{args:?}: {stderr}"
        );
    }
    let help = text(&cj(&["advertisers", "lookup", "--help"], &[]).stdout);
    assert!(help.contains("--developer-key"), "{help}");
}

#[test]
fn help_shows_no_env_values_set_or_unset() {
    let unset = text(&cj(&["orders", "create", "--help"], &[]).stdout);
    assert!(unset.contains("[env: CJ_TRACKING_URL]"), "{unset}");
    assert!(!unset.contains("CJ_TRACKING_URL="), "{unset}");
    let set = cj(
        &["orders", "create", "--help"],
        &[
            ("CJ_TOKEN", TOKEN),
            ("CJ_TRACKING_URL", "http://127.0.0.1:1"),
        ],
    );
    let set = text(&set.stdout);
    assert!(!set.contains(TOKEN), "{set}");
    assert!(!set.contains("CJ_TRACKING_URL="), "{set}");
}

fn accepting(server: &MockServer, path: &str) {
    server.mock(|when, then| {
        when.method(POST).path(path);
        then.status(200).json_body(json!({"data": {"createOrders": {
            "orders": [{
                "submissionId": "s-1", "batchId": "b-1", "orderReceivedTime": "2024-01-15T18:08:37Z",
                "advertiser": {"enterpriseId": "1234567"}, "actionTracker": {"id": 123456},
                "orderId": "ORD-1", "customParameters": [], "items": [], "status": "Pending"
            }],
            "errors": []}}}));
    });
}

#[test]
fn orders_say_on_stderr_whether_they_went_to_test_or_live() {
    let server = MockServer::start();
    accepting(&server, "/graphqltest");
    accepting(&server, "/graphql");
    let url = server.base_url();
    let env = [("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", url.as_str())];
    let file = orders_file();
    let path = file.path().to_str().expect("utf-8 path");
    let args = ["orders", "create", "--file", path, "--retries", "0"];

    let test = cj(&args, &env);
    let stderr = text(&test.stderr);
    assert_eq!(test.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("TEST: CJ's test endpoint (127.0.0.1/graphqltest)"),
        "{stderr}"
    );
    assert!(stderr.contains("not recorded"), "{stderr}");
    assert!(!stderr.contains("LIVE"), "{stderr}");

    let live = cj(&[&args[..], &["--live"]].concat(), &env);
    let stderr = text(&live.stderr);
    assert_eq!(live.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("LIVE: CJ's live endpoint (127.0.0.1/graphql)"),
        "{stderr}"
    );
    assert!(!stderr.contains("TEST"), "{stderr}");
}

#[test]
fn queue_run_says_which_endpoint_it_sends_to() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("q.sqlite");
    let store = store.to_str().expect("utf-8 path");
    let out = cj(
        &["queue", "--store", store, "run", "--until-empty", "--live"],
        &[
            ("CJ_TOKEN", TOKEN),
            ("CJ_TRACKING_URL", "http://127.0.0.1:9"),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("LIVE: CJ's live endpoint (127.0.0.1/graphql)"),
        "{stderr}"
    );
}

#[test]
fn verbose_prints_the_sdk_tracing_without_the_token() {
    let server = MockServer::start();
    accepting(&server, "/graphqltest");
    let url = server.base_url();
    let env = [("CJ_TOKEN", TOKEN), ("CJ_TRACKING_URL", url.as_str())];
    let file = orders_file();
    let path = file.path().to_str().expect("utf-8 path");
    let args = ["orders", "create", "--file", path, "--retries", "0"];

    let quiet = text(&cj(&args, &env).stderr);
    assert!(!quiet.contains("cj.http"), "{quiet}");

    let out = cj(&[&["-vv"], &args[..]].concat(), &env);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cj.http"), "{stderr}");
    assert!(stderr.contains("answered"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token was printed: {stderr}");
    assert!(!text(&out.stdout).contains(TOKEN));

    let out = cj(&args, &[env[0], env[1], ("RUST_LOG", "trace")]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cj.http"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the token was printed: {stderr}");
}
