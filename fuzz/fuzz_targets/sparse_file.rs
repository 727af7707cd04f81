#![no_main]
//! `cargo fuzz run sparse_file`: see `fuzz/harness.rs`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sparse_file(data));
