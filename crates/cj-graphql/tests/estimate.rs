//! Which commission applies, by table: rank, ties, item lists, PIDs, situations, view-through,
//! no match; and the amounts each rate type pays.

use cj_graphql::program_terms::{EstimateError, OrderContext, ProgramTerms, estimate};
use cj_graphql::tracking::{OrderCreateRequest, OrderItemInput};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A commission: `rank`, rate `kind` and `value`, with optional conditions.
#[derive(Clone, Copy, Default)]
struct C {
    rank: i64,
    kind: &'static str,
    value: &'static str,
    currency: Option<&'static str>,
    list: Option<&'static str>,
    situation: Option<&'static str>,
    pid: Option<&'static str>,
    view_through: bool,
}

fn pct(rank: i64, value: &'static str) -> C {
    C {
        rank,
        kind: "PERCENT",
        value,
        ..C::default()
    }
}

fn json_of(c: &C) -> Value {
    json!({
        "rank": c.rank,
        "isViewThrough": c.view_through,
        "situation": c.situation.map(|s| json!({"id": s, "name": format!("situation {s}")})),
        "itemList": c.list.map(|l| json!({"id": l, "name": format!("list {l}")})),
        "promotionalProperties": c.pid.map_or(json!([]), |p| json!([{"id": p, "name": "site"}])),
        "rate": {"type": c.kind, "value": c.value, "currency": c.currency}
    })
}

fn terms(commissions: &[C]) -> ProgramTerms {
    serde_json::from_value(json!({
        "id": "pt-1", "name": "Terms", "isDefault": false, "specialTerms": null,
        "actionTerms": [{
            "id": "at-1",
            "actionTracker": {"id": "42", "name": "Sale", "description": null, "type": "item_sale"},
            "lockingMethod": {"type": "IMMEDIATE", "durationInDays": null},
            "referralPeriod": 30, "referralOccurrences": null,
            "commissions": commissions.iter().map(json_of).collect::<Vec<_>>(),
            "performanceIncentives": [{
                "currency": "USD",
                "threshold": {"type": "SALES_AMOUNT", "value": "5000"},
                "reward": {"type": "BONUS", "commissionType": "FIXED", "value": "100"}
            }]
        }]
    }))
    .expect("terms parse")
}

fn item(sku: &str, price: &str, quantity: u32, discount: Option<&str>) -> OrderItemInput {
    let mut i = OrderItemInput::builder()
        .sku(sku)
        .unit_price(price.parse().expect("price"))
        .quantity(quantity)
        .build();
    i.discount = discount.map(|d| d.parse().expect("discount"));
    i
}

fn order(items: Vec<OrderItemInput>) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1")
        .action_tracker_id(42)
        .order_id("O-1")
        .currency("USD")
        .items(items)
        .build()
}

fn d(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// The rank of the commission chosen for each item.
fn chosen(commissions: &[C], o: &OrderCreateRequest, ctx: &OrderContext) -> Vec<Option<i64>> {
    match estimate(&terms(commissions), o, ctx) {
        Ok(e) => e
            .items
            .iter()
            .map(|i| i.commission.as_ref().map(|c| c.commission.rank))
            .collect(),
        Err(EstimateError::NoMatchingCommission { .. }) => {
            vec![None; o.items.as_ref().map_or(0, Vec::len)]
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_rate_choice_by_table() {
    let one = order(vec![item("TENT-1", "100", 1, None)]);
    let two = order(vec![
        item("TENT-1", "100", 1, None),
        item("MUG-1", "10", 1, None),
    ]);
    let tents = OrderContext::new().item_list("L1", ["TENT-1"]);
    let listed = |rank, list| C {
        list: Some(list),
        ..pct(rank, "10")
    };
    let in_situation = |rank, s| C {
        situation: Some(s),
        ..pct(rank, "10")
    };
    let for_pid = |rank, p| C {
        pid: Some(p),
        ..pct(rank, "10")
    };
    let viewed = |rank| C {
        view_through: true,
        ..pct(rank, "10")
    };

    /// Name, commissions, order, context, the rank chosen for each item.
    type Case<'a> = (
        &'a str,
        Vec<C>,
        &'a OrderCreateRequest,
        OrderContext,
        Vec<Option<i64>>,
    );
    let cases: Vec<Case> = vec![
        (
            "highest rank wins",
            vec![pct(1, "5"), pct(7, "6"), pct(3, "7")],
            &one,
            OrderContext::new(),
            vec![Some(7)],
        ),
        (
            "an item list rate for items in the list",
            vec![pct(1, "5"), listed(5, "L1")],
            &two,
            tents.clone(),
            vec![Some(5), Some(1)],
        ),
        (
            "a higher order-level rate beats a list rate",
            vec![pct(9, "5"), listed(5, "L1")],
            &two,
            tents.clone(),
            vec![Some(9), Some(9)],
        ),
        (
            "a list the caller did not describe matches nothing",
            vec![pct(1, "5"), listed(5, "L1")],
            &one,
            OrderContext::new(),
            vec![Some(1)],
        ),
        (
            "a situation rate only when it holds",
            vec![pct(1, "5"), in_situation(8, "S1")],
            &one,
            OrderContext::new().situation("S1"),
            vec![Some(8)],
        ),
        (
            "a situation that does not hold",
            vec![pct(1, "5"), in_situation(8, "S1")],
            &one,
            OrderContext::new().situation("S2"),
            vec![Some(1)],
        ),
        (
            "a PID rate for its PID",
            vec![pct(1, "5"), for_pid(6, "P1")],
            &one,
            OrderContext::new().promotional_property("P1"),
            vec![Some(6)],
        ),
        (
            "a PID rate not for another PID",
            vec![pct(1, "5"), for_pid(6, "P1")],
            &one,
            OrderContext::new().promotional_property("P2"),
            vec![Some(1)],
        ),
        (
            "a PID rate not without a PID",
            vec![pct(1, "5"), for_pid(6, "P1")],
            &one,
            OrderContext::new(),
            vec![Some(1)],
        ),
        (
            "view-through rates for view-through orders",
            vec![pct(9, "5"), viewed(2)],
            &one,
            OrderContext::new().view_through(true),
            vec![Some(2)],
        ),
        (
            "click rates for click orders",
            vec![pct(1, "5"), viewed(9)],
            &one,
            OrderContext::new(),
            vec![Some(1)],
        ),
        (
            "no match",
            vec![in_situation(8, "S1"), viewed(9)],
            &one,
            OrderContext::new(),
            vec![None],
        ),
    ];
    for (name, commissions, o, ctx, expected) in cases {
        assert_eq!(chosen(&commissions, o, &ctx), expected, "{name}");
    }
}

#[test]
fn ties_prefer_item_lists_then_cj_order_and_are_reported() {
    let o = order(vec![item("TENT-1", "100", 1, None)]);
    let ctx = OrderContext::new().item_list("L1", ["TENT-1"]);
    let list_rate = C {
        list: Some("L1"),
        ..pct(5, "12")
    };
    let e = estimate(&terms(&[pct(5, "5"), list_rate]), &o, &ctx).expect("estimate");
    let applied = e.items[0].commission.as_ref().expect("a commission");
    assert_eq!(
        applied.commission.rate.value,
        d("12"),
        "the item-list rate wins a tie"
    );
    assert!(applied.tied_with.is_empty());

    let e = estimate(&terms(&[pct(5, "5"), pct(5, "6"), pct(2, "9")]), &o, &ctx).expect("estimate");
    let applied = e.items[0].commission.as_ref().expect("a commission");
    assert_eq!(applied.commission.rate.value, d("5"), "CJ's first wins");
    assert_eq!(applied.tied_with.len(), 1);
    assert_eq!(applied.tied_with[0].rate.value, d("6"));
}

#[test]
fn amounts_per_rate_type() {
    // Lines: 2 × 50 − 10 = 90 and 1 × 10 = 10; the order's 20 discount is shared 18 / 2.
    let mut o = order(vec![
        item("TENT-1", "50", 2, Some("10")),
        item("MUG-1", "10", 1, None),
    ]);
    o.discount = Some("20".parse().expect("discount"));
    o.amount = Some("100".parse().expect("amount"));
    let ctx = OrderContext::new().item_list("L1", ["TENT-1"]);

    let e = estimate(&terms(&[pct(1, "10")]), &o, &ctx).expect("percent");
    let bases: Vec<Decimal> = e.items.iter().map(|i| i.base).collect();
    assert_eq!(bases, [d("72"), d("8")]);
    assert_eq!(e.total.len(), 1);
    assert_eq!(
        (e.total[0].currency.as_deref(), e.total[0].amount),
        (Some("USD"), d("8.00"))
    );

    let fixed = C {
        kind: "FIXED",
        value: "2.50",
        currency: Some("USD"),
        ..pct(1, "")
    };
    let e = estimate(&terms(&[fixed]), &o, &ctx).expect("fixed");
    let amounts: Vec<Decimal> = e
        .items
        .iter()
        .map(|i| i.amount.as_ref().expect("amount").amount)
        .collect();
    assert_eq!(amounts, [d("5.00"), d("2.50")], "per unit");

    let per_order = C {
        kind: "FIXED_PER_ORDER",
        value: "40",
        currency: Some("GBP"),
        ..pct(1, "")
    };
    let e = estimate(&terms(&[per_order]), &o, &ctx).expect("per order");
    let amounts: Vec<Decimal> = e
        .items
        .iter()
        .map(|i| i.amount.as_ref().expect("amount").amount)
        .collect();
    assert_eq!(amounts, [d("40"), d("0")], "once per order");
    assert_eq!(
        (e.total[0].currency.as_deref(), e.total[0].amount),
        (Some("GBP"), d("40"))
    );

    // Mixed currencies stay apart; an unknown rate type has no amount.
    let list_fixed = C {
        kind: "FIXED_PER_ORDER",
        value: "40",
        currency: Some("GBP"),
        list: Some("L1"),
        ..pct(3, "")
    };
    let e = estimate(&terms(&[pct(1, "10"), list_fixed]), &o, &ctx).expect("mixed");
    let totals: Vec<(Option<&str>, Decimal)> = e
        .total
        .iter()
        .map(|m| (m.currency.as_deref(), m.amount))
        .collect();
    assert_eq!(totals, [(Some("GBP"), d("40")), (Some("USD"), d("0.80"))]);
    let tiered = C {
        kind: "TIERED",
        value: "3",
        ..pct(1, "")
    };
    let e = estimate(&terms(&[tiered]), &o, &ctx).expect("unknown type");
    assert!(
        e.items
            .iter()
            .all(|i| i.commission.is_some() && i.amount.is_none())
    );
    assert!(e.total.is_empty());
}

#[test]
fn an_order_without_items_is_priced_as_a_whole() {
    let mut o = order(Vec::new());
    o.items = None;
    o.amount = Some("200".parse().expect("amount"));
    o.discount = Some("50".parse().expect("discount"));
    let e = estimate(&terms(&[pct(1, "4")]), &o, &OrderContext::new()).expect("estimate");
    assert_eq!(e.order_base, d("150"));
    assert_eq!(e.total[0].amount, d("6.00"));
    assert!(e.items.is_empty());
    assert_eq!(
        e.order_commission.as_ref().map(|c| c.commission.rank),
        Some(1)
    );
    let listed_only = C {
        list: Some("L1"),
        ..pct(5, "12")
    };
    let err = estimate(&terms(&[listed_only]), &o, &OrderContext::new()).expect_err("no match");
    assert!(matches!(err, EstimateError::NoMatchingCommission { .. }));
}

#[test]
fn incentives_are_reported_not_added_and_no_term_says_so() {
    let o = order(vec![item("A", "100", 1, None)]);
    let e = estimate(&terms(&[pct(1, "10")]), &o, &OrderContext::new()).expect("estimate");
    assert_eq!(e.total[0].amount, d("10.00"));
    assert_eq!(e.performance_incentives.len(), 1);
    let err = estimate(
        &terms(&[pct(1, "10")]),
        &o,
        &OrderContext::new().action_tracker("99"),
    )
    .expect_err("no action term");
    assert_eq!(
        err.to_string(),
        "the program terms have no action term for action tracker 99"
    );
    let err = estimate(
        &terms(&[C {
            view_through: true,
            ..pct(1, "10")
        }]),
        &o,
        &OrderContext::new(),
    )
    .expect_err("nothing matches");
    assert_eq!(
        err.to_string(),
        "no commission of action term at-1 matches the order (view-through: false, PID: none, situations: none)"
    );
}

#[test]
fn amounts_too_large_for_a_decimal_are_an_error_naming_them() {
    const MAX: &str = "79228162514264337593543950335";
    let fixed = |value| C {
        kind: "FIXED",
        value,
        currency: Some("USD"),
        ..pct(1, "")
    };
    let mut whole = order(Vec::new());
    whole.items = None;
    whole.amount = Some(MAX.parse().expect("amount"));
    // Lines of 6 and 2 × 10^14 share a discount of 4 × 10^14: 4 × 6 × 10^28 is too large.
    let mut shared = order(vec![
        item("A", "600000000000000", 1, None),
        item("B", "200000000000000", 1, None),
    ]);
    shared.discount = Some("400000000000000".parse().expect("discount"));
    let cases = [
        (
            vec![pct(1, "10")],
            order(vec![item("BIG", MAX, 2, None)]),
            "item 0 (BIG): unit price × quantity",
        ),
        (
            vec![pct(1, "5e27")],
            order(vec![item("A", "100", 1, None)]),
            "item 0 (A): base × percent rate",
        ),
        (
            vec![fixed("40000000000000000000000000000")],
            order(vec![item("A", "1", 3, None)]),
            "item 0 (A): the fixed rate × quantity",
        ),
        (
            vec![pct(1, "10")],
            order(vec![item("A", MAX, 1, None), item("B", MAX, 1, None)]),
            "the sum of the items' amounts",
        ),
        (
            vec![fixed("50000000000000000000000000000")],
            order(vec![item("A", "1", 1, None), item("B", "1", 1, None)]),
            "the total in USD",
        ),
        (
            vec![pct(1, "5e27")],
            whole,
            "the order's base × percent rate",
        ),
    ];
    for (commissions, o, what) in cases {
        let err = estimate(&terms(&commissions), &o, &OrderContext::new()).expect_err(what);
        assert_eq!(err, EstimateError::Overflow(what.into()));
        assert_eq!(
            err.to_string(),
            format!("the estimate overflows: {what} is too large for a decimal")
        );
    }
    // The share of the discount is then computed another way rather than refused.
    let e = estimate(&terms(&[pct(1, "10")]), &shared, &OrderContext::new()).expect("estimate");
    let bases: Vec<Decimal> = e.items.iter().map(|i| i.base).collect();
    assert_eq!(bases, [d("300000000000000"), d("100000000000000")]);
}
