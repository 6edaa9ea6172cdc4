use cj::tracking::{OrderCreateRequest, StreamExt, stream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = cj::Client::from_env()?; // CJ_TOKEN (and CJ_TRACKING_URL...); test mode
    send_orders(&client, 1_000_000).await
}

/// Sends `n` orders, stamped as they are made, and prints each answer as it arrives.
async fn send_orders(client: &cj::Client, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let orders = (0..n).map(|i| {
        OrderCreateRequest::builder()
            .enterprise_id("1234567")
            .action_tracker_id(123456)
            .order_id(format!("ORD-{i}"))
            .event_time(cj::jiff::Timestamp::now())
            .cj_event("7166ddf3b35b11eb834200a10a1eb972")
            .build()
    });
    let mut answers = client.orders().stream(stream::iter(orders));
    while let Some(answer) = answers.next().await {
        let answer = answer?;                        // a StreamError: see below
        for (index, order) in answer.accepted() {    // read one at a time from CJ's answer
            let order = order?;                      // accepted; its echo did not read
            println!("{index:?}: {} accepted as {}", order.order_id, order.submission_id);
        }
        for error in &answer.errors {                // rebased onto the whole input
            eprintln!("refused: {:?} {:?}: {}", error.index, error.order_id, error.message);
        }
        for order in &answer.unconfirmed {
            eprintln!("unconfirmed, safe to resend: {}", order.order_id);
        }
    }
    Ok(())
}
