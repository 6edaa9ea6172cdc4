//! Fuzz targets for every parser of outside data in the CJ SDK.
//!
//! Each target is a binary in `src/bin/` that hands bytes to one entry point below. Build them
//! for AFL++ with `cargo afl build -p cj-fuzz --features afl --release`, then run one with
//! `cargo afl fuzz -i fuzz/seeds/<target> -o /tmp/out-<target> target/release/<target>` (the
//! repository's README says more). Without the `afl` feature a target replays the files named
//! on its command line, and `cargo test -p cj-fuzz` replays every seed.

/// A fuzz target: any bytes in, no panic out (unless an invariant of the SDK breaks).
pub type Target = fn(&[u8]);

/// Every target, by the name of its binary and of its seed folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("tracking_answer", cj_graphql::fuzz::tracking_answer),
    (
        "program_terms_answer",
        cj_graphql::fuzz::program_terms_answer,
    ),
    ("lookup_xml", lookup_xml),
    ("scalars", cj_graphql::fuzz::scalars),
    ("order_input", cj_graphql::fuzz::order_input),
    ("redaction", cj_graphql::fuzz::redaction),
    ("commission_answer", cj_graphql::fuzz::commission_answer),
];

/// An Advertiser Lookup page, as CJ's XML.
pub fn lookup_xml(data: &[u8]) {
    let _ = cj_advertiser_lookup::parse_page(data);
}

/// Runs `target` on each file named in `paths` (a replay of a crash or of a corpus).
pub fn replay(target: Target, paths: impl IntoIterator<Item = String>) {
    for path in paths {
        match std::fs::read(&path) {
            Ok(data) => target(&data),
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}

/// The `main` of a target binary: AFL's loop with the `afl` feature, a replay without it.
#[macro_export]
macro_rules! target_main {
    ($target:path) => {
        #[cfg(feature = "afl")]
        fn main() {
            afl::fuzz!(|data: &[u8]| $target(data));
        }

        #[cfg(not(feature = "afl"))]
        fn main() {
            $crate::replay($target, std::env::args().skip(1));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_runs_through_its_target_without_a_panic() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        for (name, target) in TARGETS {
            let dir = seeds.join(name);
            let mut count = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let path = entry.expect("a seed").path();
                target(&std::fs::read(&path).expect("readable seed"));
                count += 1;
            }
            assert!(count > 0, "{name} has no seeds");
        }
    }
}
