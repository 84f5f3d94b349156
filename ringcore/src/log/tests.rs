//! Unit tests of the log: format, rolling, recovery, corrupt files.

use super::format::HEADER_SIZE;
use super::page_size;
use super::series::{file_path, list_files};
use super::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rmpsc-log-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.0.join("log")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small(path: &Path) -> WriterBuilder {
    // 2 regions of one page per file: rolls and pads come quickly.
    let page = page_size();
    WriterBuilder::new(path)
        .region_size(page)
        .file_roll_size(2 * page)
}

fn payload(i: u64) -> Vec<u8> {
    let len = (i * 37 % 300) as usize;
    (0..len).map(|k| (i as usize + k) as u8).collect()
}

fn read_all(path: &Path) -> Vec<OwnedMessage> {
    let mut r = Reader::open(path, From::Start).unwrap();
    let all: Result<Vec<_>> = r.iter().collect();
    all.unwrap()
}

#[test]
fn records_cross_regions_and_files_in_order() {
    let d = TempDir::new("roll");
    // With the prefault thread, which follows the writer across rolls.
    let mut w = small(&d.log()).prefault(true).build().unwrap();
    for i in 0..2000u64 {
        assert_eq!(w.append_at(i as u32, &payload(i), i).unwrap(), i);
    }
    assert!(w.position().file > 5, "several files were written");
    let msgs = read_all(&d.log());
    assert_eq!(msgs.len(), 2000);
    for (i, m) in msgs.iter().enumerate() {
        let i = i as u64;
        assert_eq!((m.index, m.msg_type as u64, m.timestamp), (i, i, i));
        assert_eq!(m.payload, payload(i));
    }
}

#[test]
fn zero_copy_reserve_commit_and_abort() {
    let d = TempDir::new("reserve");
    let mut w = small(&d.log()).build().unwrap();
    let buf = w.try_reserve(100).unwrap();
    buf.fill(0xee);
    w.abort();
    let buf = w.try_reserve(100).unwrap();
    buf[..3].copy_from_slice(b"abc");
    assert!(matches!(
        w.commit(1, 101, 0),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(w.commit(1, 3, 9).unwrap(), 0);
    assert!(matches!(w.commit(1, 3, 9), Err(Error::InvalidArgument(_))));
    let msgs = read_all(&d.log());
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0].payload.as_slice(), msgs[0].timestamp),
        (&b"abc"[..], 9)
    );
}

#[test]
fn oversized_messages_are_refused_without_rolling() {
    let d = TempDir::new("mtu");
    let mut w = small(&d.log()).mtu(512).build().unwrap();
    assert_eq!(w.mtu(), 512);
    w.append(1, &[1; 512]).unwrap();
    let before = w.position();
    for len in [513, 4096, 1 << 20] {
        assert!(matches!(
            w.try_reserve(len),
            Err(Error::TooLarge { max: 512, .. })
        ));
    }
    assert_eq!(w.position(), before);
    // An MTU that no region can hold is refused when the log is built.
    let page = page_size();
    assert!(matches!(
        small(&d.0.join("other")).mtu(page as u32).build(),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        WriterBuilder::new(d.0.join("x")).region_size(1000).build(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_prefault_thread_that_cannot_be_pinned_is_an_error() {
    let d = TempDir::new("pin");
    assert!(matches!(
        small(&d.log()).prefault_cpu(1 << 20).build(),
        Err(Error::InvalidArgument(_))
    ));
    // Nothing was left half made: the log opens normally afterwards.
    small(&d.log()).prefault_cpu(0).build().unwrap();
}

#[test]
fn one_writer_at_a_time() {
    let d = TempDir::new("lock");
    let w = small(&d.log()).build().unwrap();
    assert!(matches!(small(&d.log()).build(), Err(Error::Busy(_))));
    drop(w);
    let w = small(&d.log()).build().unwrap();
    drop(w);
}

/// A writer holds the file it writes, not only `NAME.lock`: with the lock
/// file removed under it (a clean-up script), a second writer is still
/// `Busy`, before and after the first one rolls; once it is gone, the log
/// opens again.
#[test]
fn a_removed_lock_file_lets_no_second_writer_in() {
    let d = TempDir::new("lockgone");
    let mut w = small(&d.log()).build().unwrap();
    w.append(0, b"first").unwrap();
    let r = Reader::open(d.log(), From::Start).unwrap();
    std::fs::remove_file(file::lock_path(&d.log())).unwrap();
    let e = small(&d.log()).build().unwrap_err();
    assert!(matches!(e, Error::Busy(_)), "{e}");
    // Readers still see the writer alive (the lock file is back, unheld).
    assert_eq!(r.writer_status(), WriterStatus::Active);
    w.roll().unwrap();
    std::fs::remove_file(file::lock_path(&d.log())).unwrap();
    let e = small(&d.log()).build().unwrap_err();
    assert!(matches!(e, Error::Busy(_)), "{e}");
    // A reader still in the rolled file finds the writer in the next one.
    assert_eq!(r.writer_status(), WriterStatus::Active);
    w.append(0, b"second").unwrap();
    drop(w);
    let mut w = small(&d.log()).build().unwrap();
    w.append(0, b"third").unwrap();
    drop(w);
    let got: Vec<Vec<u8>> = read_all(&d.log()).into_iter().map(|m| m.payload).collect();
    assert_eq!(got, [&b"first"[..], b"second", b"third"]);
}

#[test]
fn reopen_resumes_after_the_last_record_and_keeps_the_geometry() {
    let d = TempDir::new("reopen");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..300 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    // Defaults adopt the log's geometry; a different one is refused.
    assert!(matches!(
        WriterBuilder::new(d.log()).region_size(1 << 20).build(),
        Err(Error::InvalidArgument(_))
    ));
    let mut w = WriterBuilder::new(d.log()).build().unwrap();
    assert_eq!(w.next_index(), 300);
    for i in 300..600 {
        assert_eq!(w.append_at(0, &payload(i), i).unwrap(), i);
    }
    drop(w);
    let msgs = read_all(&d.log());
    assert_eq!(msgs.len(), 600);
    assert!(msgs
        .iter()
        .enumerate()
        .all(|(i, m)| m.payload == payload(i as u64)));
}

#[test]
fn a_torn_record_is_discarded_on_reopen() {
    let d = TempDir::new("torn");
    let mut w = small(&d.log()).build().unwrap();
    w.append_at(1, b"kept", 1).unwrap();
    let buf = w.try_reserve(64).unwrap();
    buf.fill(0xab);
    // A crash between reserve and commit.
    w.simulate_crash();
    let mut w = small(&d.log()).build().unwrap();
    assert_eq!(w.next_index(), 1);
    w.append_at(2, b"after", 2).unwrap();
    drop(w);
    let msgs = read_all(&d.log());
    let got: Vec<_> = msgs.iter().map(|m| m.payload.as_slice()).collect();
    assert_eq!(got, vec![&b"kept"[..], &b"after"[..]]);
}

/// Writes file 0 of a log (checksums on: 24-byte record headers) up to
/// `room` bytes before the end of its first region, and kills the writer.
/// Returns file 0's geometry, writer epoch and log id, and the next index.
fn killed_with_room(log: &Path, room: u64) -> (format::Geometry, u64, u64, u64) {
    use crate::sync::Ordering::Relaxed;
    let mut w = small(log).checksums(true).build().unwrap();
    let end = page_size();
    let mut i = 0;
    while end - w.position().offset != room {
        let left = end - w.position().offset;
        // 128-byte records, then one that leaves `room`.
        let len = if left >= 2 * 128 {
            104
        } else {
            left - room - 24
        };
        w.append_at(0, &vec![i as u8; len as usize], i).unwrap();
        i += 1;
    }
    w.simulate_crash();
    let f = file::LogFile::open(&file_path(log, 0), 0, file::Access::Read).unwrap();
    let h = f.header();
    let (epoch, id) = (h.writer_epoch.load(Relaxed), h.log_id.load(Relaxed));
    (f.geometry, epoch, id, i)
}

#[test]
fn a_roll_cut_short_by_a_crash_is_completed_by_the_next_writer() {
    // Room for the roll record, for a padding record only, for less than a
    // record header, and none.
    for room in [32, 24, 16, 0] {
        let d = TempDir::new("repair");
        let (g, epoch, id, next) = killed_with_room(&d.log(), room);
        // The crash came after file 1 was made, before the roll record.
        file::LogFile::create(&file_path(&d.log(), 1), 1, next, g, epoch, id).unwrap();
        let mut w = small(&d.log()).build().unwrap();
        assert_eq!(w.next_index(), next, "room {room}");
        w.append_at(0, b"after", 0).unwrap();
        drop(w);
        let msgs = read_all(&d.log());
        assert_eq!(msgs.len() as u64, next + 1, "room {room}");
        assert_eq!(msgs.last().unwrap().payload, b"after");
    }
    // A file 1 that file 0 does not lead to is refused, and file 0 is left
    // as it was.
    for (what, region, first) in [("geometry", 2, 0), ("first index", 1, 1)] {
        let d = TempDir::new("norepair");
        let (g, epoch, id, next) = killed_with_room(&d.log(), 24);
        let before = std::fs::read(file_path(&d.log(), 0)).unwrap();
        let other = format::Geometry {
            region_size: g.region_size * region,
            ..g
        };
        let path = file_path(&d.log(), 1);
        file::LogFile::create(&path, 1, next + first, other, epoch, id).unwrap();
        let e = small(&d.log())
            .region_size(other.region_size)
            .build()
            .expect_err(what);
        assert!(
            matches!(&e, Error::Corrupt(m) if m.contains("cannot")),
            "{what}: {e}"
        );
        assert_eq!(
            std::fs::read(file_path(&d.log(), 0)).unwrap(),
            before,
            "{what}"
        );
    }
}

/// Puts a commit word of no known kind at `offset` of `path`.
fn damage_record(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&(3u32 << 30 | 9).to_ne_bytes(), offset)
        .unwrap();
}

/// A damaged record after padding or after a roll fails the read and
/// leaves the reader before the padding or the roll: a failed call moves
/// nothing, whichever way it reads.
#[test]
fn a_failed_read_leaves_the_reader_where_it_was() {
    let page = page_size();
    for roll in [false, true] {
        let d = TempDir::new("noback");
        let mut w = small(&d.log()).build().unwrap();
        for i in 0..100 {
            w.append_at(0, &payload(i), i).unwrap();
        }
        drop(w);
        // The first record of file 1, or of file 0's second region.
        let (file, offset) = if roll { (1, HEADER_SIZE) } else { (0, page) };
        let all = read_all(&d.log());
        let k = all
            .iter()
            .position(|m| (m.position.file, m.position.offset) == (file, offset))
            .expect("a record starts there");
        damage_record(&file_path(&d.log(), file), offset);
        let mut r = Reader::open(d.log(), From::Start).unwrap();
        for _ in 0..k {
            r.try_read().unwrap().unwrap();
        }
        let at = (r.position(), r.next_index());
        assert_eq!(at.0.file, 0);
        assert_ne!(at.0.offset, offset, "padding or a roll comes first");
        assert!(matches!(r.try_read(), Err(Error::Corrupt(_))));
        assert_eq!((r.position(), r.next_index()), at);
        assert!(matches!(r.try_read_batch(10), Err(Error::Corrupt(_))));
        assert_eq!((r.position(), r.next_index()), at);
        let wait = Some(Duration::from_millis(10));
        assert!(matches!(r.read(wait), Err(Error::Corrupt(_))));
        assert_eq!((r.position(), r.next_index()), at);
        let mut c = inspect::LogCursor::open(&d.log(), Some(k as u64)).unwrap();
        assert!(matches!(c.try_next(), Err(Error::Corrupt(_))));
        assert_eq!(c.next_index(), k as u64);
    }
}

/// A `write_pos` past the file's end is a damaged header, reported on
/// reopen like one past the last record, never taken as a clean end.
#[test]
fn a_write_position_past_the_file_is_reported_on_reopen() {
    use std::os::unix::fs::FileExt;
    let d = TempDir::new("wpos");
    let mut w = small(&d.log()).build().unwrap();
    w.append_at(0, b"kept", 0).unwrap();
    drop(w);
    let path = file_path(&d.log(), 0);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&u64::MAX.to_ne_bytes(), 0x50).unwrap();
    let e = small(&d.log()).build().expect_err("a damaged header");
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert_eq!(read_all(&d.log()).len(), 1);
}

#[test]
fn readers_join_live_seek_and_start_at_an_index() {
    let d = TempDir::new("from");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..500 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    let mut live = Reader::open(d.log(), From::Live).unwrap();
    assert_eq!(live.next_index(), 500);
    assert!(live.try_read().unwrap().is_none());
    let mut at = Reader::open(d.log(), From::Index(321)).unwrap();
    let m = at.try_read().unwrap().unwrap();
    assert_eq!((m.index, m.timestamp), (321, 321));
    let pos = m.position;
    let mut by_pos = Reader::open(d.log(), From::Position(pos)).unwrap();
    assert_eq!(by_pos.try_read().unwrap().unwrap().index, 321);
    by_pos
        .seek(LogPosition {
            file: 0,
            offset: HEADER_SIZE,
        })
        .unwrap();
    assert_eq!(by_pos.try_read().unwrap().unwrap().index, 0);
    let bad = LogPosition {
        file: pos.file,
        offset: pos.offset + 8,
    };
    assert!(matches!(by_pos.seek(bad), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        Reader::open(d.log(), From::Index(501)),
        Err(Error::InvalidArgument(_))
    ));
    w.append_at(0, b"new", 500).unwrap();
    assert_eq!(live.try_read().unwrap().unwrap().payload, b"new");
    let mut at_end = Reader::open(d.log(), From::Index(501)).unwrap();
    assert!(at_end.try_read().unwrap().is_none());
}

#[test]
fn batches_stop_at_a_roll_and_continue() {
    let d = TempDir::new("batch");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..400 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    let mut next = 0;
    loop {
        let batch = r.try_read_batch(1000).unwrap();
        if batch.len() == 0 {
            break;
        }
        let mut file = None;
        for m in batch {
            assert_eq!(*file.get_or_insert(m.position.file), m.position.file);
            assert_eq!(m.index, next);
            assert_eq!(m.payload, payload(next));
            next += 1;
        }
    }
    assert_eq!(next, 400);
}

#[test]
fn retention_keeps_the_newest_files_and_late_readers_are_told() {
    let d = TempDir::new("retention");
    let mut w = small(&d.log()).retention(2).build().unwrap();
    let mut slow = Reader::open(d.log(), From::Start).unwrap();
    for i in 0..2000 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    let files = list_files(&d.log()).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    // The slow reader still maps file 0, reads it, then finds file 1 gone.
    let mut n = 0;
    let err = loop {
        match slow.try_read() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("the log goes on"),
            Err(e) => break e,
        }
    };
    assert!(n > 0);
    assert!(matches!(err, Error::FellBehind(_)), "{err}");
    assert!(matches!(
        Reader::open(d.log(), From::Index(0)),
        Err(Error::FellBehind(_))
    ));
    let r = Reader::open(d.log(), From::Start).unwrap();
    assert_eq!(r.position().file, files[0]);
    assert!(r.next_index() > 0);
}

#[test]
fn a_reader_may_wait_for_a_log_that_does_not_exist_yet() {
    use std::time::{Duration, Instant};
    let d = TempDir::new("openwait");
    // Nothing comes: NotFound once the wait is over, not before.
    let t0 = Instant::now();
    match Reader::open_wait(d.log(), From::Start, Duration::from_millis(50)) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(t0.elapsed() >= Duration::from_millis(50));
    // A writer that starts later: a live reader started first still sees
    // its first record, as all of the log is newer than the reader.
    let path = d.log();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let mut w = small(&path).build().unwrap();
        w.append_at(7, b"first", 1).unwrap();
        w
    });
    let mut r = Reader::open_wait(d.log(), From::Live, Duration::from_secs(10)).unwrap();
    let m = r.read(Some(Duration::from_secs(10))).unwrap();
    assert_eq!((m.index, m.msg_type, m.payload), (0, 7, &b"first"[..]));
    t.join().unwrap().close().unwrap();
    // A log that exists opens at once, and Live still means the end.
    let mut w = small(&d.log()).build().unwrap();
    w.append_at(0, b"second", 2).unwrap();
    let mut live = Reader::open_wait(d.log(), From::Live, Duration::ZERO).unwrap();
    assert_eq!(live.next_index(), 2);
    assert!(live.try_read().unwrap().is_none());
}

#[test]
fn blocking_reads_wake_and_report_closed_and_dead_writers() {
    let d = TempDir::new("block");
    let mut w = small(&d.log()).build().unwrap();
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    assert!(matches!(
        r.read(Some(std::time::Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    assert_eq!(r.writer_status(), WriterStatus::Active);
    let t = std::thread::spawn(move || {
        for i in 0..200u64 {
            if i % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            w.append_at(0, &payload(i), i).unwrap();
        }
        w.close().unwrap();
    });
    for i in 0..200 {
        let m = r.read(Some(std::time::Duration::from_secs(10))).unwrap();
        assert_eq!(m.index, i);
    }
    assert!(matches!(r.read(None), Err(Error::Closed)));
    assert_eq!(r.writer_status(), WriterStatus::Closed);
    t.join().unwrap();

    let w = small(&d.log()).build().unwrap();
    assert_eq!(r.writer_status(), WriterStatus::Active);
    w.simulate_crash();
    assert_eq!(r.writer_status(), WriterStatus::Dead);
    assert!(matches!(r.read(None), Err(Error::Disconnected)));
}

/// A reader at the end of a file that was removed after its writer died
/// does not take the next writer, which writes a file of its own, for the
/// one that would go on with it.
#[test]
fn a_reader_of_a_removed_file_reports_its_writer_gone_under_a_new_writer() {
    let d = TempDir::new("removed");
    let mut w = small(&d.log()).build().unwrap();
    w.append_at(0, &payload(0), 0).unwrap();
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    assert_eq!(r.try_read().unwrap().unwrap().index, 0);
    w.simulate_crash();
    std::fs::remove_file(d.log()).unwrap();
    let _next = small(&d.log()).build().unwrap();
    assert_eq!(r.writer_status(), WriterStatus::Dead);
    assert!(matches!(
        r.read(Some(std::time::Duration::from_secs(10))),
        Err(Error::Disconnected)
    ));
}

/// Another process changes the records of a batch after the reader took
/// it: the batch ends at the first it cannot find whole, and the reader's
/// next call says how many it did not hand out, then goes on after them.
#[test]
fn a_batch_whose_records_change_under_it_ends_and_is_reported() {
    use std::os::unix::fs::FileExt;
    let d = TempDir::new("batch");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..12 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    let third = {
        let mut r = Reader::open(d.log(), From::Start).unwrap();
        r.try_read_batch(3).unwrap().last().unwrap().position.offset
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(file_path(&d.log(), 0))
        .unwrap();
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    let mut batch = r.try_read_batch(10).unwrap();
    assert_eq!(batch.len(), 10);
    assert_eq!(batch.next().unwrap().index, 0);
    assert_eq!(batch.next().unwrap().index, 1);
    // The third record's commit word, zeroed.
    file.write_all_at(&[0; 4], third).unwrap();
    assert!(batch.next().is_none());
    assert_eq!(batch.len(), 0);
    let e = r.try_read().unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains(&format!("{third:#x}")) && m.contains("8 of them")),
        "{e}"
    );
    assert_eq!(r.try_read().unwrap().unwrap().index, 10);
}

#[test]
fn corrupt_files_give_errors_with_positions() {
    let d = TempDir::new("corrupt");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..20 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    let path = file_path(&d.log(), 0);
    let good = std::fs::read(&path).unwrap();
    let check = |bytes: &[u8]| -> Error {
        std::fs::write(&path, bytes).unwrap();
        let r = Reader::open(d.log(), From::Start);
        let e = match r {
            Err(e) => e,
            Ok(mut r) => r.iter().find_map(|m| m.err()).expect("an error"),
        };
        std::fs::write(&path, &good).unwrap();
        e
    };
    // A file of zeros, a truncated file, another version, another magic.
    assert!(matches!(
        check(&vec![0; good.len()]),
        Error::InvalidHeader(_)
    ));
    assert!(matches!(
        check(&good[..good.len() / 2]),
        Error::InvalidHeader(_)
    ));
    assert!(matches!(check(&good[..100]), Error::InvalidHeader(_)));
    let mut v = good.clone();
    v[8] = 9;
    assert!(matches!(check(&v), Error::InvalidHeader(_)));
    let mut v = good.clone();
    v[0] ^= 0xff;
    assert!(matches!(check(&v), Error::InvalidHeader(_)));
    // A record length pointing past the region and the file.
    let first = HEADER_SIZE as usize;
    let mut v = good.clone();
    v[first..first + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
    let e = check(&v);
    assert!(
        matches!(e, Error::Corrupt(ref m) if m.contains("0x100")),
        "{e}"
    );
    // An unknown record kind; a commit word with no length.
    for word in [3 << 30 | 9, 1 << 30] {
        let mut v = good.clone();
        v[first..first + 4].copy_from_slice(&(word as u32).to_ne_bytes());
        assert!(matches!(check(&v), Error::Corrupt(_)));
    }
    // A roll record to the wrong file.
    let mut v = good.clone();
    v[first..first + 4].copy_from_slice(&format::commit_word(format::FLAG_ROLL, 8).to_ne_bytes());
    v[first + 16..first + 24].copy_from_slice(&7u64.to_ne_bytes());
    assert!(matches!(check(&v), Error::Corrupt(_)));
    // Flipped bytes anywhere in the records: an error or good records,
    // never a crash or a read outside the file.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        let mut v = good.clone();
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = first + (seed as usize) % (v.len() - first);
            v[at] ^= (seed >> 32) as u8 | 1;
        }
        std::fs::write(&path, &v).unwrap();
        if let Ok(mut r) = Reader::open(d.log(), From::Start) {
            for m in r.iter().flatten() {
                assert!(m.payload.len() <= 4096);
            }
        }
    }
    std::fs::write(&path, &good).unwrap();
    assert_eq!(read_all(&d.log()).len(), 20);
}

/// With checksums (the default) a byte flipped anywhere in a record's
/// header or payload is `Corrupt` naming file, offset and index before the
/// record is returned: every record a reader returns is the one written.
#[test]
fn every_flip_in_a_record_is_caught_before_it_is_returned() {
    let d = TempDir::new("crc");
    let mut w = small(&d.log()).build().unwrap();
    let written: Vec<Vec<u8>> = (0..12).map(payload).collect();
    for (i, p) in written.iter().enumerate() {
        w.append_at(i as u32, p, i as u64).unwrap();
    }
    drop(w);
    let path = file_path(&d.log(), 0);
    let good = std::fs::read(&path).unwrap();
    // The bytes the checksums cover: every message's header (the commit
    // word through the seed) and its payload.
    let mut covered = Vec::new();
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    while let Some(m) = r.try_read().unwrap() {
        let at = m.position.offset as usize;
        covered.extend(at..at + 24);
        covered.extend(at + 24..at + 24 + m.payload.len());
    }
    drop(r);
    let (mut caught, mut ended) = (0, 0);
    for &at in &covered {
        for flip in [0x01u8, 0x80] {
            let mut v = good.clone();
            v[at] ^= flip;
            std::fs::write(&path, &v).unwrap();
            let mut r = Reader::open(d.log(), From::Start).unwrap();
            let mut n = 0;
            loop {
                match r.try_read() {
                    Ok(Some(m)) => {
                        assert_eq!(m.payload, &written[n][..], "a damaged record was returned");
                        assert_eq!((m.msg_type, m.timestamp), (n as u32, n as u64));
                        n += 1;
                    }
                    Ok(None) => {
                        // Only a commit word flipped to 0 reads as the end.
                        assert!(n < written.len());
                        ended += 1;
                        break;
                    }
                    Err(Error::Corrupt(msg)) => {
                        assert!(msg.contains("log") && msg.contains("offset"), "{msg}");
                        caught += 1;
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
                assert!(n <= written.len(), "a flip made an extra record");
            }
        }
    }
    std::fs::write(&path, &good).unwrap();
    assert!(
        caught > 0 && ended <= covered.len() / 10,
        "{caught} caught, {ended} ended"
    );
    // A flipped payload byte names the record's index.
    let mut v = good.clone();
    v[covered[covered.len() - 1]] ^= 1;
    std::fs::write(&path, &v).unwrap();
    let e = Reader::open(d.log(), From::Start)
        .unwrap()
        .iter()
        .find_map(|m| m.err())
        .unwrap();
    assert!(e.to_string().contains("record 11"), "{e}");
    // Recovery checks them too: the writer refuses to append after it.
    let e = small(&d.log()).build().err().unwrap();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    std::fs::write(&path, &good).unwrap();
    assert_eq!(read_all(&d.log()).len(), written.len());
}

/// Checksums are chosen when a log is made: a log without them is 8 bytes
/// a record smaller, keeps its choice when reopened, and a version 1 log
/// (the format before checksums) still reads and appends.
#[test]
fn logs_without_checksums_and_version_1_logs_read_and_append() {
    let d = TempDir::new("v1");
    let mut w = small(&d.log()).checksums(false).build().unwrap();
    let a = w.append_at(0, b"12345678", 0).unwrap();
    let p0 = w.position();
    w.append_at(0, b"12345678", 0).unwrap();
    assert_eq!(
        w.position().offset - p0.offset,
        24,
        "16-byte header, 8-byte payload"
    );
    assert_eq!(a, 0);
    drop(w);
    assert!(matches!(
        small(&d.log()).checksums(true).build(),
        Err(Error::InvalidArgument(_))
    ));
    // Make it a version 1 file: version 1, no flags word.
    let path = file_path(&d.log(), 0);
    let mut v = std::fs::read(&path).unwrap();
    v[8..12].copy_from_slice(&1u32.to_ne_bytes());
    std::fs::write(&path, &v).unwrap();
    let mut w = small(&d.log()).build().unwrap();
    for i in 2..200 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    let all = read_all(&d.log());
    assert_eq!(all.len(), 200);
    assert!(list_files(&d.log()).unwrap().len() > 1, "it rolled");
    assert_eq!(all[150].payload, payload(150));
}

/// A file removed from the middle of a log (no retention) is named, not
/// taken for retention.
#[test]
fn a_missing_middle_file_is_named() {
    let d = TempDir::new("hole");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..400 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    assert!(list_files(&d.log()).unwrap().len() >= 3);
    std::fs::remove_file(file_path(&d.log(), 1)).unwrap();
    let e = Reader::open(d.log(), From::Start)
        .unwrap()
        .iter()
        .find_map(|m| m.err())
        .unwrap();
    assert!(matches!(e, Error::Io(_)), "{e}");
    assert!(e.to_string().contains("log.1 is missing"), "{e}");
}

/// The checksum's short-input path gives what the crc32c crate gives, at
/// every length around its cut-over, every alignment, several seeds.
#[test]
fn checksums_match_the_crc32c_crate() {
    let bytes: Vec<u8> = (0..1200u32).map(|i| (i * 131 + i / 7) as u8).collect();
    for len in 0..1100 {
        for skew in 0..8 {
            for seed in [0, 1, 0x8000_0001, u32::MAX] {
                let b = &bytes[skew..skew + len];
                assert_eq!(
                    format::crc32c(seed, b),
                    crc32c::crc32c_append(seed, b),
                    "len {len} skew {skew} seed {seed:#x}"
                );
            }
        }
    }
}

/// The writer allocates a file's storage as it goes, a step ahead of its
/// records (a full file system is then an error, never a SIGBUS), not all
/// of it at creation; with the prefault thread, and after a reopen, too.
#[test]
fn storage_is_allocated_ahead_of_the_records() {
    use std::os::unix::fs::MetadataExt;
    let step = file::PREPARE_STEP;
    let allocated = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
    for prefault in [false, true] {
        let d = TempDir::new("alloc");
        let mut w = WriterBuilder::new(d.log())
            .region_size(1 << 20)
            .file_roll_size(8 << 20)
            .prefault(prefault)
            .build()
            .unwrap();
        let at_creation = allocated(&d.log());
        assert!(at_creation >= step.min(8 << 20), "{at_creation}");
        assert!(at_creation < 8 << 20, "{at_creation}");
        let record = vec![7u8; 1000];
        for round in 0..2 {
            // Stop between two steps: storage must reach the next step
            // boundary, past the records' own pages.
            while w.position().offset < (round + 1) * (3 << 20) / 2 + step / 2 {
                w.append(1, &record).unwrap();
            }
            let ahead = w.position().offset.next_multiple_of(step);
            assert!(
                allocated(&d.log()) >= ahead,
                "{} < {ahead}",
                allocated(&d.log())
            );
            if round == 0 {
                drop(w);
                w = WriterBuilder::new(d.log())
                    .prefault(prefault)
                    .build()
                    .unwrap();
            }
        }
        let n = w.next_index();
        drop(w);
        assert_eq!(read_all(&d.log()).len() as u64, n);
    }
}

/// A FIFO put in the writer lock's place blocks no reader (whatever its
/// timeout) and is no lock a writer takes.
#[test]
fn a_fifo_for_a_lock_neither_blocks_readers_nor_passes_for_a_lock() {
    let d = TempDir::new("fifo");
    let mut w = small(&d.log()).build().unwrap();
    w.append_at(0, b"one", 0).unwrap();
    w.close().unwrap();
    let lock = file::lock_path(&d.log());
    std::fs::remove_file(&lock).unwrap();
    let c = std::ffi::CString::new(lock.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let log = d.log();
    std::thread::spawn(move || {
        let mut r = Reader::open(&log, From::Start).unwrap();
        let first = r
            .read(Some(Duration::from_millis(10)))
            .map(|m| m.payload.to_vec());
        let after = r.read(Some(Duration::from_millis(10))).map(|_| ());
        let _ = tx.send((first.ok(), after.err()));
    });
    let (first, after) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the reader returned");
    assert_eq!(first.as_deref(), Some(&b"one"[..]));
    assert!(after.is_some());
    match small(&d.log()).build() {
        Err(Error::InvalidHeader(m)) => assert!(m.contains("not a regular file"), "{m}"),
        other => panic!("expected InvalidHeader, got {:?}", other.map(|_| ())),
    }
}

/// Only the names the library gives count as files of the log.
#[test]
fn files_of_other_names_are_not_files_of_the_log() {
    let d = TempDir::new("names");
    let mut w = small(&d.log()).build().unwrap();
    w.append_at(0, b"one", 0).unwrap();
    drop(w);
    for odd in ["log.07", "log.+7", "log.0", "log.x"] {
        std::fs::write(d.0.join(odd), b"stray").unwrap();
    }
    assert_eq!(list_files(&d.log()).unwrap(), vec![0]);
    assert_eq!(read_all(&d.log()).len(), 1);
}

/// A file whose header says it rolled while its roll record is gone (a
/// crash wrote back the one and not the other): a reader says so at
/// once instead of spinning until its timeout, and the next writer writes
/// the roll record.
#[test]
fn a_roll_state_without_its_record_is_reported_and_repaired() {
    use crate::sync::Ordering::Relaxed;
    let d = TempDir::new("rolledstate");
    let (g, epoch, id, next) = killed_with_room(&d.log(), 32);
    file::LogFile::create(&file_path(&d.log(), 1), 1, next, g, epoch, id).unwrap();
    let f0 = file::LogFile::open(&file_path(&d.log(), 0), 0, file::Access::Write).unwrap();
    f0.header()
        .writer_state
        .store(format::STATE_ROLLED, Relaxed);
    drop(f0);
    {
        // A live writer's lock, so the reader waits rather than giving up.
        let _lock = file::take_writer_lock(&d.log()).unwrap();
        let mut r = Reader::open(d.log(), From::Start).unwrap();
        for _ in 0..next {
            r.read(Some(Duration::from_secs(1))).unwrap();
        }
        let t = std::time::Instant::now();
        match r.read(Some(Duration::from_secs(10))) {
            Err(Error::Corrupt(m)) => assert!(m.contains("rolled"), "{m}"),
            other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let mut w = small(&d.log()).build().unwrap();
    assert_eq!(w.next_index(), next);
    w.append_at(0, b"after", 0).unwrap();
    drop(w);
    let msgs = read_all(&d.log());
    assert_eq!(msgs.len() as u64, next + 1);
    assert_eq!(msgs.last().unwrap().payload, b"after");
}

/// A file of another log put in place of the next file: readers and the
/// next writer refuse it rather than follow it.
#[test]
fn a_file_of_another_log_is_refused() {
    let d = TempDir::new("otherlog");
    let (g, epoch, id, next) = killed_with_room(&d.log(), 32);
    file::LogFile::create(&file_path(&d.log(), 1), 1, next, g, epoch, id ^ 1).unwrap();
    match small(&d.log()).build() {
        Err(Error::Corrupt(m)) => assert!(m.contains("different logs"), "{m}"),
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    }
    // A log that rolled properly, its second file then swapped.
    let d = TempDir::new("otherlog2");
    let mut w = small(&d.log()).build().unwrap();
    for i in 0..100 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    let path = file_path(&d.log(), 1);
    let (g, first) = {
        use crate::sync::Ordering::Relaxed;
        let f = file::LogFile::open(&path, 1, file::Access::Read).unwrap();
        let first = f.header().first_index.load(Relaxed);
        (f.geometry, first)
    };
    std::fs::remove_file(&path).unwrap();
    file::LogFile::create(&path, 1, first, g, 1, 0x5eed).unwrap();
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    let got = std::iter::from_fn(|| r.try_read().transpose().map(|m| m.map(|_| ())))
        .take(10_000)
        .collect::<Vec<_>>();
    assert!(
        matches!(got.last(), Some(Err(Error::Corrupt(m))) if m.contains("another log")),
        "{:?}",
        got.last()
    );
}

/// Bytes that look like records, left on a page past the torn tail (a
/// crash wrote back a later page and not an earlier one): the next writer
/// clears them, so no reader takes them for records.
#[test]
fn stale_records_past_the_tail_are_cleared_on_reopen() {
    let d = TempDir::new("stale");
    let page = page_size();
    let build = || {
        WriterBuilder::new(d.log())
            .checksums(false)
            .region_size(64 * page)
            .file_roll_size(64 * page)
            .mtu(256)
    };
    let mut w = build().build().unwrap();
    // Fixed 64-byte records: a stale one far on lies on a record boundary.
    for i in 0..4u8 {
        w.append_at(1, &[i; 48], 0).unwrap();
    }
    let end = w.position().offset;
    w.simulate_crash();
    let path = file_path(&d.log(), 0);
    let bytes = std::fs::read(&path).unwrap();
    let record = bytes[HEADER_SIZE as usize..HEADER_SIZE as usize + 64].to_vec();
    let stale = end + 64 * (16 * page / 64);
    std::os::unix::fs::FileExt::write_at(
        &std::fs::OpenOptions::new().write(true).open(&path).unwrap(),
        &record,
        stale,
    )
    .unwrap();
    let mut w = build().build().unwrap();
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    for _ in 0..4 {
        r.read(Some(Duration::from_secs(1))).unwrap();
    }
    // The writer's records up to just before the stale one's place.
    let mut i = 0u64;
    while w.position().offset < stale {
        w.append_at(2, &[0xee; 48], i).unwrap();
        i += 1;
    }
    for _ in 0..i {
        assert_eq!(
            r.read(Some(Duration::from_secs(1))).unwrap().payload,
            &[0xee; 48][..]
        );
    }
    // Nothing more: the stale record is gone.
    assert!(r.try_read().unwrap().is_none());
}

/// A file shrunk under a reader and a writer (another process's
/// `truncate`): both report it (`Corrupt`) instead of dying of `SIGBUS`.
#[test]
fn a_file_shrunk_under_a_reader_and_a_writer_is_reported_not_fatal() {
    let d = TempDir::new("shrunk");
    let page = page_size();
    let mut w = WriterBuilder::new(d.log())
        .region_size(16 * page)
        .file_roll_size(16 * page)
        .build()
        .unwrap();
    for i in 0..20 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    let mut r = Reader::open(d.log(), From::Start).unwrap();
    r.read(Some(Duration::from_secs(1))).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(file_path(&d.log(), 0))
        .unwrap();
    f.set_len(0).unwrap();
    let mut outcome = None;
    for _ in 0..100 {
        match r.read(Some(Duration::from_millis(10))) {
            Ok(_) => {}
            Err(e) => {
                outcome = Some(e);
                break;
            }
        }
    }
    match outcome {
        Some(Error::Corrupt(m)) => assert!(m.contains("truncated"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match w.append_at(0, b"lost", 0) {
        Err(Error::Corrupt(m)) => assert!(m.contains("truncated"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A crash that keeps a roll record and loses the next file's name (no
/// durability, a power loss): the next writer makes that file again,
/// empty, where the roll record says it starts, and readers go on there.
#[test]
fn a_next_file_lost_after_its_roll_record_is_made_again() {
    let d = TempDir::new("lostnext");
    let mut w = small(&d.log()).build().unwrap();
    let mut i = 0;
    while list_files(&d.log()).unwrap().len() < 2 {
        w.append_at(0, &payload(i), i).unwrap();
        i += 1;
    }
    // Records in file 1 besides the one that made the roll: lost with it.
    let kept = w.next_index() - 1;
    w.append_at(0, b"lost", 0).unwrap();
    w.simulate_crash();
    std::fs::remove_file(file_path(&d.log(), 1)).unwrap();
    // A durable roll names the next file durably first: it was removed.
    let e = small(&d.log())
        .durability(Durability::EveryCommit)
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("missing")),
        "{e}"
    );
    let mut w = small(&d.log()).build().unwrap();
    assert_eq!(w.next_index(), kept);
    assert_eq!(w.position().file, 1);
    w.append_at(0, b"after", 0).unwrap();
    drop(w);
    let msgs = read_all(&d.log());
    assert_eq!(msgs.len() as u64, kept + 1);
    for (n, m) in msgs[..kept as usize].iter().enumerate() {
        assert_eq!(m.payload, payload(n as u64), "record {n}");
    }
    assert_eq!(msgs.last().unwrap().payload, b"after");
    assert_eq!(msgs.last().unwrap().index, kept);
}

#[test]
fn a_file_another_writer_made_meanwhile_and_holds_is_busy_not_an_io_error() {
    // Two writers after a script removed `NAME.lock`: the second, having
    // listed no file, makes file 0, which the first made meanwhile.
    let d = TempDir::new("made-meanwhile");
    let w = small(&d.log()).build().unwrap();
    let path = file_path(&d.log(), 0);
    let g = file::LogFile::open(&path, 0, file::Access::Read)
        .unwrap()
        .geometry;
    let make = || {
        let before = std::fs::read(&path).unwrap();
        let e = file::LogFile::create(&path, 0, 0, g, 1, 1)
            .err()
            .expect("file 0 is there");
        // The call changed nothing and left no file beside it.
        assert!(std::fs::read(&path).unwrap() == before);
        let names = std::fs::read_dir(&d.0).unwrap().count();
        assert_eq!(names, 2, "file 0 and NAME.lock");
        e
    };
    let e = make();
    assert!(matches!(e, Error::Busy(_)), "{e:?}");
    // Without a writer holding it, the file is in the way: not Busy.
    w.close().unwrap();
    let e = make();
    assert!(
        matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists),
        "{e:?}"
    );
}

#[test]
fn a_half_made_file_is_removed_only_once_its_maker_is_gone() {
    // Where a file system cannot make unnamed files, a file is made under
    // a temporary name first; a writer that died left it behind.
    let d = TempDir::new("half-made");
    let gone = {
        // SAFETY: the child only leaves, without running exit handlers.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the forked child.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: waits for our own child, which is then gone.
        assert_eq!(unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) }, pid);
        pid as u32
    };
    let stale = d.0.join(format!("log.0.tmp-{gone}-0"));
    // A writer let in beside this one may be making this one now.
    let making = d.0.join(format!("log.0.tmp-{}-7", std::process::id()));
    let other_log = d.0.join(format!("other.0.tmp-{gone}-0"));
    for f in [&stale, &making, &other_log] {
        std::fs::write(f, b"half made").unwrap();
    }
    small(&d.log()).build().unwrap().close().unwrap();
    assert!(!stale.exists());
    assert!(making.exists());
    assert!(other_log.exists(), "another log's files are left alone");
}
