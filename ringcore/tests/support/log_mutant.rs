//! A log file of unknown content, read from every starting point and then
//! reopened by a writer (recovery) and appended to: shared by the
//! corrupted-logs test (`tests/log_files.rs`) and the fuzz target
//! (`fuzz/`). Every call must return, with a value or an error.

use ringcore::log::{From, LogPosition, Reader, WriterBuilder};
use std::path::Path;

/// What the log allowed.
#[derive(Default)]
pub struct Outcome {
    /// A reader opened it.
    pub opened: bool,
    /// Records read from it.
    pub delivered: usize,
    /// A writer reopened it (its recovery accepted what it found).
    pub recovered: bool,
}

/// Writes `bytes` as the log `dir/log` (with `dir/log.1` holding
/// `second`, when given) and uses it; `probe` is an index and an offset to
/// start readers at.
pub fn exercise(dir: &Path, bytes: &[u8], second: Option<&[u8]>, probe: u32) -> Outcome {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let log = dir.join("log");
    std::fs::write(&log, bytes).unwrap();
    if let Some(b) = second {
        std::fs::write(dir.join("log.1"), b).unwrap();
    }
    let mut out = Outcome::default();
    let starts = [
        From::Start,
        From::Live,
        From::Index(probe as u64 % 64),
        From::Position(LogPosition {
            file: 0,
            offset: probe as u64 & 0xfff8,
        }),
    ];
    for from in starts {
        let Ok(mut r) = Reader::open(&log, from) else {
            continue;
        };
        out.opened = true;
        for _ in 0..200 {
            match r.try_read() {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= bytes.len().max(second.map_or(0, <[u8]>::len)));
                    out.delivered += 1;
                }
                _ => break,
            }
        }
        if let Ok(batch) = r.try_read_batch(64) {
            out.delivered += batch.count();
        }
        let _ = r.writer_status();
        let p = r.position();
        let _ = r.seek(LogPosition {
            offset: p.offset ^ (probe as u64 & 0x38),
            ..p
        });
    }
    if let Ok(mut w) = WriterBuilder::new(&log).build() {
        out.recovered = true;
        for i in 0..20u8 {
            if w.append_at(i as u32, &[i; 40], i as u64).is_err() {
                break;
            }
        }
        drop(w);
        if let Ok(mut r) = Reader::open(&log, From::Start) {
            while let Ok(Some(_)) = r.try_read() {
                out.delivered += 1;
            }
        }
    }
    out
}
