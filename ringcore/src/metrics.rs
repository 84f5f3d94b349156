//! Optional counters: nothing is counted (and nothing is paid) unless a
//! ring is built with `enable_metrics` or `track_contention`.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A point-in-time copy of a ring's (or a whole channel's) counters.
///
/// ```
/// use ringcore::Metrics;
/// let mut a = Metrics { messages_received: 10, batches_received: 2, ..Metrics::default() };
/// let b = Metrics { messages_received: 20, batches_received: 2, ..Metrics::default() };
/// a.merge(&b);
/// assert_eq!(a.avg_batch_size(), 7.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    /// Items committed by the producer.
    pub messages_sent: u64,
    /// Items consumed.
    pub messages_received: u64,
    /// Commits (each may carry many items).
    pub batches_sent: u64,
    /// Consume calls that returned at least one item.
    pub batches_received: u64,
    /// Retries of a reserve that found the ring full (with `track_contention`).
    pub reserve_spins: u64,
    /// Reserve calls that gave up on a full ring.
    pub reserve_failures: u64,
    /// Time spent in blocking waits, both sides, in nanoseconds.
    pub total_wait_ns: u64,
    /// Largest batch consumed at once.
    pub max_batch_size: u64,
    /// Sum of batch processing times, in nanoseconds.
    pub latency_sum_ns: u64,
    /// Number of timed batches.
    pub latency_count: u64,
    /// Shortest batch processing time (`u64::MAX` before the first batch).
    pub latency_min_ns: u64,
    /// Longest batch processing time.
    pub latency_max_ns: u64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            messages_sent: 0,
            messages_received: 0,
            batches_sent: 0,
            batches_received: 0,
            reserve_spins: 0,
            reserve_failures: 0,
            total_wait_ns: 0,
            max_batch_size: 0,
            latency_sum_ns: 0,
            latency_count: 0,
            latency_min_ns: u64::MAX,
            latency_max_ns: 0,
        }
    }
}

impl Metrics {
    /// Mean batch processing time in nanoseconds (0 before any batch).
    pub fn avg_latency_ns(&self) -> f64 {
        ratio(self.latency_sum_ns, self.latency_count)
    }

    /// Mean items per consumed batch (0 before any batch).
    pub fn avg_batch_size(&self) -> f64 {
        ratio(self.messages_received, self.batches_received)
    }

    /// Items received per second over `elapsed`.
    pub fn throughput_per_second(&self, elapsed: Duration) -> f64 {
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            self.messages_received as f64 / secs
        } else {
            0.0
        }
    }

    /// Adds `other` into `self` (sums, wrapping like the live counters, with
    /// min/max combined). The minimum comes only from sides that timed a
    /// batch, so an all-zero `Metrics` (as a C caller starts from) merges
    /// like the default; `latency_min_ns` means something only while
    /// `latency_count` is non-zero.
    pub fn merge(&mut self, other: &Metrics) {
        if other.latency_count > 0 {
            self.latency_min_ns = if self.latency_count > 0 {
                self.latency_min_ns.min(other.latency_min_ns)
            } else {
                other.latency_min_ns
            };
        }
        self.messages_sent = self.messages_sent.wrapping_add(other.messages_sent);
        self.messages_received = self.messages_received.wrapping_add(other.messages_received);
        self.batches_sent = self.batches_sent.wrapping_add(other.batches_sent);
        self.batches_received = self.batches_received.wrapping_add(other.batches_received);
        self.reserve_spins = self.reserve_spins.wrapping_add(other.reserve_spins);
        self.reserve_failures = self.reserve_failures.wrapping_add(other.reserve_failures);
        self.total_wait_ns = self.total_wait_ns.wrapping_add(other.total_wait_ns);
        self.max_batch_size = self.max_batch_size.max(other.max_batch_size);
        self.latency_sum_ns = self.latency_sum_ns.wrapping_add(other.latency_sum_ns);
        self.latency_count = self.latency_count.wrapping_add(other.latency_count);
        self.latency_max_ns = self.latency_max_ns.max(other.latency_max_ns);
    }

    /// Back to zero.
    pub fn reset(&mut self) {
        *self = Metrics::default();
    }
}

fn ratio(sum: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        sum as f64 / count as f64
    }
}

/// A counter written by one side only: a relaxed load and store, no RMW.
#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    #[inline]
    fn add(&self, v: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(v), Relaxed);
    }
    #[inline]
    fn max(&self, v: u64) {
        if v > self.0.load(Relaxed) {
            self.0.store(v, Relaxed);
        }
    }
    #[inline]
    fn min(&self, v: u64) {
        if v < self.0.load(Relaxed) {
            self.0.store(v, Relaxed);
        }
    }
    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

#[derive(Default)]
struct ProducerCounters {
    sent: Counter,
    batches: Counter,
    spins: Counter,
    failures: Counter,
    wait_ns: Counter,
}

struct ConsumerCounters {
    received: Counter,
    batches: Counter,
    max_batch: Counter,
    latency_sum: Counter,
    latency_count: Counter,
    latency_min: Counter,
    latency_max: Counter,
    wait_ns: Counter,
}

/// Live counters of one ring; each side writes only its own cache line.
pub(crate) struct RingMetrics {
    producer: CachePadded<ProducerCounters>,
    consumer: CachePadded<ConsumerCounters>,
    /// Count throughput and latency (`enable_metrics`).
    pub(crate) throughput: bool,
    /// Count reserve retries (`track_contention`).
    pub(crate) contention: bool,
}

impl RingMetrics {
    pub(crate) fn new(throughput: bool, contention: bool) -> Self {
        RingMetrics {
            producer: CachePadded::default(),
            consumer: CachePadded::new(ConsumerCounters {
                received: Counter::default(),
                batches: Counter::default(),
                max_batch: Counter::default(),
                latency_sum: Counter::default(),
                latency_count: Counter::default(),
                latency_min: Counter(AtomicU64::new(u64::MAX)),
                latency_max: Counter::default(),
                wait_ns: Counter::default(),
            }),
            throughput,
            contention,
        }
    }

    /// Back to the state of `new` (for a ring reset: both sides are held,
    /// so nobody counts meanwhile).
    pub(crate) fn reset(&self) {
        let (p, c) = (&self.producer, &self.consumer);
        for counter in [
            &p.sent,
            &p.batches,
            &p.spins,
            &p.failures,
            &p.wait_ns,
            &c.received,
            &c.batches,
            &c.max_batch,
            &c.latency_sum,
            &c.latency_count,
            &c.latency_max,
            &c.wait_ns,
        ] {
            counter.0.store(0, Relaxed);
        }
        c.latency_min.0.store(u64::MAX, Relaxed);
    }

    #[inline]
    pub(crate) fn on_commit(&self, n: usize) {
        if self.throughput {
            self.producer.sent.add(n as u64);
            self.producer.batches.add(1);
        }
    }

    #[inline]
    pub(crate) fn on_reserve_retry(&self) {
        if self.contention {
            self.producer.spins.add(1);
        }
    }

    #[inline]
    pub(crate) fn on_reserve_failure(&self) {
        if self.contention || self.throughput {
            self.producer.failures.add(1);
        }
    }

    pub(crate) fn on_producer_wait(&self, d: Duration) {
        self.producer.wait_ns.add(d.as_nanos() as u64);
    }

    pub(crate) fn on_consumer_wait(&self, d: Duration) {
        self.consumer.wait_ns.add(d.as_nanos() as u64);
    }

    /// The start of a batch to time, when counting throughput and latency.
    #[inline]
    pub(crate) fn start_batch(&self) -> Option<Instant> {
        self.throughput.then(Instant::now)
    }

    /// Records one consumed batch of `n` items that took `elapsed` (when timed).
    #[inline]
    pub(crate) fn on_consume(&self, n: usize, elapsed: Option<Duration>) {
        if !self.throughput || n == 0 {
            return;
        }
        let c = &self.consumer;
        c.received.add(n as u64);
        c.batches.add(1);
        c.max_batch.max(n as u64);
        if let Some(d) = elapsed {
            let ns = d.as_nanos() as u64;
            c.latency_sum.add(ns);
            c.latency_count.add(1);
            c.latency_min.min(ns);
            c.latency_max.max(ns);
        }
    }

    pub(crate) fn snapshot(&self) -> Metrics {
        let (p, c) = (&self.producer, &self.consumer);
        Metrics {
            messages_sent: p.sent.get(),
            messages_received: c.received.get(),
            batches_sent: p.batches.get(),
            batches_received: c.batches.get(),
            reserve_spins: p.spins.get(),
            reserve_failures: p.failures.get(),
            total_wait_ns: p.wait_ns.get() + c.wait_ns.get(),
            max_batch_size: c.max_batch.get(),
            latency_sum_ns: c.latency_sum.get(),
            latency_count: c.latency_count.get(),
            latency_min_ns: c.latency_min.get(),
            latency_max_ns: c.latency_max.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(batches: u64, items: u64, min: u64, max: u64, sum: u64) -> Metrics {
        Metrics {
            messages_received: items,
            batches_received: batches,
            max_batch_size: items,
            latency_sum_ns: sum,
            latency_count: batches,
            latency_min_ns: min,
            latency_max_ns: max,
            ..Metrics::default()
        }
    }

    #[test]
    fn merge_sums_and_combines_extremes() {
        let mut m = timed(2, 10, 50, 300, 350);
        m.merge(&timed(3, 5, 20, 100, 150));
        assert_eq!((m.messages_received, m.batches_received), (15, 5));
        assert_eq!((m.latency_min_ns, m.latency_max_ns), (20, 300));
        assert_eq!(m.max_batch_size, 10);
        assert_eq!(m.avg_latency_ns(), 100.0);
        assert_eq!(m.avg_batch_size(), 3.0);
        assert_eq!(m.throughput_per_second(Duration::from_millis(500)), 30.0);
    }

    #[test]
    fn merge_ignores_the_minimum_of_untimed_sides() {
        // All zeros (a C caller's starting point) and the default both
        // take the other side's minimum; an untimed side changes nothing.
        for start in [Metrics::default(), timed(0, 0, 0, 0, 0)] {
            let mut m = start;
            m.merge(&timed(1, 1, 70, 70, 70));
            assert_eq!(m.latency_min_ns, 70);
            m.merge(&timed(0, 0, 0, 0, 0));
            assert_eq!(m.latency_min_ns, 70);
        }
        assert_eq!(Metrics::default().avg_latency_ns(), 0.0);
        assert_eq!(
            Metrics::default().throughput_per_second(Duration::ZERO),
            0.0
        );
    }
}
