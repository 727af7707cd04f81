//! Every committed fuzz input (`fuzz/corpus/<target>` and the crash reproducers in
//! `fuzz/regressions/<target>`) replayed through the fuzz targets on stable Rust: a parser
//! that panics on any of them fails here, in every CI run, without nightly or cargo-fuzz.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_corpus_and_regression_input_is_handled_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, run) in harness::TARGETS {
        let mut inputs = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                run(&bytes);
                inputs += 1;
            }
        }
        assert!(inputs > 0, "target `{target}` has no committed corpus");
    }
}
