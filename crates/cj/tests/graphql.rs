//! `Client::graphql`: a document of the user's own through the shared transport, against a
//! loopback mock: what is sent, what comes back, and that the token never does.

#![cfg(all(feature = "tracking", feature = "commissions"))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cj::{Delivery, Error, GraphQLApi, RetryPolicy};
use httpmock::prelude::*;
use serde_json::{Value, json};

const TOKEN: &str = "CANARY-3b8e51d0-token-must-not-leak";

fn client(server: &MockServer) -> cj::Client {
    cj::Client::builder()
        .token(TOKEN)
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::new(
            2,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .tracking_url(server.url("/tracking"))
        .commissions_url(server.url("/commissions"))
        .build()
        .expect("a client")
}

const DOCUMENT: &str =
    "query($ids: [String!]!) { publisherCommissions(forPublishers: $ids) { count } }";

#[tokio::test]
async fn the_document_and_variables_go_with_the_token_and_data_comes_back_typed() {
    let server = MockServer::start_async().await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path("/commissions/query")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .is_true(move |request| {
                    if let Ok(mut bodies) = seen.lock() {
                        bodies.push(request.body_string());
                    }
                    true
                });
            then.status(200)
                .body(r#"{"data": {"publisherCommissions": {"count": 3}}}"#);
        })
        .await;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Data {
        #[serde(rename = "publisherCommissions")]
        commissions: Count,
    }
    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Count {
        count: u32,
    }
    let data: Data = client(&server)
        .graphql(
            GraphQLApi::Commissions,
            DOCUMENT,
            json!({"ids": ["7654321"]}),
        )
        .await
        .expect("data");
    assert_eq!(data.commissions.count, 3);

    // Untyped, with no variables.
    let value: Value = client(&server)
        .graphql(GraphQLApi::Commissions, DOCUMENT, ())
        .await
        .expect("data");
    assert_eq!(value, json!({"publisherCommissions": {"count": 3}}));

    mock.assert_calls_async(2).await;
    let bodies = bodies.lock().expect("bodies").join("\n");
    insta::assert_snapshot!(bodies);
}

#[tokio::test]
async fn a_graphql_error_is_the_sdks_error_also_beside_data() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/tracking/graphqltest");
            then.status(200).body(
                r#"{"errors": [{"message": "Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined", "extensions": {"classification": "ValidationError"}}], "data": null}"#,
            );
        })
        .await;
    let error = client(&server)
        .graphql::<Value>(GraphQLApi::Tracking, "{ nope }", ())
        .await
        .expect_err("refused");
    let Error::GraphQL { errors, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        errors[0].message,
        "Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined"
    );
    assert_eq!(error.delivery(), Delivery::Answered);
    assert!(error.is_refusal());

    // Beside data, too: the caller asked for all of it.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/tracking/graphqltest");
            then.status(200)
                .body(r#"{"data": {"a": 1}, "errors": [{"message": "Unauthorized"}]}"#);
        })
        .await;
    let error = client(&server)
        .graphql::<Value>(GraphQLApi::Tracking, "{ a }", ())
        .await
        .expect_err("refused");
    assert!(matches!(&error, Error::GraphQL { errors, .. } if errors[0].message == "Unauthorized"));
}

#[tokio::test]
async fn data_of_another_shape_is_a_decode_error_naming_the_field() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/commissions/query");
            then.status(200)
                .body(r#"{"data": {"publisherCommissions": {"count": "three"}}}"#);
        })
        .await;
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "read, never used")]
    struct Data {
        #[serde(rename = "publisherCommissions")]
        commissions: Count,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "read, never used")]
    struct Count {
        count: u32,
    }
    let error = client(&server)
        .graphql::<Data>(GraphQLApi::Commissions, DOCUMENT, ())
        .await
        .expect_err("not a number");
    let Error::Decode { message, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.contains("data.publisherCommissions.count"),
        "{message}"
    );
    assert_eq!(error.delivery(), Delivery::MaybeSent);
}

#[tokio::test]
async fn a_token_the_server_echoes_is_redacted_from_every_error() {
    let echo = format!(
        r#"{{"errors": [{{"message": "Invalid Token {TOKEN}", "extensions": {{"token": "{TOKEN}", "header": "Bearer {TOKEN}"}}}}]}}"#
    );
    // As GraphQL errors on a 401, as an HTTP error body on a 403, and retried on a 503.
    for status in [401u16, 403, 503] {
        let server = MockServer::start_async().await;
        let body = if status == 403 {
            format!("Forbidden: Bearer {TOKEN}")
        } else {
            echo.clone()
        };
        let mock = server
            .mock_async(|when, then| {
                when.path("/commissions/query");
                then.status(status).body(body);
            })
            .await;
        let error = client(&server)
            .graphql::<Value>(GraphQLApi::Commissions, DOCUMENT, json!({"ids": ["1"]}))
            .await
            .expect_err("refused");
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        let text = format!("{error} {error:?}");
        assert!(!text.contains(TOKEN), "{status}: {text}");
        assert!(text.contains("[REDACTED]"), "{status}: {text}");
        // Retried on 503 as the typed calls are (the policy allows 2 retries).
        mock.assert_calls_async(if status == 503 { 3 } else { 1 })
            .await;
    }
}

#[tokio::test]
async fn tracking_documents_go_to_the_modes_endpoint() {
    let server = MockServer::start_async().await;
    let live = server
        .mock_async(|when, then| {
            when.method(POST).path("/tracking/graphql");
            then.status(200)
                .body(r#"{"data": {"__typename": "Query"}}"#);
        })
        .await;
    let client = cj::Client::builder()
        .token(TOKEN)
        .mode(cj::tracking::Mode::Live)
        .tracking_url(server.url("/tracking"))
        .build()
        .expect("a client");
    let value: Value = client
        .graphql(GraphQLApi::Tracking, "{ __typename }", ())
        .await
        .expect("data");
    assert_eq!(value["__typename"], "Query");
    live.assert_calls_async(1).await;
}
