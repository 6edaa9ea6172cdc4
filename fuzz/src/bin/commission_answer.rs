//! Fuzz target `commission_answer`: see the crate docs.

cj_fuzz::target_main!(cj_graphql::fuzz::commission_answer);
