//! The transport against loopback servers: redirects are never followed, answers are read up to
//! a limit, the secret is scrubbed from every answer, and tokens are checked before use.

use std::time::Duration;

use bytes::Bytes;
use cj_transport::{Credentials, Delivery, Error, Method, Request, RetryPolicy, Transport, Url};
use httpmock::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CANARY: &str = "CANARY-7f3a9c1e-token-must-not-leak";

fn transport(
    builder: impl FnOnce(cj_transport::TransportBuilder) -> cj_transport::TransportBuilder,
) -> Transport {
    builder(
        Transport::builder()
            .credentials(Credentials::token(CANARY))
            .timeout(Duration::from_secs(5))
            .retry(RetryPolicy::new(
                2,
                Duration::from_millis(1),
                Duration::from_millis(2),
            )),
    )
    .build()
    .expect("builds")
}

fn post(url: &str) -> Request {
    Request {
        method: Method::POST,
        url: Url::parse(url).expect("url"),
        content_type: Some("application/json"),
        accept: Some("application/json"),
        body: Bytes::from_static(br#"{"query":"mutation"}"#),
        api: "tracking",
        operation: "createOrders",
    }
}

#[tokio::test]
async fn redirects_are_errors_that_name_the_location_and_are_never_followed() {
    let elsewhere = MockServer::start_async().await;
    let stolen = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body(r#"{"data":{}}"#);
        })
        .await;
    for status in [301u16, 302, 303, 307, 308] {
        let server = MockServer::start_async().await;
        let target = elsewhere.url("/graphql");
        let mock = server
            .mock_async(|when, then| {
                when.path("/graphqltest");
                then.status(status).header("location", target.as_str());
            })
            .await;
        let err = transport(|b| b)
            .send(post(&server.url("/graphqltest")))
            .await
            .expect_err("a redirect is an error");
        assert!(
            matches!(&err, Error::Redirect { location: Some(l), .. } if *l == target),
            "{status}: {err:?}"
        );
        assert_eq!(err.delivery(), Delivery::NotProcessed);
        assert!(err.to_string().contains(&target), "{err}");
        assert!(err.to_string().contains("/graphqltest"), "{err}");
        mock.assert_calls_async(1).await; // not retried either
    }
    stolen.assert_calls_async(0).await;
}

#[tokio::test]
async fn an_answer_over_the_limit_is_refused_by_its_length() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body("x".repeat(10_000));
        })
        .await;
    let err = transport(|b| b.max_response_bytes(1024))
        .send(post(&server.url("/graphql")))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, Error::TooLarge { limit: 1024, .. }),
        "{err:?}"
    );
    assert_eq!(err.delivery(), Delivery::MaybeSent);
}

/// A server that answers with a body of `total` bytes and no length (read until the connection
/// closes), written in 64 KiB chunks; returns its base URL.
async fn endless_server(total: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'['; 64 * 1024];
                let mut sent = 0;
                while sent < total {
                    if socket.write_all(&chunk).await.is_err() {
                        return; // the client stopped reading
                    }
                    sent += chunk.len();
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn an_answer_without_a_length_is_read_only_up_to_the_limit() {
    // 1 GiB offered; the client must stop after 2 MiB, not buffer it all.
    let url = endless_server(1024 * 1024 * 1024).await;
    let err = transport(|b| b.max_response_bytes(2 * 1024 * 1024))
        .send(post(&format!("{url}/graphql")))
        .await
        .expect_err("too large");
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn the_secret_is_scrubbed_from_every_answer() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body(format!(
                r#"{{"data":{{"createOrders":{{"orders":[],"errors":[{{"message":"bad key {CANARY}","fields":["{CANARY}"]}}]}}}},"errors":[{{"message":"x","extensions":{{"token":"{CANARY}"}}}}]}}"#
            ));
        })
        .await;
    let response = transport(|b| b)
        .send(post(&server.url("/graphql")))
        .await
        .expect("answered");
    let text = String::from_utf8_lossy(&response.body);
    assert!(!text.contains(CANARY), "{text}");
    assert_eq!(text.matches("[REDACTED]").count(), 3, "{text}");
}

#[tokio::test]
async fn a_pasted_token_is_trimmed_and_an_empty_one_refused() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.header("authorization", format!("Bearer {CANARY}"));
            then.status(200).body("{}");
        })
        .await;
    let pasted = Transport::builder()
        .credentials(Credentials::token(format!("  {CANARY}\n")))
        .build()
        .expect("a pasted token is trimmed");
    pasted
        .send(post(&server.url("/graphql")))
        .await
        .expect("sent");
    mock.assert_async().await;

    for bad in ["", "  \n", "two words", "tab\tinside"] {
        let err = Transport::builder()
            .credentials(Credentials::token(bad))
            .build()
            .expect_err("refused");
        assert!(matches!(err, Error::Config(_)), "{bad:?}: {err:?}");
        assert!(err.to_string().contains("access token"), "{err}");
    }
    let err = Transport::builder()
        .credentials(Credentials::developer_key(""))
        .build()
        .expect_err("refused");
    assert!(err.to_string().contains("developer key is empty"), "{err}");
}

#[tokio::test]
async fn statuses_after_the_last_retry_say_whether_cj_may_have_processed_the_request() {
    let cases = [
        (429u16, Delivery::NotProcessed),
        (500, Delivery::MaybeSent),
        (503, Delivery::MaybeSent),
        (504, Delivery::MaybeSent),
        (400, Delivery::Answered),
        (404, Delivery::Answered),
    ];
    for (status, delivery) in cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.any_request();
                then.status(status).body("no");
            })
            .await;
        let t = transport(|b| b);
        let response = t
            .send(post(&server.url("/graphql")))
            .await
            .expect("answered");
        let err = response
            .error_for_status(t.redactor())
            .expect_err("an error status");
        assert_eq!(err.delivery(), delivery, "{status}");
        assert_eq!(err.is_refusal(), delivery == Delivery::Answered, "{status}");
        assert!(err.to_string().contains("/graphql"), "{err}");
    }
}

#[test]
fn the_error_chain_keeps_its_cause_without_repeating_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A port nothing listens on: bind, read the port, drop the listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let err = rt
        .block_on(
            transport(|b| b.retry(RetryPolicy::none()))
                .send(post(&format!("http://127.0.0.1:{port}/graphql"))),
        )
        .expect_err("refused connection");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    let top = err.to_string();
    let source = std::error::Error::source(&err)
        .expect("a cause")
        .to_string();
    assert!(!top.contains(&source), "{top} repeats {source}");
    assert!(top.contains(&format!("127.0.0.1:{port}")), "{top}");
}

#[test]
fn an_endpoint_joins_its_path_to_the_base_and_a_bad_base_names_the_api() {
    for base in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
        let url = cj_transport::endpoint(base, "/query", "Commission Detail").expect("joins");
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/query");
    }
    let err = cj_transport::endpoint("commissions.api.cj.com", "/query", "Commission Detail")
        .expect_err("no scheme");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("bad Commission Detail URL \"commissions.api.cj.com\""),
        "{err}"
    );
}
