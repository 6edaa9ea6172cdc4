//! Fuzz target `tracking_answer`: see the crate docs.

cj_fuzz::target_main!(cj_graphql::fuzz::tracking_answer);
