//! Shared helpers for the end-to-end tests: a canary token, clients pointed at loopback, sample
//! orders, a scripted HTTP server and a log capture. Nothing here reaches the network.

/// The README's Rust snippets, as doc-tests (`cargo test -p cj-tests --doc`): each builds with
/// the dependency lines the README gives it, and those that need CJ itself are `no_run`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeSnippets;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cj::tracking::{
    Mode, NameValuePairInput, OrderCancelRequest, OrderCreateRequest, OrderItemInput,
    OrderRestateRequest, VerticalParametersInput, VerticalType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A token that must never show up in any output.
pub const CANARY: &str = "CANARY-7f3a9c1e-token-must-not-leak";

/// A client with the canary token, fast retries and a short timeout, sending to `base_url`.
pub fn client(base_url: &str, mode: Mode) -> cj::Client {
    client_with(
        base_url,
        mode,
        cj::RetryPolicy::new(2, Duration::from_millis(1), Duration::from_millis(5)),
    )
}

/// As [`client`], with a retry policy of the test's choosing.
pub fn client_with(base_url: &str, mode: Mode, retry: cj::RetryPolicy) -> cj::Client {
    cj::Client::builder()
        .token(CANARY)
        .mode(mode)
        .tracking_url(base_url)
        .timeout(Duration::from_millis(1500))
        .retry(retry)
        .build()
        .expect("the client builds")
}

/// As [`client`], with a 60 s timeout: for submissions of 10,000 orders and more, whose
/// bodies a loaded machine's mock server may take seconds to read.
pub fn patient_client(base_url: &str, mode: Mode) -> cj::Client {
    cj::Client::builder()
        .token(CANARY)
        .mode(mode)
        .tracking_url(base_url)
        .timeout(Duration::from_secs(60))
        .retry(cj::RetryPolicy::none())
        .build()
        .expect("the client builds")
}

/// A fixed time in the past, so that request bodies are the same on every run.
pub fn past(text: &str) -> cj::tracking::Instant {
    text.parse().expect("a valid time")
}

/// A complete new order: attribution, amounts, two items, vertical and custom parameters.
pub fn sample_create(order_id: &str) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(order_id)
        .event_time(past("2024-01-15T18:08:36.089Z"))
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .currency("USD")
        .amount("149.98".parse().expect("decimal"))
        .discount("0.00".parse().expect("decimal"))
        .coupon("SUMMER10")
        .items(vec![
            OrderItemInput::builder()
                .sku("SKU-BLK-LG")
                .unit_price("74.99".parse().expect("decimal"))
                .quantity(2)
                .discount("0.00".parse().expect("decimal"))
                .build(),
            OrderItemInput::builder()
                .sku("SKU-GIFT_WRAP")
                .unit_price("0".parse().expect("decimal"))
                .quantity(1)
                .build(),
        ])
        .vertical_parameters(
            VerticalParametersInput::builder()
                .advertiser_vertical(VerticalType::Retail)
                .customer_status("New")
                .build(),
        )
        .custom_parameters(vec![
            NameValuePairInput::builder()
                .name("mkt_channel")
                .value("affiliate")
                .build(),
        ])
        .build()
}

/// A restatement of [`sample_create`]'s order to a new total, accepting it.
pub fn sample_restate(order_id: &str) -> OrderRestateRequest {
    OrderRestateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(order_id)
        .update_time(past("2024-01-20T09:00:00Z"))
        .amount("74.99".parse().expect("decimal"))
        .discount("0.00".parse().expect("decimal"))
        .currency("USD")
        .items(vec![
            OrderItemInput::builder()
                .sku("SKU-BLK-LG")
                .unit_price("74.99".parse().expect("decimal"))
                .quantity(1)
                .build(),
        ])
        .status(cj::tracking::OrderStatus::Accepted)
        .correction_reason(cj::tracking::CorrectionReason::ReturnedMerchandise)
        .build()
}

/// A cancellation of [`sample_create`]'s order.
pub fn sample_cancel(order_id: &str) -> OrderCancelRequest {
    OrderCancelRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(order_id)
        .update_time(past("2024-01-21T10:30:00Z"))
        .correction_reason(cj::tracking::CorrectionReason::BookingCanceled)
        .status(cj::tracking::OrderCancellationStatus::Declined)
        .build()
}

/// What a scripted server does with one connection.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with this status and JSON body.
    Json(u16, String),
    /// Read the request, then close the connection without answering.
    Hangup,
}

/// A loopback HTTP server that answers each connection with the next scripted reply (the last
/// one repeats), and keeps every request body it read.
pub struct ScriptedServer {
    /// Base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl ScriptedServer {
    /// Starts serving `replies` on a free loopback port.
    pub async fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut socket, _)) = listener.accept().await {
                let reply = replies[n.min(replies.len() - 1)].clone();
                n += 1;
                let body = read_request(&mut socket).await;
                seen.lock().expect("lock").push(body);
                if let Reply::Json(status, body) = reply {
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(body.as_bytes()).await;
                }
                let _ = socket.shutdown().await;
            }
        });
        ScriptedServer { url, bodies }
    }

    /// The bodies of the requests received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("lock").clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let Ok(n) = socket.read(&mut chunk).await else {
            return String::new();
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if buf.len() >= end + 4 + length {
                return String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
            }
        }
    }
    String::new()
}

/// Everything logged at any level while `f` runs, as text.
pub async fn capture_logs<F: std::future::Future>(f: F) -> (F::Output, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    let text = String::from_utf8_lossy(&buffer.0.lock().expect("lock")).into_owned();
    (out, text)
}

/// A client with the canary token and fast retries, reading Program Terms from `base_url`.
pub fn program_terms_client(base_url: &str) -> cj::Client {
    cj::Client::builder()
        .token(CANARY)
        .program_terms_url(base_url)
        .timeout(Duration::from_millis(1500))
        .retry(cj::RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(5),
        ))
        .build()
        .expect("the client builds")
}

/// A fixture file of `tests/fixtures/`.
pub fn fixture(path: &str) -> String {
    let full = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}
