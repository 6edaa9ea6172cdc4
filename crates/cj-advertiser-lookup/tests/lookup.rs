//! Advertiser Lookup against fixtures and a loopback mock: every response shape, the query as
//! sent, errors, paging.

use std::time::Duration;

use cj_advertiser_lookup::{
    AccountStatus, AdvertiserIds, AdvertiserLookup, Keywords, LookupQuery, Rate, RateLevel,
    RateValue, RelationshipStatus, Reported, parse_page,
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
    let page = parse_page(fixture("doc_sample.xml")).expect("CJ's own sample is read");
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
    let page = parse_page(fixture("many.xml")).expect("parses");
    assert_eq!(
        (page.total_matched, page.records_returned, page.page_number),
        (596, 3, 2)
    );
    let [fjord, nordic, mystery] = &page.advertisers[..] else {
        panic!("three advertisers");
    };
    assert_eq!(fjord.account_status, Some(AccountStatus::Deactive));
    assert_eq!(fjord.relationship_status, Some(RelationshipStatus::Joined));
    assert_eq!(fjord.seven_day_epc, Some(Reported::Value(d("12.33"))));
    assert_eq!(fjord.mobile_tracking_certified, Some(Reported::Value(true)));
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
    assert_eq!(
        nordic.seven_day_epc,
        Some(Reported::NotAvailable),
        "N/A is kept"
    );
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
    let one = parse_page(fixture("minimal_one.xml")).expect("one");
    assert_eq!(one.advertisers.len(), 1);
    let a = &one.advertisers[0];
    assert_eq!(a.advertiser_id, "1234567");
    assert!(a.advertiser_name.is_none() && a.actions.is_empty() && a.primary_category.is_none());
    for name in ["zero.xml", "zero_self_closing.xml"] {
        let zero = parse_page(fixture(name)).expect(name);
        assert!(zero.advertisers.is_empty(), "{name}");
        assert_eq!(zero.total_matched, 0);
    }
}

#[test]
fn malformed_xml_says_where() {
    let err = parse_page(fixture("malformed.xml")).expect_err("malformed");
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
async fn a_wrong_url_is_named_and_not_blamed_on_cj() {
    // Another server's 404, with or without a body: the URL requested, a hint at the base URL.
    for body in ["", "<html><body>Not Found</body></html>"] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.any_request();
                then.status(404).body(body);
            })
            .await;
        let err = lookup(&server.base_url(), Credentials::token(TOKEN))
            .page(&LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
            .await
            .expect_err("not found");
        assert!(matches!(err, Error::Http { .. }), "{body:?}: {err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&server.url("/v2/advertiser-lookup")),
            "{body:?}: {text}"
        );
        assert!(text.contains("is the base URL right?"), "{body:?}: {text}");
        assert!(!text.ends_with(": "), "{body:?}: {text:?}");
    }
    // CJ's own answer to a path it does not know: an empty 401, which names the URL too.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.any_request();
            then.status(401).body("");
        })
        .await;
    let err = lookup(&server.base_url(), Credentials::token(TOKEN))
        .page(&LookupQuery::new("4567").advertiser_ids(AdvertiserIds::Joined))
        .await
        .expect_err("unknown path");
    let text = err.to_string();
    assert!(
        text.contains(&server.url("/v2/advertiser-lookup")),
        "{text}"
    );
    assert!(text.contains("the URL is wrong"), "{text}");
    assert!(!text.contains(TOKEN));
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

fn page_with(advertiser: &str) -> String {
    format!(
        "<cj-api><advertisers total-matched=\"1\" records-returned=\"1\" page-number=\"1\">\
         <advertiser><advertiser-id>1</advertiser-id>{advertiser}</advertiser></advertisers></cj-api>"
    )
}

fn name_of(xml: &str) -> Option<String> {
    let page = parse_page(xml).expect("parses");
    page.advertisers[0].advertiser_name.clone()
}

#[test]
fn cdata_reads_exactly_and_bare_ampersands_around_it_are_literal() {
    for (cdata, expected) in [
        ("<![CDATA[Smith & Sons]]>", "Smith & Sons"),
        ("<![CDATA[a < b > c]]>", "a < b > c"),
        ("<![CDATA[&amp; is not decoded]]>", "&amp; is not decoded"),
        ("<![CDATA[a]]b]]>", "a]]b"),
        ("<![CDATA[x]]]]><![CDATA[>y]]>", "x]]>y"),
        ("<![CDATA[]]>", ""),
        (
            "Bits & <![CDATA[Bobs & Co]]> & more",
            "Bits & Bobs & Co & more",
        ),
        ("A <!-- & --> B &#38; C", "A  B & C"),
    ] {
        let xml = page_with(&format!("<advertiser-name>{cdata}</advertiser-name>"));
        assert_eq!(name_of(&xml).as_deref(), Some(expected), "{cdata}");
    }
    let err = parse_page(page_with("<advertiser-name><![CDATA[never & closed")).expect_err("open");
    assert!(err.message.contains("malformed XML"), "{}", err.message);
}

#[test]
fn odd_values_of_real_accounts_keep_their_information() {
    let page = parse_page(fixture("odd_values.xml")).expect("parses");
    let [new, old, mystery] = &page.advertisers[..] else {
        panic!("three advertisers");
    };
    assert_eq!(new.account_status, Some(AccountStatus::Active), "ACTIVE");
    assert_eq!(
        old.account_status,
        Some(AccountStatus::Deactive),
        "deactive"
    );
    assert_eq!(mystery.account_status, None, "left out");

    assert_eq!(new.seven_day_epc, Some(Reported::New));
    assert_eq!(new.three_month_epc, Some(Reported::NotAvailable));
    assert_eq!(new.network_rank, Some(Reported::New));
    assert_eq!(old.seven_day_epc, Some(Reported::Value(d("15.92"))));
    assert_eq!(
        old.three_month_epc,
        Some(Reported::Other(String::new())),
        "empty"
    );
    assert_eq!(old.network_rank, Some(Reported::Value(3)));
    assert_eq!(
        (&mystery.seven_day_epc, &mystery.network_rank),
        (&None, &None),
        "left out"
    );

    assert_eq!(new.mobile_supported, Some(Reported::NotAvailable));
    assert_eq!(new.mobile_tracking_certified, Some(Reported::Value(true)));
    assert_eq!(
        new.cookieless_tracking_enabled,
        Some(Reported::Other(String::new()))
    );
    assert_eq!(new.performance_incentives, Some(Reported::Value(false)));
    assert_eq!(mystery.mobile_supported, None);

    assert_eq!(new.language.as_deref(), Some(""), "empty, not left out");
    assert_eq!(mystery.language, None);
    assert_eq!(
        new.advertiser_name.as_deref(),
        Some("Smith & Sons <Outfitters>")
    );
    let category = new.primary_category.as_ref().expect("category");
    assert_eq!(category.parent.as_deref(), Some(""));
    assert_eq!(category.child.as_deref(), Some("Sports & Fitness"));

    let defaults: Vec<String> = new
        .actions
        .iter()
        .map(|a| {
            let c = a.commission.as_ref().expect("commission");
            c.default
                .as_ref()
                .or(c.text.as_ref())
                .map(Rate::to_string)
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        defaults,
        ["GBP 10.00/order", "GBP 4.00/item", "10.00%/item", "7.00%"]
    );
    let old_style = new.actions[3].commission.as_ref().expect("commission");
    assert_eq!(old_style.default, None);
    let text = old_style.text.as_ref().expect("text kept");
    assert_eq!(
        (&text.value, text.raw.as_str()),
        (&RateValue::Percent(d("7.00")), "7.00%")
    );
    assert_eq!(
        new.actions[2]
            .commission
            .as_ref()
            .and_then(|c| c.text.as_ref()),
        None,
        "whitespace between elements is no text"
    );

    let mixed = mystery.actions[0].commission.as_ref().expect("commission");
    assert_eq!(mixed.item_lists[0].rate.raw, "5.00%");
    let text = mixed.text.as_ref().expect("text around the item list");
    assert_eq!(
        (&text.value, text.raw.as_str()),
        (&RateValue::Unrecognized, "see terms")
    );

    assert_eq!(new.link_types, ["Text Link, Banner", "DeepLink"]);
    assert!(old.link_types.is_empty());

    let json = serde_json::to_value(&page).expect("serializes");
    let first = &json["advertisers"][0];
    assert_eq!(first["seven-day-epc"], "New");
    assert_eq!(first["three-month-epc"], "N/A");
    assert_eq!(first["network-rank"], "New");
    assert_eq!(first["mobile-supported"], "N/A");
    assert_eq!(first["mobile-tracking-certified"], true);
    assert_eq!(first["actions"][3]["commission"]["text"]["value"], "7.00");
    assert!(first["actions"][0]["commission"].get("text").is_none());
    assert_eq!(json["advertisers"][1]["seven-day-epc"], "15.92");
    assert_eq!(json["advertisers"][1]["network-rank"], 3);
    assert_eq!(
        json["advertisers"][2]["seven-day-epc"],
        serde_json::Value::Null
    );
}

#[test]
fn two_default_rates_are_an_error_not_a_guess() {
    let xml = page_with(
        "<actions><action><commission><default>1%</default><default>2%</default>\
         </commission></action></actions>",
    );
    let err = parse_page(xml).expect_err("two defaults");
    assert!(err.message.contains("advertiser 1"), "{}", err.message);
}

/// What a fuzzer would feed the parser: each gives an error or a page, never a panic.
#[test]
fn hostile_inputs_give_an_error_or_a_page() {
    let sample = fixture("doc_sample.xml");
    for end in 0..sample.len() {
        let _ = parse_page(&sample.as_bytes()[..end]);
    }
    let deep = |open: &str, close: &str, n: usize| {
        page_with(&format!(
            "<advertiser-name>x</advertiser-name><extra>{}{}</extra>",
            open.repeat(n),
            close.repeat(n)
        ))
    };
    let page = parse_page(deep("<x>", "</x>", 100_000)).expect("unknown elements are skipped");
    assert_eq!(page.advertisers[0].advertiser_name.as_deref(), Some("x"));
    assert!(
        parse_page(deep("<x>", "", 100_000)).is_err(),
        "never closed"
    );
    assert!(parse_page("<a>".repeat(100_000)).is_err());
    let nested_in_text = page_with(&format!("<language>{}</language>", "<b>".repeat(100_000)));
    assert!(parse_page(nested_in_text).is_err());

    let huge = "9".repeat(1 << 20);
    let err = parse_page(format!(
        "<cj-api><advertisers total-matched=\"{huge}\"/></cj-api>"
    ))
    .expect_err("not a count");
    assert!(err.message.len() < 200, "the message quotes an excerpt");
    let page = parse_page(page_with(&format!(
        "<actions><action><commission><itemlist name=\"{huge}\" id=\"1\">1%</itemlist>\
         </commission></action></actions>"
    )))
    .expect("a huge attribute is read");
    let c = page.advertisers[0].actions[0]
        .commission
        .as_ref()
        .expect("commission");
    assert_eq!(c.item_lists[0].name.len(), huge.len());

    let mut invalid = page_with("<advertiser-name>Caf\u{e9}</advertiser-name>").into_bytes();
    let at = invalid
        .windows(2)
        .position(|w| w == [0xc3, 0xa9])
        .expect("é");
    invalid[at] = 0xe9; // Latin-1 é
    invalid.remove(at + 1);
    let page = parse_page(&invalid).expect("read as U+FFFD");
    assert_eq!(
        page.advertisers[0].advertiser_name.as_deref(),
        Some("Caf\u{fffd}")
    );
    assert!(parse_page([0xff, 0xfe, 0x00, 0x3c]).is_err());

    let storm = "&".repeat(2 << 20);
    let page = parse_page(page_with(&format!(
        "<advertiser-name>{storm}</advertiser-name>"
    )))
    .expect("a storm of bare ampersands is literal text");
    assert_eq!(
        page.advertisers[0].advertiser_name.as_deref(),
        Some(&storm[..])
    );
    assert!(parse_page(format!("<cj-api>{storm}")).is_err());

    for never_closed in ["<![CDATA[", "<!--", "<?pi", "<cj-api><![CDATA[&&&"] {
        assert!(parse_page(never_closed).is_err(), "{never_closed}");
    }
    for bad_reference in ["&#99999999999;", "&#0;", "&#x110000;", "&#xD800;"] {
        let xml = page_with(&format!(
            "<advertiser-name>{bad_reference}</advertiser-name>"
        ));
        assert!(parse_page(xml).is_err(), "{bad_reference}");
    }
}
