//! Entry points for the fuzz targets in the repository's `fuzz/` folder: each takes any bytes,
//! must never panic or hang on them, and panics only when an invariant of the SDK breaks. Not
//! part of the API: no stability promise.

use crate::scalars::{Id, Instant, NonNegativeDecimalNumber};
use crate::tracking::{OrderCancelRequest, OrderCreateRequest, OrderRestateRequest};

/// The secret the targets redact; an answer that carries it must not leak it.
pub const SECRET: &str = "FUZZ-SECRET-9d2c4e7a-token";

/// CJ's answer to `createOrders` or `cancelOrders`, read and settled against the orders sent.
pub fn tracking_answer(data: &[u8]) {
    crate::tracking::fuzz_answer(data);
}

/// CJ's answer to the Program Terms `contracts` query, with a sample order estimated against
/// every action term it holds.
#[cfg(feature = "program-terms")]
pub fn program_terms_answer(data: &[u8]) {
    crate::program_terms::fuzz_answer(data);
}

/// The scalars read from text (as `FromStr`) and from JSON.
pub fn scalars(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<Instant>();
    if let Ok(d) = text.parse::<NonNegativeDecimalNumber>() {
        assert!(
            !d.get().is_sign_negative() || d.get().is_zero(),
            "{d:?} is negative"
        );
        assert_eq!(
            d.to_string().parse::<NonNegativeDecimalNumber>().ok(),
            Some(d)
        );
    }
    let _ = serde_json::from_slice::<Instant>(data);
    let _ = serde_json::from_slice::<NonNegativeDecimalNumber>(data);
    let _ = serde_json::from_slice::<Id>(data);
}

/// One order line as `cj orders` reads it (any of the three kinds), validated and encoded.
pub fn order_input(data: &[u8]) {
    let now = Instant::now();
    if let Ok(order) = serde_json::from_slice::<OrderCreateRequest>(data) {
        let _ = crate::tracking::validate_create(std::slice::from_ref(&order), now);
        let _ = serde_json::to_vec(&order);
    }
    if let Ok(order) = serde_json::from_slice::<OrderRestateRequest>(data) {
        let _ = crate::tracking::validate_restate(std::slice::from_ref(&order), now);
        let _ = serde_json::to_vec(&order);
    }
    if let Ok(order) = serde_json::from_slice::<OrderCancelRequest>(data) {
        let _ = crate::tracking::validate_cancel(std::slice::from_ref(&order), now);
        let _ = serde_json::to_vec(&order);
    }
}

/// The redactor on any body: nothing it returns holds the secret.
pub fn redaction(data: &[u8]) {
    let redactor = cj_transport::Redactor::new(SECRET);
    let scrubbed = redactor.scrub(data);
    let text = String::from_utf8_lossy(&scrubbed);
    assert!(!text.contains(SECRET), "scrub left the secret");
    let redacted = redactor.redact(&String::from_utf8_lossy(data));
    assert!(!redacted.contains(SECRET), "redact left the secret");
    let kept = redactor.redact_body(data);
    assert!(!kept.contains(SECRET), "redact_body left the secret");
}

/// A Commission Detail answer, read as either side's page: its records folded into their
/// actions' current states, and the advertiser's reconciled against sent orders that some
/// records match (`FUZZ-1` and `FUZZ-2` at action tracker 123456).
#[cfg(feature = "reconcile")]
pub fn commission_answer(data: &[u8]) {
    use crate::commissions::{fold_actions, parse_advertiser_page, parse_publisher_page};
    use crate::reconcile::{Reconciler, SentOrder};
    if let Ok(page) = parse_advertiser_page(data) {
        let sent_at = "2026-11-01T00:00:00Z"
            .parse::<Instant>()
            .unwrap_or_else(|_| Instant::now());
        let mut reconciler = Reconciler::new();
        for (id, amount) in [("FUZZ-1", "10.00"), ("FUZZ-2", "0.00")] {
            let order = OrderCreateRequest::builder()
                .enterprise_id("1234567")
                .action_tracker_id(123456)
                .order_id(id)
                .event_time(sent_at)
                .amount(amount.parse().unwrap_or_default())
                .build();
            reconciler.add(SentOrder::create(&order, sent_at));
        }
        for record in &page.records {
            let _ = reconciler.push(record);
        }
        let verdicts = reconciler.finish().count();
        assert_eq!(verdicts, 2, "one verdict per order sent");
        let _ = fold_actions(page.records);
    }
    if let Ok(page) = parse_publisher_page(data) {
        let _ = fold_actions(page.records);
    }
}
