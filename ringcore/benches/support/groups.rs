//! A throughput bench as groups of peers, each peer a function that moves
//! `items` items and returns the time it took. `cargo bench` runs them
//! under criterion (statistics, `--save-baseline` / `--baseline`);
//! `RINGMPSC_BENCH_ROUNDS=N` runs them in N paired rounds instead, for the
//! report.
//!
//! Paired rounds, because this machine's state moves within seconds (the
//! same cache-line round trip has measured 110 and 490 ns within an hour),
//! and criterion measures one peer for seconds before the next: two peers
//! can be timed in different states, and their ratio then says nothing. A
//! round runs every peer once (in an order that changes each round)
//! between two short core-to-core probes; ratios are taken within a round
//! and rounds are grouped by their probes, so each state gets its own row.

use crate::common::{emit, middle, order};
use crate::pingpong::atomic_rtt;
use criterion::{BenchmarkId, Throughput};
use std::time::Duration;

/// A peer: `run(case, items)`, the time it took to move `items` items.
type Run = Box<dyn Fn(usize, u64) -> Duration>;

/// Round trips of the probe before and after each round.
const PROBE_ROUND_TRIPS: usize = 2000;

/// One case's rounds: the probes before and after each, and each peer's
/// rate in it (items per second).
type Measured = (Vec<[f64; 2]>, Vec<Vec<f64>>);
/// A round is in the fast state when its probes are within this factor of
/// the lowest probe of the run so far (this group's included). One
/// development machine has shown probes of about 80 and 130 ns in its fast
/// states and 330-410 ns in its slow one, another about 90 ns and 350-540
/// ns: the states are relative to the run.
const FAST_WITHIN: f64 = 2.0;

/// Peers compared on the same cases (producer counts, or one case).
pub struct Group {
    name: String,
    /// The peer the others are compared with.
    ours: &'static str,
    /// Items a peer moves in one run of a paired round.
    items: u64,
    /// Cases, shown as the benchmark's parameter when there are several.
    cases: Vec<usize>,
    peers: Vec<(&'static str, Run)>,
}

impl Group {
    /// A group whose peers are compared with `ours`, `items` items a run
    /// in paired rounds, one case (0).
    pub fn new(name: impl Into<String>, ours: &'static str, items: u64) -> Group {
        Group {
            name: name.into(),
            ours,
            items,
            cases: vec![0],
            peers: Vec::new(),
        }
    }

    /// Runs every peer for each of `cases` (a producer count, say).
    pub fn cases(mut self, cases: &[usize]) -> Group {
        self.cases = cases.to_vec();
        self
    }

    /// Adds a peer.
    pub fn peer(
        mut self,
        name: &'static str,
        run: impl Fn(usize, u64) -> Duration + 'static,
    ) -> Group {
        self.peers.push((name, Box::new(run)));
        self
    }

    fn parameterised(&self) -> bool {
        self.cases.len() > 1
    }

    fn criterion(&self, c: &mut criterion::Criterion) {
        let mut g = c.benchmark_group(&self.name);
        g.throughput(Throughput::Elements(1));
        for (name, run) in &self.peers {
            if self.parameterised() {
                for &case in &self.cases {
                    g.bench_with_input(BenchmarkId::new(*name, case), &case, |b, &case| {
                        b.iter_custom(|items| run(case, items))
                    });
                }
            } else {
                g.bench_function(*name, |b| b.iter_custom(|items| run(self.cases[0], items)));
            }
        }
        g.finish();
    }

    /// `rounds` paired rounds per case; prints a markdown table, a row per
    /// case and state.
    fn paired(&self, rounds: usize) {
        let names: Vec<&str> = self.peers.iter().map(|(n, _)| *n).collect();
        let ours = names.iter().position(|&n| n == self.ours);
        let others: Vec<usize> = (0..names.len()).filter(|&i| Some(i) != ours).collect();
        let mut head = vec![
            self.name.clone(),
            "state".into(),
            "rounds".into(),
            "probe p50".into(),
        ];
        head.extend(names.iter().map(|n| n.to_string()));
        if ours.is_some() {
            head.extend(
                others
                    .iter()
                    .map(|&i| format!("{} / {}", self.ours, names[i])),
            );
        }
        println!("| {} |", head.join(" | "));
        println!("|{}", "---|".repeat(head.len()));
        // One untimed run of each peer first: the first timed one would
        // pay for cold caches and page faults alone.
        for (_, run) in &self.peers {
            run(self.cases[0], self.items);
        }
        // Per case: probes[round] (before it and after it), rates[round][peer]
        // in items per second.
        let probe = || atomic_rtt(PROBE_ROUND_TRIPS).at(0.5) as f64;
        let measured: Vec<Measured> = self
            .cases
            .iter()
            .map(|&case| {
                let mut probes = Vec::with_capacity(rounds);
                let mut rates = vec![vec![0.0; names.len()]; rounds];
                let mut before = probe();
                for (r, row) in rates.iter_mut().enumerate() {
                    for i in order(names.len(), r) {
                        let took = (self.peers[i].1)(case, self.items);
                        row[i] = self.items as f64 / took.as_secs_f64();
                    }
                    let after = probe();
                    probes.push([before, after]);
                    before = after;
                }
                (probes, rates)
            })
            .collect();
        let earlier = LOWEST_PROBE.with(|l| l.get());
        let lowest = measured
            .iter()
            .flat_map(|(probes, _)| probes.iter().flatten().copied())
            .fold(earlier, f64::min);
        LOWEST_PROBE.with(|l| l.set(lowest));
        // A round is in a state when its probes before and after agree.
        let state_of = |p: &[f64; 2]| match p.map(|p| p <= lowest * FAST_WITHIN) {
            [true, true] => "fast",
            [false, false] => "slow",
            _ => "changing",
        };
        // The first group of a run that saw one state only has nothing to
        // tell which one it was: its probes say.
        let one_state = earlier.is_infinite()
            && measured
                .iter()
                .all(|(probes, _)| probes.iter().all(|p| state_of(p) == "fast"));
        for (&case, (probes, rates)) in self.cases.iter().zip(&measured) {
            for state in ["fast", "slow", "changing"] {
                let chosen: Vec<usize> = (0..rounds)
                    .filter(|&r| state_of(&probes[r]) == state)
                    .collect();
                if chosen.is_empty() {
                    continue;
                }
                let mut row = vec![
                    if self.parameterised() {
                        case.to_string()
                    } else {
                        "-".into()
                    },
                    if one_state { "one state" } else { state }.into(),
                    chosen.len().to_string(),
                    format!("{:.0} ns", middle(chosen.iter().flat_map(|&r| probes[r]))),
                ];
                let rate = |i: usize| middle(chosen.iter().map(|&r| rates[r][i]));
                row.extend((0..names.len()).map(|i| format!("{:.1} M/s", rate(i) / 1e6)));
                if let Some(o) = ours {
                    for &i in &others {
                        row.push(format!(
                            "{:.2}x",
                            middle(chosen.iter().map(|&r| rates[r][o] / rates[r][i]))
                        ));
                    }
                }
                println!("| {} |", row.join(" | "));
                // Fast and slow rows are plotted, and so is a group that
                // saw one state, under the peers' plain names as its rounds
                // all count as fast (within FAST_WITHIN of its lowest
                // probe): left out, a run in one state had no MPSC plots.
                if self.parameterised() && state != "changing" {
                    for (i, name) in names.iter().enumerate() {
                        let series = match state {
                            "fast" => name.to_string(),
                            _ => format!("{name} ({state} state)"),
                        };
                        emit(&self.name, &series, case as f64, rate(i));
                    }
                }
            }
        }
        println!();
    }
}

thread_local! {
    /// The lowest probe of the groups run so far, the fast state's mark.
    static LOWEST_PROBE: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::INFINITY) };
}

/// The number of paired rounds asked for (`RINGMPSC_BENCH_ROUNDS`), if any.
fn rounds() -> Option<usize> {
    std::env::var("RINGMPSC_BENCH_ROUNDS")
        .ok()?
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

/// Runs the groups: under criterion, or in paired rounds. In paired
/// rounds the first argument that is not a flag selects the groups whose
/// name contains it.
pub fn main(groups: Vec<Group>) {
    let Some(rounds) = rounds() else {
        let mut c = crate::common::criterion_config().configure_from_args();
        for g in &groups {
            g.criterion(&mut c);
        }
        c.final_summary();
        return;
    };
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!(
        "Paired rounds: {rounds} rounds for each row's case, each a core-to-core probe \
         ({PROBE_ROUND_TRIPS} round trips) and then one run of every peer, in an order turned \
         by one each round and reversed every other round, after one untimed run of each, and \
         a probe again after the round. A round is fast when both its probes are within \
         {FAST_WITHIN}x of the lowest probe of the run so far, slow when neither is, else \
         changing (the first group, if it saw one state only, cannot tell which: \"one \
         state\", with its probes); rates are the medians over a state's rounds, and ratios the \
         medians of the ratios within a round.\n"
    );
    for g in &groups {
        if filter.as_ref().is_none_or(|f| g.name.contains(f.as_str())) {
            println!("{} items a run\n", g.items);
            g.paired(rounds);
        }
    }
}
