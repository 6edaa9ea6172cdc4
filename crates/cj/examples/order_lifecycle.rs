//! Create, restate and cancel orders on an open-ended (travel) action tracker, then read what
//! CJ recorded: here, the offline sandbox's ledger.
//!
//! `cargo run -p cj --example order_lifecycle`

use cj::tracking::{
    CorrectionReason, Mode, OrderCancelRequest, OrderCancellationStatus, OrderCreateRequest,
    OrderRestateRequest, OrderStatus,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = cj_sandbox::Sandbox::start().await?;
    let client = cj::Client::builder()
        .token("sandbox-token")
        .mode(Mode::Live) // the sandbox's live endpoint keeps a ledger; CJ's posts to reporting
        .tracking_url(sandbox.tracking_url())
        .build()?;

    // Action tracker 334455 is open-ended in the sandbox's seed: its orders start Pending.
    let booking = |id: &str| {
        OrderCreateRequest::builder()
            .enterprise_id("3456789")
            .action_tracker_id(334455)
            .order_id(id)
            .event_time(cj::jiff::Timestamp::now())
            .cj_event("5d21a0c4b35b11eb834200a10a1eb972")
            .currency("SEK")
            .amount("2400.00".parse().expect("a decimal"))
            .build()
    };
    let created = client
        .orders()
        .create(&[booking("STAY-1"), booking("STAY-2")])
        .await?;
    println!("created {} bookings", created.orders.len());

    // The guest stayed: accept STAY-1 with its final amount (a restatement replaces the order).
    let stayed = OrderRestateRequest::builder()
        .enterprise_id("3456789")
        .action_tracker_id(334455)
        .order_id("STAY-1")
        .update_time(cj::jiff::Timestamp::now())
        .currency("SEK")
        .amount("2150.00".parse()?)
        .status(OrderStatus::Accepted)
        .build();
    client.orders().restate(&[stayed]).await?;

    // The other booking was canceled: decline it.
    let canceled = OrderCancelRequest::builder()
        .enterprise_id("3456789")
        .action_tracker_id(334455)
        .order_id("STAY-2")
        .update_time(cj::jiff::Timestamp::now())
        .correction_reason(CorrectionReason::BookingCanceled)
        .status(OrderCancellationStatus::Declined)
        .build();
    client.orders().cancel(&[canceled]).await?;

    for order in sandbox.ledger().to_json()["orders"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!("{} is {}", order["orderId"], order["state"]);
    }
    Ok(())
}
