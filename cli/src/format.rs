//! Small text renderings shared by the commands: sizes, ages, pids with
//! their liveness, rates, tables, escaped names and payloads.

use ringcore::shm::inspect::{Process, Side};
use std::io::Write;

/// `1.5 KiB`, `64.0 MiB`; plain bytes below 1 KiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `850 ms`, `12.3 s`, `4 min`, `3.2 h`, `2.0 d`.
pub fn age(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1e3)
    } else if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{:.0} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

/// Seconds since a CLOCK_REALTIME stamp in nanoseconds.
pub fn since_unix_ns(ns: u64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now.saturating_sub(ns) as f64 / 1e9
}

/// `1234 alive`, `1234 dead`, `-` for none.
pub fn process(p: &Process) -> String {
    match p.pid {
        0 => "-".into(),
        pid => format!("{pid} {}", if p.alive { "alive" } else { "dead" }),
    }
}

/// `1234 alive`, `1234 dead`, `-` for a side nobody holds.
pub fn side(s: &Side) -> String {
    match s.pid {
        0 => "-".into(),
        pid => format!("{pid} {}", if s.alive { "alive" } else { "dead" }),
    }
}

/// A side with its heartbeat's age: `1234 alive, heartbeat 12 ms ago`.
pub fn side_long(s: &Side) -> String {
    let mut t = side(s);
    if s.pid != 0 {
        match s.heartbeat_age_s {
            Some(a) => t.push_str(&format!(", heartbeat {} ago", age(a))),
            None => t.push_str(", no heartbeat yet"),
        }
    }
    t
}

/// `12.3k msg/s`-style numbers: plain below 10 000, then k, M, G.
pub fn rate(v: f64) -> String {
    if v < 10_000.0 {
        format!("{v:.1}")
    } else if v < 10_000_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v < 10_000_000_000.0 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.1}G", v / 1e9)
    }
}

/// A file name or path as text: control characters escaped (`\n`,
/// `\x1b`), so that a name cannot forge a row or drive the terminal.
pub fn name(path: &std::path::Path) -> String {
    text(&path.to_string_lossy())
}

/// A line of text that may hold file names (an error message), control
/// characters escaped as in [`name`].
pub fn text(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\x{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// A payload as text: printable ASCII as is, the rest escaped, cut at
/// `max` bytes (0: all) with the number left out.
pub fn escaped(payload: &[u8], max: usize) -> String {
    let shown = if max == 0 {
        payload
    } else {
        &payload[..payload.len().min(max)]
    };
    let mut s = String::with_capacity(shown.len() + 2);
    s.push('"');
    for &b in shown {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    if shown.len() < payload.len() {
        s.push_str(&format!(" (+{} bytes)", payload.len() - shown.len()));
    }
    s
}

/// Lowercase hex of every byte.
pub fn hex(payload: &[u8]) -> String {
    payload.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hex dump: offset, 16 bytes in hex, the printable ones as text.
pub fn hexdump(w: &mut dyn Write, payload: &[u8]) -> std::io::Result<()> {
    for (i, chunk) in payload.chunks(16).enumerate() {
        let hexes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(w, "  {:08x}  {:<47}  |{text}|", i * 16, hexes.join(" "))?;
    }
    Ok(())
}

/// Writes rows as columns padded to their widest cell (the last column
/// unpadded).
pub fn table(w: &mut dyn Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        writeln!(w, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes `v` as one line of JSON.
pub fn json_line<T: serde::Serialize>(w: &mut dyn Write, v: &T) -> Result<(), crate::CliError> {
    serde_json::to_writer(&mut *w, v)?;
    writeln!(w)?;
    Ok(())
}

/// Writes `v` as indented JSON.
pub fn json_pretty<T: serde::Serialize>(w: &mut dyn Write, v: &T) -> Result<(), crate::CliError> {
    serde_json::to_writer_pretty(&mut *w, v)?;
    writeln!(w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_ages_and_rates_read_as_a_person_writes_them() {
        assert_eq!(bytes(1000), "1000 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
        assert_eq!(age(0.012), "12 ms");
        assert_eq!(age(12.34), "12.3 s");
        assert_eq!(age(600.0), "10 min");
        assert_eq!(rate(9999.0), "9999.0");
        assert_eq!(rate(401_700.0), "401.7k");
        assert_eq!(rate(25e6), "25.0M");
    }

    #[test]
    fn names_cannot_forge_rows_or_drive_the_terminal() {
        use std::os::unix::ffi::OsStrExt;
        let p = std::path::Path::new(std::ffi::OsStr::from_bytes(b"a\nb\x1b[2J\xffc"));
        assert_eq!(name(p), "a\\nb\\x1b[2J\u{fffd}c");
        assert_eq!(name(std::path::Path::new("plain-name")), "plain-name");
        let json = serde_json::to_string(&Wrapped(p)).unwrap();
        assert_eq!(json, "\"a\\nb\\u001b[2J\u{fffd}c\"");
    }

    struct Wrapped<'a>(&'a std::path::Path);

    impl serde::Serialize for Wrapped<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ringcore::inspect::lossy_path(self.0, s)
        }
    }

    #[test]
    fn payloads_are_escaped_and_cut() {
        assert_eq!(
            escaped(b"ab\"\\\n\x00\xff", 0),
            "\"ab\\\"\\\\\\n\\x00\\xff\""
        );
        assert_eq!(escaped(b"abcdef", 4), "\"abcd\" (+2 bytes)");
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        let mut out = Vec::new();
        hexdump(&mut out, b"0123456789abcdefXY").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.lines().count(), 2);
        assert!(s.lines().nth(1).unwrap().starts_with("  00000010  58 59"));
        assert!(s.lines().next().unwrap().ends_with("|0123456789abcdef|"));
    }

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["A".to_string(), "LONGER".into(), "x".into()],
            vec!["BBB".to_string(), "y".into(), "z".into()],
        ];
        table(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A    LONGER  x\nBBB  y       z\n"
        );
    }
}
