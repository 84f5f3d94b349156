//! Arbitrary bytes as a segment file: attach (header checks against the
//! file's real size) and every record-parsing path of the message ring,
//! the slot ring and the pool. Run with `make fuzz`.
//!
//! Input: byte 0 picks the kind (message ring, slot ring, pool), bytes 1..5
//! a handle value to probe, the rest is the file. The corpus starts from
//! nothing; libFuzzer finds the magic and the header fields by itself, and
//! `make fuzz` seeds it with valid segments.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../ringcore/tests/support/mutant.rs"]
mod mutant;

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let probe = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    mutant::exercise(data[0], mutant::segment_file(&data[5..]), probe);
});
