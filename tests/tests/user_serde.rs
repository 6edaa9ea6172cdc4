//! A user's own serde types parse beside `cj` types: the SDK turns on no global serde_json
//! behaviour. (`arbitrary_precision` would: numbers in `#[serde(untagged)]` and internally
//! tagged enums then fail at run time.) `cargo test --workspace` builds this with the features
//! of every workspace member unified, so a member that turned it on would fail here.

use cj::program_terms::Contract;
use cj::tracking::OrderCreateRequest;
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(untagged)]
enum Reading {
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    Sale { amount: f64, quantity: u32 },
    Click,
}

/// A user's message holding a `cj` type inside an internally tagged enum.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Message {
    Order { order: OrderCreateRequest },
}

#[derive(Debug, Deserialize)]
struct Export {
    readings: Vec<Reading>,
    events: Vec<Event>,
    contract: Contract,
    order: OrderCreateRequest,
    messages: Vec<Message>,
}

#[test]
fn untagged_and_internally_tagged_numbers_parse_beside_cj_types() {
    // An order with its amount as a JSON number.
    let order = serde_json::to_string(&cj_tests::sample_create("O-1"))
        .expect("serializes")
        .replace(r#""amount":"149.98""#, r#""amount":149.98"#);
    assert!(order.contains(r#""amount":149.98"#));
    let text = format!(
        r#"{{
        "readings": [1.5, "n/a", 7],
        "events": [{{"kind": "sale", "amount": 74.99, "quantity": 2}}, {{"kind": "click"}}],
        "contract": {{
            "advertiserId": 1234567, "startTime": "2024-01-01T00:00:00Z", "endTime": null,
            "status": "ACTIVE",
            "programTerms": {{
                "id": "pt-1", "name": "Standard", "isDefault": true, "specialTerms": null,
                "actionTerms": [{{
                    "id": "at-1",
                    "actionTracker": {{"id": "42", "name": "Sale", "description": null, "type": "item_sale"}},
                    "lockingMethod": {{"type": "IMMEDIATE", "durationInDays": null}},
                    "referralPeriod": 30, "referralOccurrences": null,
                    "commissions": [{{
                        "rank": 1, "isViewThrough": false, "situation": null, "itemList": null,
                        "promotionalProperties": [],
                        "rate": {{"type": "FIXED", "value": 12.345678901234567891, "currency": "EUR"}}
                    }}],
                    "performanceIncentives": []
                }}]
            }}
        }},
        "order": {order},
        "messages": [{{"type": "order", "order": {order}}}]
    }}"#
    );
    let export: Export = serde_json::from_str(&text).expect("everything parses");
    assert_eq!(
        export.readings,
        [
            Reading::Number(1.5),
            Reading::Text("n/a".into()),
            Reading::Number(7.0)
        ]
    );
    assert_eq!(
        export.events,
        [
            Event::Sale {
                amount: 74.99,
                quantity: 2
            },
            Event::Click
        ]
    );
    // `cj` types read their numbers exactly where serde_json reads them directly...
    let rate = &export.contract.program_terms.action_terms[0].commissions[0].rate;
    assert_eq!(rate.value.to_string(), "12.345678901234567891");
    assert_eq!(export.contract.advertiser_id.as_str(), "1234567");
    assert_eq!(
        export.order.amount.map(|a| a.to_string()).as_deref(),
        Some("149.98")
    );
    // ...and still parse inside a user's tagged enum, which buffers them.
    let Message::Order { order } = &export.messages[0];
    assert_eq!(
        order.amount.map(|a| a.to_string()).as_deref(),
        Some("149.98")
    );
}
