//! The README's streaming example (`### Any number of orders`), run against the sandbox: the
//! code is `readme/stream.rs`, which must be the README's block, character for character.

use std::time::Duration;

// The README's code: `main` (which reads the environment) and `send_orders`.
include!("readme/stream.rs");

/// The first ```rust block after `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = include_str!("../../../README.md");
    let section = readme
        .find(heading)
        .map(|at| &readme[at..])
        .expect("the README has the section");
    let fence = "```rust,no_run\n";
    let start = section.find(fence).expect("a Rust block") + fence.len();
    let end = section[start..].find("\n```\n").expect("the block ends") + start + 1;
    section[start..end].to_string()
}

#[test]
fn the_readme_block_is_the_code_this_test_runs() {
    assert_eq!(
        readme_block("### Any number of orders: `Orders::stream`"),
        include_str!("readme/stream.rs"),
        "README.md's streaming example and crates/cj/tests/readme/stream.rs drifted apart"
    );
}

#[tokio::test]
async fn the_readme_streaming_example_runs_against_the_sandbox() {
    let sandbox = cj_sandbox::Sandbox::start().await.expect("the sandbox");
    let client = cj::Client::builder()
        .token("sandbox-token")
        .tracking_url(sandbox.tracking_url())
        .retry(cj::RetryPolicy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    // Three requests (10,000, 10,000, 5,000): every order stamped while the stream reads,
    // after its request's validation took its "now".
    if let Err(e) = send_orders(&client, 25_000).await {
        panic!("the README's example failed: {e}");
    }
}
