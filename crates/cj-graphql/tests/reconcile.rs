//! Reconciliation's verdicts, from what was sent and advertiser records as CJ sends them
//! (exact signed amounts, corrections as changes, statuses this SDK does not know).

use cj_graphql::commissions::{
    ActionStatus, AdvertiserCommission, CommissionsApi, CorrectionReason, parse_advertiser_page,
};
use cj_graphql::reconcile::{ReconcileError, Reconciled, Reconciler, SentOrder, Verdict};
use cj_graphql::tracking::{
    OrderCancelRequest, OrderCancellationStatus, OrderCreateRequest, OrderRestateRequest,
};
use cj_graphql::transport::{Credentials, RetryPolicy, Transport};
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// "Now" for every test: grace periods count back from it.
const NOW: &str = "2026-01-06T12:00:00Z";

fn t(text: &str) -> Timestamp {
    text.parse().expect("a time")
}

fn now() -> Timestamp {
    t(NOW)
}

fn ago(hours: i64, minutes: i64) -> Timestamp {
    now()
        .checked_sub(SignedDuration::from_hours(hours) + SignedDuration::from_mins(minutes))
        .expect("in range")
}

fn d(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

fn create(order_id: &str, amount: &str) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(order_id)
        .event_time(t("2026-01-05T10:00:00Z"))
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .currency("USD")
        .amount(amount.parse().expect("an amount"))
        .build()
}

fn restate(order_id: &str, amount: &str, at: Timestamp) -> OrderRestateRequest {
    OrderRestateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(order_id)
        .update_time(at)
        .amount(amount.parse().expect("an amount"))
        .build()
}

fn cancel(order_id: &str, at: Timestamp) -> OrderCancelRequest {
    OrderCancelRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(order_id)
        .update_time(at)
        .status(OrderCancellationStatus::Declined)
        .build()
}

/// An advertiser record with every required field, as CJ sends one; `changes` overrides or
/// adds fields. A correction names its original through `originalActionId`.
fn record(commission_id: &str, order_id: &str, sale: &str, changes: Value) -> Value {
    let mut record = json!({
        "actionStatus": "new",
        "actionTrackerId": "123456",
        "actionTrackerName": "Online Sale",
        "actionType": "sim_sale",
        "advertiserId": "1234567",
        "advertiserName": "Acme Outdoor",
        "commissionId": commission_id,
        "eventDate": "2026-01-05T10:00:00Z",
        "lockingDate": "2026-02-10T00:00:00Z",
        "lockingMethod": "FIXED_DATE",
        "original": true,
        "originalActionId": format!("A-{order_id}"),
        "orderId": order_id,
        "postingDate": "2026-01-05T11:00:00Z",
        "pubCommissionAmountPubCurrency": "15.00",
        "pubCommissionAmountUsd": "15.00",
        "publisherId": "7654321",
        "publisherName": "Trail Blog",
        "saleAmountAdvCurrency": sale,
        "saleAmountUsd": sale,
        "saleAmountPubCurrency": sale,
        "advCommissionAmountAdvCurrency": "18.00",
        "cjFeeAdvCurrency": "3.00",
        "validationStatus": "AUTOMATED",
        "items": [],
        "situations": [],
        "situationDetails": []
    });
    if let (Some(r), Some(c)) = (record.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            r.insert(k.clone(), v.clone());
        }
    }
    record
}

/// A correction of `order_id`'s original, posted later, with amounts that are changes.
fn correction(commission_id: &str, order_id: &str, sale: &str, reason: &str) -> Value {
    let negative = sale.starts_with('-');
    let commission = if negative { "-15.00" } else { "0.00" };
    record(
        commission_id,
        order_id,
        sale,
        json!({
            "original": false,
            "correctionReason": reason,
            "postingDate": "2026-01-05T15:00:00Z",
            "pubCommissionAmountUsd": commission,
            "pubCommissionAmountPubCurrency": commission,
        }),
    )
}

fn records(values: Vec<Value>) -> Vec<AdvertiserCommission> {
    let body = json!({"data": {"advertiserCommissions": {
        "count": values.len(), "limit": 10000, "maxCommissionId": null,
        "payloadComplete": true, "records": values
    }}});
    parse_advertiser_page(&serde_json::to_vec(&body).expect("json"))
        .expect("a page")
        .records
}

/// Runs the pure core: the sent orders, then the records; returns the unexpected lines and
/// the verdicts.
fn reconcile(sent: Vec<SentOrder>, cj: Vec<Value>) -> (Vec<Reconciled>, Vec<Reconciled>) {
    let mut reconciler = Reconciler::new().now(now());
    for s in sent {
        reconciler.add(s);
    }
    let unexpected = records(cj)
        .iter()
        .filter_map(|r| reconciler.push(r))
        .collect();
    let verdicts = reconciler
        .finish()
        .collect::<Result<Vec<_>, _>>()
        .expect("verdicts");
    (unexpected, verdicts)
}

fn only(sent: Vec<SentOrder>, cj: Vec<Value>) -> Reconciled {
    let (unexpected, mut verdicts) = reconcile(sent, cj);
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    verdicts.remove(0)
}

#[test]
fn an_order_cj_has_with_the_amount_sent_is_recorded() {
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "149.98"), ago(5, 0))],
        vec![record("2768459420", "ORD-1", "149.980", json!({}))],
    );
    assert_eq!(line.verdict, Verdict::Recorded);
    assert_eq!(line.sent_amount, Some(d("149.98")));
    assert_eq!(
        line.recorded_amount,
        Some(d("149.98")),
        "2 decimals or 3: equal"
    );
    assert_eq!(line.commission_ids, ["2768459420"]);
    assert_eq!(line.action_tracker_id, "123456");
    assert_eq!(line.enterprise_id, "1234567");
    assert!(line.original_read);
}

#[test]
fn another_sale_amount_is_amount_differs_with_both_amounts() {
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "149.98"), ago(5, 0))],
        vec![record("1", "ORD-1", "129.99", json!({}))],
    );
    assert_eq!(line.verdict, Verdict::AmountDiffers);
    assert!(line.verdict.needs_attention() && line.verdict.is_confirmed());
    assert_eq!(line.sent_amount, Some(d("149.98")));
    assert_eq!(line.recorded_amount, Some(d("129.99")));
}

#[test]
fn the_advertiser_currency_amount_is_the_one_compared() {
    // An order in EUR: the USD and publisher amounts differ, the advertiser's currency agrees.
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "100.00"), ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "100.00",
            json!({"saleAmountUsd": "108.31", "saleAmountPubCurrency": "85.02"}),
        )],
    );
    assert_eq!(line.verdict, Verdict::Recorded);
}

#[test]
fn a_restatement_cj_reflects_with_a_negative_correction_is_corrected() {
    let restated_at = ago(4, 0);
    let line = only(
        vec![
            SentOrder::create(&create("ORD-1", "149.98"), ago(26, 0)),
            SentOrder::restate(&restate("ORD-1", "74.99", restated_at), restated_at),
        ],
        vec![
            record("2768459420", "ORD-1", "149.98", json!({})),
            correction("2768459421", "ORD-1", "-74.99", "RETURNED_MERCHANDISE"),
        ],
    );
    assert_eq!(line.verdict, Verdict::Corrected);
    assert_eq!(
        line.sent_amount,
        Some(d("74.99")),
        "the restate replaces the amount"
    );
    assert_eq!(
        line.recorded_amount,
        Some(d("74.99")),
        "149.98 - 74.99, folded"
    );
    assert_eq!(line.commission_ids, ["2768459420", "2768459421"]);
    assert_eq!(
        line.correction_reasons,
        [CorrectionReason::ReturnedMerchandise]
    );
    assert!(line.restated && !line.cancelled);
}

#[test]
fn a_restatement_as_a_reversal_and_a_new_state_folds_to_the_new_amount() {
    // CJ may write a restatement as two records: the old amount reversed, then the new one.
    let at = ago(4, 0);
    let line = only(
        vec![
            SentOrder::create(&create("ORD-1", "100.00"), ago(30, 0)),
            SentOrder::restate(&restate("ORD-1", "80.00", at), at),
        ],
        vec![
            correction("3", "ORD-1", "-100.00", "OTHER_REASON"),
            record("1", "ORD-1", "100.00", json!({})),
            correction("4", "ORD-1", "80.00", "OTHER_REASON"),
        ],
    );
    assert_eq!(line.verdict, Verdict::Corrected);
    assert_eq!(line.recorded_amount, Some(d("80.00")));
    assert_eq!(line.commission_ids, ["1", "3", "4"], "the original first");
}

#[test]
fn a_restatement_cj_does_not_reflect_is_pending_then_amount_differs() {
    for (hours, verdict) in [(1, Verdict::Pending), (3, Verdict::AmountDiffers)] {
        let at = ago(hours, 0);
        let line = only(
            vec![
                // Added before its create: the restate's amount still stands.
                SentOrder::restate(&restate("ORD-1", "100.00", at), at),
                SentOrder::create(&create("ORD-1", "149.98"), ago(30, 0)),
            ],
            vec![record("1", "ORD-1", "149.98", json!({}))],
        );
        assert_eq!(line.verdict, verdict, "restated {hours}h ago");
        assert_eq!(line.sent_amount, Some(d("100.00")));
        assert_eq!(line.recorded_amount, Some(d("149.98")));
    }
}

#[test]
fn a_cancel_cj_reflects_as_a_negative_correction_is_cancelled_as_sent() {
    let at = ago(3, 0);
    let line = only(
        vec![
            SentOrder::create(&create("ORD-1", "50.00"), ago(30, 0)),
            SentOrder::cancel(&cancel("ORD-1", at), at),
        ],
        vec![
            record("1", "ORD-1", "50.00", json!({})),
            correction("2", "ORD-1", "-50.00", "INVALID_CREDIT_CARD"),
        ],
    );
    assert_eq!(line.verdict, Verdict::CancelledAsSent);
    assert_eq!(line.recorded_amount, Some(Decimal::ZERO));
    assert!(line.cancelled);
}

#[test]
fn a_declined_open_ended_order_reflects_its_cancel() {
    let at = ago(3, 0);
    let line = only(
        vec![
            SentOrder::create(&create("ORD-1", "50.00"), ago(30, 0)),
            SentOrder::cancel(&cancel("ORD-1", at), at),
        ],
        vec![
            record(
                "1",
                "ORD-1",
                "50.00",
                json!({"lockingMethod": "OPEN_ENDED", "validationStatus": "PENDING"}),
            ),
            record(
                "2",
                "ORD-1",
                "0.00",
                json!({"original": false, "validationStatus": "DECLINED",
                       "lockingMethod": "OPEN_ENDED", "postingDate": "2026-01-06T09:00:00Z"}),
            ),
        ],
    );
    assert_eq!(line.verdict, Verdict::CancelledAsSent);
}

#[test]
fn a_cancel_cj_does_not_reflect_is_pending_then_cancel_missing() {
    for (hours, verdict) in [(1, Verdict::Pending), (3, Verdict::CancelMissing)] {
        let at = ago(hours, 0);
        let line = only(
            vec![
                SentOrder::create(&create("ORD-1", "50.00"), ago(30, 0)),
                SentOrder::cancel(&cancel("ORD-1", at), at),
            ],
            vec![record("1", "ORD-1", "50.00", json!({}))],
        );
        assert_eq!(line.verdict, verdict, "cancelled {hours}h ago");
        assert!(line.verdict.needs_attention() == (verdict == Verdict::CancelMissing));
    }
}

#[test]
fn statuses_this_sdk_does_not_know_still_reconcile_and_are_kept() {
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "20.00"), ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "20.00",
            json!({"actionStatus": "New", "validationStatus": "PENDING_REVIEW"}),
        )],
    );
    assert_eq!(line.verdict, Verdict::Recorded);
    assert_eq!(
        line.action_status,
        Some(ActionStatus::Unknown("New".into()))
    );

    let extended = only(
        vec![SentOrder::create(&create("ORD-1", "20.00"), ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "20.00",
            json!({"actionStatus": "extended"}),
        )],
    );
    assert_eq!(extended.action_status, Some(ActionStatus::Extended));
}

#[test]
fn a_record_of_an_order_not_sent_is_unexpected_and_one_without_order_is_skipped() {
    let (unexpected, verdicts) = reconcile(
        vec![SentOrder::create(&create("ORD-1", "20.00"), ago(5, 0))],
        vec![
            record("1", "ORD-1", "20.00", json!({})),
            record("2", "ORD-9", "35.00", json!({})),
            // Same order id on another action tracker: another order.
            record("3", "ORD-1", "20.00", json!({"actionTrackerId": "999"})),
            record(
                "4",
                "ORD-X",
                "0",
                json!({"orderId": null, "actionType": "bonus"}),
            ),
        ],
    );
    // CJ has ORD-1 under its own tracker: the record under 999 is another order, listed after
    // the order's verdict.
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0].verdict, Verdict::Recorded);
    assert_eq!(verdicts[1].verdict, Verdict::Unexpected);
    assert_eq!(verdicts[1].commission_ids, ["3"]);
    assert_eq!(verdicts[1].action_tracker_id, "999");
    let unexpected: Vec<Reconciled> = unexpected
        .into_iter()
        .chain(verdicts.into_iter().skip(1))
        .collect();
    let lines: Vec<(&str, &str, &str)> = unexpected
        .iter()
        .map(|l| {
            assert_eq!(l.verdict, Verdict::Unexpected);
            (
                l.order_id.as_str(),
                l.action_tracker_id.as_str(),
                l.commission_ids[0].as_str(),
            )
        })
        .collect();
    assert_eq!(lines, [("ORD-9", "123456", "2"), ("ORD-1", "999", "3")]);
    assert_eq!(unexpected[0].recorded_amount, Some(d("35.00")));
    assert_eq!(unexpected[0].sent_amount, None);
}

#[test]
fn the_grace_period_ends_exactly_grace_after_sending() {
    let grace = SignedDuration::from_mins(90);
    let judge = |sent: Timestamp| {
        let mut reconciler = Reconciler::new().now(now()).grace(grace);
        reconciler.add(SentOrder::create(&create("ORD-1", "1"), sent));
        let mut verdicts = reconciler.finish();
        verdicts.next().expect("one").expect("a verdict").verdict
    };
    assert_eq!(judge(ago(1, 29)), Verdict::Pending);
    let just_before = ago(1, 30).checked_add(SignedDuration::from_secs(1));
    assert_eq!(judge(just_before.expect("a time")), Verdict::Pending);
    assert_eq!(judge(ago(1, 30)), Verdict::Missing, "at exactly the grace");
    assert_eq!(judge(ago(1, 31)), Verdict::Missing);
    // The default grace is 2 hours.
    let mut reconciler = Reconciler::new().now(now());
    reconciler.add(SentOrder::create(&create("ORD-1", "1"), ago(1, 59)));
    let verdict = reconciler
        .finish()
        .next()
        .expect("one")
        .expect("ok")
        .verdict;
    assert_eq!(verdict, Verdict::Pending);
}

#[test]
fn a_correction_read_without_its_original_is_corrected_and_compares_nothing() {
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "100.00"), ago(30, 0))],
        vec![correction("2", "ORD-1", "-20.00", "RETURNED_MERCHANDISE")],
    );
    assert_eq!(line.verdict, Verdict::Corrected);
    assert!(!line.original_read);
    assert_eq!(
        line.recorded_amount,
        Some(d("-20.00")),
        "a change, said as such"
    );
}

#[test]
fn two_originals_of_one_action_are_an_error_naming_the_order() {
    let mut reconciler = Reconciler::new().now(now());
    reconciler.add(SentOrder::create(&create("ORD-1", "1"), ago(5, 0)));
    for r in records(vec![
        record("1", "ORD-1", "1", json!({})),
        record("2", "ORD-1", "1", json!({})),
    ]) {
        assert!(reconciler.push(&r).is_none());
    }
    let err = reconciler
        .finish()
        .next()
        .expect("one")
        .expect_err("refused");
    assert!(matches!(err, ReconcileError::Fold { .. }), "{err:?}");
    assert!(err.to_string().contains("ORD-1"), "{err}");
}

#[test]
fn every_order_gets_one_verdict_in_the_order_it_was_added() {
    let (_, verdicts) = reconcile(
        vec![
            SentOrder::create(&create("B", "10"), ago(5, 0)),
            SentOrder::create(&create("A", "10"), ago(5, 0)),
            SentOrder::create(&create("C", "10"), ago(0, 5)),
            SentOrder::create(&create("B", "10"), ago(4, 0)), // sent twice: one order
        ],
        vec![record("1", "A", "10", json!({}))],
    );
    let got: Vec<(&str, Verdict)> = verdicts
        .iter()
        .map(|l| (l.order_id.as_str(), l.verdict))
        .collect();
    assert_eq!(
        got,
        [
            ("B", Verdict::Missing),
            ("A", Verdict::Recorded),
            ("C", Verdict::Pending)
        ]
    );
}

#[test]
fn the_window_is_the_orders_events_widened_by_a_day() {
    let mut reconciler = Reconciler::new().now(now());
    assert_eq!(reconciler.window(), None);
    reconciler.add(SentOrder::create(
        &create("A", "1"),
        t("2026-01-05T10:00:05Z"),
    ));
    let at = t("2026-01-06T08:00:00Z");
    reconciler.add(SentOrder::restate(&restate("A", "2", at), at));
    let (since, before) = reconciler.window().expect("a window");
    assert_eq!(since.to_string(), "2026-01-04T10:00:00Z");
    assert_eq!(before.to_string(), "2026-01-07T08:00:00Z");
    assert_eq!(reconciler.without_create(), 0);
    let at = t("2026-01-06T09:00:00Z");
    reconciler.add(SentOrder::cancel(&cancel("B", at), at));
    assert_eq!(reconciler.without_create(), 1);
}

#[test]
fn lines_serialize_with_the_documented_names() {
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "149.98"), ago(5, 0))],
        vec![record("7", "ORD-1", "129.99", json!({}))],
    );
    let json = serde_json::to_value(&line).expect("serializes");
    assert_eq!(json["orderId"], "ORD-1");
    assert_eq!(json["actionTrackerId"], "123456");
    assert_eq!(json["verdict"], "amount-differs");
    assert_eq!(json["sentAmount"], "149.98");
    assert_eq!(json["recordedAmount"], "129.99");
    assert_eq!(json["sentCurrency"], "USD");
    assert_eq!(json["recordedAmountUsd"], "129.99");
    assert_eq!(json["differingSkus"], json!([]));
    assert_eq!(json["otherActionTrackerIds"], json!([]));
    assert_eq!(json["commissionIds"], json!(["7"]));
    assert_eq!(json["actionStatus"], "new");
    for verdict in Verdict::ALL {
        let name = serde_json::to_value(verdict).expect("a name");
        assert_eq!(name, verdict.as_str());
        assert_eq!(verdict.as_str().parse::<Verdict>(), Ok(verdict));
    }
    let names: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(
        names,
        [
            "recorded",
            "corrected",
            "cancelled-as-sent",
            "pending",
            "amount-differs",
            "amount-unknown",
            "items-differ",
            "cancel-missing",
            "other-tracker",
            "missing",
            "unexpected"
        ]
    );
    assert!("Missing".parse::<Verdict>().is_err());
}

/// A Commission Detail client for a loopback port nothing listens on.
fn unreachable_api() -> CommissionsApi {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let transport = Transport::builder()
        .credentials(Credentials::token("t"))
        .retry(RetryPolicy::none())
        .build()
        .expect("a transport");
    CommissionsApi::new(transport, &format!("http://127.0.0.1:{port}")).expect("an api")
}

#[tokio::test]
async fn a_failed_read_gives_the_error_and_no_verdict() {
    let mut reconciler = Reconciler::new().now(now());
    reconciler.add(SentOrder::create(&create("ORD-1", "1"), ago(5, 0)));
    let lines: Vec<_> = reconciler
        .reconcile(&unreachable_api(), ["1234567"])
        .collect()
        .await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(matches!(lines[0], Err(ReconcileError::Commissions(_))));

    // Without orders nothing is read.
    let lines: Vec<_> = Reconciler::new()
        .reconcile(&unreachable_api(), ["1234567"])
        .collect()
        .await;
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn an_order_sent_again_gets_a_new_grace_period() {
    let mut reconciler = Reconciler::new().now(now());
    reconciler.add(SentOrder::create(&create("ORD-1", "1"), ago(30, 0)));
    reconciler.add(SentOrder::create(&create("ORD-1", "1"), ago(0, 10)));
    let mut verdicts = reconciler.finish();
    let line = verdicts.next().expect("one").expect("a verdict");
    assert_eq!(line.verdict, Verdict::Pending, "resent 10 minutes ago");
    assert!(verdicts.next().is_none(), "one order");
}

/// Every verdict but the four that say CJ has (or will have) the order as sent needs a look:
/// what `cj reconcile` exits 1 for.
#[test]
fn only_recorded_corrected_cancelled_as_sent_and_pending_need_no_attention() {
    let fine: Vec<Verdict> = Verdict::ALL
        .into_iter()
        .filter(|v| !v.needs_attention())
        .collect();
    assert_eq!(
        fine,
        [
            Verdict::Recorded,
            Verdict::Corrected,
            Verdict::CancelledAsSent,
            Verdict::Pending
        ]
    );
    assert!(Verdict::CancelMissing.needs_attention());
    assert!(Verdict::Unexpected.needs_attention());
}

#[test]
fn an_order_cj_has_only_under_another_action_tracker_is_other_tracker_not_missing() {
    let (unexpected, verdicts) = reconcile(
        vec![SentOrder::create(&create("ORD-1", "20.00"), ago(5, 0))],
        vec![
            record("3", "ORD-1", "20.00", json!({"actionTrackerId": "999"})),
            // Another advertiser's order of the same id is not this order.
            record(
                "4",
                "ORD-1",
                "20.00",
                json!({"actionTrackerId": "555", "advertiserId": "7777777"}),
            ),
        ],
    );
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let line = &verdicts[0];
    assert_eq!(line.verdict, Verdict::OtherTracker);
    assert!(line.verdict.needs_attention() && !line.verdict.is_confirmed());
    assert_eq!(line.action_tracker_id, "123456", "the tracker sent");
    assert_eq!(
        line.other_action_tracker_ids,
        ["999"],
        "the tracker CJ used"
    );
    assert_eq!(line.commission_ids, ["3"]);
    assert_eq!(line.recorded_amount, Some(d("20.00")));
    // The record under 999 is the order's, not also unexpected; the other advertiser's is.
    let ids: Vec<&str> = unexpected
        .iter()
        .map(|l| l.commission_ids[0].as_str())
        .collect();
    assert_eq!(ids, ["4"]);
    // Even when it was sent a moment ago: CJ has it, under another tracker.
    let (_, recent) = reconcile(
        vec![SentOrder::create(&create("ORD-1", "20.00"), ago(0, 10))],
        vec![record(
            "3",
            "ORD-1",
            "20.00",
            json!({"actionTrackerId": "999"}),
        )],
    );
    assert_eq!(recent[0].verdict, Verdict::OtherTracker);
}

#[test]
fn the_same_order_id_sent_under_two_trackers_is_two_orders() {
    let other = OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(999)
        .order_id("ORD-1")
        .event_time(t("2026-01-05T10:00:00Z"))
        .amount("5.00".parse().expect("an amount"))
        .build();
    let (unexpected, verdicts) = reconcile(
        vec![
            SentOrder::create(&create("ORD-1", "20.00"), ago(5, 0)),
            SentOrder::create(&other, ago(5, 0)),
        ],
        vec![
            record("1", "ORD-1", "20.00", json!({})),
            record("2", "ORD-1", "5.00", json!({"actionTrackerId": "999"})),
        ],
    );
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let got: Vec<(&str, Verdict)> = verdicts
        .iter()
        .map(|l| (l.action_tracker_id.as_str(), l.verdict))
        .collect();
    assert_eq!(
        got,
        [("123456", Verdict::Recorded), ("999", Verdict::Recorded)]
    );
}

fn with_items(order_id: &str, amount: &str, items: &[(&str, u32, &str)]) -> OrderCreateRequest {
    let mut order = create(order_id, amount);
    order.items = Some(
        items
            .iter()
            .map(|(sku, quantity, price)| {
                cj_graphql::tracking::OrderItemInput::builder()
                    .sku(*sku)
                    .quantity(*quantity)
                    .unit_price(price.parse().expect("a price"))
                    .build()
            })
            .collect(),
    );
    order
}

fn cj_item(sku: &str, quantity: i64, price: &str) -> Value {
    json!({
        "commissionItemId": format!("{sku}-1"), "sku": sku, "quantity": quantity,
        "perItemSaleAmountAdvCurrency": price, "perItemSaleAmountPubCurrency": price,
        "perItemSaleAmountUsd": price, "totalCommissionAdvCurrency": "1.00",
        "totalCommissionPubCurrency": "1.00", "totalCommissionUsd": "1.00",
        "discountAdvCurrency": null, "discountPubCurrency": null, "discountUsd": null,
        "itemListId": null, "situationDetails": []
    })
}

#[test]
fn another_sku_with_the_right_amount_is_items_differ_naming_the_skus() {
    let sent = with_items("ORD-1", "149.98", &[("SKU-BLK-LG", 2, "74.99")]);
    let line = only(
        vec![SentOrder::create(&sent, ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "149.98",
            json!({"actionType": "item_sale", "items": [cj_item("SKU-RED-SM", 2, "74.99")]}),
        )],
    );
    assert_eq!(line.verdict, Verdict::ItemsDiffer);
    assert!(line.verdict.needs_attention() && line.verdict.is_confirmed());
    assert_eq!(line.differing_skus, ["SKU-BLK-LG", "SKU-RED-SM"]);

    // The same SKUs and quantities (a SKU listed twice adds up) are recorded.
    let sent = with_items(
        "ORD-1",
        "149.98",
        &[("SKU-BLK-LG", 1, "74.99"), ("SKU-BLK-LG", 1, "74.99")],
    );
    let line = only(
        vec![SentOrder::create(&sent, ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "149.98",
            json!({"items": [cj_item("SKU-BLK-LG", 2, "74.990")]}),
        )],
    );
    assert_eq!(line.verdict, Verdict::Recorded);
    assert!(line.differing_skus.is_empty());
}

#[test]
fn a_different_quantity_or_unit_price_is_items_differ_and_pending_while_recent() {
    let sent = with_items("ORD-1", "100.00", &[("A", 2, "25.00"), ("B", 1, "50.00")]);
    let cj = || {
        vec![record(
            "1",
            "ORD-1",
            "100.00",
            json!({"items": [cj_item("A", 1, "25.00"), cj_item("B", 1, "75.00")]}),
        )]
    };
    let line = only(vec![SentOrder::create(&sent, ago(5, 0))], cj());
    assert_eq!(line.verdict, Verdict::ItemsDiffer);
    assert_eq!(line.differing_skus, ["A", "B"], "A's quantity, B's price");
    let line = only(vec![SentOrder::create(&sent, ago(0, 30))], cj());
    assert_eq!(line.verdict, Verdict::Pending, "sent 30 minutes ago");
    assert_eq!(line.differing_skus, ["A", "B"]);
}

#[test]
fn unit_prices_in_another_currency_are_not_compared_but_quantities_are() {
    // Sent in EUR; CJ's advertiser currency is USD: the amounts differ (a conversion), and the
    // per-item prices are not compared, only the SKUs and quantities.
    let mut sent = with_items("ORD-1", "100.00", &[("A", 2, "50.00")]);
    sent.currency = Some("EUR".into());
    let line = only(
        vec![SentOrder::create(&sent, ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "108.00",
            json!({"saleAmountUsd": "108.00", "items": [cj_item("A", 2, "54.00")]}),
        )],
    );
    assert_eq!(line.verdict, Verdict::AmountDiffers);
    assert!(line.differing_skus.is_empty());
    assert_eq!(line.sent_currency.as_deref(), Some("EUR"));
    assert_eq!(line.recorded_amount_usd, Some(d("108.00")));
}

#[test]
fn cj_items_as_changes_are_summed_and_a_restatement_s_items_replace_the_create_s() {
    // A return of one of two units: CJ's correction lists the item with a negative quantity.
    let at = ago(4, 0);
    let mut restated = restate("ORD-1", "25.00", at);
    restated.items = with_items("ORD-1", "25.00", &[("A", 1, "25.00")]).items;
    let line = only(
        vec![
            SentOrder::create(
                &with_items("ORD-1", "50.00", &[("A", 2, "25.00")]),
                ago(30, 0),
            ),
            SentOrder::restate(&restated, at),
        ],
        vec![
            record(
                "1",
                "ORD-1",
                "50.00",
                json!({"items": [cj_item("A", 2, "25.00")]}),
            ),
            {
                let mut c = correction("2", "ORD-1", "-25.00", "RETURNED_MERCHANDISE");
                c["items"] = json!([cj_item("A", -1, "25.00")]);
                c
            },
        ],
    );
    assert_eq!(line.verdict, Verdict::Corrected, "{line:?}");
    // A correction that lists the whole new state instead: the latest listing stands.
    let line = only(
        vec![
            SentOrder::create(
                &with_items("ORD-1", "50.00", &[("A", 2, "25.00")]),
                ago(30, 0),
            ),
            SentOrder::restate(&restated, at),
        ],
        vec![
            record(
                "1",
                "ORD-1",
                "50.00",
                json!({"items": [cj_item("A", 2, "25.00")]}),
            ),
            {
                let mut c = correction("2", "ORD-1", "-25.00", "RETURNED_MERCHANDISE");
                c["items"] = json!([cj_item("A", 1, "25.00")]);
                c
            },
        ],
    );
    assert_eq!(line.verdict, Verdict::Corrected, "{line:?}");
    // CJ still lists two: the restatement's items are not reflected.
    let line = only(
        vec![
            SentOrder::create(
                &with_items("ORD-1", "50.00", &[("A", 2, "25.00")]),
                ago(30, 0),
            ),
            SentOrder::restate(&restated, at),
        ],
        vec![
            record(
                "1",
                "ORD-1",
                "50.00",
                json!({"items": [cj_item("A", 2, "25.00")]}),
            ),
            correction("2", "ORD-1", "-25.00", "RETURNED_MERCHANDISE"),
        ],
    );
    assert_eq!(line.verdict, Verdict::ItemsDiffer);
    assert_eq!(line.differing_skus, ["A"]);
}

#[test]
fn records_without_items_are_not_compared_item_by_item() {
    // A simple action: CJ lists no items. Nothing to compare, the amount agrees.
    let line = only(
        vec![SentOrder::create(
            &with_items("ORD-1", "50.00", &[("A", 2, "25.00")]),
            ago(5, 0),
        )],
        vec![record("1", "ORD-1", "50.00", json!({}))],
    );
    assert_eq!(line.verdict, Verdict::Recorded);
}

#[test]
fn a_record_without_the_advertiser_amount_is_amount_unknown_with_what_cj_gave() {
    let line = only(
        vec![SentOrder::create(&create("ORD-1", "149.98"), ago(5, 0))],
        vec![record(
            "1",
            "ORD-1",
            "149.98",
            json!({"saleAmountAdvCurrency": null, "saleAmountUsd": "162.00"}),
        )],
    );
    assert_eq!(line.verdict, Verdict::AmountUnknown);
    assert!(line.verdict.needs_attention());
    assert_eq!(line.recorded_amount, None);
    assert_eq!(line.recorded_amount_usd, Some(d("162.00")));
    // A lead sent without an amount compares nothing and is recorded.
    let mut lead = create("ORD-2", "1");
    lead.amount = None;
    let line = only(
        vec![SentOrder::create(&lead, ago(5, 0))],
        vec![record(
            "2",
            "ORD-2",
            "0",
            json!({"saleAmountAdvCurrency": null, "actionType": "sim_lead"}),
        )],
    );
    assert_eq!(line.verdict, Verdict::Recorded);
}
