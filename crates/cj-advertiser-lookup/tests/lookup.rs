//! Advertiser Lookup against fixtures and a loopback mock: every response shape, the query as
//! sent, errors, paging.

use std::time::Duration;

use cj_advertiser_lookup::{
    AccountStatus, AdvertiserIds, AdvertiserLookup, Keywords, LookupQuery, RateLevel, RateValue,
    RelationshipStatus, parse_page,
};
use cj_transport::{Credentials, Error, RetryPolicy, Transport};
use futures_util::TryStreamExt;
use httpmock::prelude::*;
use rust_decimal::Decimal;

const TOKEN: &str = "CANARY-lookup-9b2e-never-shown";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn lookup(base: &str, credentials: Credentials) -> AdvertiserLookup {
    let transport = Transport::builder()
        .credentials(credentials)
        .timeout(Duration::from_secs(2))
        .retry(RetryPolicy::new(
            1,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ))
        .build()
        .expect("transport");
    AdvertiserLookup::new(transport, base).expect("client")
}

fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

#[test]
fn the_documentation_sample_parses_with_its_bare_ampersand() {
    let page = parse_page(&fixture("doc_sample.xml")).expect("CJ's own sample is read");
    assert_eq!(
        (page.total_matched, page.records_returned, page.page_number),
        (1, 1, 1)
    );
    let a = &page.advertisers[0];
    assert_eq!(
        a.primary_category
            .as_ref()
            .and_then(|c| c.parent.as_deref()),
        Some("Home & Garden")
    );
    insta::assert_json_snapshot!("doc_sample_json", page);
}

#[test]
fn every_field_of_many_advertisers() {
    let page = parse_page(&fixture("many.xml")).expect("parses");
    assert_eq!(
        (page.total_matched, page.records_returned, page.page_number),
        (596, 3, 2)
    );
    let [fjord, nordic, mystery] = &page.advertisers[..] else {
        panic!("three advertisers");
    };
    assert_eq!(fjord.account_status, Some(AccountStatus::Deactive));
    assert_eq!(fjord.relationship_status, Some(RelationshipStatus::Joined));
    assert_eq!(fjord.seven_day_epc, Some(d("12.33")));
    assert_eq!(fjord.mobile_tracking_certified, Some(true));
    assert_eq!(fjord.mobile_supported, None);
    let lead = fjord.actions[0]
        .commission
        .as_ref()
        .and_then(|c| c.default.as_ref())
        .expect("rate");
    assert_eq!(
        lead.value,
        RateValue::Fixed {
            currency: "GBP".into(),
            amount: d("50.00")
        }
    );
    assert_eq!(lead.level, Some(RateLevel::OrderLevel));
    let sale = fjord.actions[1].commission.as_ref().expect("commission");
    assert_eq!(sale.item_lists[0].id, "37514");
    assert_eq!(
        sale.item_lists[0].rate.value,
        RateValue::Percent(d("25.00"))
    );
    assert_eq!(nordic.seven_day_epc, None, "N/A is not a number");
    assert_eq!(
        nordic.account_status, None,
        "absent for a not-joined advertiser"
    );
    assert_eq!(
        nordic.relationship_status,
        Some(RelationshipStatus::NotJoined)
    );
    assert!(nordic.link_types.is_empty());
    assert_eq!(
        mystery.account_status,
        Some(AccountStatus::Unknown("Suspended".into()))
    );
    assert_eq!(
        mystery.relationship_status,
        Some(RelationshipStatus::Unknown("pending".into()))
    );
    let raw = mystery.actions[0]
        .commission
        .as_ref()
        .and_then(|c| c.default.as_ref())
        .expect("rate");
    assert_eq!(
        (&raw.value, raw.raw.as_str()),
        (&RateValue::Unrecognized, "see program terms")
    );
    insta::assert_debug_snapshot!("many_parsed", page);
}

#[test]
fn one_or_zero_advertisers_parse() {
    let one = parse_page(&fixture("minimal_one.xml")).expect("one");
    assert_eq!(one.advertisers.len(), 1);
    let a = &one.advertisers[0];
    assert_eq!(a.advertiser_id, "1234567");
    assert!(a.advertiser_name.is_none() && a.actions.is_empty() && a.primary_category.is_none());
    for name in ["zero.xml", "zero_self_closing.xml"] {
        let zero = parse_page(&fixture(name)).expect(name);
        assert!(zero.advertisers.is_empty(), "{name}");
        assert_eq!(zero.total_matched, 0);
    }
}

#[test]
fn malformed_xml_says_where() {
    let err = parse_page(&fixture("malformed.xml")).expect_err("malformed");
    assert!(err.message.contains("line 5, column"), "{}", err.message);
    let err = parse_page("<cj-api><advertisers>").expect_err("truncated");
    assert!(!err.message.is_empty());
    let err = parse_page("").expect_err("empty");
    assert!(!err.message.is_empty());
    let err = parse_page("<other/>").expect_err("not CJ");
    assert!(err.message.contains("advertisers"), "{}", err.message);
}

#[test]
fn keywords_and_names_are_encoded_as_cj_documents() {
    let l = lookup("http://127.0.0.1:9", Credentials::token(TOKEN));
    let q = LookupQuery::new("4567")
        .advertiser_ids(AdvertiserIds::Cids(vec!["111".into(), "222".into()]))
        .advertiser_name("Acme Outdoor")
        .keywords(
            Keywords::new()
                .required("kitchen")
                .excluded("sink")
                .term("tap+water"),
        )
        .mobile_tracking_certified(true)
        .page_number(2)
        .records_per_page(100);
    assert_eq!(
        l.url(&q).as_str(),
        "http://127.0.0.1:9/v2/advertiser-lookup?requestor-cid=4567&advertiser-ids=111%2C222\
         &advertiser-name=Acme+Outdoor&keywords=%2Bkitchen+-sink+tap%2Bwater\
         &mobile-tracking-certified=true&page-number=2&records-per-page=100"
    );
    assert_eq!(
        Keywords::parse("  +kitchen   -sink ").as_query_text(),
        "+kitchen -sink"
    );
    assert_eq!(
        Keywords::new().required("two words").as_query_text(),
        "+two +words"
    );
}

#[tokio::test]
async fn a_page_is_fetched_with_the_token_and_parsed() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/advertiser-lookup")
                .query_param("requestor-cid", "4567")
                .query_param("advertiser-ids", "joined")
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("accept", "application/xml");
            then.status(200)
                .header("content-type", "application/xml")
                .body(fixture("doc_sample.xml"));
        })
        .await;
    let page = lookup(&server.base_url(), Credentials::token(TOKEN))
        .page(&LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
        .await
        .expect("a page");
    mock.assert_async().await;
    assert_eq!(
        page.advertisers[0].advertiser_name.as_deref(),
        Some("Sample Advertiser")
    );
}

#[tokio::test]
async fn a_developer_key_is_sent_bare_and_may_omit_the_requestor() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.header("authorization", "legacy-dev-key")
                .query_param("advertiser-name", "Sample Advertiser");
            then.status(200).body(fixture("doc_sample.xml"));
        })
        .await;
    let q = LookupQuery::without_requestor().advertiser_name("Sample Advertiser");
    lookup(
        &server.base_url(),
        Credentials::developer_key("legacy-dev-key"),
    )
    .page(&q)
    .await
    .expect("a page");
    mock.assert_async().await;
}

#[tokio::test]
async fn queries_cj_would_refuse_or_answer_empty_are_not_sent() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200);
        })
        .await;
    let l = lookup(&server.base_url(), Credentials::token(TOKEN));
    let cases = [
        (LookupQuery::new("4567"), "advertiser-ids"),
        (
            LookupQuery::without_requestor().advertiser_ids(AdvertiserIds::Joined),
            "requestor-cid",
        ),
        (
            LookupQuery::new("4567").keywords(Keywords::new()),
            "advertiser-ids",
        ),
        (
            LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Cids(vec!["12a".into()])),
            "advertiser-ids",
        ),
        (
            LookupQuery::new("4567")
                .advertiser_ids(AdvertiserIds::Joined)
                .records_per_page(101),
            "records-per-page",
        ),
        (
            LookupQuery::new("4567")
                .advertiser_ids(AdvertiserIds::Joined)
                .page_number(0),
            "page-number",
        ),
    ];
    for (query, field) in cases {
        let err = l.page(&query).await.expect_err("refused");
        let Error::Invalid(invalid) = &err else {
            panic!("expected invalid input, got {err:?}");
        };
        assert_eq!(invalid.problems[0].field, field, "{query:?}");
    }
    assert_eq!(mock.calls_async().await, 0);
}

#[tokio::test]
async fn cj_error_envelopes_and_401s_are_typed_and_redacted() {
    let cases = [
        (
            400,
            fixture("error_requestor.xml"),
            "You must specify the company making this request using the 'requestor-cid' parameter.",
        ),
        (
            401,
            format!("<cj-api><error-message>Not Authenticated: {TOKEN}</error-message></cj-api>"),
            "Not Authenticated: [REDACTED]",
        ),
        (
            401,
            String::new(),
            "HTTP 401 with an empty body: the URL is wrong",
        ),
    ];
    for (status, body, expected) in cases {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.any_request();
                then.status(status).body(body.clone());
            })
            .await;
        let err = lookup(&server.base_url(), Credentials::token(TOKEN))
            .page(&LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
            .await
            .expect_err("refused");
        match &err {
            Error::Api { status: s, message } => {
                assert_eq!(s.as_u16(), status);
                assert!(message.starts_with(expected), "{message}");
            }
            other => panic!("expected a CJ error, got {other:?}"),
        }
        assert!(!format!("{err} {err:?}").contains(TOKEN));
    }
}

#[tokio::test]
async fn a_malformed_answer_is_a_decode_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body(fixture("malformed.xml"));
        })
        .await;
    let err = lookup(&server.base_url(), Credentials::token(TOKEN))
        .page(&LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
        .await
        .expect_err("malformed");
    assert!(
        matches!(&err, Error::Decode { message, .. } if message.contains("line 5")),
        "{err:?}"
    );
}

fn page_xml(ids: std::ops::Range<u32>, total: u32, page: u32) -> String {
    let returned = ids.len();
    let advertisers: String = ids
        .map(|i| format!("<advertiser><advertiser-id>{i}</advertiser-id></advertiser>"))
        .collect();
    format!(
        "<cj-api><advertisers total-matched=\"{total}\" records-returned=\"{returned}\" \
         page-number=\"{page}\">{advertisers}</advertisers></cj-api>"
    )
}

#[tokio::test]
async fn the_stream_walks_every_page() {
    let server = MockServer::start_async().await;
    let mut mocks = Vec::new();
    for (page, ids) in [(1, 0..100), (2, 100..200), (3, 200..220)] {
        mocks.push(
            server
                .mock_async(|when, then| {
                    when.query_param("page-number", page.to_string())
                        .query_param("records-per-page", "100");
                    then.status(200).body(page_xml(ids, 220, page));
                })
                .await,
        );
    }
    let ids: Vec<String> = lookup(&server.base_url(), Credentials::token(TOKEN))
        .stream(LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
        .map_ok(|a| a.advertiser_id)
        .try_collect()
        .await
        .expect("every page");
    assert_eq!(ids, (0..220).map(|i| i.to_string()).collect::<Vec<_>>());
    for m in mocks {
        assert_eq!(m.calls_async().await, 1);
    }
}

#[tokio::test]
async fn the_stream_stops_at_total_matched_or_an_empty_page() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.query_param("page-number", "1");
            then.status(200).body(page_xml(0..10, 20, 1));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.query_param("page-number", "2");
            then.status(200).body(page_xml(10..20, 20, 2));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.query_param("page-number", "3");
            then.status(200).body(page_xml(0..0, 20, 3));
        })
        .await;
    let ids: Vec<_> = lookup(&server.base_url(), Credentials::token(TOKEN))
        .stream(
            LookupQuery::new("4567")
                .advertiser_ids(AdvertiserIds::Joined)
                .records_per_page(10),
        )
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(ids.len(), 20);
    assert_eq!(third.calls_async().await, 0);
}
