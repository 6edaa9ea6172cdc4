//! `cj commissions relay` against a loopback Commission Detail mock and a loopback partner:
//! each record delivered once, dead letters listed and retried, templates checked at start.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "CANARY-relay-cli-7f2b-never-sent";

fn cj(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(args)
        .env_remove("CJ_TOKEN")
        .env_remove("CJ_COMMISSIONS_URL")
        .env_remove("CJ_RELAY_STORE")
        .envs(envs.iter().copied())
        .output()
        .expect("cj runs");
    let text = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!text.contains(TOKEN), "the token was printed: {text}");
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A publisher commission `id`; 104 corrects 101.
fn commission(id: u64) -> Value {
    let correction = id == 104;
    json!({
        "actionStatus": "new", "actionTrackerId": "123456", "actionTrackerName": "Sale",
        "actionType": "item_sale", "advertiserId": "1234567", "advertiserName": "Acme",
        "commissionId": id.to_string(), "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z", "original": !correction,
        "originalActionId": if correction { "101".to_string() } else { id.to_string() },
        "orderId": if correction { "ORD-101".to_string() } else { format!("ORD-{id}") },
        "postingDate": "2026-01-05T11:00:00Z",
        "pubCommissionAmountPubCurrency": if correction { "-7.50" } else { "15.00" },
        "pubCommissionAmountUsd": "15.00", "publisherId": "7654321", "publisherName": "Blog",
        "saleAmountPubCurrency": if correction { "-74.99" } else { "149.98" },
        "shopperId": format!("aspire-{id}"), "items": [], "situationDetails": []
    })
}

/// Commission Detail: 101..=105 in pages of three, by CJ's cursor; the token required.
fn cj_server() -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST)
            .path("/query")
            .header("authorization", format!("Bearer {TOKEN}"));
        then.respond_with(|req| {
            let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
            let since: u64 = body["variables"]["sinceCommissionId"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ids: Vec<u64> = (101..=105).filter(|id| *id > since).collect();
            let page: Vec<Value> = ids.iter().take(3).map(|id| commission(*id)).collect();
            let answer = json!({"data": {"publisherCommissions": {
                "count": page.len(), "limit": 3, "payloadComplete": ids.len() <= 3,
                "maxCommissionId": page.last().map(|r| r["commissionId"].clone()),
                "records": page
            }}});
            httpmock::HttpMockResponse::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(answer.to_string())
                .build()
        });
    });
    server
}

fn store(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cj-cli-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn relay(cj_url: &str, partner: &MockServer, store: &Path, extra: &[&str]) -> Output {
    let args = relay_args(partner, store, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cj(
        &args,
        &[("CJ_TOKEN", TOKEN), ("CJ_COMMISSIONS_URL", cj_url)],
    )
}

fn relay_args(partner: &MockServer, store: &Path, extra: &[&str]) -> Vec<String> {
    let template = format!(
        "{}/postback?tx={{commissionId}}&click={{shopperId}}&sale={{saleAmountPubCurrency}}&payout={{pubCommissionAmountPubCurrency}}",
        partner.base_url()
    );
    let store = store.display().to_string();
    let mut args = vec![
        "commissions",
        "relay",
        "--publisher-id",
        "7654321",
        "--postback-url",
        &template,
        "--store",
        &store,
        "--retries",
        "0",
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

#[test]
fn relay_once_delivers_each_record_once_and_its_dead_letters_can_be_retried() {
    let cj_server = cj_server();
    let partner = MockServer::start();
    // Made first, so it answers 102 before the mock that accepts it.
    let mut refused = partner.mock(|when, then| {
        when.query_param("tx", "102");
        then.status(404).body("unknown click id");
    });
    let accepted: Vec<_> = (101..=105)
        .map(|id| {
            partner.mock(|when, then| {
                when.method(GET)
                    .path("/postback")
                    .query_param("tx", id.to_string())
                    .query_param("click", format!("aspire-{id}"))
                    .header_missing("authorization");
                then.status(200);
            })
        })
        .collect();
    let path = store("once");
    let out = relay(&cj_server.base_url(), &partner, &path, &["--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "read 2 page(s), 5 record(s) (5 new); delivered 4, 0 to retry, 1 dead letter(s)"
        ),
        "{report}"
    );
    assert!(
        text(&out.stderr).contains("dead-letters"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(refused.calls(), 1);

    let store_arg = path.display().to_string();
    let target = ["--publisher-id", "7654321", "--store", &store_arg];
    let listed = cj(
        &[&["commissions", "relay", "dead-letters"], &target[..]].concat(),
        &[],
    );
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let table = text(&listed.stdout);
    assert!(
        table.contains("COMMISSION  STATUS  ATTEMPTS  ORDER"),
        "{table}"
    );
    assert!(
        table.contains("102         404     1         ORD-102"),
        "{table}"
    );
    assert!(table.contains("1 dead letter(s)"), "{table}");
    let listed = cj(
        &[
            &["commissions", "relay", "dead-letters"],
            &target[..],
            &["--output", "json"],
        ]
        .concat(),
        &[],
    );
    let dead: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(dead[0]["commissionId"], "102");
    assert_eq!(dead[0]["status"], 404);
    assert_eq!(dead[0]["body"], "unknown click id");
    assert_eq!(dead[0]["record"]["shopperId"], "aspire-102");

    // The partner fixes its side; the dead letter goes back in line and out.
    refused.delete();
    let retried = cj(
        &[
            &["commissions", "relay", "retry"],
            &target[..],
            &["--id", "102"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(retried.status.code(), Some(0), "{}", text(&retried.stderr));
    assert!(text(&retried.stdout).contains("1 record(s) put back in line"));
    let out = relay(&cj_server.base_url(), &partner, &path, &["--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("delivered 1,"),
        "{}",
        text(&out.stdout)
    );
    for (id, mock) in (101..=105).zip(&accepted) {
        assert_eq!(mock.calls(), 1, "commission {id} delivered once");
    }

    let status = cj(
        &[
            &["commissions", "relay", "status"],
            &target[..],
            &["--output", "json"],
        ]
        .concat(),
        &[],
    );
    let stats: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(
        (&stats["pending"], &stats["delivered"], &stats["dead"]),
        (&json!(0), &json!(5), &json!(0))
    );
    assert_eq!(stats["cursor"]["sinceCommissionId"], "105");
}

#[test]
fn a_correction_reaches_the_partner_with_its_negative_amounts() {
    let cj_server = cj_server();
    let partner = MockServer::start();
    let correction = partner.mock(|when, then| {
        when.query_param("tx", "104")
            .query_param("sale", "-74.99")
            .query_param("payout", "-7.50");
        then.status(200);
    });
    let others = partner.mock(|_, then| {
        then.status(204);
    });
    let out = relay(
        &cj_server.base_url(),
        &partner,
        &store("correction"),
        &["--once", "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (&report["delivered"], &report["dead"]),
        (&json!(5), &json!(0))
    );
    assert_eq!((correction.calls(), others.calls()), (1, 4));
}

#[test]
fn relay_refuses_an_unknown_placeholder_before_reading_anything() {
    let cj_server = cj_server();
    let path = store("refused").display().to_string();
    let out = cj(
        &[
            "commissions",
            "relay",
            "--publisher-id",
            "7654321",
            "--postback-url",
            "https://partner.example/cb?tx={transactionId}",
            "--store",
            &path,
            "--once",
        ],
        &[
            ("CJ_TOKEN", TOKEN),
            ("CJ_COMMISSIONS_URL", &cj_server.base_url()),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown placeholder {transactionId}"), "{err}");
    assert!(!Path::new(&path).exists(), "nothing was stored");
}

#[test]
fn commissions_keeps_its_options_beside_the_relay_subcommand() {
    let out = cj(&["commissions", "relay", "--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--postback-url <TEMPLATE>"));
    assert!(text(&out.stdout).contains("dead-letters"));
    // `cj commissions` still needs a side, and the relay its postback URL.
    let out = cj(&["commissions"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--advertiser-id"),
        "{}",
        text(&out.stderr)
    );
    let out = cj(&["commissions", "relay", "--publisher-id", "1"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--postback-url"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn ctrl_c_during_relay_once_finishes_the_postback_in_flight_and_exits_130() {
    let cj_server = cj_server();
    let partner = MockServer::start();
    let slow = partner.mock(|_, then| {
        then.status(200)
            .delay(std::time::Duration::from_millis(1500));
    });
    let path = store("ctrl-c");
    let child = Command::new(env!("CARGO_BIN_EXE_cj"))
        .args(relay_args(&partner, &path, &["--once"]))
        .env_remove("CJ_RELAY_STORE")
        .env("CJ_TOKEN", TOKEN)
        .env("CJ_COMMISSIONS_URL", cj_server.base_url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cj runs");
    // Once the first postback is at the partner, interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while slow.calls() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let out = child.wait_with_output().expect("cj finishes");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!format!("{stdout}{stderr}").contains(TOKEN));
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stdout.contains("delivered 1,"), "{stdout}");
    assert!(
        stderr.contains("interrupted: 1 record(s) delivered"),
        "{stderr}"
    );
    assert_eq!(slow.calls(), 1, "nothing sent after Ctrl-C");
    let store_arg = path.display().to_string();
    let status = cj(
        &[
            "commissions",
            "relay",
            "status",
            "--publisher-id",
            "7654321",
            "--store",
            &store_arg,
            "--output",
            "json",
        ],
        &[],
    );
    let stats: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(
        (&stats["delivered"], &stats["inFlight"], &stats["pending"]),
        (&json!(1), &json!(0), &json!(2)),
        "the postback in flight was recorded, the rest of the first page waits, the second \
         page was not read: {stats}"
    );
}

#[test]
fn relay_prune_deletes_delivered_records_and_they_are_never_delivered_again() {
    let cj_server = cj_server();
    let partner = MockServer::start();
    let accepted = partner.mock(|_, then| {
        then.status(200);
    });
    let path = store("prune");
    let out = relay(&cj_server.base_url(), &partner, &path, &["--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let store_arg = path.display().to_string();
    let target = ["--publisher-id", "7654321", "--store", &store_arg];
    let pruned = cj(
        &[
            &["commissions", "relay", "prune"],
            &target[..],
            &["--older-than-days", "0"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned.stderr));
    assert!(
        text(&pruned.stdout)
            .contains("5 delivered record(s) settled more than 0 day(s) ago pruned"),
        "{}",
        text(&pruned.stdout)
    );
    let status = cj(
        &[
            &["commissions", "relay", "status"],
            &target[..],
            &["--output", "json"],
        ]
        .concat(),
        &[],
    );
    let stats: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert_eq!(stats["delivered"], 0);
    assert_eq!(
        stats["cursor"]["sinceCommissionId"], "105",
        "the cursor stays"
    );
    let out = relay(&cj_server.base_url(), &partner, &path, &["--once"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("delivered 0,"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(accepted.calls(), 5, "each record once, pruning or not");
}

#[test]
fn relay_once_ends_when_cj_never_says_the_payload_is_complete_and_delivers_what_it_read() {
    // Short pages, each with a new record and an advancing cursor, never complete.
    let cj_server = MockServer::start();
    let pages = cj_server.mock(|when, then| {
        when.method(POST).path("/query");
        then.respond_with(|req| {
            let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
            let since: u64 = body["variables"]["sinceCommissionId"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1000);
            let next = since + 1;
            let answer = json!({"data": {"publisherCommissions": {
                "count": 1, "limit": 10000, "payloadComplete": false,
                "maxCommissionId": next.to_string(), "records": [commission(next)]
            }}});
            httpmock::HttpMockResponse::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(answer.to_string())
                .build()
        });
    });
    let partner = MockServer::start();
    let accepted = partner.mock(|_, then| {
        then.status(200);
    });
    let out = relay(
        &cj_server.base_url(),
        &partner,
        &store("never-complete"),
        &["--once"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // Pages that do not add up: CJ could not be read completely (3), as `--help` says.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stdout.contains("read 100 page(s), 100 record(s) (100 new); delivered 100,"),
        "{stdout}"
    );
    assert!(
        stderr.contains("100 pages were read without the window completing"),
        "{stderr}"
    );
    assert_eq!(pages.calls(), 100, "no call after the bound");
    assert_eq!(accepted.calls(), 100, "what was read is delivered");
}
