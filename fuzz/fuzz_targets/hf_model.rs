#![no_main]
//! `cargo fuzz run hf_model`: see `fuzz/harness.rs`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::hf_model(data));
