//! Fuzz target `order_input`: see the crate docs.

cj_fuzz::target_main!(cj_graphql::fuzz::order_input);
