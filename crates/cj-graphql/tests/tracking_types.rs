//! The Tracking types against CJ's schema, the builders, and each validation rule.

use cj_graphql::tracking::{
    CorrectionReason, DEFAULT_CLOCK_SKEW, Horizon, Instant, OrderCancelRequest,
    OrderCancellationStatus, OrderCreateRequest, OrderItemInput, OrderRestateRequest, OrderStatus,
    VerticalParameter, VerticalParametersInput, VerticalType, validate_cancel, validate_create,
    validate_restate,
};
use graphql_parser::schema::{Definition, TypeDefinition, parse_schema};
use serde_json::json;

fn schema_enum_values(name: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/tracking.graphql");
    let text = std::fs::read_to_string(path).expect("schema/tracking.graphql");
    let doc = parse_schema::<String>(&text).expect("the schema parses");
    doc.definitions
        .iter()
        .find_map(|d| match d {
            Definition::TypeDefinition(TypeDefinition::Enum(e)) if e.name == name => {
                Some(e.values.iter().map(|v| v.name.clone()).collect())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("enum {name} is in the schema"))
}

#[test]
fn hand_written_enums_match_the_schema() {
    assert_eq!(
        schema_enum_values("CorrectionReason"),
        CorrectionReason::KNOWN
    );
    assert_eq!(schema_enum_values("OrderStatus"), OrderStatus::KNOWN);
    assert_eq!(
        schema_enum_values("OrderCancellationStatus"),
        OrderCancellationStatus::KNOWN
    );
    assert_eq!(schema_enum_values("VerticalType"), VerticalType::KNOWN);
}

#[test]
fn enums_keep_unknown_values_both_ways() {
    let known: CorrectionReason = serde_json::from_value(json!("Other")).expect("reads");
    assert_eq!(known, CorrectionReason::Other);
    let unknown: CorrectionReason = serde_json::from_value(json!("Chargeback")).expect("reads");
    assert_eq!(unknown, CorrectionReason::Unknown("Chargeback".into()));
    assert_eq!(
        serde_json::to_value(&unknown).expect("writes"),
        json!("Chargeback")
    );
}

fn t(text: &str) -> Instant {
    text.parse().expect("time")
}

fn order(id: &str) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(42)
        .order_id(id)
        .event_time(t("2024-01-01T00:00:00Z"))
        .cj_event("abc")
        .build()
}

#[test]
fn builders_send_only_what_was_set_with_cj_names() {
    let o = OrderCreateRequest::builder()
        .enterprise_id(1234567u32)
        .action_tracker_id(42)
        .order_id("A-1")
        .event_time(t("2024-01-01T12:00:00+02:00"))
        .ad_id(7)
        .promotional_property_id(8)
        .vertical_parameters(
            VerticalParametersInput::builder()
                .advertiser_vertical(VerticalType::Travel)
                .r#class("Business")
                .car_options("insurance")
                .shopify_order_id("S-9")
                .build(),
        )
        .items(vec![
            OrderItemInput::builder()
                .sku("X")
                .unit_price(3u32.into())
                .quantity(1)
                .build(),
        ])
        .build();
    assert_eq!(
        serde_json::to_value(&o).expect("writes"),
        json!({
            "enterpriseId": "1234567",
            "actionTrackerId": 42,
            "orderId": "A-1",
            "eventTime": "2024-01-01T10:00:00Z",
            "adId": 7,
            "promotionalPropertyId": 8,
            "verticalParameters": {
                "advertiserVertical": "Travel",
                "class": "Business",
                "carOptions": "insurance",
                "shopifyOrderId": "S-9"
            },
            "items": [{"unitPrice": "3", "quantity": 1, "sku": "X"}]
        })
    );
}

#[test]
fn inputs_read_back_what_they_write_and_refuse_unknown_fields() {
    let o = order("A-1");
    let text = serde_json::to_string(&o).expect("writes");
    let back: OrderCreateRequest = serde_json::from_str(&text).expect("reads");
    assert_eq!(back, o);
    let typo = json!({"enterpriseId": "1", "actionTrackerId": 1, "orderId": "A", "amout": "1"});
    let err = serde_json::from_value::<OrderCreateRequest>(typo).expect_err("typo refused");
    assert!(err.to_string().contains("unknown field `amout`"), "{err}");
    let negative =
        json!({"enterpriseId": "1", "actionTrackerId": 1, "orderId": "A", "amount": "-1"});
    assert!(serde_json::from_value::<OrderCreateRequest>(negative).is_err());
}

fn fields(result: Result<(), cj_graphql::transport::InvalidInput>) -> Vec<String> {
    match result {
        Ok(()) => Vec::new(),
        Err(e) => e
            .problems
            .iter()
            .map(|p| format!("{}:{}", p.index.unwrap_or(usize::MAX), p.field))
            .collect(),
    }
}

#[test]
fn create_rules() {
    let now = t("2024-06-01T00:00:00Z");
    assert_eq!(
        fields(validate_create(&[order("A-1"), order("A_2-b")], now)),
        Vec::<String>::new()
    );

    let mut no_attribution = order("A");
    no_attribution.cj_event = None;
    let mut ad_only = order("B");
    ad_only.cj_event = None;
    ad_only.ad_id = Some(1);
    let mut ad_and_property = order("C");
    ad_and_property.cj_event = None;
    ad_and_property.ad_id = Some(1);
    ad_and_property.promotional_property_id = Some(2);
    let mut long_event = order("D");
    long_event.cj_event = Some("e".repeat(65).into());
    let mut no_time = order("E");
    no_time.event_time = None;
    let mut no_enterprise = order("F");
    no_enterprise.enterprise_id = "".into();
    let mut no_sku = order("G");
    no_sku.items = Some(vec![
        OrderItemInput::builder()
            .sku(" ")
            .unit_price(1u32.into())
            .quantity(1)
            .build(),
    ]);
    let mut lower_currency = order("H");
    lower_currency.currency = Some("EURO".into());
    let empty_id = order("");
    assert_eq!(
        fields(validate_create(
            &[
                no_attribution,
                ad_only,
                ad_and_property,
                long_event,
                no_time,
                no_enterprise,
                no_sku,
                lower_currency,
                empty_id
            ],
            now
        )),
        [
            "0:cjEvent",
            "1:cjEvent",
            "3:cjEvent",
            "4:eventTime",
            "5:enterpriseId",
            "6:items[0].sku",
            "7:currency",
            "8:orderId",
        ]
    );
}

#[test]
fn an_order_id_may_repeat_under_another_action_tracker_or_enterprise() {
    let now = t("2024-06-01T00:00:00Z");
    let mut other_tracker = order("A-1");
    other_tracker.action_tracker_id = 43;
    let mut other_enterprise = order("A-1");
    other_enterprise.enterprise_id = "7654321".into();
    assert!(validate_create(&[order("A-1"), other_tracker, other_enterprise], now).is_ok());
    assert_eq!(
        fields(validate_create(&[order("A-1"), order("A-1")], now)),
        ["1:orderId"]
    );
}

#[test]
fn restate_and_cancel_rules() {
    let now = t("2024-06-01T00:00:00Z");
    let restate = |id: &str, time: &str| {
        OrderRestateRequest::builder()
            .enterprise_id("1")
            .action_tracker_id(1)
            .order_id(id)
            .update_time(t(time))
            .build()
    };
    let mut too_many = restate("C", "2024-05-01");
    too_many.items = Some(vec![
        OrderItemInput::builder()
            .sku("S")
            .unit_price(1u32.into())
            .quantity(1)
            .build();
        101
    ]);
    assert_eq!(
        fields(validate_restate(
            &[
                restate("A", "2024-05-01"),
                restate("B", "2024-06-02"),
                too_many,
                restate("A", "2024-05-02")
            ],
            now
        )),
        ["1:updateTime", "2:items", "3:orderId"]
    );
    let cancel = |id: &str, time: &str| {
        OrderCancelRequest::builder()
            .enterprise_id("1")
            .action_tracker_id(1)
            .order_id(id)
            .update_time(t(time))
            .status(OrderCancellationStatus::Declined)
            .build()
    };
    assert_eq!(
        fields(validate_cancel(
            &[cancel("A", "2024-05-01"), cancel("B#", "2024-07-01")],
            now
        )),
        ["1:orderId", "1:updateTime"]
    );
    let exactly_100 = {
        let mut r = restate("D", "2024-05-01");
        r.items = Some(vec![
            OrderItemInput::builder()
                .sku("S")
                .unit_price(1u32.into())
                .quantity(1)
                .build();
            100
        ]);
        r
    };
    assert!(validate_restate(&[exactly_100], now).is_ok());
}

#[test]
fn vertical_parameters_hold_only_what_is_set_and_read_as_the_derived_struct_did() {
    // Out of schema order, a `null`, an escaped key: read as written, kept in schema order.
    let read: VerticalParametersInput = serde_json::from_str(
        r#"{"shopifyOrderId":"S-9","brand":null,"cl\u0061ss":"Business","advertiserVertical":"Travel","carOptions":"insurance"}"#,
    )
    .expect("reads");
    let built = VerticalParametersInput::builder()
        .advertiser_vertical(VerticalType::Travel)
        .shopify_order_id("S-9")
        .car_options("insurance")
        .r#class("Business")
        .build();
    assert_eq!(read, built);
    assert_eq!(read.brand(), None, "null is a field not set");
    assert_eq!(read.r#class(), Some("Business"));
    assert_eq!(read.get(VerticalParameter::CarOptions), Some("insurance"));
    assert_eq!(
        read.texts().map(|(f, _)| f.name()).collect::<Vec<_>>(),
        ["carOptions", "class", "shopifyOrderId"],
        "schema order"
    );
    assert_eq!(
        serde_json::to_string(&read).expect("writes"),
        r#"{"advertiserVertical":"Travel","carOptions":"insurance","class":"Business","shopifyOrderId":"S-9"}"#
    );
    assert_eq!(
        format!("{read:?}"),
        r#"VerticalParametersInput { advertiser_vertical: Travel, carOptions: "insurance", class: "Business", shopifyOrderId: "S-9" }"#,
        "Debug shows what is set"
    );

    // Set, replace and clear by field.
    let mut v = VerticalParametersInput::default();
    assert!(v.is_empty());
    v.set(VerticalParameter::Promotion, Some("summer".into()));
    v.set(VerticalParameter::Brand, Some("Acme".into()));
    v.set(VerticalParameter::Promotion, Some("winter".into()));
    assert_eq!(
        serde_json::to_string(&v).expect("writes"),
        r#"{"brand":"Acme","promotion":"winter"}"#
    );
    v.set(VerticalParameter::Brand, None);
    assert_eq!(v.brand(), None);
    assert_eq!(v.promotion(), Some("winter"));
    assert_eq!(
        VerticalParameter::from_name("promotion"),
        Some(VerticalParameter::Promotion)
    );
    assert_eq!(VerticalParameter::ALL.len(), 114);

    // What the derived struct refused is still refused, naming the field.
    for (json, why) in [
        (r#"{"brand":"A","brand":"B"}"#, "duplicate field `brand`"),
        (r#"{"brand":null,"brand":"B"}"#, "duplicate field `brand`"),
        (
            r#"{"advertiserVertical":"Travel","advertiserVertical":"Retail"}"#,
            "duplicate field `advertiserVertical`",
        ),
        (r#"{"brandName":"A"}"#, "unknown field `brandName`"),
        (
            r#"{"brand":7}"#,
            "invalid type: integer `7`, expected a string",
        ),
        (r#"[]"#, "invalid type: sequence"),
    ] {
        let e = serde_json::from_str::<VerticalParametersInput>(json).expect_err(json);
        assert!(e.to_string().contains(why), "{json}: {e}");
    }
}

#[test]
fn a_time_a_little_ahead_of_this_clock_passes_and_one_beyond_the_tolerance_is_named() {
    let now = t("2024-06-01T00:00:00Z");
    let at = |id: &str, time: &str| {
        let mut o = order(id);
        o.event_time = Some(t(time));
        o
    };
    assert_eq!(DEFAULT_CLOCK_SKEW, std::time::Duration::from_secs(300));
    // A second ahead (a host whose clock runs ahead, an order stamped after validation took
    // its "now"), and the tolerance exactly: accepted.
    let ahead = [
        at("A", "2024-06-01T00:00:01Z"),
        at("B", "2024-06-01T00:05:00Z"),
    ];
    assert!(validate_create(&ahead, now).is_ok());

    // Beyond it: refused, naming the order, its field, how far ahead and the tolerance.
    let late = validate_create(
        &[
            at("A", "2024-06-01T00:00:01Z"),
            at("FUT-1", "2024-06-01T00:05:01Z"),
        ],
        now,
    )
    .expect_err("beyond the tolerance");
    let [problem] = late.problems.as_slice() else {
        panic!("one problem: {late:?}");
    };
    assert_eq!(
        (problem.index, problem.id.as_deref(), problem.field.as_str()),
        (Some(1), Some("FUT-1"), "eventTime")
    );
    assert_eq!(
        problem.message,
        "2024-06-01T00:05:01Z is in the future: 5m 1s ahead of this host's clock, more than the \
         5m allowed for clock skew; CJ refuses the whole \
         request"
    );

    // A tolerance of one's own, for restates and cancels too.
    let exact = Horizon::new(now, std::time::Duration::ZERO);
    assert_eq!(
        fields(validate_create(&[at("A", "2024-06-01T00:00:01Z")], exact)),
        ["0:eventTime"]
    );
    let wide = Horizon::new(now, std::time::Duration::from_secs(3600));
    let restate = OrderRestateRequest::builder()
        .enterprise_id("1")
        .action_tracker_id(1)
        .order_id("R")
        .update_time(t("2024-06-01T00:30:00Z"))
        .build();
    assert!(validate_restate(std::slice::from_ref(&restate), wide).is_ok());
    assert_eq!(
        fields(validate_restate(std::slice::from_ref(&restate), now)),
        ["0:updateTime"]
    );
    let cancel = OrderCancelRequest::builder()
        .enterprise_id("1")
        .action_tracker_id(1)
        .order_id("C")
        .update_time(t("2024-06-01T00:04:00Z"))
        .status(OrderCancellationStatus::Declined)
        .build();
    assert!(validate_cancel(std::slice::from_ref(&cancel), now).is_ok());
    assert_eq!(
        fields(validate_cancel(std::slice::from_ref(&cancel), exact)),
        ["0:updateTime"]
    );
    // A tolerance past the end of time does not overflow: everything passes.
    let endless = Horizon::new(now, std::time::Duration::from_secs(u64::MAX));
    assert!(validate_create(&[at("A", "9999-01-01T00:00:00Z")], endless).is_ok());
}
