//! Helpers shared by the benches (each includes this file as a module).

use std::io::{Read, Write};

/// The quantiles every latency distribution is reported and plotted at.
pub const QUANTILES: [f64; 7] = [0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 1.0];

/// Latencies in nanoseconds, recorded in an HDR histogram (1 ns to 100 s,
/// 3 significant digits) rather than kept and sorted.
pub struct Latencies(hdrhistogram::Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(hdrhistogram::Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap())
    }
}

impl Latencies {
    /// Records one latency (clamped into the histogram's range).
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1));
    }

    /// The latency at each of [`QUANTILES`], to report or to send back
    /// from a forked child.
    pub fn quantiles(&self) -> Percentiles {
        Percentiles(QUANTILES.map(|q| self.0.value_at_quantile(q)))
    }
}

/// A latency distribution as its values at [`QUANTILES`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles(pub [u64; QUANTILES.len()]);

impl Percentiles {
    /// From the values a child sent back ([`Percentiles::to_vec`]).
    pub fn from_slice(v: &[u64]) -> Percentiles {
        Percentiles(v[..QUANTILES.len()].try_into().unwrap())
    }

    /// The values, in the order of [`QUANTILES`].
    pub fn to_vec(self) -> Vec<u64> {
        self.0.to_vec()
    }

    /// The value at quantile `q`, one of [`QUANTILES`].
    pub fn at(&self, q: f64) -> u64 {
        let i = QUANTILES
            .iter()
            .position(|&x| x == q)
            .expect("a listed quantile");
        self.0[i]
    }

    /// Each quantile's median over `runs` (rounds measured apart).
    pub fn median_of(runs: &[Percentiles]) -> Percentiles {
        Percentiles(std::array::from_fn(|i| {
            middle(runs.iter().map(|r| r.0[i] as f64)).round() as u64
        }))
    }

    /// Writes the distribution as series `series` of plot `plot` ([`emit`]).
    pub fn emit(&self, plot: &str, series: &str) {
        for (q, v) in QUANTILES.iter().zip(self.0) {
            emit(plot, series, *q, v as f64);
        }
    }
}

/// The order in which round `round` runs `peers` peers: turned by one each
/// round, and reversed every other round, so that no peer always runs
/// first or always after the same one.
pub fn order(peers: usize, round: usize) -> Vec<usize> {
    let mut o: Vec<usize> = (0..peers).map(|k| (k + round) % peers).collect();
    if round % 2 == 1 {
        o.reverse();
    }
    o
}

/// Every row run once in each of `rounds` rounds (after one untimed run
/// of the first), in the [`order`] of the round, so that every row sees
/// the same machine states: `runs[round][row]`.
pub fn in_rounds<T: Clone + Default>(rows: &[&dyn Fn() -> T], rounds: usize) -> Vec<Vec<T>> {
    rows[0]();
    (0..rounds)
        .map(|r| {
            let mut round = vec![T::default(); rows.len()];
            for i in order(rows.len(), r) {
                round[i] = rows[i]();
            }
            round
        })
        .collect()
}

/// The median over the rounds of `f` of each round (`runs[round][row]`,
/// as [`in_rounds`] returns them): a row's rate, or a ratio taken within
/// a round.
pub fn over_rounds<T>(runs: &[Vec<T>], f: impl Fn(&[T]) -> f64) -> f64 {
    middle(runs.iter().map(|round| f(round)))
}

/// Each quantile's median over the rounds of row `row`.
pub fn row_percentiles(runs: &[Vec<Percentiles>], row: usize) -> Percentiles {
    Percentiles::median_of(&runs.iter().map(|round| round[row]).collect::<Vec<_>>())
}

/// Latency rows measured [`in_rounds`]; the last row is the floor. Per
/// row: each quantile's median over the rounds, and the median of its p50
/// over the floor's within a round.
pub fn latency_rounds(rows: &[&dyn Fn() -> Percentiles], rounds: usize) -> Vec<(Percentiles, f64)> {
    let runs = in_rounds(rows, rounds);
    let floor = rows.len() - 1;
    (0..rows.len())
        .map(|i| {
            let to_floor = over_rounds(&runs, |r| r[i].at(0.5) as f64 / r[floor].at(0.5) as f64);
            (row_percentiles(&runs, i), to_floor)
        })
        .collect()
}

/// Appends one figure, as a JSON line, to the file named by
/// `RINGMPSC_BENCH_DATA`, from which `make bench-report` draws its plots;
/// does nothing when the variable is unset.
pub fn emit(plot: &str, series: &str, x: f64, y: f64) {
    let Some(path) = std::env::var_os("RINGMPSC_BENCH_DATA") else {
        return;
    };
    // Debug formatting of a str escapes it as JSON needs for these names.
    let line = format!("{{\"plot\": {plot:?}, \"series\": {series:?}, \"x\": {x}, \"y\": {y}}}\n");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("RINGMPSC_BENCH_DATA names a writable file");
    f.write_all(line.as_bytes()).unwrap();
}

/// CPUs online (not the affinity mask, which an earlier pin has narrowed).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// Pins the calling thread to `cpu` modulo the CPUs online.
pub fn pin(cpu: usize) {
    let _ = ringcore::numa::bind_to_cpu(cpu % online_cpus());
}

/// The median of `v` (of an even count, the mean of the middle two): the
/// one rule every bench's medians follow.
pub fn middle(v: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Reads every byte of `p` and returns their sum, the same work for every
/// consumer. It sums 256-byte chunks in u16 (256 * 255 < 2^16), which the
/// compiler vectorises four times wider than a u64 sum (~14 GB/s against
/// ~3.4 GB/s here), so that the transport, not the reading, sets the pace
/// of a stream of large messages. A byte sum does not depend on where a
/// stream is cut into reads.
pub fn touch(p: &[u8]) -> u64 {
    p.chunks(256)
        .map(|c| c.iter().map(|&b| b as u16).sum::<u16>() as u64)
        .sum()
}

/// A forked child whose result (a few u64) comes back through a pipe.
pub struct Child {
    pid: libc::pid_t,
    out: std::fs::File,
}

/// Runs `f` in a forked child; `Child::collect` returns what it returned.
/// The caller must be single-threaded when it forks.
pub fn fork(f: impl FnOnce() -> Vec<u64>) -> Child {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into our array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the caller is single-threaded when it forks; the child only
    // runs `f` and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: the write end is ours in the child.
        let mut out = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for x in f() {
                out.write_all(&x.to_ne_bytes()).unwrap();
            }
        }))
        .is_ok();
        // SAFETY: leave at once, skipping the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    // SAFETY: the parent keeps the read end only.
    unsafe { libc::close(fds[1]) };
    Child {
        pid,
        // SAFETY: fds[0] is ours.
        out: unsafe { std::fs::File::from_raw_fd(fds[0]) },
    }
}

impl Child {
    /// Waits for the child (which must have succeeded) and returns its result.
    pub fn collect(mut self) -> Vec<u64> {
        let mut bytes = Vec::new();
        self.out.read_to_end(&mut bytes).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed"
        );
        bytes
            .chunks(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect()
    }
}

/// The criterion settings of the throughput benches (spsc, mpsc, c_api):
/// 10 samples over 2 s after 1 s of warm-up, so that each bench runs in a
/// few minutes on 2 cores; a sample is already millions of items.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .measurement_time(std::time::Duration::from_secs(2))
        .warm_up_time(std::time::Duration::from_secs(1))
}
