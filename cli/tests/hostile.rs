//! Corrupt, empty, random and foreign files where the tool looks: each is
//! reported as that entry's error, the command goes on, nothing crashes
//! or hangs, and `clean` removes none of them. A file shrunk under the
//! tool's read-only mapping is an error, not a `SIGBUS`.

mod support;

use ringcore::log::inspect::LogCursor;
use ringcore::log::WriterBuilder;
use ringcore::msg::MessageRing;
use ringcore::shm::SegmentView;
use serde_json::Value;
use std::path::Path;
use support::*;

fn patch(bytes: &[u8], at: usize, value: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + value.len()].copy_from_slice(value);
    b
}

/// Random bytes from a fixed seed.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Writes the hostile files into `dir`; returns (name, what its error says).
fn make_files(dir: &TempDir) -> Vec<(&'static str, &'static str)> {
    // A real ring, made by this process and kept (its creator is alive).
    let good = dir.join("good");
    let ring = MessageRing::create(Some(&good.display().to_string()), 12).unwrap();
    ring.sender().unwrap().send(3, b"hello").unwrap();
    let seg = std::fs::read(&good).unwrap();
    std::mem::forget(ring);
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w("empty", b"");
    w("random", &noise(4096, 0x1234_5678));
    w("text.txt", b"just some text, not shared memory\n");
    w("short", &seg[..100]);
    w("version", &patch(&seg, 0x08, &9u32.to_ne_bytes()));
    w("kind", &patch(&seg, 0x0c, &9u32.to_ne_bytes()));
    w("notready", &patch(&seg, 0x1c, &0u32.to_ne_bytes()));
    w("size", &patch(&seg, 0x30, &123_456u64.to_ne_bytes()));
    w("bits", &patch(&seg, 0x14, &40u32.to_ne_bytes()));
    // Positions further apart than the ring holds.
    w("positions", &patch(&seg, 0x80, &(1u64 << 40).to_ne_bytes()));
    // The first record's commit word from another lap.
    w("record", &patch(&seg, 0x200, &0xfff0_0006u32.to_ne_bytes()));
    let mut log = b"RMPSCLOG".to_vec();
    log.extend(noise(600, 99));
    w("log-garbage", &log);
    let real_log = dir.join("real-log");
    let mut lw = WriterBuilder::new(&real_log).build().unwrap();
    lw.append(1, b"x").unwrap();
    lw.close().unwrap();
    let lb = std::fs::read(&real_log).unwrap();
    std::fs::remove_file(&real_log).unwrap();
    let _ = std::fs::remove_file(dir.join("real-log.lock"));
    w("log-truncated", &lb[..300]);
    w("log-version", &patch(&lb, 0x08, &77u32.to_ne_bytes()));
    std::os::unix::fs::symlink(&good, dir.join("link")).unwrap();
    std::fs::create_dir(dir.join("subdir")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("fifo").display().to_string()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    vec![
        ("empty", "empty"),
        ("random", "not a ringmpsc segment or log"),
        ("text.txt", "not a ringmpsc segment or log"),
        ("short", "smaller than a segment header"),
        ("version", "format version 9"),
        ("kind", "unknown segment kind 9"),
        ("notready", "not marked ready"),
        ("size", "its header says 123456"),
        ("bits", "inconsistent layout"),
        ("log-garbage", "log format version"),
        ("log-truncated", "truncated"),
        ("log-version", "version 77"),
        ("link", "symbolic link"),
        ("fifo", "not a regular file"),
    ]
}

fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no entry {name}"))
}

#[test]
fn every_bad_file_is_one_entry_with_its_error() {
    let dir = TempDir::new("hostile");
    let bad = make_files(&dir);
    let list = tool_json(&["list", "--json", "--dir", &dir.s()]);
    for (name, says) in &bad {
        let e = find(&list, name);
        let err = e["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no error: {e:#}"));
        assert!(err.contains(says), "{name}: {err}");
        assert!(
            err.contains(&dir.join(name).display().to_string()),
            "{name}: {err} names no file"
        );
    }
    assert_eq!(find(&list, "good")["error"], Value::Null);
    assert_eq!(find(&list, "good")["segment"]["stale"], false);
    assert_eq!(find(&list, "random")["kind"], "foreign");
    assert_eq!(find(&list, "version")["kind"], "message_ring");
    assert_eq!(find(&list, "kind")["kind"], "segment");
    assert_eq!(find(&list, "log-garbage")["kind"], "log");
    // Damage inside a valid header: the entry is there, with the damage.
    let pos = &find(&list, "positions")["segment"]["ring"];
    assert!(
        pos["error"]
            .as_str()
            .unwrap()
            .contains("more than the capacity apart"),
        "{pos:#}"
    );
    let rec = &find(&list, "record")["segment"]["ring"];
    assert!(
        rec["error"].as_str().unwrap().contains("not of this lap"),
        "{rec:#}"
    );
    assert!(list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["name"] != "subdir"));

    // The text listing goes on past them too, and hides the foreign ones.
    let out = tool(&["list", "--dir", &dir.s()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("good") && text.contains("version"));
    assert!(!text.lines().any(|l| l.starts_with("foreign")), "{text}");
    assert!(text.contains("list --all"));

    // stat, dump and hz of each: an error naming the file, exit 1, no crash.
    for (name, says) in &bad {
        let p = dir.join(name).display().to_string();
        for args in [
            vec!["stat", "--interval", "0", p.as_str()],
            vec!["dump", p.as_str()],
            vec!["hz", "--window", "0.05", p.as_str()],
        ] {
            let out = tool(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains(&p), "{args:?}: {err}");
            if args[0] == "stat" {
                assert!(err.contains(says), "{args:?}: {err}");
            }
        }
    }
    // A damaged record: the look says where it stopped, and the exit code
    // says damaged; so does `stat`'s.
    let record = dir.join("record").display().to_string();
    let out = tool(&["dump", &record]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not of this lap"));
    let out = tool(&["stat", "--interval", "0", &record]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not of this lap"));
    let out = tool(&[
        "stat",
        "--interval",
        "0",
        &dir.join("nothing").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(3));

    // clean touches none of them (the good ring's creator is alive).
    let before: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let c = tool_json(&["clean", "--json", "--dir", &dir.s()]);
    assert!(
        c["segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "kept"),
        "{c:#}"
    );
    for p in &before {
        assert!(p.symlink_metadata().is_ok(), "{} was removed", p.display());
    }
    let m = String::from_utf8(tool(&["export", "--once", "--dir", &dir.s()]).stdout).unwrap();
    assert!(m.contains("ringmpsc_entries{kind=\"foreign\"}"), "{m}");
    assert!(m.contains("ringmpsc_entry_errors "), "{m}");
}

#[test]
fn a_segment_shrunk_under_the_view_is_an_error_not_a_crash() {
    let dir = TempDir::new("shrink");
    let p = dir.join("ring");
    let ring = MessageRing::create(Some(&p.display().to_string()), 16).unwrap();
    let mut tx = ring.sender().unwrap();
    for i in 0..100u32 {
        tx.send(i + 1, &[7u8; 100]).unwrap();
    }
    let view = SegmentView::open(&p).unwrap();
    assert_eq!(view.peek(1000).unwrap().records.len(), 100);
    // Shrink the file below the records the view maps.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(4096)
        .unwrap();
    let e = view.peek(1000).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    let e = view.info().unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    // And through the tool, a file changing size while it is read, many times.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flip = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            let mut big = true;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                f.set_len(if big { 512 + 65536 } else { 600 }).unwrap();
                big = !big;
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        })
    };
    for _ in 0..20 {
        for args in [
            vec!["list", "--json", "--dir", &dir.s()],
            vec!["dump", &dir.s()],
        ] {
            let out = tool(&args);
            assert!(out.status.code().is_some(), "{args:?} died of a signal");
        }
        let out = tool(&["dump", &p.display().to_string()]);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flip.join().unwrap();
}

#[test]
fn a_log_shrunk_under_the_cursor_is_an_error_not_a_crash() {
    let dir = TempDir::new("shrink-log");
    let p = dir.join("log");
    let mut w = WriterBuilder::new(&p).build().unwrap();
    for i in 0..1000u64 {
        w.append_at(1, &[i as u8; 200], i).unwrap();
    }
    let mut c = LogCursor::open(Path::new(&p), None).unwrap();
    assert_eq!(c.try_next().unwrap().unwrap().index, 0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(8192)
        .unwrap();
    let e = loop {
        match c.try_next() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the end of a shrunk log read as the end of the records"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("truncated"), "{e}");
    drop(w);
}

/// File names are whatever bytes their creator chose: one that is not
/// UTF-8 keeps the JSON report whole, and one with a newline or an escape
/// sequence cannot forge a row or reach the terminal in the text one.
#[test]
fn odd_file_names_neither_break_json_nor_forge_text_rows() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("names");
    let odd = std::ffi::OsStr::from_bytes(b"bad\xffname");
    std::fs::write(dir.0.join(odd), b"not a segment").unwrap();
    let forged = "x\nmessage_ring  fake  live\x1b[2J";
    std::fs::write(dir.join(forged), b"not a segment").unwrap();
    let list = tool_json(&["list", "--json", "--dir", &dir.s()]);
    let names: Vec<&str> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("bad\u{fffd}name")),
        "{names:?}"
    );
    let out = tool(&["list", "--all", "--dir", &dir.s()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(
        text.contains("x\\nmessage_ring  fake  live\\x1b[2J"),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l.starts_with("message_ring  fake")),
        "{text}"
    );
    // A file with a segment's magic and nothing else: `clean` cannot judge
    // it and says why, naming it. A ring so named: `export` labels its
    // metrics with the name.
    std::fs::write(dir.join("seg\x1b]2;owned\x07"), b"RMPSCSEG").unwrap();
    let ring_path = dir.join("ring\x1b]2;owned\x07").display().to_string();
    let _ring = MessageRing::create(Some(&ring_path), 12).unwrap();
    for args in [
        ["clean", "--dry-run", "--dir"],
        ["export", "--once", "--dir"],
    ] {
        let out = tool(&[args[0], args[1], args[2], &dir.s()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains('\x1b'), "{args:?}: {text}");
        assert!(text.contains("owned"), "{args:?} names the file: {text}");
    }
}

/// A segment named like a file of a log beside it (`x.3` beside log `x`)
/// is listed on its own, not taken for a file of that log.
#[test]
fn a_segment_named_like_a_log_file_is_listed() {
    let dir = TempDir::new("lookalike");
    let page = 4096;
    let mut w = WriterBuilder::new(dir.join("x"))
        .region_size(page)
        .file_roll_size(2 * page)
        .build()
        .unwrap();
    for i in 0..200u64 {
        w.append(1, &i.to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    let seg = dir.join("x.99");
    let _ring = MessageRing::create(Some(&seg.display().to_string()), 12).unwrap();
    let list = tool_json(&["list", "--json", "--dir", &dir.s()]);
    assert_eq!(find(&list, "x")["kind"], "log");
    assert_eq!(find(&list, "x.99")["kind"], "message_ring");
}
