//! Program Terms through the facade, against a loopback mock: the query sent, parsed pages
//! (lenient where CJ is), paging to the end whatever the server does, and errors.

use cj::Error;
use cj::program_terms::{
    CommissionRateType, ContractPage, ContractStatus, ContractsError, LockingMethodType,
    PerformanceIncentiveThresholdType, StreamExt, TryStreamExt,
};
use cj_tests::{CANARY, fixture, past, program_terms_client};
use httpmock::HttpMockResponse;
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
        (list.count, list.total_count, list.contracts.len()),
        (3, 3, 3)
    );
    let acme = &list.contracts[0];
    let term = &acme.program_terms.action_terms[0];
    assert_eq!(term.locking_method.type_, LockingMethodType::FixedDuration);
    assert_eq!(
        term.commissions[1]
            .item_list
            .as_ref()
            .and_then(|l| l.name.as_deref()),
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
    let fjord = &list.contracts[1];
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
    let nordic = &list.contracts[2];
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
    assert!(list.contracts.is_empty());
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

/// A stream item with its failure as the transport's error: these answers have no unreadable
/// contract.
fn failed<T>(item: Result<T, ContractsError>) -> Result<T, Error> {
    item.map_err(|e| match e {
        ContractsError::Failed(e) => e,
        other => panic!("no contract is unreadable here: {other}"),
    })
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

/// Answers every request with `answer(offset)`: the contracts and `totalCount` of that page.
async fn serve_pages(
    server: &MockServer,
    answer: impl Fn(usize) -> (std::ops::Range<usize>, usize) + Send + Sync + 'static,
) -> httpmock::Mock<'_> {
    server
        .mock_async(move |when, then| {
            when.path("/query").body_includes(r#""limit":100"#);
            then.respond_with(move |req| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                let offset = body["variables"]["offset"].as_u64().unwrap_or(0);
                let (range, total) = answer(usize::try_from(offset).unwrap_or(usize::MAX));
                HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(page(range, total).to_string())
                    .build()
            });
        })
        .await
}

/// The advertiser ids the stream yields, and the error that ends it, if any (only the last
/// item may be an error).
async fn walk_to_the_end(server: &MockServer) -> (Vec<String>, Option<Error>) {
    let items = futures_collect(
        program_terms_client(&server.base_url())
            .program_terms()
            .contracts("7654321")
            .stream()
            .map(failed),
    )
    .await;
    let mut ids = Vec::new();
    let mut end = None;
    for item in items {
        assert!(end.is_none(), "an item after the error: {item:?}");
        match item {
            Ok(c) => ids.push(c.advertiser_id.to_string()),
            Err(e) => end = Some(e),
        }
    }
    (ids, end)
}

#[tokio::test]
async fn capped_pages_are_walked_to_total_count() {
    let server = MockServer::start_async().await;
    // The server returns at most 7 contracts whatever the limit.
    let mock = serve_pages(&server, |offset| (offset..(offset + 7).min(250), 250)).await;
    assert_eq!(walk(&server).await, ids(0..250));
    assert_eq!(mock.calls_async().await, 36);
}

#[tokio::test]
async fn a_total_that_changes_mid_walk_is_walked_to_its_latest_value() {
    // Grows from 250 to 260 on the second page.
    let server = MockServer::start_async().await;
    serve_pages(&server, |offset| match offset {
        0 => (0..100, 250),
        100 => (100..200, 260),
        _ => (200..260, 260),
    })
    .await;
    assert_eq!(walk(&server).await, ids(0..260));

    // A contract added at the front: the second page overlaps the first by one.
    let server = MockServer::start_async().await;
    let mock = serve_pages(&server, |offset| match offset {
        0 => (0..100, 300),
        100 => (99..199, 301),
        200 => (199..299, 301),
        _ => (299..301, 301),
    })
    .await;
    assert_eq!(walk(&server).await, ids(0..301), "each contract once");
    assert_eq!(mock.calls_async().await, 4);

    // Shrinks from 250 to 220 on the second page.
    let server = MockServer::start_async().await;
    serve_pages(&server, |offset| match offset {
        0 => (0..100, 250),
        100 => (100..200, 220),
        _ => (200..220, 220),
    })
    .await;
    assert_eq!(walk(&server).await, ids(0..220));
}

#[tokio::test]
async fn a_count_that_does_not_add_up_ends_the_stream_with_a_paging_error() {
    // An empty page before totalCount.
    let server = MockServer::start_async().await;
    let mock = serve_pages(&server, |offset| match offset {
        0 => (0..100, 500),
        100 => (100..140, 500),
        _ => (0..0, 500),
    })
    .await;
    let (read, end) = walk_to_the_end(&server).await;
    assert_eq!(read, ids(0..140));
    assert_eq!(mock.calls_async().await, 3);
    let Some(Error::Paging(message)) = end else {
        panic!("expected a paging error, got {end:?}");
    };
    assert_eq!(
        message,
        "read 140 distinct contract(s) but totalCount is 500 (the page at offset 140 was empty)"
    );

    // More contracts than a total that shrank below what was read.
    let server = MockServer::start_async().await;
    serve_pages(&server, |offset| match offset {
        0 => (0..100, 250),
        _ => (100..200, 150),
    })
    .await;
    let (read, end) = walk_to_the_end(&server).await;
    assert_eq!(read, ids(0..200));
    assert!(matches!(end, Some(Error::Paging(_))), "{end:?}");

    // No contract at all agrees with a total of 0.
    let server = MockServer::start_async().await;
    let mock = serve_pages(&server, |_| (0..0, 0)).await;
    let (read, end) = walk_to_the_end(&server).await;
    assert!(read.is_empty() && end.is_none(), "{end:?}");
    assert_eq!(mock.calls_async().await, 1);
}

#[tokio::test]
async fn a_server_ignoring_offset_cannot_loop_the_walk() {
    let server = MockServer::start_async().await;
    let mock = serve_pages(&server, |_| (0..100, 1_000_000)).await;
    let (read, end) = walk_to_the_end(&server).await;
    assert_eq!(read, ids(0..100));
    assert_eq!(mock.calls_async().await, 2);
    let Some(Error::Paging(message)) = end else {
        panic!("expected a paging error, got {end:?}");
    };
    assert!(
        message.ends_with("(the page at offset 100 held only contracts already read)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_server_inventing_contracts_forever_cannot_make_the_walk_endless() {
    // Every page new contracts, and a total that keeps ahead: the walk stops at its bound.
    let server = MockServer::start_async().await;
    let mock = serve_pages(&server, |offset| (offset..offset + 100, offset + 1_000_000)).await;
    let items = futures_collect(
        program_terms_client(&server.base_url())
            .program_terms()
            .contracts("7654321")
            .max_contracts(250)
            .stream()
            .map(failed),
    )
    .await;
    let (read, end): (Vec<_>, Vec<_>) = items.into_iter().partition(Result::is_ok);
    assert_eq!(read.len(), 250, "the bound, not one more");
    assert_eq!(mock.calls_async().await, 3);
    let [Err(Error::Paging(message))] = end.as_slice() else {
        panic!("expected one paging error at the end, got {end:?}");
    };
    assert!(message.contains("more than 250 contracts"), "{message}");
    assert_eq!(cj::program_terms::DEFAULT_MAX_CONTRACTS, 100_000);
}

/// The first page, from a server that answers `body`.
async fn one_page(body: Value) -> Result<ContractPage, Error> {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/query");
            then.status(200).json_body(body);
        })
        .await;
    program_terms_client(&server.base_url())
        .program_terms()
        .contracts("7654321")
        .page(100, 0)
        .await
}

#[tokio::test]
async fn longs_as_strings_and_times_without_a_zone_do_not_fail_the_page() {
    let mut odd = contract(2);
    odd["startTime"] = json!("2024-01-01T00:00:00");
    odd["endTime"] = json!("2024-12-31T23:59:59.5");
    odd["programTerms"]["actionTerms"] = json!([{
        "id": "at-2",
        "actionTracker": {"id": 42, "name": "Sale", "description": null, "type": "item_sale"},
        "lockingMethod": {"type": "FIXED_DURATION", "durationInDays": "14"},
        "referralPeriod": "30", "referralOccurrences": "-1",
        "commissions": [{
            "rank": "5", "isViewThrough": false, "situation": null, "itemList": null,
            "promotionalProperties": [],
            "rate": {"type": "PERCENT", "value": "7.5", "currency": null}
        }],
        "performanceIncentives": []
    }]);
    let list = one_page(json!({"data": {"publisher": {"contracts": {
        "count": "2", "totalCount": "+2", "resultList": [contract(1), odd]
    }}}}))
    .await
    .expect("the whole page");
    assert_eq!((list.count, list.total_count), (2, 2));
    let odd = &list.contracts[1];
    assert_eq!(
        odd.start_time.map(|t| t.to_string()).as_deref(),
        Some("2024-01-01T00:00:00Z"),
        "no zone is UTC"
    );
    assert_eq!(
        odd.end_time.map(|t| t.to_string()).as_deref(),
        Some("2024-12-31T23:59:59.5Z")
    );
    let term = &odd.program_terms.action_terms[0];
    assert_eq!(
        (
            term.referral_period,
            term.referral_occurrences,
            term.locking_method.duration_in_days,
            term.commissions[0].rank
        ),
        (30, Some(-1), Some(14), 5)
    );

    // What is neither is still refused, naming the field.
    let err = one_page(json!({"data": {"publisher": {"contracts": {
        "count": "two", "totalCount": 2, "resultList": []
    }}}}))
    .await
    .expect_err("not a Long");
    let Error::Decode { message, .. } = &err else {
        panic!("expected a decode error, got {err:?}");
    };
    assert!(
        message.contains("data.publisher.contracts.count"),
        "{message}"
    );
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
            .stream()
            .map(failed),
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
        let err = one_page(body.clone()).await.expect_err("refused");
        let Error::GraphQL { errors, .. } = &err else {
            panic!("expected GraphQL errors, got {err:?}");
        };
        assert_eq!(errors[0].message, body["errors"][0]["message"]);
    }
}
