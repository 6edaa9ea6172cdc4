//! Send one order to CJ's test endpoint; here, to the bundled offline sandbox.
//!
//! `cargo run -p cj --example quickstart`. Against CJ, drop the sandbox and the URL override
//! and give your personal access token: `Client::builder().token(std::env::var("CJ_TOKEN")?)`.

use cj::tracking::{Mode, OrderCreateRequest, OrderItemInput};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = cj_sandbox::Sandbox::start().await?;
    let client = cj::Client::builder()
        .token("sandbox-token")
        .mode(Mode::Test)
        .tracking_url(sandbox.tracking_url())
        .build()?;

    let order = OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("ORD-QUICKSTART-1")
        .event_time(cj::jiff::Timestamp::now())
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .currency("USD")
        .amount("149.98".parse()?)
        .items(vec![
            OrderItemInput::builder()
                .sku("SKU-BLK-LG")
                .unit_price("74.99".parse()?)
                .quantity(2)
                .build(),
        ])
        .build();

    let response = client.orders().create(&[order]).await?;
    for o in &response.orders {
        println!("accepted {} as submission {}", o.order_id, o.submission_id);
    }
    for e in &response.errors {
        println!("refused: {} {:?}", e.message, e.fields);
    }
    Ok(())
}
