//! Fuzz target `redaction`: see the crate docs.

cj_fuzz::target_main!(cj_graphql::fuzz::redaction);
