//! Helpers shared by the queue's tests.
#![allow(dead_code)]

use std::time::Duration;

use cj_graphql::tracking::{Mode, OrderCreateRequest, Orders};
use cj_transport::{Credentials, RetryPolicy, Transport};

/// An orders client for `base` in live mode, without retries.
pub fn orders(base: &str) -> Orders {
    let transport = Transport::builder()
        .credentials(Credentials::token("queue-test-token"))
        .timeout(Duration::from_secs(5))
        .retry(RetryPolicy::none())
        .build()
        .expect("transport");
    Orders::new(transport, base, Mode::Live).expect("orders")
}

/// A valid new order with id `id`.
pub fn create(id: &str) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(id)
        .event_time(
            "2024-01-15T18:08:36Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("time"),
        )
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .amount("10.00".parse().expect("decimal"))
        .build()
}
