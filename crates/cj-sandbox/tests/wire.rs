//! The sandbox over plain HTTP, without the SDK: CJ's documented requests and wire formats,
//! the order lifecycle, errors, and that nothing a client sends can break it.

use std::collections::BTreeSet;

use cj_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// An HTTP client for the tests, with the SDK's TLS setup (see the dev-dependency on cj-transport).
fn http() -> reqwest::Client {
    cj_transport::tls::client_builder()
        .expect("a TLS setup")
        .build()
        .expect("an HTTP client")
}

const TOKEN: &str = "sandbox-test-token";

async fn post(url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = http().post(url).json(body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.expect("the sandbox answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(url: &str, auth: Option<&str>) -> (u16, String) {
    let mut request = http().get(url);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    let response = request.send().await.expect("the sandbox answers");
    (
        response.status().as_u16(),
        response.text().await.expect("a body"),
    )
}

/// CJ's documented example request (api-facts 1.9), verbatim.
fn documented_create() -> Value {
    json!({
        "query": "mutation($o:[OrderCreateRequest!]!){createOrders(newOrders:$o){orders{submissionId batchId orderId status orderReceivedTime} errors{message fields}}}",
        "variables": {"o": [{"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": "ORD-2024-001234",
            "eventTime": "2024-01-15T18:08:36.089Z", "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
            "currency": "USD", "amount": "149.98", "discount": "0.00", "coupon": "SUMMER10",
            "items": [{"sku": "SKU-BLK-LG", "unitPrice": "74.99", "quantity": 2, "discount": "0.00"}],
            "verticalParameters": {"advertiserVertical": "Retail", "customerStatus": "New"},
            "customParameters": [{"name": "mkt_channel", "value": "affiliate"}]}]}
    })
}

async fn ledger(sandbox: &Sandbox) -> Value {
    let (status, text) = get(&format!("{}/sandbox/ledger", sandbox.root_url()), None).await;
    assert_eq!(status, 200);
    serde_json::from_str(&text).expect("the ledger is JSON")
}

#[tokio::test]
async fn the_documented_create_is_accepted_live_and_only_validated_in_test_mode() {
    let sandbox = Sandbox::start().await.expect("starts");
    let test = format!("{}/graphqltest", sandbox.tracking_url());
    let (status, body) = post(&test, Some(TOKEN), &documented_create()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["createOrders"]["orders"][0]["orderId"],
        "ORD-2024-001234"
    );
    assert_eq!(body["data"]["createOrders"]["errors"], json!([]));
    assert_eq!(
        ledger(&sandbox).await["orders"],
        json!([]),
        "test mode records nothing"
    );

    let live = format!("{}/graphql", sandbox.tracking_url());
    let (status, body) = post(&live, Some(TOKEN), &documented_create()).await;
    assert_eq!(status, 200, "{body}");
    let order = &body["data"]["createOrders"]["orders"][0];
    assert!(
        order["submissionId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(order["status"].is_null(), "not an open-ended tracker");
    let book = ledger(&sandbox).await;
    assert_eq!(book["orders"][0]["orderId"], "ORD-2024-001234");
    assert_eq!(book["orders"][0]["state"], "new");
    assert_eq!(book["orders"][0]["order"]["amount"], "149.98");

    // A duplicate create is not a second order.
    post(&live, Some(TOKEN), &documented_create()).await;
    let book = ledger(&sandbox).await;
    assert_eq!(book["orders"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        book["orders"][0]["history"][1]["action"],
        "duplicate create"
    );
}

#[tokio::test]
async fn open_ended_orders_pend_then_accept_or_decline() {
    let sandbox = Sandbox::start().await.expect("starts");
    let live = format!("{}/graphql", sandbox.tracking_url());
    let create = |id: &str| {
        json!({
            "query": "mutation C($o: [OrderCreateRequest!]!) { createOrders(newOrders: $o) { orders { orderId status } } }",
            "variables": {"o": [{"enterpriseId": "3456789", "actionTrackerId": 334455, "orderId": id,
                "eventTime": "2024-05-01T10:00:00Z", "cjEvent": "abc", "amount": "300.00"}]}
        })
    };
    for id in ["STAY-1", "STAY-2"] {
        let (_, body) = post(&live, Some(TOKEN), &create(id)).await;
        assert_eq!(
            body["data"]["createOrders"]["orders"][0]["status"],
            "Pending"
        );
    }
    let restate = json!({
        "query": "mutation { restateOrders(restatedOrders: [{enterpriseId: \"3456789\", actionTrackerId: 334455, orderId: \"STAY-1\", updateTime: \"2024-05-10T10:00:00Z\", amount: \"280.00\", status: Accepted}]) { orders { orderId status amount } } }"
    });
    let (_, body) = post(&live, Some(TOKEN), &restate).await;
    assert_eq!(
        body["data"]["restateOrders"]["orders"][0]["status"], "Accepted",
        "{body}"
    );
    // CJ's own cancel example passes one object where the schema wants a list.
    let cancel = json!({
        "query": "mutation cancelOrder { cancelOrders(cancelledOrders:{ enterpriseId:3456789 actionTrackerId:334455 orderId:\"STAY-2\" updateTime:\"2024-05-11T01:01:01.0-07:00\" correctionReason:BookingCanceled status:Declined }) { orders { submissionId status } errors { message, fields } } }"
    });
    let (_, body) = post(&live, Some(TOKEN), &cancel).await;
    assert_eq!(
        body["data"]["cancelOrders"]["orders"][0]["status"], "Declined",
        "{body}"
    );
    // Restating an order CJ never received is answered, and never shows in the ledger.
    let ghost = json!({
        "query": "mutation { restateOrders(restatedOrders: [{enterpriseId: \"3456789\", actionTrackerId: 334455, orderId: \"GHOST\", updateTime: \"2024-05-10T10:00:00Z\"}]) { orders { orderId } } }"
    });
    let (_, body) = post(&live, Some(TOKEN), &ghost).await;
    assert_eq!(
        body["data"]["restateOrders"]["orders"][0]["orderId"],
        "GHOST"
    );

    let book = ledger(&sandbox).await;
    let states: Vec<(String, String)> = book["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| {
            (
                o["orderId"].as_str().unwrap_or("").into(),
                o["state"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("STAY-1".to_string(), "accepted".to_string()),
            ("STAY-2".to_string(), "declined".to_string())
        ]
    );
    assert_eq!(
        book["orders"][0]["order"]["amount"], "280.00",
        "a restatement replaces the order"
    );
    assert_eq!(
        book["orders"][0]["history"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn cj_error_messages_and_statuses() {
    let sandbox = Sandbox::start_with(SandboxConfig::new().accepted_tokens([TOKEN]))
        .await
        .expect("starts");
    let test = format!("{}/graphqltest", sandbox.tracking_url());
    let message = |body: &Value| {
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let (status, body) = post(&test, None, &documented_create()).await;
    assert_eq!((status, message(&body)), (200, "Missing Token".into()));
    let (status, body) = post(&test, Some("wrong"), &documented_create()).await;
    assert_eq!((status, message(&body)), (200, "Invalid Token".into()));
    assert!(body["data"].is_null());

    let mut many_items = documented_create();
    many_items["variables"]["o"][0]["items"] = Value::Array(vec![
        json!({"sku": "S", "unitPrice": "1", "quantity": 1});
        101
    ]);
    let (_, body) = post(&test, Some(TOKEN), &many_items).await;
    assert_eq!(message(&body), "Order may not have more than 100 items");

    let mut future = documented_create();
    future["variables"]["o"][0]["eventTime"] = json!("2999-01-01T00:00:00Z");
    let (_, body) = post(&test, Some(TOKEN), &future).await;
    assert_eq!(
        message(&body),
        "Order may not have a eventTime/updateTime in the future"
    );

    for (field, bad) in [
        ("amount", json!("-1.00")),
        ("actionTrackerId", json!("abc")),
        ("eventTime", json!("yesterday")),
    ] {
        let mut wrong = documented_create();
        wrong["variables"]["o"][0][field] = bad;
        let (status, body) = post(&test, Some(TOKEN), &wrong).await;
        assert_eq!(status, 200);
        assert!(body["data"].is_null(), "{field}: {body}");
        assert!(message(&body).contains(field), "{field}: {body}");
    }
    let mut missing = documented_create();
    missing["variables"]["o"][0]
        .as_object_mut()
        .expect("order")
        .remove("orderId");
    let (_, body) = post(&test, Some(TOKEN), &missing).await;
    assert!(message(&body).contains("orderId"), "{body}");

    let order = documented_create()["variables"]["o"][0].clone();
    let too_many =
        json!({"query": documented_create()["query"], "variables": {"o": vec![order; 10_001]}});
    let response = http()
        .post(&test)
        .bearer_auth(TOKEN)
        .json(&too_many)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 504);
}

#[tokio::test]
async fn documents_use_aliases_fragments_variables_and_introspection() {
    let sandbox = Sandbox::start().await.expect("starts");
    let test = format!("{}/graphqltest", sandbox.tracking_url());
    let query = json!({
        "query": "fragment O on Order { id: orderId amount } mutation Both($a: [OrderCreateRequest!]!) { first: createOrders(newOrders: $a) { orders { ...O } } build: __typename }",
        "operationName": "Both",
        "variables": {"a": documented_create()["variables"]["o"]}
    });
    let (_, body) = post(&test, Some(TOKEN), &query).await;
    assert_eq!(
        body["data"]["first"]["orders"][0]["id"], "ORD-2024-001234",
        "{body}"
    );
    assert_eq!(body["data"]["build"], "Mutation");
    let (_, body) = post(&test, Some(TOKEN), &json!({"query": "{ getBuildNumber }"})).await;
    assert!(
        body["data"]["getBuildNumber"]
            .as_str()
            .is_some_and(|b| b.starts_with("cj-sandbox"))
    );
}

const INTROSPECTION: &str = "{ __schema { types { name kind fields { name type { ...T } } inputFields { name type { ...T } } enumValues { name } } } } fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

fn type_string(t: &Value) -> String {
    match t["kind"].as_str() {
        Some("NON_NULL") => format!("{}!", type_string(&t["ofType"])),
        Some("LIST") => format!("[{}]", type_string(&t["ofType"])),
        _ => t["name"].as_str().unwrap_or_default().to_string(),
    }
}

/// Every type, field (with its type) and enum value, from introspection.
fn from_introspection(body: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in body["data"]["__schema"]["types"].as_array().expect("types") {
        let name = t["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        out.insert(name.to_string());
        for list in ["fields", "inputFields"] {
            for f in t[list].as_array().into_iter().flatten() {
                out.insert(format!(
                    "{name}.{}: {}",
                    f["name"].as_str().unwrap_or_default(),
                    type_string(&f["type"])
                ));
            }
        }
        for v in t["enumValues"].as_array().into_iter().flatten() {
            out.insert(format!(
                "{name}::{}",
                v["name"].as_str().unwrap_or_default()
            ));
        }
    }
    out
}

/// The same from the SDL file.
fn from_sdl(sdl: &str) -> BTreeSet<String> {
    use graphql_parser::schema::{Definition, TypeDefinition, parse_schema};
    let doc = parse_schema::<String>(sdl).expect("the schema parses");
    let mut out = BTreeSet::new();
    for def in doc.definitions {
        let Definition::TypeDefinition(t) = def else {
            continue;
        };
        match t {
            TypeDefinition::Object(o) => {
                out.insert(o.name.clone());
                for f in o.fields {
                    out.insert(format!("{}.{}: {}", o.name, f.name, f.field_type));
                }
            }
            TypeDefinition::InputObject(o) => {
                out.insert(o.name.clone());
                for f in o.fields {
                    out.insert(format!("{}.{}: {}", o.name, f.name, f.value_type));
                }
            }
            TypeDefinition::Enum(e) => {
                out.insert(e.name.clone());
                for v in e.values {
                    out.insert(format!("{}::{}", e.name, v.name));
                }
            }
            TypeDefinition::Scalar(s) => {
                out.insert(s.name);
            }
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn the_sandbox_serves_exactly_the_sdks_schemas() {
    let sandbox = Sandbox::start().await.expect("starts");
    let root = env!("CARGO_MANIFEST_DIR");
    for (url, file) in [
        (
            format!("{}/graphqltest", sandbox.tracking_url()),
            "tracking.graphql",
        ),
        (
            format!("{}/query", sandbox.program_terms_url()),
            "program_terms.graphql",
        ),
    ] {
        let sdl = std::fs::read_to_string(format!("{root}/../../schema/{file}")).expect("schema/");
        let (_, body) = post(&url, Some(TOKEN), &json!({"query": INTROSPECTION})).await;
        assert_eq!(from_introspection(&body), from_sdl(&sdl), "{file}");
    }
}

#[tokio::test]
async fn program_terms_pages_and_filters_the_seed() {
    let sandbox = Sandbox::start().await.expect("starts");
    let url = format!("{}/query", sandbox.program_terms_url());
    let query = |args: &str| json!({"query": format!("{{ publisher {{ contracts(publisherId: \"7654321\"{args}) {{ count totalCount resultList {{ advertiserId status programTerms {{ actionTerms {{ commissions {{ rate {{ type value currency }} }} }} }} }} }} }} }}")});
    let (_, body) = post(&url, Some(TOKEN), &query(", limit: 2, offset: 1")).await;
    let list = &body["data"]["publisher"]["contracts"];
    assert_eq!(
        (list["count"].clone(), list["totalCount"].clone()),
        (json!(2), json!(5)),
        "{body}"
    );
    assert_eq!(list["resultList"][0]["advertiserId"], "2345678");

    let (_, body) = post(
        &url,
        Some(TOKEN),
        &query(", filters: {advertiserId: \"2345678\", activeAfter: \"2024-02-01T00:00:00Z\"}"),
    )
    .await;
    let list = &body["data"]["publisher"]["contracts"];
    assert_eq!(
        list["totalCount"], 1,
        "the ended 2023 contract is filtered out: {body}"
    );
    assert_eq!(list["resultList"][0]["status"], "ACTIVE");

    let (_, body) = post(&url, Some(TOKEN), &query(", limit: 101")).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit")),
        "{body}"
    );
    let (_, body) = post(&url, None, &query("")).await;
    assert_eq!(body["errors"][0]["message"], "Missing Token");

    let (_, body) = post(&url, Some(TOKEN), &query(", limit: 100")).await;
    let rates: BTreeSet<String> = body["data"]["publisher"]["contracts"]["resultList"]
        .as_array()
        .expect("contracts")
        .iter()
        .flat_map(|c| {
            c["programTerms"]["actionTerms"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|t| t["commissions"].as_array().cloned().unwrap_or_default())
        .map(|c| c["rate"]["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        rates,
        ["FIXED", "FIXED_PER_ORDER", "PERCENT"]
            .map(String::from)
            .into()
    );
}

#[tokio::test]
async fn advertiser_lookup_answers_cjs_xml_and_errors() {
    let sandbox = Sandbox::start_with(
        SandboxConfig::new()
            .accepted_tokens([TOKEN])
            .lookup_calls_per_minute(6),
    )
    .await
    .expect("starts");
    let url = |q: &str| {
        format!(
            "{}/v2/advertiser-lookup?{q}",
            sandbox.advertiser_lookup_url()
        )
    };
    let bearer = format!("Bearer {TOKEN}");

    let (status, xml) = get(
        &url("requestor-cid=4567&advertiser-ids=joined"),
        Some(&bearer),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        xml.contains("<advertisers total-matched=\"3\" records-returned=\"3\" page-number=\"1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<parent>Home &amp; Garden</parent>"),
        "escaped: {xml}"
    );

    let (_, xml) = get(
        &url("REQUESTOR-CID=4567&keywords=%2Bkitchen+-sink&records-per-page=1"),
        Some(&bearer),
    )
    .await;
    assert!(xml.contains("total-matched=\"1\""), "{xml}");
    assert!(
        xml.contains("<advertiser-name>Acme Outdoor</advertiser-name>"),
        "{xml}"
    );

    let (status, xml) = get(&url("advertiser-ids=joined"), Some(&bearer)).await;
    assert_eq!(status, 400);
    assert!(xml.contains("<error-message>You must specify the company making this request using the 'requestor-cid' parameter.</error-message>"), "{xml}");

    let (status, xml) = get(&url("requestor-cid=4567&advertiser-ids=joined"), None).await;
    assert_eq!(
        (
            status,
            xml.contains("You must provide an Authorization header.")
        ),
        (401, true)
    );
    let (status, xml) = get(
        &url("requestor-cid=4567&advertiser-ids=joined"),
        Some("Bearer nope"),
    )
    .await;
    assert_eq!(
        (status, xml.contains("Not Authenticated: nope")),
        (401, true)
    );
    let (status, body) = get(
        &format!("{}/v3/advertiser-lookup", sandbox.advertiser_lookup_url()),
        Some(&bearer),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (401, ""),
        "an unknown path is a bare 401"
    );

    // Six calls a minute in this sandbox: three were made above with the accepted token (the
    // refused ones do not count), three more pass, the seventh waits.
    for _ in 0..3 {
        let (status, _) = get(
            &url("requestor-cid=4567&advertiser-ids=notjoined"),
            Some(&bearer),
        )
        .await;
        assert_eq!(status, 200);
    }
    let response = http()
        .get(url("requestor-cid=4567&advertiser-ids=notjoined"))
        .header("authorization", &bearer)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("<error-message>Rate limit exceeded")
    );
}

#[tokio::test]
async fn nothing_a_client_sends_breaks_it() {
    let sandbox = Sandbox::start_with(SandboxConfig::new().body_limit(64 * 1024))
        .await
        .expect("starts");
    let test = format!("{}/graphqltest", sandbox.tracking_url());
    let client = http();
    let send = |body: Vec<u8>| {
        client
            .post(&test)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let response = send(b"{not json".to_vec()).await.expect("answers");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("a CJ-shaped error");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Invalid JSON"))
    );

    let response = send(br#"{"query": "mutation { createOrders(newOrders: [{ "#.to_vec())
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 400, "a body that is not JSON");
    let (status, body) = post(
        &test,
        Some(TOKEN),
        &json!({"query": "mutation { createOrders(newOrders: [{"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body["errors"][0]["message"].is_string(),
        "a GraphQL syntax error: {body}"
    );
    let (status, body) = post(&test, Some(TOKEN), &json!({"query": 42})).await;
    assert_eq!(
        (status, body["errors"][0]["message"].is_string()),
        (400, true)
    );

    let huge = vec![b' '; 65 * 1024];
    let response = send(huge).await.expect("answers");
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.expect("a CJ-shaped error");
    assert!(body["errors"][0]["message"].is_string());

    let (status, body) = get(&test, Some("Bearer x")).await;
    assert_eq!(status, 405);
    assert!(body.contains("Method Not Allowed"));
    let (status, body) = get(&format!("{}/nowhere", sandbox.root_url()), None).await;
    assert_eq!(status, 404);
    assert!(body.contains("Not Found"));
    let (status, _) = post(
        &format!("{}/v2/advertiser-lookup", sandbox.advertiser_lookup_url()),
        Some(TOKEN),
        &json!({}),
    )
    .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_data_directory_replaces_the_bundled_seed_file_by_file() {
    let dir = std::env::temp_dir().join(format!("cj-sandbox-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let advertiser = json!({"advertisers": [{
        "advertiser-id": "9988776", "advertiser-name": "Own Seed Shop", "relationship-status": "joined",
        "actions": [{"name": "Sale", "type": "sale", "id": "1", "commission": {"default": "3.00%"}}],
        "keywords": ["seeds"]
    }]});
    std::fs::write(dir.join("advertisers.json"), advertiser.to_string()).expect("written");
    std::fs::write(
        dir.join("tracking.json"),
        r#"{"openEndedActionTrackers": ["123456"]}"#,
    )
    .expect("written");
    let sandbox = Sandbox::start_with(SandboxConfig::new().data_dir(&dir).expect("the seed loads"))
        .await
        .expect("starts");

    let url = format!(
        "{}/v2/advertiser-lookup?requestor-cid=1&advertiser-ids=joined",
        sandbox.advertiser_lookup_url()
    );
    let (_, xml) = get(&url, Some("Bearer t")).await;
    assert!(xml.contains("total-matched=\"1\""), "{xml}");
    assert!(
        xml.contains("<advertiser-name>Own Seed Shop</advertiser-name>"),
        "{xml}"
    );
    let (_, body) = post(
        &format!("{}/graphqltest", sandbox.tracking_url()),
        Some(TOKEN),
        &documented_create(),
    )
    .await;
    assert_eq!(
        body["data"]["createOrders"]["orders"][0]["status"], "Pending",
        "tracker 123456 is open-ended here"
    );
    let (_, body) = post(
        &format!("{}/query", sandbox.program_terms_url()),
        Some(TOKEN),
        &json!({"query": "{ publisher { contracts(publisherId: \"7654321\") { totalCount } } }"}),
    )
    .await;
    assert_eq!(
        body["data"]["publisher"]["contracts"]["totalCount"], 5,
        "no program_terms.json: the bundled one"
    );

    std::fs::write(dir.join("program_terms.json"), "{ not json").expect("written");
    let err = SandboxConfig::new()
        .data_dir(&dir)
        .expect_err("a broken seed file");
    assert!(err.to_string().contains("program_terms.json"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
