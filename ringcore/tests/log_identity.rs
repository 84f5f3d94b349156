//! A log's identity (`log_id`) and first index: what a copy of a log needs
//! to keep its source's indices and to never take another log's records.

use ringcore::log::{file_path, list_files, From, Reader, WriterBuilder};
use ringcore::Error;
use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("rmpsc-log-identity-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Small regions and files: a few hundred records cross many of both.
fn small(path: &Path) -> WriterBuilder {
    let page = ringcore::log::page_size();
    WriterBuilder::new(path)
        .region_size(page)
        .file_roll_size(2 * page)
}

fn payload(i: u64) -> Vec<u8> {
    vec![i as u8; (i * 37 % 300) as usize]
}

#[test]
fn a_new_log_gets_a_random_identity_that_every_file_keeps() {
    let d = TempDir::new("random");
    let (a, b) = (d.0.join("a"), d.0.join("b"));
    let mut wa = small(&a).build().unwrap();
    let wb = small(&b).build().unwrap();
    let id = wa.log_id();
    assert_ne!(id, 0);
    assert_ne!(id, wb.log_id(), "two logs made at once differ");
    for i in 0..300 {
        wa.append_at(1, &payload(i), i).unwrap();
    }
    drop(wa);
    // Reopened, the log keeps it, and so do the files it adds.
    let mut wa = small(&a).build().unwrap();
    assert_eq!(wa.log_id(), id);
    for i in 300..600 {
        wa.append_at(1, &payload(i), i).unwrap();
    }
    wa.close().unwrap();
    let files = list_files(&a).unwrap();
    assert!(files.len() > 4, "it rolled: {files:?}");
    let mut r = Reader::open(&a, From::Start).unwrap();
    assert_eq!(r.log_id(), id);
    let mut n = 0;
    while let Some(m) = r.try_read().unwrap() {
        assert_eq!(m.index, n);
        n += 1;
    }
    assert_eq!(n, 600);
    assert_eq!(r.position().file, *files.last().unwrap());
    assert_eq!(r.log_id(), id, "the newest file has it too");
    assert_eq!(Reader::open(&a, From::Live).unwrap().log_id(), id);
}

#[test]
fn a_copy_keeps_the_identity_and_indices_of_its_source() {
    let d = TempDir::new("copy");
    let copy = d.0.join("copy");
    let id = 0x0123_4567_89ab_cdef;
    let mut w = small(&copy).log_id(id).first_index(1000).build().unwrap();
    assert_eq!((w.log_id(), w.next_index()), (id, 1000));
    for i in 1000..1300 {
        assert_eq!(w.append_at(7, &payload(i), i * 3).unwrap(), i);
    }
    drop(w);
    // Reopened: the first index given to an existing log changes nothing,
    // the identity must be the same.
    let w = small(&copy).first_index(5).log_id(id).build().unwrap();
    assert_eq!(w.next_index(), 1300);
    drop(w);
    match small(&copy).log_id(id + 1).build() {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("0123456789abcdef"), "{m}"),
        other => panic!("another log's identity: {other:?}"),
    }
    assert!(matches!(
        small(&d.0.join("zero")).log_id(0).build(),
        Err(Error::InvalidArgument(_))
    ));
    // Readers see the source's indices, from the start and by index.
    let mut r = Reader::open(&copy, From::Start).unwrap();
    assert_eq!((r.log_id(), r.next_index()), (id, 1000));
    let m = r.try_read().unwrap().unwrap();
    assert_eq!((m.index, m.msg_type, m.timestamp), (1000, 7, 3000));
    let mut r = Reader::open(&copy, From::Index(1234)).unwrap();
    let m = r.try_read().unwrap().unwrap();
    assert_eq!((m.index, m.timestamp), (1234, 1234 * 3));
    assert_eq!(m.payload, payload(1234));
    assert!(matches!(
        Reader::open(&copy, From::Index(999)),
        Err(Error::FellBehind(_))
    ));
}

/// A log written before format version 3 has no identity: it reads as 0,
/// a writer reopening it keeps it that way, and asking for one is refused.
#[test]
fn a_version_2_log_reads_with_no_identity() {
    let d = TempDir::new("v2");
    let log = d.0.join("log");
    let mut w = small(&log).build().unwrap();
    for i in 0..10 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    // Make it a version 2 file: version 2, and the bytes where version 3
    // keeps the identity left as a version 2 writer left them (padding,
    // whatever it holds is not an identity).
    let path = file_path(&log, 0);
    let mut v = std::fs::read(&path).unwrap();
    v[8..12].copy_from_slice(&2u32.to_ne_bytes());
    v[0x60..0x68].copy_from_slice(&0xdead_beefu64.to_ne_bytes());
    std::fs::write(&path, &v).unwrap();
    let r = Reader::open(&log, From::Start).unwrap();
    assert_eq!(r.log_id(), 0);
    assert!(matches!(
        small(&log).log_id(0xdead_beef).build(),
        Err(Error::InvalidArgument(_))
    ));
    let mut w = small(&log).build().unwrap();
    assert_eq!(w.log_id(), 0);
    for i in 10..300 {
        w.append_at(0, &payload(i), i).unwrap();
    }
    drop(w);
    let mut r = Reader::open(&log, From::Live).unwrap();
    assert!(r.position().file > 0);
    assert_eq!(r.log_id(), 0);
    assert!(r.try_read().unwrap().is_none());
    let mut r = Reader::open(&log, From::Start).unwrap();
    assert_eq!(r.iter().count(), 300);
}
