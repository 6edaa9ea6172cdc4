//! The sandbox's memory under CJ's largest requests: a `createOrders` of 10,000 orders of 100
//! items each with every field selected, alone and several at once. These measure (peak
//! resident memory, from Linux's `/proc/self/status`), so they are ignored by default; run
//! each alone, so that the process's peak is the request's:
//!
//! ```text
//! cargo test -p cj-sandbox --test memory -- --ignored --nocapture --test-threads 1
//! ```
//!
//! The client shares the process: its request body is built before the baseline is read and
//! its answers are written to a file, so the figures are the sandbox's.

use std::io::Write;

use cj_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

const TOKEN: &str = "sandbox-test-token";

/// The bound a maximal request keeps the sandbox within, above what it had before it (MiB):
/// about its body (78 MiB) and its answer (101 MiB), in chunks. (Before the answer was
/// written as it is made: 1,434 MiB, and 1,255 MiB kept afterwards.)
const ONE_REQUEST_MIB: u64 = 256;

/// A client that waits for the sandbox however long its upload stalls: reqwest's default
/// TCP user timeout (30 s) fails a request whose body waits longer for the sandbox's budget.
fn http() -> reqwest::Client {
    cj_transport::tls::client_builder()
        .expect("a TLS setup")
        .tcp_user_timeout(None)
        .build()
        .expect("an HTTP client")
}

/// A line of `/proc/self/status`, in MiB (`VmHWM` the peak, `VmRSS` the current).
fn status_mib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("the field");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kib / 1024
}

/// Resets `VmHWM` to the current resident size (Linux 4.0+: "5" to `clear_refs`).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
}

/// The SDK's `CreateOrders` document (every field of `Order` selected), from `queries/`.
fn create_orders_document() -> String {
    let dir = format!("{}/../../queries/tracking", env!("CARGO_MANIFEST_DIR"));
    let operation = std::fs::read_to_string(format!("{dir}/create_orders.graphql")).expect("op");
    let fragments = std::fs::read_to_string(format!("{dir}/fragments.graphql")).expect("frags");
    // Every fragment of the file: `OrderCancellation`, `OrderReceipt` are unused, which
    // GraphQL refuses, so they are cut out.
    let used: Vec<&str> = fragments
        .split("\nfragment ")
        .skip(1)
        .filter(|f| !f.starts_with("OrderCancellation ") && !f.starts_with("OrderReceipt "))
        .collect();
    let mut document = operation;
    for f in used {
        document.push_str("\nfragment ");
        document.push_str(f.split("\n#").next().unwrap_or(f));
    }
    document
}

/// CJ's largest `createOrders`: 10,000 orders of 100 items, with every field of an order set.
/// Written as text: built as JSON values, it would cost the client a gigabyte first.
fn maximal_body(batch: usize) -> Vec<u8> {
    let items: Vec<String> = (0..100)
        .map(|i| {
            json!({"sku": format!("SKU-{i:03}-BLK-LG"), "unitPrice": "74.99", "quantity": 2,
                "discount": "0.50"})
            .to_string()
        })
        .collect();
    let items = items.join(",");
    let mut orders = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let mut order = json!({"enterpriseId": "1234567", "actionTrackerId": 123456,
            "orderId": format!("MAX-{batch}-{i:05}"), "adId": 12345, "promotionalPropertyId": 987654,
            "sid": "summer-campaign", "eventTime": "2024-01-15T18:08:36.089Z",
            "cjEvent": "7166ddf3b35b11eb834200a10a1eb972", "amount": "7449.00", "discount": "50.00",
            "verticalParameters": {"advertiserVertical": "Retail", "customerStatus": "New",
                "brand": "Acme", "category": "Shoes", "paymentMethod": "card"},
            "customParameters": [{"name": "mkt_channel", "value": "affiliate"}],
            "items": "ITEMS", "coupon": "SUMMER10", "currency": "USD",
            "bypassChannel": {"name": "email", "timestamp": "2024-01-15T18:00:00Z"},
            "ids": {"universalTagCjUser": "u-1", "userId": "user-1", "emailHash": "ab12cd34"}})
        .to_string();
        order = order.replace("\"ITEMS\"", &format!("[{items}]"));
        orders.push(order);
    }
    let query = serde_json::to_string(&create_orders_document()).expect("JSON");
    format!(
        "{{\"query\":{query},\"variables\":{{\"newOrders\":[{}]}}}}",
        orders.join(",")
    )
    .into_bytes()
}

/// Posts a body and writes the answer to a file as it arrives; the status and the file.
async fn post_to_file(url: &str, body: Vec<u8>) -> (u16, std::path::PathBuf) {
    let mut response = http()
        .post(url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status().as_u16();
    let path = std::env::temp_dir().join(format!(
        "cj-sandbox-memory-{}-{}.json",
        std::process::id(),
        rand_suffix()
    ));
    let mut file = std::fs::File::create(&path).expect("a file");
    while let Some(chunk) = response.chunk().await.expect("the answer") {
        file.write_all(&chunk).expect("written");
    }
    (status, path)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The answer in `path` echoes 10,000 orders of 100 items each, the last one named.
fn assert_maximal_answer(path: &std::path::Path, batch: usize) {
    let text = std::fs::read(path).expect("the answer");
    let _ = std::fs::remove_file(path);
    let answer: Value = serde_json::from_slice(&text).expect("JSON");
    assert!(answer["errors"].is_null(), "{}", answer["errors"]);
    let orders = answer["data"]["createOrders"]["orders"]
        .as_array()
        .expect("orders");
    assert_eq!(orders.len(), 10_000);
    let last = &orders[9_999];
    assert_eq!(last["orderId"], format!("MAX-{batch}-09999"));
    assert_eq!(last["items"].as_array().map(Vec::len), Some(100));
    assert_eq!(last["items"][99]["sku"], "SKU-099-BLK-LG");
    assert_eq!(last["verticalParameters"]["brand"], "Acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures memory; run alone (see the file's comment)"]
async fn a_maximal_create_orders_stays_within_its_bound() {
    let sandbox = Sandbox::start_with(SandboxConfig::new().accepted_tokens([TOKEN]))
        .await
        .expect("starts");
    let url = format!("{}/graphqltest", sandbox.tracking_url());
    let body = maximal_body(0);
    let body_mib = body.len() / (1024 * 1024);
    let before = status_mib("VmRSS:");
    reset_peak();
    let (status, path) = post_to_file(&url, body).await;
    let peak = status_mib("VmHWM:");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = status_mib("VmRSS:");
    let answer_mib = std::fs::metadata(&path).map_or(0, |m| m.len() / (1024 * 1024));
    eprintln!(
        "one maximal createOrders ({body_mib} MiB body, {answer_mib} MiB answer): RSS {before} MiB \
         before, peak {peak} MiB (+{}), {after} MiB after (+{})",
        peak.saturating_sub(before),
        after.saturating_sub(before)
    );
    assert_eq!(status, 200);
    assert_maximal_answer(&path, 0);
    assert!(
        peak.saturating_sub(before) < ONE_REQUEST_MIB,
        "peak {peak} MiB, {before} MiB before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures memory; run alone (see the file's comment)"]
async fn concurrent_maximal_create_orders_do_not_multiply_the_peak() {
    const AT_ONCE: usize = 4;
    // They take turns (the budget of bodies in flight holds one): in a debug build the last
    // one waits minutes.
    let config = SandboxConfig::new()
        .accepted_tokens([TOKEN])
        .request_timeout(std::time::Duration::from_secs(900));
    let sandbox = Sandbox::start_with(config).await.expect("starts");
    let url = format!("{}/graphqltest", sandbox.tracking_url());
    let bodies: Vec<Vec<u8>> = (0..AT_ONCE).map(maximal_body).collect();
    let before = status_mib("VmRSS:");
    reset_peak();
    let answers =
        futures_util::future::join_all(bodies.into_iter().map(|body| post_to_file(&url, body)))
            .await;
    let peak = status_mib("VmHWM:");
    eprintln!(
        "{AT_ONCE} maximal createOrders at once: RSS {before} MiB before, peak {peak} MiB (+{})",
        peak.saturating_sub(before)
    );
    for (batch, (status, path)) in answers.into_iter().enumerate() {
        assert_eq!(status, 200);
        assert_maximal_answer(&path, batch);
    }
    // The requests' bodies (the client's, freed as they are sent) are counted in `before`:
    // four requests at once cost about what one does (4 x 1,434 MiB before the budget).
    assert!(
        peak.saturating_sub(before) < ONE_REQUEST_MIB * 5 / 4,
        "peak {peak} MiB, {before} MiB before"
    );
}
