//! Log files as hostile input: thousands of corrupted copies of valid logs
//! (with and without checksums), read from every starting point and
//! recovered by a writer. Every call returns a value or an error.

use ringcore::log::WriterBuilder;
use std::path::{Path, PathBuf};

#[path = "support/log_mutant.rs"]
mod log_mutant;
#[path = "support/shared.rs"]
mod shared;
#[path = "support/watchdog.rs"]
mod watchdog;
use shared::xorshift;

fn scratch(tag: &str) -> PathBuf {
    let dir = Path::new("/dev/shm").join(format!("rmpsc-logfiles-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Valid logs of two files each, with and without checksums: (file 0, file 1).
fn valid_logs() -> Vec<(Vec<u8>, Vec<u8>)> {
    [true, false]
        .into_iter()
        .map(|checksums| {
            let dir = scratch(&format!("seed-{checksums}"));
            let log = dir.join("log");
            let page = 4096;
            let mut w = WriterBuilder::new(&log)
                .region_size(page)
                .file_roll_size(2 * page)
                .checksums(checksums)
                .build()
                .unwrap();
            let mut i = 0u64;
            while w.position().file == 0 || i % 7 != 0 {
                w.append_at(i as u32, &vec![i as u8; (i * 37 % 200) as usize], i)
                    .unwrap();
                i += 1;
            }
            drop(w);
            let files = (
                std::fs::read(&log).unwrap(),
                std::fs::read(dir.join("log.1")).unwrap(),
            );
            std::fs::remove_dir_all(&dir).unwrap();
            files
        })
        .collect()
}

#[test]
fn reads_and_recovery_survive_thousands_of_corrupted_logs() {
    let _watchdog = watchdog::watchdog(120);
    let seeds = valid_logs();
    let dir = scratch("mutants");
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let (mut opened, mut recovered, mut delivered) = (0, 0, 0);
    for round in 0..1500 {
        let (first, second) = &seeds[round % seeds.len()];
        let (mut a, mut b) = (first.clone(), second.clone());
        for _ in 0..1 + next() % 6 {
            let target = if next() % 3 == 0 { &mut b } else { &mut a };
            // Mostly the header and the first records, sometimes anywhere.
            let at = if next() % 2 == 0 {
                next() as usize % 1024
            } else {
                next() as usize % target.len()
            };
            target[at] = next() as u8;
        }
        if next() % 10 == 0 {
            a.truncate(next() as usize % a.len());
        }
        let second = (next() % 4 != 0).then_some(&b[..]);
        let out = log_mutant::exercise(&dir, &a, second, next() as u32);
        opened += usize::from(out.opened);
        recovered += usize::from(out.recovered);
        delivered += out.delivered;
    }
    std::fs::remove_dir_all(&dir).unwrap();
    println!("{opened} opened, {recovered} recovered, {delivered} records read");
    // The mutations are neither all fatal nor all harmless.
    assert!(
        opened > 100 && recovered > 100 && delivered > 1000,
        "{opened} opened, {recovered} recovered, {delivered} records read"
    );
}

/// Writes the fuzz corpus seeds (valid logs) to `$RINGCORE_FUZZ_SEEDS`.
#[test]
#[ignore = "make fuzz-log writes the seeds"]
fn write_log_fuzz_seeds() {
    let dir = std::env::var("RINGCORE_FUZZ_SEEDS").expect("RINGCORE_FUZZ_SEEDS");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (first, second)) in valid_logs().iter().enumerate() {
        let mut input = (first.len() as u32).to_le_bytes().to_vec();
        input.extend(first);
        input.extend(second);
        std::fs::write(format!("{dir}/valid-log-{i}"), input).unwrap();
    }
}
