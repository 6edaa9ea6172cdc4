//! Reading one Commission Detail page of 10,000 records (CJ's largest payload), every field
//! selected, 3 items and 10 vertical attributes each: the SDK's typed, exact parse against a
//! plain `serde_json::Value` parse of the same bytes.

// `json!` of one whole record nests deeper than the default limit.
#![recursion_limit = "256"]

use cj_graphql::commissions::parse_publisher_page;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use std::hint::black_box;

const RECORDS: usize = 10_000;

fn record(i: usize) -> Value {
    let items: Vec<Value> = (0..3)
        .map(|n| {
            json!({
                "commissionItemId": format!("{i}-{n}"), "discountUsd": "0.00",
                "discountPubCurrency": "0.00", "discountAdvCurrency": "0.00", "itemListId": null,
                "totalCommissionAdvCurrency": "7.50", "totalCommissionPubCurrency": "7.50",
                "totalCommissionUsd": "7.50", "quantity": 1,
                "perItemSaleAmountAdvCurrency": "74.99", "perItemSaleAmountPubCurrency": "74.99",
                "perItemSaleAmountUsd": "74.99", "sku": format!("SKU-{n}"),
                "situationDetails": []
            })
        })
        .collect();
    // A return on every tenth record: negative amounts.
    let sign = if i % 10 == 9 { "-" } else { "" };
    json!({
        "actionStatus": "new", "actionTrackerId": "123456", "actionTrackerName": "Online Sale",
        "actionType": "item_sale", "advertiserId": "1234567", "advertiserName": "Acme Outdoor",
        "aid": "13579", "clickDate": "2026-01-05T09:58:00Z",
        "clickReferringURL": "https://blog.example/tents", "commissionId": (2_768_459_421u64 + i as u64).to_string(),
        "concludingBrowser": "Firefox", "concludingDeviceName": "Desktop",
        "concludingDeviceType": "Desktop", "correctionReason": null, "country": "US",
        "coupon": "SUMMER10",
        "verticalAttributes": {
            "brand": "Acme", "businessUnit": "Outdoor", "campaignId": "C-42",
            "category": "tents", "countryCode": "USA", "custStatus": "New",
            "custType": "individual", "platformId": "desktop", "promotion": "summer sale",
            "paymentMethod": "visa"
        },
        "eventDate": "2026-01-05T10:00:00.123Z", "initiatingBrowser": "Firefox",
        "initiatingDeviceName": "Desktop", "initiatingDeviceType": "Desktop",
        "isCrossDevice": false, "lockingDate": "2026-02-10T00:00:00Z",
        "lockingMethod": "FIXED_DATE", "orderDiscountAdvCurrency": "0.00",
        "orderDiscountOrigCurrency": "0.00", "orderDiscountPubCurrency": "0.00",
        "orderDiscountUsd": "0.00", "orderId": format!("ORD-{i:08}"),
        "validationStatus": "AUTOMATED", "original": sign.is_empty(),
        "originalActionId": (1_000_000 + i).to_string(),
        "postingDate": "2026-01-05T11:00:00Z",
        "pubCommissionAmountPubCurrency": format!("{sign}22.50"),
        "pubCommissionAmountUsd": format!("{sign}22.50"), "publisherId": "7654321",
        "publisherName": "Trail Blog", "reviewedStatus": null,
        "saleAmountPubCurrency": format!("{sign}224.97"), "saleAmountUsd": format!("{sign}224.97"),
        "siteToStoreOffer": null, "source": "web", "websiteId": "9000001",
        "websiteName": "Trail Blog", "items": items, "situationDetails": [],
        "shopperId": null
    })
}

fn bench(c: &mut Criterion) {
    let records: Vec<Value> = (0..RECORDS).map(record).collect();
    let body = json!({"data": {"publisherCommissions": {
        "count": RECORDS, "limit": RECORDS, "maxCommissionId": "2768469420",
        "payloadComplete": true, "records": records
    }}});
    let bytes = serde_json::to_vec(&body).expect("encodes");
    let page = parse_publisher_page(&bytes).expect("the payload parses");
    assert_eq!(page.records.len(), RECORDS);

    let mut group = c.benchmark_group("publisherCommissions_10000");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function("plain_serde_json_value", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Value>(black_box(&bytes)).expect("parses")))
    });
    group.bench_function("sdk_parse", |b| {
        b.iter(|| black_box(parse_publisher_page(black_box(&bytes)).expect("parses")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
