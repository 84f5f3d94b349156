//! `rmpsc_mpsc_*` (the MPSC channel of `elem_size`-byte items) and
//! `rmpsc_notifier_*` (eventfd notification).

use crate::ring::{rmpsc_ring_t, strategy, Side};
use crate::shared::put;
use crate::{call, call_infallible, non_null, out, out_opt};
use ringcore::channel::mpsc::{Registrar, SlotChannel};
use ringcore::channel::EventLoop;
use ringcore::{
    Config, Error, EventNotifier, Metrics, Notify, SlotConsumer, SlotProducer, WaitStrategy,
};
use std::ffi::{c_int, c_void};
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

/// A multi-producer single-consumer channel (opaque): one ring per producer.
pub struct rmpsc_mpsc_t {
    registrar: Registrar<SlotProducer, SlotConsumer>,
    /// The consumer side; `None` while an event loop runs it.
    consumer: Side<Option<SlotChannel>>,
    elem_size: usize,
}

impl rmpsc_mpsc_t {
    /// Runs `f` on the consumer side (one thread at a time; `Busy` while
    /// another thread or an event loop has it).
    fn consumer<R>(
        &self,
        f: impl FnOnce(&mut SlotChannel) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.consumer.enter(|c| {
            f(c.as_mut()
                .ok_or(Error::Busy("consumer side (an event loop runs it)"))?)
        })
    }
}

/// An eventfd that a ring or channel signals after every commit (opaque).
pub struct rmpsc_notifier_t {
    notifier: Arc<EventNotifier>,
}

/// A handler called with each item: `ctx` is the caller's pointer, `item`
/// points at `elem_size` bytes valid during the call.
pub type rmpsc_item_fn = Option<extern "C" fn(ctx: *mut c_void, item: *const c_void)>;

/// Hands `item` to the C handler; a NULL handler only counts.
#[inline]
pub(crate) fn call_handler(handler: rmpsc_item_fn, ctx: *mut c_void, item: &[u8]) {
    if let Some(f) = handler {
        f(ctx, item.as_ptr().cast());
    }
}

fn channel<'a>(ch: *const rmpsc_mpsc_t) -> Result<&'a rmpsc_mpsc_t, Error> {
    non_null(ch, "channel")?;
    // SAFETY: non-NULL and live by contract.
    Ok(unsafe { &*ch })
}

/// Creates an MPSC channel whose producers each get a ring of `capacity`
/// slots (a power of two) of `elem_size` bytes. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_new(
    capacity: usize,
    elem_size: usize,
    out: *mut *mut rmpsc_mpsc_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let bits = crate::shared::ring_bits(capacity)?;
        let ch = SlotChannel::with_slots(Config::with_ring_bits(bits), elem_size)?;
        put(
            out,
            rmpsc_mpsc_t {
                registrar: ch.registrar(),
                consumer: Side::new("consumer side", Some(ch)),
                elem_size,
            },
        );
        Ok(())
    })
}

/// Channel flag: count messages, batches and batch latency (read them with
/// rmpsc_mpsc_stats, rmpsc_spmc_metrics, rmpsc_mpmc_metrics).
pub const RMPSC_CHANNEL_METRICS: u32 = 1;
/// Channel flag: also count reserve retries and failures.
pub const RMPSC_CHANNEL_TRACK_CONTENTION: u32 = 2;

/// The ring configuration of a channel: `capacity` slots, `flags` of
/// RMPSC_CHANNEL_*.
pub(crate) fn channel_config(capacity: usize, flags: u32) -> Result<Config, Error> {
    if flags & !(RMPSC_CHANNEL_METRICS | RMPSC_CHANNEL_TRACK_CONTENTION) != 0 {
        return Err(Error::InvalidArgument(format!("unknown flags {flags:#x}")));
    }
    Ok(Config {
        enable_metrics: flags & RMPSC_CHANNEL_METRICS != 0,
        track_contention: flags & RMPSC_CHANNEL_TRACK_CONTENTION != 0,
        ..Config::with_ring_bits(crate::shared::ring_bits(capacity)?)
    })
}

/// The C form of a metrics snapshot.
/// Converts between the C and Rust counters, field by field.
macro_rules! metrics_fields {
    ($($f:ident),*) => {
        pub(crate) fn c_metrics(m: &Metrics) -> rmpsc_metrics_t {
            rmpsc_metrics_t { $($f: m.$f),* }
        }

        fn rust_metrics(m: &rmpsc_metrics_t) -> Metrics {
            Metrics { $($f: m.$f),* }
        }
    };
}

metrics_fields!(
    messages_sent,
    messages_received,
    batches_sent,
    batches_received,
    reserve_spins,
    reserve_failures,
    total_wait_ns,
    max_batch_size,
    latency_sum_ns,
    latency_count,
    latency_min_ns,
    latency_max_ns
);

fn metrics_ref<'a>(m: *const rmpsc_metrics_t) -> Result<&'a rmpsc_metrics_t, Error> {
    non_null(m, "metrics")?;
    // SAFETY: non-NULL and readable by contract.
    Ok(unsafe { &*m })
}

/// Adds `from` into `into` (sums, wrapping; minimum and maximum combined,
/// the minimum only from sides with `latency_count` > 0). Start a total
/// from a zeroed struct. Errors: RMPSC_EINVAL (NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_merge(
    into: *mut rmpsc_metrics_t,
    from: *const rmpsc_metrics_t,
) -> c_int {
    call(|| {
        let mut total = rust_metrics(metrics_ref(into)?);
        total.merge(&rust_metrics(metrics_ref(from)?));
        out(into, c_metrics(&total))
    })
}

/// Mean batch processing time in nanoseconds (0 before any batch or for NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_avg_latency_ns(m: *const rmpsc_metrics_t) -> f64 {
    call_infallible(0.0, || {
        metrics_ref(m).map_or(0.0, |m| rust_metrics(m).avg_latency_ns())
    })
}

/// Mean items per consumed batch (0 before any batch or for NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_avg_batch_size(m: *const rmpsc_metrics_t) -> f64 {
    call_infallible(0.0, || {
        metrics_ref(m).map_or(0.0, |m| rust_metrics(m).avg_batch_size())
    })
}

/// Items received per second over `elapsed_s` seconds (0 when not positive
/// or for NULL).
#[no_mangle]
pub extern "C" fn rmpsc_metrics_throughput(m: *const rmpsc_metrics_t, elapsed_s: f64) -> f64 {
    call_infallible(0.0, || {
        let elapsed = std::time::Duration::try_from_secs_f64(elapsed_s).unwrap_or_default();
        metrics_ref(m).map_or(0.0, |m| rust_metrics(m).throughput_per_second(elapsed))
    })
}

/// rmpsc_mpsc_new with options: `flags` of RMPSC_CHANNEL_*. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_new_ex(
    capacity: usize,
    elem_size: usize,
    flags: u32,
    out: *mut *mut rmpsc_mpsc_t,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        let ch = SlotChannel::with_slots(channel_config(capacity, flags)?, elem_size)?;
        put(
            out,
            rmpsc_mpsc_t {
                registrar: ch.registrar(),
                consumer: Side::new("consumer side", Some(ch)),
                elem_size,
            },
        );
        Ok(())
    })
}

/// Destroys the channel (producers keep their rings until freed). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_free(ch: *mut rmpsc_mpsc_t) {
    if !ch.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(ch) }));
    }
}

/// Registers a producer: `*producer` is a ring handle for the producer-side
/// rmpsc_ring_* calls (send, reserve/commit, blocking sends); freeing it
/// deregisters (what it sent is still delivered). Errors: RMPSC_ECLOSED.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_register(
    ch: *mut rmpsc_mpsc_t,
    producer: *mut *mut rmpsc_ring_t,
) -> c_int {
    call(|| {
        non_null(producer, "producer")?;
        let p = channel(ch)?.registrar.register()?.into_end();
        // SAFETY: non-NULL, writable by contract.
        unsafe { *producer = Box::into_raw(rmpsc_ring_t::with_producer(p)) };
        Ok(())
    })
}

/// Consumer side. Calls `handler(ctx, item)` on up to `max` items from all
/// producers (one head update per ring); `*count` (may be NULL) gets the
/// number handled. A NULL `handler` consumes and only counts.
/// Errors: RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_consume(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    max: usize,
    count: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?.consumer(|c| {
            Ok(c.consume_all_up_to(max, |item: &[u8]| call_handler(handler, ctx, item)))
        })?;
        out_opt(count, n);
        Ok(())
    })
}

/// Consumer side. rmpsc_mpsc_consume of everything readable, waiting up to
/// `timeout_ns` (negative: no limit) while every ring is empty (a NULL
/// `handler` only counts). Errors: RMPSC_ETIMEDOUT, RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_consume_blocking(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    timeout_ns: i64,
    count: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?.consumer(|c| {
            c.consume_all_blocking(
                |item: &[u8]| call_handler(handler, ctx, item),
                strategy(timeout_ns),
            )
        })?;
        out_opt(count, n);
        Ok(())
    })
}

/// Consumer side. Copies up to `max` items into `out` (room for `max *
/// elem_size` bytes), taking from the producers in turn; `*received` gets
/// the count (0 when empty). Errors: RMPSC_ECLOSED (closed and drained), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_recv(
    ch: *mut rmpsc_mpsc_t,
    out: *mut c_void,
    max: usize,
    received: *mut usize,
) -> c_int {
    call(|| {
        non_null(out, "out")?;
        non_null(received, "received")?;
        let ch = channel(ch)?;
        let n = ch.consumer(|c| {
            // SAFETY: by contract `out` has room for `max` items.
            let buf =
                unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), max * ch.elem_size) };
            let n = c.recv(buf);
            if n == 0 && c.is_fully_drained() {
                return Err(Error::Closed);
            }
            Ok(n)
        })?;
        // SAFETY: non-NULL, writable by contract.
        unsafe { *received = n };
        Ok(())
    })
}

/// Consumer side. Closes the channel: registrations and sends fail with
/// RMPSC_ECLOSED, what was sent is still delivered, sleepers wake up.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_close(ch: *mut rmpsc_mpsc_t) -> c_int {
    call(|| {
        channel(ch)?.consumer(|c| {
            c.close();
            Ok(())
        })
    })
}

/// 1 once the channel is closed (by rmpsc_mpsc_close or an event loop's
/// stop), 0 if not (or NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_is_closed(ch: *const rmpsc_mpsc_t) -> bool {
    call_infallible(false, || channel(ch).is_ok_and(|c| c.registrar.is_closed()))
}

/// Consumer side. Items waiting over all producers (0 on error).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_pending(ch: *mut rmpsc_mpsc_t) -> usize {
    call_infallible(0, || {
        channel(ch)
            .and_then(|c| c.consumer(|c| Ok(c.total_pending())))
            .unwrap_or(0)
    })
}

/// Consumer side. 1 once the channel is closed and every ring is empty.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_is_drained(ch: *mut rmpsc_mpsc_t) -> bool {
    call_infallible(false, || {
        channel(ch)
            .and_then(|c| c.consumer(|c| Ok(c.is_fully_drained())))
            .unwrap_or(false)
    })
}

/// Counters of a ring or channel (zero unless built with metrics).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct rmpsc_metrics_t {
    /// Items committed by producers.
    pub messages_sent: u64,
    /// Items consumed.
    pub messages_received: u64,
    /// Commits (each may carry many items).
    pub batches_sent: u64,
    /// Consume calls that returned at least one item.
    pub batches_received: u64,
    /// Retries of a reserve that found the ring full (with contention tracking).
    pub reserve_spins: u64,
    /// Reserves that gave up on a full ring.
    pub reserve_failures: u64,
    /// Time spent in blocking waits, in nanoseconds.
    pub total_wait_ns: u64,
    /// Largest batch consumed at once.
    pub max_batch_size: u64,
    /// Sum of batch processing times, in nanoseconds.
    pub latency_sum_ns: u64,
    /// Number of timed batches.
    pub latency_count: u64,
    /// Shortest batch time; meaningful only while `latency_count` is non-zero.
    pub latency_min_ns: u64,
    /// Longest batch time.
    pub latency_max_ns: u64,
}

/// A snapshot of an MPSC channel.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct rmpsc_mpsc_stats_t {
    /// Rings the consumer polls.
    pub rings: usize,
    /// Items waiting over all rings.
    pub pending: usize,
    /// Whether the channel is closed.
    pub closed: bool,
    /// Whether `metrics` holds counters (the channel was made with RMPSC_CHANNEL_METRICS).
    pub has_metrics: bool,
    /// All rings' counters merged.
    pub metrics: rmpsc_metrics_t,
    /// Seconds since the channel was created.
    pub uptime_s: f64,
    /// Items received per second since creation (with metrics).
    pub throughput: f64,
    /// Mean batch processing time in nanoseconds (with metrics).
    pub avg_latency_ns: f64,
}

/// Consumer side. A snapshot of the channel into `*stats`.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_stats(ch: *mut rmpsc_mpsc_t, stats: *mut rmpsc_mpsc_stats_t) -> c_int {
    call(|| {
        let s = channel(ch)?.consumer(|c| Ok(c.snapshot()))?;
        let m = s.metrics.unwrap_or_default();
        out(
            stats,
            rmpsc_mpsc_stats_t {
                rings: s.rings,
                pending: s.pending,
                closed: s.closed,
                has_metrics: s.metrics.is_some(),
                metrics: c_metrics(&m),
                uptime_s: s.uptime.as_secs_f64(),
                throughput: s.throughput,
                avg_latency_ns: s.avg_latency_ns,
            },
        )
    })
}

/// Consumer side. Calls `handler` on everything readable in every ring,
/// whatever the adaptive skip says; the count goes to `*count` (may be
/// NULL). A NULL `handler` drains and only counts.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_drain_all(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    count: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?
            .consumer(|c| Ok(c.drain_all(|item: &[u8]| call_handler(handler, ctx, item))))?;
        out_opt(count, n);
        Ok(())
    })
}

/// Consumer side. Copies one item into `item` (`elem_size` bytes). Errors:
/// RMPSC_EEMPTY, RMPSC_ECLOSED (closed and drained).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_try_recv(ch: *mut rmpsc_mpsc_t, item: *mut c_void) -> c_int {
    call(|| {
        non_null(item, "item")?;
        let ch = channel(ch)?;
        ch.consumer(|c| {
            // SAFETY: by contract `item` has room for one item.
            let buf = unsafe { std::slice::from_raw_parts_mut(item.cast::<u8>(), ch.elem_size) };
            match c.recv(buf) {
                0 if c.is_fully_drained() => Err(Error::Closed),
                0 => Err(Error::Empty),
                _ => Ok(()),
            }
        })
    })
}

/// Consumer side. The ring with the most items waiting, to `*ring`.
/// Errors: RMPSC_EEMPTY (no ring registered).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_hottest_ring(ch: *mut rmpsc_mpsc_t, ring: *mut usize) -> c_int {
    call(|| {
        out(
            ring,
            channel(ch)?.consumer(|c| c.hottest_ring().ok_or(Error::Empty))?,
        )
    })
}

/// Consumer side. Items waiting in ring `ring` (as numbered by
/// registration), to `*len`. Errors: RMPSC_EINVAL (no such ring).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_ring_len(
    ch: *mut rmpsc_mpsc_t,
    ring: usize,
    len: *mut usize,
) -> c_int {
    call(|| {
        let n = channel(ch)?.consumer(|c| {
            c.get_ring(ring)
                .map(|r| r.len())
                .ok_or_else(|| Error::InvalidArgument(format!("no ring {ring}")))
        })?;
        out(len, n)
    })
}

/// Consumer side. Polls every ring at the next pass again (adaptive skip reset).
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_reset_adaptive_skip(ch: *mut rmpsc_mpsc_t) -> c_int {
    call(|| {
        channel(ch)?.consumer(|c| {
            c.reset_adaptive_skip();
            Ok(())
        })
    })
}

/// A consumer thread running a channel (opaque).
pub struct rmpsc_event_loop_t {
    event_loop: EventLoop,
}

/// The caller's handler and context, moved to the loop's thread.
struct Handler {
    f: extern "C" fn(*mut c_void, *const c_void),
    ctx: *mut c_void,
}

// SAFETY: by the C contract of rmpsc_event_loop_start, `ctx` may be used
// from the loop's thread while the loop runs.
unsafe impl Send for Handler {}

/// Consumer side. Starts a thread that calls `handler(ctx, item)` on every
/// item of every producer, sleeping when idle; the channel's consumer calls
/// then return RMPSC_EBUSY. `ctx` is used from that thread. Stop it with
/// rmpsc_event_loop_stop.
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_start(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    out_loop: *mut *mut rmpsc_event_loop_t,
) -> c_int {
    call(|| {
        non_null(out_loop, "out")?;
        let f = handler.ok_or_else(|| Error::InvalidArgument("handler is NULL".into()))?;
        let taken = channel(ch)?.consumer.enter(|c| {
            c.take()
                .ok_or(Error::Busy("consumer side (an event loop runs it)"))
        })?;
        let h = Handler { f, ctx };
        let event_loop = EventLoop::spawn(
            taken,
            move |item: &[u8]| {
                let h = &h;
                (h.f)(h.ctx, item.as_ptr().cast())
            },
            WaitStrategy::Blocking,
        );
        put(out_loop, rmpsc_event_loop_t { event_loop });
        Ok(())
    })
}

/// Items the loop handled so far (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_processed(l: *const rmpsc_event_loop_t) -> u64 {
    call_infallible(0, || {
        if l.is_null() {
            return 0;
        }
        // SAFETY: non-NULL and live by contract.
        unsafe { (*l).event_loop.processed() }
    })
}

/// Stops the loop: closes the channel, lets the thread handle everything
/// left (nothing is lost), joins it and frees the loop; the total handled
/// goes to `*processed` (may be NULL). The channel stays closed.
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_stop(l: *mut rmpsc_event_loop_t, processed: *mut u64) -> c_int {
    call(|| {
        non_null(l, "loop")?;
        // SAFETY: from Box::into_raw; freed once, here.
        let b = unsafe { Box::from_raw(l) };
        out_opt(processed, b.event_loop.stop());
        Ok(())
    })
}

/// Signals `notifier` after every commit of any producer (NULL detaches).
/// Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_mpsc_set_notifier(
    ch: *mut rmpsc_mpsc_t,
    notifier: *const rmpsc_notifier_t,
) -> c_int {
    call(|| {
        let ch = channel(ch)?;
        let n = notifier_arc(notifier);
        ch.consumer(|c| {
            c.set_notifier(n);
            Ok(())
        })
    })
}

fn notifier<'a>(n: *const rmpsc_notifier_t) -> Result<&'a EventNotifier, Error> {
    non_null(n, "notifier")?;
    // SAFETY: non-NULL and live by contract.
    Ok(unsafe { &(*n).notifier })
}

fn notifier_arc(n: *const rmpsc_notifier_t) -> Option<Arc<dyn Notify>> {
    // SAFETY: NULL or a live notifier by contract.
    (!n.is_null()).then(|| unsafe { (*n).notifier.clone() } as Arc<dyn Notify>)
}

/// Creates an eventfd notifier (non-blocking, close-on-exec). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_new(out: *mut *mut rmpsc_notifier_t) -> c_int {
    call(|| {
        non_null(out, "out")?;
        put(
            out,
            rmpsc_notifier_t {
                notifier: Arc::new(EventNotifier::new()?),
            },
        );
        Ok(())
    })
}

/// Frees the notifier handle (rings it is attached to keep it alive). NULL is ignored.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_free(n: *mut rmpsc_notifier_t) {
    if !n.is_null() {
        // SAFETY: from Box::into_raw; freed once.
        call_infallible((), || drop(unsafe { Box::from_raw(n) }));
    }
}

/// The eventfd, to poll/epoll for readability (-1 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_fd(n: *const rmpsc_notifier_t) -> c_int {
    call_infallible(-1, || notifier(n).map_or(-1, |n| n.fd()))
}

/// Reads and resets the counter: signals since the last call (0: none). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_consume(n: *const rmpsc_notifier_t) -> u64 {
    call_infallible(0, || notifier(n).map_or(0, |n| n.consume()))
}

/// Signals the notifier by hand. Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_notifier_signal(n: *const rmpsc_notifier_t) -> c_int {
    call(|| {
        notifier(n)?.signal();
        Ok(())
    })
}

/// Signals only when the 32-bit counter at `waiters` is non-zero: no
/// system call while nobody waits. `waiters` is a count of sleeping
/// consumers the caller keeps in writable memory (e.g. shared memory); it
/// is read atomically after a full fence. A consumer must increment it
/// (atomically, sequentially consistent), check for data once more, and
/// only then wait on the eventfd, so no wake-up is lost. Thread-safe.
/// Errors: RMPSC_EINVAL (NULL or misaligned `waiters`).
#[no_mangle]
pub extern "C" fn rmpsc_notifier_signal_if_waiting(
    n: *const rmpsc_notifier_t,
    waiters: *const u32,
) -> c_int {
    call(|| {
        let n = notifier(n)?;
        non_null(waiters, "waiters")?;
        if !waiters.is_aligned() {
            return Err(Error::InvalidArgument(
                "waiters is not 4-byte aligned".into(),
            ));
        }
        // SAFETY: non-NULL and aligned; by contract it points at a live,
        // writable u32 that other threads change only atomically.
        n.signal_if_waiting(unsafe { AtomicU32::from_ptr(waiters.cast_mut()) });
        Ok(())
    })
}

/// Adds the notifier's eventfd to the epoll instance `epoll_fd`,
/// edge-triggered for input (event data: the eventfd). Thread-safe.
/// Errors: RMPSC_EIO (the kernel's error, e.g. already registered).
#[no_mangle]
pub extern "C" fn rmpsc_notifier_register_epoll(
    n: *const rmpsc_notifier_t,
    epoll_fd: c_int,
) -> c_int {
    call(|| notifier(n)?.register_epoll(epoll_fd))
}

/// Removes the notifier's eventfd from `epoll_fd`. Thread-safe.
/// Errors: RMPSC_EIO (the kernel's error, e.g. not registered).
#[no_mangle]
pub extern "C" fn rmpsc_notifier_unregister_epoll(
    n: *const rmpsc_notifier_t,
    epoll_fd: c_int,
) -> c_int {
    call(|| notifier(n)?.unregister_epoll(epoll_fd))
}

/// Producer side of a ring handle: signal `notifier` after every commit
/// (NULL detaches). Errors: RMPSC_EINVAL (not a producer handle), RMPSC_EBUSY.
#[no_mangle]
pub extern "C" fn rmpsc_ring_set_notifier(
    ring: *mut rmpsc_ring_t,
    notifier: *const rmpsc_notifier_t,
) -> c_int {
    call(|| {
        non_null(ring, "ring")?;
        let n = notifier_arc(notifier);
        // SAFETY: non-NULL and live by contract.
        unsafe { &*ring }.set_notifier(n)
    })
}
