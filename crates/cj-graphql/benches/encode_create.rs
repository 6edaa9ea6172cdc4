//! Encoding one `createOrders` request of 10,000 orders (3 items and 10 vertical parameters
//! each), against two plain serde_json baselines that write the same JSON: plain structs of
//! `String`s and integers (`plain_serde_json`, the issue's yardstick: amounts and times are
//! already text there), and the same structs with amounts as `rust_decimal::Decimal` and the
//! time as `jiff::Timestamp`, written by those crates' own serde (`plain_serde_json_typed`).

use cj_graphql::tracking::{
    Mode, OrderCreateRequest, OrderItemInput, Orders, Validation, VerticalParametersInput,
    VerticalType,
};
use cj_graphql::transport::{Credentials, Transport};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;
use std::hint::black_box;

const ORDERS: usize = 10_000;

fn sdk_orders() -> Vec<OrderCreateRequest> {
    (0..ORDERS)
        .map(|i| {
            OrderCreateRequest::builder()
                .enterprise_id("1234567")
                .action_tracker_id(123456)
                .order_id(format!("ORD-{i:08}"))
                .event_time(
                    "2024-01-15T18:08:36.089Z"
                        .parse::<cj_graphql::tracking::Instant>()
                        .expect("time"),
                )
                .cj_event("7166ddf3b35b11eb834200a10a1eb972")
                .currency("USD")
                .amount("224.97".parse().expect("decimal"))
                .discount("0.00".parse().expect("decimal"))
                .items(
                    (0..3)
                        .map(|n| {
                            OrderItemInput::builder()
                                .sku(format!("SKU-{n}"))
                                .unit_price("74.99".parse().expect("decimal"))
                                .quantity(1)
                                .discount("0.00".parse().expect("decimal"))
                                .build()
                        })
                        .collect(),
                )
                .vertical_parameters(
                    VerticalParametersInput::builder()
                        .advertiser_vertical(VerticalType::Retail)
                        .brand("Acme")
                        .business_unit("Outdoor")
                        .campaign_id("C-42")
                        .category("tents")
                        .country_code("US")
                        .customer_status("New")
                        .customer_type("individual")
                        .platform_id("mobile")
                        .promotion("summer sale")
                        .build(),
                )
                .build()
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainItem {
    unit_price: String,
    quantity: u32,
    sku: String,
    discount: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainVertical {
    advertiser_vertical: String,
    brand: String,
    business_unit: String,
    campaign_id: String,
    category: String,
    country_code: String,
    customer_status: String,
    customer_type: String,
    platform_id: String,
    promotion: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainOrder {
    enterprise_id: String,
    action_tracker_id: u32,
    order_id: String,
    event_time: String,
    cj_event: String,
    amount: String,
    discount: String,
    vertical_parameters: PlainVertical,
    items: Vec<PlainItem>,
    currency: String,
}

/// A request body of plain (or typed plain) orders.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainBody<'a, O> {
    query: &'static str,
    operation_name: &'static str,
    variables: PlainVariables<'a, O>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainVariables<'a, O> {
    new_orders: &'a [O],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypedItem {
    unit_price: rust_decimal::Decimal,
    quantity: u32,
    sku: String,
    discount: rust_decimal::Decimal,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypedOrder {
    enterprise_id: String,
    action_tracker_id: u32,
    order_id: String,
    event_time: jiff::Timestamp,
    cj_event: String,
    amount: rust_decimal::Decimal,
    discount: rust_decimal::Decimal,
    vertical_parameters: PlainVertical,
    items: Vec<TypedItem>,
    currency: String,
}

fn typed_orders() -> Vec<TypedOrder> {
    let decimal = |s: &str| s.parse::<rust_decimal::Decimal>().expect("decimal");
    plain_orders()
        .into_iter()
        .map(|p| TypedOrder {
            enterprise_id: p.enterprise_id,
            action_tracker_id: p.action_tracker_id,
            order_id: p.order_id,
            event_time: p.event_time.parse().expect("time"),
            cj_event: p.cj_event,
            amount: decimal(&p.amount),
            discount: decimal(&p.discount),
            vertical_parameters: p.vertical_parameters,
            items: p
                .items
                .into_iter()
                .map(|i| TypedItem {
                    unit_price: decimal(&i.unit_price),
                    quantity: i.quantity,
                    sku: i.sku,
                    discount: decimal(&i.discount),
                })
                .collect(),
            currency: p.currency,
        })
        .collect()
}

fn plain_orders() -> Vec<PlainOrder> {
    (0..ORDERS)
        .map(|i| PlainOrder {
            enterprise_id: "1234567".into(),
            action_tracker_id: 123456,
            order_id: format!("ORD-{i:08}"),
            event_time: "2024-01-15T18:08:36.089Z".into(),
            cj_event: "7166ddf3b35b11eb834200a10a1eb972".into(),
            amount: "224.97".into(),
            discount: "0.00".into(),
            vertical_parameters: PlainVertical {
                advertiser_vertical: "Retail".into(),
                brand: "Acme".into(),
                business_unit: "Outdoor".into(),
                campaign_id: "C-42".into(),
                category: "tents".into(),
                country_code: "US".into(),
                customer_status: "New".into(),
                customer_type: "individual".into(),
                platform_id: "mobile".into(),
                promotion: "summer sale".into(),
            },
            items: (0..3)
                .map(|n| PlainItem {
                    unit_price: "74.99".into(),
                    quantity: 1,
                    sku: format!("SKU-{n}"),
                    discount: "0.00".into(),
                })
                .collect(),
            currency: "USD".into(),
        })
        .collect()
}

/// A request body of plain (or typed plain) orders, as plain serde_json writes it.
fn plain_body<O: Serialize>(orders: &[O]) -> Vec<u8> {
    let body = PlainBody {
        query: "q",
        operation_name: "CreateOrders",
        variables: PlainVariables { new_orders: orders },
    };
    serde_json::to_vec(&body).expect("encodes")
}

fn bench(c: &mut Criterion) {
    let transport = Transport::builder()
        .credentials(Credentials::token("bench-token-never-sent"))
        .build()
        .expect("transport");
    let orders = Orders::new(transport, "http://127.0.0.1:9", Mode::Test).expect("client");
    let unchecked = orders.clone().with_validation(Validation::Off);
    let sdk = sdk_orders();
    let plain = plain_orders();
    let typed = typed_orders();
    // The three encoders write the same JSON (but for the query text).
    let sdk_json = String::from_utf8(unchecked.encode_create(&sdk).expect("encodes")[0].to_vec())
        .expect("UTF-8");
    let typed_json =
        serde_json::to_string(&PlainVariables { new_orders: &typed }).expect("encodes");
    let plain_json =
        serde_json::to_string(&PlainVariables { new_orders: &plain }).expect("encodes");
    assert_eq!(typed_json, plain_json);
    let orders_json = plain_json
        .strip_prefix(r#"{"newOrders":"#)
        .and_then(|j| j.strip_suffix('}'))
        .expect("the orders");
    assert!(
        sdk_json.contains(orders_json),
        "the SDK writes the baseline's orders"
    );

    let bytes = unchecked.encode_create(&sdk).expect("encodes")[0].len();
    let mut group = c.benchmark_group("createOrders_10000");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("plain_serde_json", |b| {
        b.iter(|| black_box(plain_body(&plain)))
    });
    group.bench_function("plain_serde_json_typed", |b| {
        b.iter(|| black_box(plain_body(&typed)))
    });
    group.bench_function("sdk_encode", |b| {
        b.iter(|| black_box(unchecked.encode_create(black_box(&sdk)).expect("encodes")))
    });
    group.bench_function("sdk_validate_and_encode", |b| {
        b.iter(|| black_box(orders.encode_create(black_box(&sdk)).expect("encodes")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
