//! Program Terms through the facade, against a loopback mock: the query sent, parsed pages,
//! paging to the end whatever the server does, and errors.

use cj::Error;
use cj::program_terms::{
    CommissionRateType, ContractStatus, LockingMethodType, PerformanceIncentiveThresholdType,
    TryStreamExt,
};
use cj_tests::{CANARY, fixture, past, program_terms_client};
use httpmock::prelude::*;
use serde_json::{Value, json};

fn contract(advertiser: usize) -> Value {
    json!({
        "advertiserId": advertiser.to_string(),
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": null,
        "status": "ACTIVE",
        "programTerms": {
            "id": format!("pt-{advertiser}"), "name": "Standard", "isDefault": true,
            "specialTerms": null,
            "actionTerms": []
        }
    })
}

fn page(range: std::ops::Range<usize>, total: usize) -> Value {
    let list: Vec<Value> = range.map(contract).collect();
    json!({"data": {"publisher": {"contracts": {
        "count": list.len(), "totalCount": total, "resultList": list
    }}}})
}

fn at(offset: usize) -> String {
    format!("\"offset\":{offset}}}")
}

/// Answers requests for `offset` with the contracts of `range` and `totalCount` `total`.
async fn serve_page(
    server: &MockServer,
    offset: usize,
    range: std::ops::Range<usize>,
    total: usize,
) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.body_includes(at(offset));
            then.status(200).json_body(page(range, total));
        })
        .await
}

#[tokio::test]
async fn a_page_sends_the_query_and_parses_every_kind_of_term() {
    let server = MockServer::start_async().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path("/query")
                .header("authorization", format!("Bearer {CANARY}"))
                .header("content-type", "application/json")
                .is_true(move |req| {
                    sink.lock().expect("lock").push(req.body_string());
                    true
                });
            then.status(200)
                .body(fixture("program_terms/contracts_page.json"));
        })
        .await;
    let client = program_terms_client(&server.base_url());
    let list = client
        .program_terms()
        .contracts("7654321")
        .advertiser("1234567")
        .active_after(past("2024-01-01T00:00:00Z"))
        .active_before(past("2024-12-31"))
        .page(50, 100)
        .await
        .expect("a page");
    mock.assert_async().await;

    let sent: Value =
        serde_json::from_str(&seen.lock().expect("lock")[0]).expect("the body is JSON");
    insta::assert_snapshot!(
        "contracts_request_body",
        serde_json::to_string_pretty(&sent).expect("json")
    );
    assert_eq!(sent["operationName"], "Contracts");
    let query = sent["query"].as_str().expect("query");
    assert!(query.contains(
        "contracts(publisherId: $publisherId, filters: $filters, limit: $limit, offset: $offset)"
    ));
    assert!(query.contains("fragment Commission on Commission"));

    assert_eq!(
        (list.count, list.total_count, list.result_list.len()),
        (3, 3, 3)
    );
    let acme = &list.result_list[0];
    let term = &acme.program_terms.action_terms[0];
    assert_eq!(term.locking_method.type_, LockingMethodType::FixedDuration);
    assert_eq!(
        term.commissions[1]
            .item_list
            .as_ref()
            .map(|l| l.name.as_str()),
        Some("Tents")
    );
    assert_eq!(
        term.commissions[2].rate.type_,
        CommissionRateType::FixedPerOrder
    );
    assert_eq!(
        term.performance_incentives[0].threshold.type_,
        PerformanceIncentiveThresholdType::SalesAmount
    );
    let fjord = &list.result_list[1];
    assert_eq!(
        fjord.advertiser_id.as_str(),
        "2345678",
        "a numeric ID is read"
    );
    assert_eq!(
        fjord.program_terms.action_terms[0].commissions[0]
            .rate
            .value
            .to_string(),
        "12.345678901234567891",
        "a JSON number survives exactly"
    );
    let nordic = &list.result_list[2];
    assert_eq!(
        nordic.status,
        ContractStatus::Unknown("PENDING_REVIEW".into())
    );
    assert_eq!(
        nordic.program_terms.action_terms[0].commissions[0]
            .rate
            .type_,
        CommissionRateType::Unknown("TIERED_PERCENT".into())
    );
    insta::assert_debug_snapshot!("contracts_page_parsed", list);
}

#[tokio::test]
async fn an_echoed_token_is_redacted_from_program_terms_errors() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401)
                .body(format!("Not Authenticated: {CANARY}"));
        })
        .await;
    let err = program_terms_client(&server.base_url())
        .program_terms()
        .contracts("7654321")
        .page(10, 0)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, Error::Http { status, .. } if status.as_u16() == 401),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(CANARY));
}

#[tokio::test]
async fn no_filter_sends_no_filters() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.path("/query").is_true(|req| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                body["variables"] == json!({"publisherId": "7654321", "limit": 100, "offset": 0})
            });
            then.status(200).json_body(page(0..0, 0));
        })
        .await;
    let list = program_terms_client(&server.base_url())
        .program_terms()
        .contracts("7654321")
        .page(100, 0)
        .await
        .expect("a page");
    mock.assert_async().await;
    assert!(list.result_list.is_empty());
}

#[tokio::test]
async fn a_limit_out_of_range_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200);
        })
        .await;
    let contracts = program_terms_client(&server.base_url())
        .program_terms()
        .contracts("1");
    for limit in [0, 101] {
        let err = contracts.page(limit, 0).await.expect_err("refused");
        assert!(
            matches!(&err, Error::Invalid(i) if i.problems[0].field == "limit"),
            "{err:?}"
        );
    }
    assert_eq!(mock.calls_async().await, 0);
}

async fn walk(server: &MockServer) -> Vec<String> {
    let contracts: Vec<_> = program_terms_client(&server.base_url())
        .program_terms()
        .contracts("7654321")
        .stream()
        .try_collect()
        .await
        .expect("every page");
    contracts
        .into_iter()
        .map(|c| c.advertiser_id.to_string())
        .collect()
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn the_stream_walks_every_page_to_total_count() {
    let server = MockServer::start_async().await;
    let mut mocks = Vec::new();
    for (offset, range) in [(0, 0..100), (100, 100..200), (200, 200..250)] {
        mocks.push(
            server
                .mock_async(|when, then| {
                    when.path("/query")
                        .body_includes(r#""limit":100"#)
                        .body_includes(at(offset));
                    then.status(200).json_body(page(range, 250));
                })
                .await,
        );
    }
    assert_eq!(walk(&server).await, ids(0..250));
    for m in mocks {
        assert_eq!(m.calls_async().await, 1);
    }
}

#[tokio::test]
async fn the_stream_stops_at_total_count_without_asking_for_an_empty_page() {
    let server = MockServer::start_async().await;
    let first = serve_page(&server, 0, 0..100, 200).await;
    let second = serve_page(&server, 100, 100..200, 200).await;
    let third = serve_page(&server, 200, 0..0, 200).await;
    assert_eq!(walk(&server).await, ids(0..200));
    assert_eq!(
        (first.calls_async().await, second.calls_async().await),
        (1, 1)
    );
    assert_eq!(third.calls_async().await, 0);
}

#[tokio::test]
async fn the_stream_ends_on_a_short_or_empty_page() {
    let server = MockServer::start_async().await;
    serve_page(&server, 0, 0..100, 500).await;
    serve_page(&server, 100, 100..140, 500).await;
    let beyond = serve_page(&server, 140, 0..0, 500).await;
    assert_eq!(walk(&server).await, ids(0..140));
    assert_eq!(beyond.calls_async().await, 0);

    let empty = MockServer::start_async().await;
    let only = empty
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(page(0..0, 0));
        })
        .await;
    assert!(walk(&empty).await.is_empty());
    assert_eq!(only.calls_async().await, 1);
}

#[tokio::test]
async fn a_changed_total_ends_the_walk_without_repeating_a_contract() {
    let server = MockServer::start_async().await;
    serve_page(&server, 0, 0..100, 300).await;
    // A contract was added at the front: the second page overlaps the first by one.
    serve_page(&server, 100, 99..199, 301).await;
    let third = serve_page(&server, 200, 199..299, 301).await;
    assert_eq!(walk(&server).await, ids(0..199));
    assert_eq!(third.calls_async().await, 0);
}

#[tokio::test]
async fn a_server_ignoring_offset_cannot_loop_the_walk() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(page(0..100, 1_000_000));
        })
        .await;
    assert_eq!(walk(&server).await, ids(0..100));
    assert_eq!(mock.calls_async().await, 2);
}

#[tokio::test]
async fn an_error_mid_walk_is_yielded_after_the_contracts_before_it() {
    let server = MockServer::start_async().await;
    serve_page(&server, 0, 0..100, 300).await;
    server
        .mock_async(|when, then| {
            when.body_includes(at(100));
            then.status(200)
                .json_body(json!({"data": null, "errors": [{"message": "Unauthorized"}]}));
        })
        .await;
    let items: Vec<Result<_, Error>> = futures_collect(
        program_terms_client(&server.base_url())
            .program_terms()
            .contracts("7654321")
            .stream(),
    )
    .await;
    assert_eq!(items.len(), 101);
    assert!(items[..100].iter().all(Result::is_ok));
    assert!(
        matches!(&items[100], Err(Error::GraphQL { errors, .. }) if errors[0].message == "Unauthorized")
    );
}

async fn futures_collect<S: cj::program_terms::Stream>(stream: S) -> Vec<S::Item> {
    use cj::program_terms::StreamExt;
    stream.collect().await
}

#[tokio::test]
async fn graphql_errors_with_or_without_partial_data_are_errors() {
    for body in [
        json!({"data": null, "errors": [{"message": "Not authorized for publisher 7654321"}]}),
        json!({
            "data": {"publisher": {"contracts": {"count": 1, "totalCount": 2, "resultList": [contract(1)]}}},
            "errors": [{"message": "Could not load contract 2", "path": ["publisher", "contracts", "resultList", 1]}]
        }),
    ] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.any_request();
                then.status(200).json_body(body.clone());
            })
            .await;
        let err = program_terms_client(&server.base_url())
            .program_terms()
            .contracts("7654321")
            .page(10, 0)
            .await
            .expect_err("refused");
        let Error::GraphQL { errors, .. } = &err else {
            panic!("expected GraphQL errors, got {err:?}");
        };
        assert_eq!(errors[0].message, body["errors"][0]["message"]);
    }
}
