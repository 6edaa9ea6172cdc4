//! Commission Detail records as CJ sends them: exact signed amounts, open enums, CJ's field
//! names on the way out, and the fold of an order's corrections into its current state.

use cj_graphql::commissions::{
    ActionStatus, ActionType, CommissionRecord, CorrectionReason, FoldError, LockingMethod,
    PublisherCommission, ValidationStatus, fold_action, fold_actions, parse_advertiser_page,
    parse_publisher_page,
};
use cj_graphql::transport::Error;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A publisher record with every required field; `changes` overrides or adds fields.
fn record(id: &str, changes: Value) -> Value {
    let mut record = json!({
        "actionStatus": "new",
        "actionTrackerId": "123456",
        "actionTrackerName": "Online Sale",
        "actionType": "item_sale",
        "advertiserId": "1234567",
        "advertiserName": "Acme Outdoor",
        "commissionId": id,
        "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z",
        "original": true,
        "originalActionId": format!("A-{id}"),
        "orderId": "ORD-1",
        "postingDate": "2026-01-05T11:00:00Z",
        "pubCommissionAmountPubCurrency": "15.00",
        "pubCommissionAmountUsd": "15.00",
        "publisherId": "7654321",
        "publisherName": "Trail Blog",
        "saleAmountUsd": "149.98",
        "saleAmountPubCurrency": "149.98",
        "items": [],
        "situationDetails": []
    });
    if let (Some(r), Some(c)) = (record.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            r.insert(k.clone(), v.clone());
        }
    }
    record
}

fn page(records: Vec<Value>) -> Vec<u8> {
    let body = json!({"data": {"publisherCommissions": {
        "count": records.len(), "limit": 10000, "maxCommissionId": null,
        "payloadComplete": true, "records": records
    }}});
    serde_json::to_vec(&body).expect("json")
}

fn records(values: Vec<Value>) -> Vec<PublisherCommission> {
    parse_publisher_page(&page(values)).expect("a page").records
}

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

#[test]
fn negative_amounts_are_exact_from_strings_and_numbers() {
    let body = br#"{"data": {"publisherCommissions": {"count": 1, "limit": 10000,
        "maxCommissionId": "2", "payloadComplete": true, "records": [RECORD]}}}"#;
    let mut item = json!({
        "commissionItemId": "I-1", "quantity": 2, "sku": "SKU-1",
        "totalCommissionAdvCurrency": "-0.10000000000000000001",
        "totalCommissionPubCurrency": -7.5,
        "totalCommissionUsd": "-7.50",
        "perItemSaleAmountAdvCurrency": "-74.99", "perItemSaleAmountPubCurrency": "-74.99",
        "perItemSaleAmountUsd": "-74.99", "discountUsd": null, "situationDetails": []
    });
    item["discountPubCurrency"] = json!("-0.01");
    let one = record(
        "2",
        json!({
            "original": false,
            "saleAmountUsd": "-149.98",
            "pubCommissionAmountUsd": "-15.00",
            "pubCommissionAmountPubCurrency": "-12.345678901234567891",
            "orderDiscountUsd": "-0.00",
            "items": [item]
        }),
    );
    let text = String::from_utf8_lossy(body).replace("RECORD", &one.to_string());
    let page = parse_publisher_page(text.as_bytes()).expect("parses");
    let r = &page.records[0];
    assert_eq!(r.sale_amount_usd, Some(d("-149.98")));
    assert_eq!(r.pub_commission_amount_usd.to_string(), "-15.00");
    assert_eq!(
        r.pub_commission_amount_pub_currency.to_string(),
        "-12.345678901234567891"
    );
    let item = &r.items[0];
    assert_eq!(
        item.total_commission_adv_currency.to_string(),
        "-0.10000000000000000001"
    );
    assert_eq!(item.total_commission_pub_currency, d("-7.5"));
    assert_eq!(item.discount_pub_currency, Some(d("-0.01")));
    assert_eq!(item.discount_usd, None);
    // Written back as CJ's strings, with CJ's field names.
    let out = serde_json::to_value(r).expect("serializes");
    assert_eq!(
        out["pubCommissionAmountPubCurrency"],
        "-12.345678901234567891"
    );
    assert_eq!(out["saleAmountUsd"], "-149.98");
    assert_eq!(out["items"][0]["totalCommissionPubCurrency"], "-7.5");
}

#[test]
fn amounts_that_are_not_numbers_are_refused_with_the_field_named() {
    for bad in [json!("12,50"), json!("abc"), json!(true)] {
        let err = parse_publisher_page(&page(vec![record(
            "1",
            json!({"pubCommissionAmountUsd": bad}),
        )]))
        .expect_err("refused");
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("records[0].pubCommissionAmountUsd"),
            "{err}"
        );
    }
}

#[test]
fn unknown_enum_values_are_kept() {
    let r = &records(vec![record(
        "1",
        json!({
            "actionStatus": "pending_review",
            "actionType": "app_install",
            "correctionReason": "CHARGEBACK",
            "lockingMethod": "SOMETIMES",
            "validationStatus": "MAYBE",
        }),
    )])[0];
    assert_eq!(
        r.action_status,
        ActionStatus::Unknown("pending_review".into())
    );
    assert_eq!(r.action_type, ActionType::Unknown("app_install".into()));
    assert_eq!(
        r.correction_reason,
        Some(CorrectionReason::Unknown("CHARGEBACK".into()))
    );
    assert_eq!(
        r.locking_method,
        Some(LockingMethod::Unknown("SOMETIMES".into()))
    );
    assert_eq!(
        r.validation_status,
        Some(ValidationStatus::Unknown("MAYBE".into()))
    );
    let out = serde_json::to_value(r).expect("serializes");
    assert_eq!(
        out["actionStatus"], "pending_review",
        "written back as CJ sent it"
    );

    let known = &records(vec![record(
        "2",
        json!({"actionStatus": "locked", "actionType": "perf_inc", "lockingMethod": "FIXED_DURATION"}),
    )])[0];
    assert_eq!(known.action_status, ActionStatus::Locked);
    assert_eq!(known.action_type, ActionType::PerfInc);
    assert_eq!(known.locking_method, Some(LockingMethod::FixedDuration));
}

#[test]
fn a_graphql_error_beside_data_is_an_error() {
    let body = json!({
        "data": {"advertiserCommissions": {"count": 0, "limit": 10000, "maxCommissionId": null,
            "payloadComplete": true, "records": []}},
        "errors": [{"message": "date range exceeds 31 days"}]
    });
    let err = parse_advertiser_page(&serde_json::to_vec(&body).expect("json")).expect_err("errors");
    assert!(
        matches!(&err, Error::GraphQL { errors, .. } if errors[0].message == "date range exceeds 31 days"),
        "{err:?}"
    );
}

/// An order of 149.98 paying 15.00; a return of one item (-74.99, -7.50); then a bonus
/// adjustment (+1.25 commission) that locks it.
fn corrected_order() -> Vec<PublisherCommission> {
    records(vec![
        record(
            "1002",
            json!({
                "original": false, "originalActionId": "A-1000",
                "postingDate": "2026-01-20T09:00:00Z", "actionStatus": "new",
                "correctionReason": "RETURNED_MERCHANDISE",
                "saleAmountUsd": "-74.99", "saleAmountPubCurrency": "-74.99",
                "pubCommissionAmountUsd": "-7.50", "pubCommissionAmountPubCurrency": "-7.50"
            }),
        ),
        record(
            "1000",
            json!({"originalActionId": "A-1000", "actionStatus": "extended"}),
        ),
        record(
            "1005",
            json!({
                "original": false, "originalActionId": "A-1000",
                "postingDate": "2026-02-11T02:00:00Z", "actionStatus": "locked",
                "correctionReason": "OTHER_REASON",
                "saleAmountUsd": null, "saleAmountPubCurrency": null,
                "pubCommissionAmountUsd": "1.25", "pubCommissionAmountPubCurrency": "1.25"
            }),
        ),
    ])
}

#[test]
fn the_fold_sums_corrections_into_the_current_state() {
    let state = fold_action(corrected_order()).expect("one action");
    assert_eq!(state.original_action_id, "A-1000");
    assert_eq!(state.order_id.as_deref(), Some("ORD-1"));
    assert!(state.has_original);
    assert!(state.is_corrected());
    assert_eq!(state.sale_amount_usd, Some(d("74.99")));
    assert_eq!(state.sale_amount_pub_currency, Some(d("74.99")));
    assert_eq!(state.commission_usd, d("8.75"));
    assert_eq!(state.commission_pub_currency, d("8.75"));
    assert_eq!(
        state.status,
        ActionStatus::Locked,
        "the latest record's status"
    );
    assert_eq!(
        state.correction_reasons,
        [
            CorrectionReason::ReturnedMerchandise,
            CorrectionReason::OtherReason
        ]
    );
    let history: Vec<&str> = state.history.iter().map(|r| r.commission_id()).collect();
    assert_eq!(
        history,
        ["1000", "1002", "1005"],
        "original first, then by posting date"
    );
}

#[test]
fn a_correction_may_name_the_original_by_its_commission_id() {
    let state = fold_action(records(vec![
        record("1000", json!({"originalActionId": "777"})),
        record(
            "1001",
            json!({"original": false, "originalActionId": "1000",
                   "pubCommissionAmountUsd": "-15.00", "pubCommissionAmountPubCurrency": "-15.00",
                   "saleAmountUsd": "-149.98", "saleAmountPubCurrency": "-149.98",
                   "correctionReason": "BOOKING_CANCELED", "actionStatus": "closed"}),
        ),
    ]))
    .expect("one action");
    assert_eq!(state.original_action_id, "777");
    assert_eq!(
        state.commission_usd,
        Decimal::ZERO,
        "cancelled: nothing is owed"
    );
    assert_eq!(state.sale_amount_usd, Some(d("0.00")));
    assert_eq!(state.status, ActionStatus::Closed);
}

#[test]
fn fold_actions_groups_a_days_records_by_action() {
    let mut all = corrected_order();
    all.extend(records(vec![
        record(
            "2000",
            json!({"orderId": "ORD-2", "originalActionId": "A-2000"}),
        ),
        // A correction whose original was read on another day.
        record(
            "3001",
            json!({"orderId": "ORD-3", "original": false, "originalActionId": "A-3000",
                   "pubCommissionAmountUsd": "-2.00", "pubCommissionAmountPubCurrency": "-2.00",
                   "saleAmountUsd": "-20.00", "saleAmountPubCurrency": "-20.00"}),
        ),
    ]));
    let states = fold_actions(all).expect("folds");
    let summary: Vec<(&str, Option<&str>, bool, String)> = states
        .iter()
        .map(|s| {
            (
                s.original_action_id.as_str(),
                s.order_id.as_deref(),
                s.has_original,
                s.commission_usd.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("A-1000", Some("ORD-1"), true, "8.75".to_string()),
            ("A-2000", Some("ORD-2"), true, "15.00".to_string()),
            ("A-3000", Some("ORD-3"), false, "-2.00".to_string()),
        ]
    );
    assert!(!states[1].is_corrected());
    assert!(states[2].is_corrected());
}

#[test]
fn records_of_two_actions_or_two_originals_do_not_fold_into_one() {
    let mut two = corrected_order();
    two.extend(records(vec![record(
        "2000",
        json!({"originalActionId": "A-2000"}),
    )]));
    let err = fold_action(two).expect_err("two actions");
    assert_eq!(
        err,
        FoldError::OtherAction {
            expected: "A-1000".into(),
            found: "A-2000".into(),
            commission_id: "2000".into()
        }
    );
    let err = fold_action(records(vec![
        record("1", json!({"originalActionId": "A"})),
        record("2", json!({"originalActionId": "A"})),
    ]))
    .expect_err("two originals");
    assert!(matches!(err, FoldError::TwoOriginals { .. }), "{err}");
    assert_eq!(
        fold_action(Vec::<PublisherCommission>::new()),
        Err(FoldError::Empty)
    );
}

#[test]
fn sums_out_of_range_are_an_error_not_a_panic() {
    let max = Decimal::MAX.to_string();
    let err = fold_action(records(vec![
        record(
            "1",
            json!({"originalActionId": "A", "pubCommissionAmountUsd": max.clone()}),
        ),
        record(
            "2",
            json!({"original": false, "originalActionId": "A", "pubCommissionAmountUsd": max}),
        ),
    ]))
    .expect_err("overflow");
    assert!(matches!(err, FoldError::Overflow { .. }), "{err}");
}

mod against_the_sandbox {
    //! The client against the sandbox's Commission Detail API, with orders sent through the
    //! sandbox's live Tracking endpoint by the SDK's own `Orders` client.

    use std::collections::BTreeSet;
    use std::time::Duration;

    use cj_graphql::commissions::{
        AdvertiserCommission, CommissionRecord, CommissionsApi, CorrectionReason, Instant,
        fold_action, fold_actions,
    };
    use cj_graphql::tracking::{
        self, Mode, OrderCancelRequest, OrderCreateRequest, OrderRestateRequest, Orders,
    };
    use cj_graphql::transport::{Credentials, Error, RetryPolicy, Transport};
    use cj_sandbox::{Sandbox, SandboxConfig};
    use futures_util::TryStreamExt;
    use jiff::{SignedDuration, Timestamp};

    use super::d;

    const TOKEN: &str = "sandbox-commissions-token";

    fn transport(token: &str) -> Transport {
        Transport::builder()
            .credentials(Credentials::token(token))
            .timeout(Duration::from_secs(10))
            .retry(RetryPolicy::none())
            .build()
            .expect("a transport")
    }

    fn orders(sandbox: &Sandbox) -> Orders {
        Orders::new(transport(TOKEN), &sandbox.tracking_url(), Mode::Live).expect("orders")
    }

    fn commissions(sandbox: &Sandbox, token: &str) -> CommissionsApi {
        CommissionsApi::new(transport(token), &sandbox.commissions_url()).expect("a client")
    }

    fn hours_before(t: Timestamp, hours: i64) -> Timestamp {
        t.checked_sub(SignedDuration::from_hours(hours))
            .expect("a time")
    }

    fn order(id: &str, event: Timestamp, amount: &str) -> OrderCreateRequest {
        OrderCreateRequest::builder()
            .enterprise_id("1234567")
            .action_tracker_id(123456)
            .order_id(id)
            .event_time(event)
            .cj_event("7166ddf3b35b11eb834200a10a1eb972")
            .currency("USD")
            .amount(amount.parse().expect("an amount"))
            .build()
    }

    #[tokio::test]
    async fn the_stream_yields_every_record_once_across_windows_and_pages() {
        let config = SandboxConfig::new().commission_page_limit(7);
        let sandbox = Sandbox::start_with(config).await.expect("a sandbox");
        let now = Timestamp::now();
        // 50 orders, one every 38 hours: events over the last 78 days.
        let batch: Vec<OrderCreateRequest> = (0..50)
            .map(|i| {
                order(
                    &format!("WIN-{i:02}"),
                    hours_before(now, i * 38 + 1),
                    "10.00",
                )
            })
            .collect();
        let sent = orders(&sandbox).create(&batch).await.expect("sent");
        assert!(sent.is_success(), "{:?}", sent.errors);

        let api = commissions(&sandbox, TOKEN);
        // 85 days: three windows of at most 31 days, each of more than one page of 7.
        let since = Instant::from(hours_before(now, 85 * 24));
        let first_window = api
            .advertiser(["1234567"])
            .since_event(since)
            .before_event(Instant::from(hours_before(now, 54 * 24)))
            .page()
            .await
            .expect("a page");
        assert_eq!(
            (first_window.count, first_window.payload_complete),
            (7, false)
        );

        let records: Vec<AdvertiserCommission> = api
            .advertiser(["1234567"])
            .since_event(since)
            .before_event(Instant::from(now))
            .stream()
            .try_collect()
            .await
            .expect("every record");
        assert_eq!(records.len(), 50);
        let ids: BTreeSet<&str> = records.iter().map(|r| r.commission_id.as_str()).collect();
        assert_eq!(ids.len(), 50, "no record twice");
        let order_ids: BTreeSet<&str> = records.iter().filter_map(|r| r.order_id()).collect();
        let sent: BTreeSet<String> = (0..50).map(|i| format!("WIN-{i:02}")).collect();
        assert_eq!(
            order_ids,
            sent.iter().map(String::as_str).collect::<BTreeSet<_>>()
        );
        assert!(
            records
                .iter()
                .all(|r| r.pub_commission_amount_usd == d("1.00"))
        );
    }

    #[tokio::test]
    async fn pages_cut_to_the_sandboxs_answer_limit_still_yield_every_record() {
        // Every field the client selects: about 1.6 KB a record, as the sandbox counts it.
        let config = SandboxConfig::new().max_answer_bytes(60_000);
        let sandbox = Sandbox::start_with(config).await.expect("a sandbox");
        let an_hour_ago = hours_before(Timestamp::now(), 1);
        let batch: Vec<OrderCreateRequest> = (0..60)
            .map(|i| order(&format!("BIG-{i:02}"), an_hour_ago, "10.00"))
            .collect();
        orders(&sandbox).create(&batch).await.expect("sent");
        let api = commissions(&sandbox, TOKEN);
        let page = api.advertiser(["1234567"]).page().await.expect("a page");
        assert!(!page.payload_complete && page.count < 60, "{}", page.count);
        let records: Vec<AdvertiserCommission> = api
            .advertiser(["1234567"])
            .stream()
            .try_collect()
            .await
            .expect("every record");
        assert_eq!(records.len(), 60);
    }

    #[tokio::test]
    async fn a_restate_and_a_cancel_fold_into_the_current_state() {
        let sandbox = Sandbox::start().await.expect("a sandbox");
        let an_hour_ago = hours_before(Timestamp::now(), 1);
        let client = orders(&sandbox);
        client
            .create(&[
                order("ORD-R", an_hour_ago, "149.98"),
                order("ORD-C", an_hour_ago, "80.00"),
            ])
            .await
            .expect("created");
        let restate = OrderRestateRequest::builder()
            .enterprise_id("1234567")
            .action_tracker_id(123456)
            .order_id("ORD-R")
            .update_time(Timestamp::now())
            .amount("100.00".parse().expect("an amount"))
            .correction_reason(tracking::CorrectionReason::ReturnedMerchandise)
            .build();
        client.restate(&[restate]).await.expect("restated");
        let cancel = OrderCancelRequest::builder()
            .enterprise_id("1234567")
            .action_tracker_id(123456)
            .order_id("ORD-C")
            .update_time(Timestamp::now())
            .correction_reason(tracking::CorrectionReason::InvalidCreditCard)
            .build();
        client.cancel(&[cancel]).await.expect("cancelled");

        // No date: the last 24 hours by posting date.
        let records: Vec<AdvertiserCommission> = commissions(&sandbox, TOKEN)
            .advertiser(["1234567"])
            .stream()
            .try_collect()
            .await
            .expect("records");
        assert_eq!(records.len(), 5);
        let (originals, corrections): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.original);
        let amounts: Vec<_> = corrections
            .iter()
            .map(|r| (r.sale_amount_usd, r.pub_commission_amount_usd))
            .collect();
        // The restatement as CJ shows it (a reversal to zero, then the new state), the cancel
        // as one negative record.
        assert_eq!(
            amounts,
            [
                (Some(d("-149.98")), d("-15.00")),
                (Some(d("100.00")), d("10.00")),
                (Some(d("-80.00")), d("-8.00"))
            ]
        );
        for correction in &corrections {
            let original = originals
                .iter()
                .find(|o| o.order_id == correction.order_id)
                .expect("the original of each correction");
            assert_eq!(correction.original_action_id, original.commission_id);
        }

        let states = fold_actions(records.clone()).expect("folded");
        let current: Vec<_> = states
            .iter()
            .map(|s| {
                (
                    s.order_id.as_deref(),
                    s.sale_amount_usd,
                    s.commission_usd,
                    s.correction_reasons.clone(),
                )
            })
            .collect();
        assert_eq!(
            current,
            [
                (
                    Some("ORD-R"),
                    Some(d("100.00")),
                    d("10.00"),
                    // One reason per correction record: the reversal's and the new state's.
                    vec![
                        CorrectionReason::ReturnedMerchandise,
                        CorrectionReason::ReturnedMerchandise
                    ]
                ),
                (
                    Some("ORD-C"),
                    Some(d("0.00")),
                    d("0.00"),
                    vec![CorrectionReason::InvalidCreditCard]
                ),
            ]
        );
        let restated = records
            .into_iter()
            .filter(|r| r.order_id() == Some("ORD-R"));
        let state = fold_action(restated).expect("one action");
        assert!(state.has_original && state.is_corrected());
        assert_eq!(state.sale_amount_usd, Some(d("100.00")));
    }

    #[tokio::test]
    async fn the_sandboxs_errors_surface_and_the_token_is_never_printed() {
        let sandbox = Sandbox::start_with(SandboxConfig::new().accepted_tokens([TOKEN]))
            .await
            .expect("a sandbox");
        let api = commissions(&sandbox, TOKEN);
        // A 40-day range: the client refuses it before sending (the sandbox would answer a
        // GraphQL error; its own tests check that one).
        let since = hours_before(Timestamp::now(), 60 * 24);
        let err = api
            .advertiser(["1234567"])
            .since_event(since)
            .before_event(hours_before(Timestamp::now(), 20 * 24))
            .page()
            .await
            .expect_err("too long");
        assert!(err.to_string().contains("more than CJ's 31 days"), "{err}");
        // A GraphQL error of the sandbox's, with its message.
        let err = api
            .advertiser(["1234567"])
            .since_commission_id("not-an-id")
            .page()
            .await
            .expect_err("refused");
        assert!(matches!(err, Error::GraphQL { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("sinceCommissionId must be a commission id (digits)"),
            "{err}"
        );
        // A token the sandbox does not accept: CJ's `Invalid Token`, the token nowhere.
        let secret = "wrong-s3cret-token";
        let err = commissions(&sandbox, secret)
            .publisher(["7654321"])
            .page()
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("Invalid Token"), "{err}");
        assert!(!format!("{err} {err:?}").contains(secret), "{err:?}");
    }
}
