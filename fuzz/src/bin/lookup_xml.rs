//! Fuzz target `lookup_xml`: see the crate docs.

cj_fuzz::target_main!(cj_fuzz::lookup_xml);
