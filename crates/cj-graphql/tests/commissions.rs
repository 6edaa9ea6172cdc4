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
