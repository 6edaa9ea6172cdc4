//! Fuzz target `scalars`: see the crate docs.

cj_fuzz::target_main!(cj_graphql::fuzz::scalars);
