//! Page through a publisher's contracts and estimate the commission of an order.
//!
//! `cargo run -p cj --example program_terms`

use cj::program_terms::{OrderContext, TryStreamExt, estimate};
use cj::tracking::{OrderCreateRequest, OrderItemInput};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = cj_sandbox::Sandbox::start().await?;
    let client = cj::Client::builder()
        .token("sandbox-token")
        .program_terms_url(sandbox.program_terms_url())
        .build()?;

    // One page...
    let page = client
        .program_terms()
        .contracts("7654321")
        .page(2, 0)
        .await?;
    println!(
        "{} of {} contracts on the first page",
        page.count, page.total_count
    );
    // ...or every contract, 100 per request.
    let contracts: Vec<_> = client
        .program_terms()
        .contracts("7654321")
        .stream()
        .try_collect()
        .await?;
    for c in &contracts {
        println!("{} {} {}", c.advertiser_id, c.status, c.program_terms.name);
    }

    let acme = contracts
        .iter()
        .find(|c| c.advertiser_id.as_str() == "1234567")
        .ok_or("no contract with advertiser 1234567")?;
    let order = OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("ORD-1")
        .currency("USD")
        .items(vec![
            OrderItemInput::builder()
                .sku("TENT-2P")
                .unit_price("199.99".parse()?)
                .quantity(1)
                .build(),
            OrderItemInput::builder()
                .sku("MUG")
                .unit_price("9.99".parse()?)
                .quantity(2)
                .build(),
        ])
        .build();
    // The tent is in item list 777 ("Tents"); membership comes from CJ's Item List API.
    let context = OrderContext::new().item_list("777", ["TENT-2P"]);
    let e = estimate(&acme.program_terms, &order, &context)?;
    for item in &e.items {
        let rate = item.commission.as_ref().map(|c| &c.commission.rate);
        println!(
            "{}: {:?} {:?} -> {:?}",
            item.sku,
            rate.map(|r| r.type_.to_string()),
            rate.map(|r| r.value),
            item.amount.as_ref().map(|m| m.amount)
        );
    }
    println!("estimated commission: {:?}", e.total);
    Ok(())
}
