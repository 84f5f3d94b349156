//! Arbitrary bytes as a log: readers from every starting point, then a
//! writer's recovery and appends. Run with `make fuzz-log`.
//!
//! Input: bytes 0..4 the length of file 0 (little-endian, clamped), then
//! file 0, then file 1 (absent when empty). `make fuzz-log` seeds the
//! corpus with valid logs, with and without checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../ringcore/tests/support/log_mutant.rs"]
mod log_mutant;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let split = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let rest = &data[4..];
    let (first, second) = rest.split_at(split.min(rest.len()));
    let dir = std::path::Path::new("/dev/shm").join(format!("rmpsc-fuzz-log-{}", std::process::id()));
    let probe = data.len() as u32;
    log_mutant::exercise(&dir, first, (!second.is_empty()).then_some(second), probe);
});
