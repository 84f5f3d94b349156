//! `ringmpsc hz NAME`: the message rate of a ring, transport or log over a
//! window: one rate a sample, then their mean, minimum, maximum and
//! standard deviation (as `ros2 topic hz` reports a topic's).

use crate::args::{Global, HzArgs};
use crate::format;
use crate::CliError;
use ringcore::inspect::{Meter, Target};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// Mean, minimum, maximum and standard deviation of per-sample rates.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    /// Mean of the samples' rates (equals the total over the window's time).
    pub mean: f64,
    /// Lowest sample.
    pub min: f64,
    /// Highest sample.
    pub max: f64,
    /// Standard deviation of the samples.
    pub stddev: f64,
}

impl Spread {
    fn of(v: &[f64]) -> Spread {
        if v.is_empty() {
            return Spread {
                mean: 0.0,
                min: 0.0,
                max: 0.0,
                stddev: 0.0,
            };
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Spread {
            mean,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            stddev: var.sqrt(),
        }
    }
}

/// What `hz --json` prints.
#[derive(Debug, Serialize)]
pub struct HzOutput {
    /// The name as given.
    pub name: String,
    /// The file (a log's first file).
    #[serde(serialize_with = "ringcore::inspect::lossy_path")]
    pub path: std::path::PathBuf,
    /// Seconds measured.
    pub window_s: f64,
    /// Seconds between samples.
    pub sample_s: f64,
    /// Samples taken.
    pub samples: usize,
    /// Messages over the window.
    pub messages: u64,
    /// Bytes over the window.
    pub bytes: u64,
    /// False when some messages were estimated (records overwritten before
    /// they were counted).
    pub exact: bool,
    /// Messages per second.
    pub rate: Spread,
    /// Bytes per second.
    pub bytes_per_s: Spread,
}

fn seconds(what: &str, v: f64, min: f64) -> Result<Duration, CliError> {
    if !v.is_finite() || v < min || v > 86_400.0 {
        return Err(CliError::usage(format!(
            "{what} {v} is not a number of seconds from {min} to 86400"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

fn line(o: &HzOutput) -> String {
    format!(
        "average rate: {}{} msg/s  min: {}  max: {}  std dev: {}  ({} samples over {:.1} s, {}/s)",
        if o.exact { "" } else { "~" },
        format::rate(o.rate.mean),
        format::rate(o.rate.min),
        format::rate(o.rate.max),
        format::rate(o.rate.stddev),
        o.samples,
        o.window_s,
        format::bytes(o.bytes_per_s.mean as u64)
    )
}

/// Runs `hz`.
pub fn run(g: &Global, a: &HzArgs, w: &mut dyn Write) -> Result<i32, CliError> {
    let window = seconds("--window", a.window, 0.001)?;
    let sample = seconds("--sample", a.sample, 0.001)?;
    let target = Target::open(&g.dir(), &a.name)?;
    let mut meter = Meter::new(&target)?;
    let start = Instant::now();
    let mut last = (start, meter.sample()?);
    let first = last.1;
    let mut rates = Vec::new();
    let mut byte_rates = Vec::new();
    let mut next_print = start + Duration::from_secs(1);
    let out =
        |rates: &[f64], byte_rates: &[f64], now: Instant, t: &ringcore::inspect::Totals| HzOutput {
            name: a.name.clone(),
            path: target.path().to_path_buf(),
            window_s: now.duration_since(start).as_secs_f64(),
            sample_s: sample.as_secs_f64(),
            samples: rates.len(),
            messages: t.messages - first.messages,
            bytes: t.bytes - first.bytes,
            exact: t.exact,
            rate: Spread::of(rates),
            bytes_per_s: Spread::of(byte_rates),
        };
    loop {
        let elapsed = start.elapsed();
        if elapsed >= window {
            break;
        }
        let t = meter.sample_for(sample.min(window - elapsed))?;
        let now = Instant::now();
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-9);
        rates.push((t.messages - last.1.messages) as f64 / secs);
        byte_rates.push((t.bytes - last.1.bytes) as f64 / secs);
        last = (now, t);
        if !g.json && now >= next_print && now.duration_since(start) < window {
            writeln!(w, "{}", line(&out(&rates, &byte_rates, now, &t)))?;
            w.flush()?;
            next_print += Duration::from_secs(1);
        }
    }
    let o = out(&rates, &byte_rates, last.0, &last.1);
    if g.json {
        format::json_pretty(w, &o)?;
    } else {
        writeln!(w, "{}", line(&o))?;
    }
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_of_sample_rates() {
        let s = Spread::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!((s.mean, s.min, s.max, s.stddev), (5.0, 2.0, 9.0, 2.0));
        assert_eq!(Spread::of(&[]).mean, 0.0);
    }
}
