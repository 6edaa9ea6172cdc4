//! Fuzz target `program_terms_answer`: see the crate docs.

cj_fuzz::target_main!(cj_graphql::fuzz::program_terms_answer);
