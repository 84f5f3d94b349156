//! `rmpsc_event_loop_*`: a thread that runs an MPSC channel's consumer.

use crate::args::{free_handle, handle, OptOut, Out};
use crate::mpsc::{channel, loop_runs_it, rmpsc_item_fn, rmpsc_mpsc_t};
use crate::{call, call_infallible};
use ringcore::channel::EventLoop;
use ringcore::{Error, WaitStrategy};
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

/// A consumer thread running a channel (opaque).
pub struct rmpsc_event_loop_t {
    /// The running loop; `None` once stopped.
    running: Mutex<Option<EventLoop>>,
    /// Items handled, kept by the loop's thread: read without the lock,
    /// which a stop holds while the thread drains.
    processed: Arc<AtomicU64>,
    /// The loop's thread, which cannot wait for its own end.
    thread: Option<ThreadId>,
}

impl Drop for rmpsc_event_loop_t {
    fn drop(&mut self) {
        self.stop();
    }
}

impl rmpsc_event_loop_t {
    /// Whether the caller is the loop's own thread (its handler).
    fn on_loop_thread(&self) -> bool {
        self.thread == Some(std::thread::current().id())
    }

    /// Stops the loop if it runs; the items it handled in all (so far, on
    /// the loop's own thread, which cannot wait for the rest).
    fn stop(&self) -> u64 {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.take() {
            Some(l) => l.stop(),
            None => self.processed.load(Ordering::Relaxed),
        }
    }
}

/// The caller's handler and context, moved to the loop's thread.
struct Handler {
    f: extern "C" fn(*mut c_void, *const c_void),
    ctx: *mut c_void,
}

// SAFETY: by the C contract of rmpsc_event_loop_new, `ctx` may be used
// from the loop's thread while the loop runs.
unsafe impl Send for Handler {}

/// Event loop wait: spin briefly, yield, then sleep on a futex until an
/// item comes (rmpsc_event_loop_new's).
pub const RMPSC_WAIT_BLOCKING: c_int = 0;
/// Event loop wait: spin, never sleep: the lowest latency, a core at 100%.
pub const RMPSC_WAIT_SPIN: c_int = 1;
/// Event loop wait: spin briefly, then give the CPU away (sched_yield) on
/// every retry.
pub const RMPSC_WAIT_YIELD: c_int = 2;
/// Event loop wait: spin `pause_ns` before each retry, so that items build
/// up for the next batch instead of moving the producers' cache lines for
/// every few; after 16 retries in a row, sleep as RMPSC_WAIT_BLOCKING.
pub const RMPSC_WAIT_PACED: c_int = 3;

/// The strategy named by `wait` and `pause_ns` (which only
/// RMPSC_WAIT_PACED takes).
fn wait_strategy(wait: c_int, pause_ns: i64) -> Result<WaitStrategy, Error> {
    let pause = u64::try_from(pause_ns)
        .map(Duration::from_nanos)
        .map_err(|_| Error::InvalidArgument(format!("pause_ns {pause_ns} is negative")))?;
    match (wait, pause.is_zero()) {
        (RMPSC_WAIT_PACED, _) => WaitStrategy::paced(pause),
        (RMPSC_WAIT_BLOCKING, true) => Ok(WaitStrategy::Blocking),
        (RMPSC_WAIT_SPIN, true) => Ok(WaitStrategy::BusySpin),
        (RMPSC_WAIT_YIELD, true) => Ok(WaitStrategy::Yielding),
        (RMPSC_WAIT_BLOCKING | RMPSC_WAIT_SPIN | RMPSC_WAIT_YIELD, false) => {
            Err(Error::InvalidArgument(
                "pause_ns is for RMPSC_WAIT_PACED only (0 for the others)".into(),
            ))
        }
        (w, _) => Err(Error::InvalidArgument(format!("unknown wait {w}"))),
    }
}

/// Starts a thread that calls `handler(ctx, item)` on every item of every
/// producer of `ch`, sleeping when idle; the channel's consumer calls
/// return RMPSC_EBUSY from then on. `ctx` is used from that thread.
/// Errors: RMPSC_EINVAL (NULL handler), RMPSC_EBUSY (the consumer side is
/// in use or another loop runs it), RMPSC_EIO with errno (the thread could
/// not be started: thread or memory limits; the channel's consumer side
/// stays usable).
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_new(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    out: *mut *mut rmpsc_event_loop_t,
) -> c_int {
    rmpsc_event_loop_new_with(ch, handler, ctx, RMPSC_WAIT_BLOCKING, 0, out)
}

/// rmpsc_event_loop_new with the loop's wait while every ring is empty:
/// one of RMPSC_WAIT_*, and for RMPSC_WAIT_PACED the pause in ns (1 to
/// 1000000; 0 for the others). Whatever the wait, an idle loop looks for
/// a stop every 50 ms.
/// Errors: those of rmpsc_event_loop_new, and RMPSC_EINVAL (an unknown
/// wait, a pause out of range).
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_new_with(
    ch: *mut rmpsc_mpsc_t,
    handler: rmpsc_item_fn,
    ctx: *mut c_void,
    wait: c_int,
    pause_ns: i64,
    out: *mut *mut rmpsc_event_loop_t,
) -> c_int {
    call(|| {
        let out = Out::new(out, "out")?;
        let f = handler.ok_or_else(|| Error::InvalidArgument("handler is NULL".into()))?;
        let strategy = wait_strategy(wait, pause_ns)?;
        let h = Handler { f, ctx };
        let event_loop = channel(ch)?.consumer.enter(|c| {
            let taken = c.take().ok_or_else(loop_runs_it)?;
            let started = EventLoop::try_spawn_batched(
                taken,
                move |item: &[u8]| {
                    let h = &h;
                    (h.f)(h.ctx, item.as_ptr().cast())
                },
                strategy,
                |batch: &mut dyn FnMut()| batch(),
            );
            // A thread that could not start hands the consumer back.
            started.map_err(|(taken, e)| {
                *c = Some(taken);
                Error::from(e)
            })
        })?;
        out.put(rmpsc_event_loop_t {
            processed: event_loop.counter(),
            thread: event_loop.thread_id(),
            running: Mutex::new(Some(event_loop)),
        });
        Ok(())
    })
}

/// Items the loop handled so far (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_processed(l: *const rmpsc_event_loop_t) -> u64 {
    call_infallible(0, || {
        handle(l, "loop").map_or(0, |l| l.processed.load(Ordering::Relaxed))
    })
}

/// Stops the loop: closes the channel, lets the thread handle everything
/// left (nothing is lost) and joins it; the total handled goes to
/// `*out_processed` (may be NULL). The channel stays closed. Stopping a
/// stopped loop only reports the total. Thread-safe, but not from the
/// loop's own handler, which it would wait for (RMPSC_EINVAL; nothing
/// changes).
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_stop(
    l: *mut rmpsc_event_loop_t,
    out_processed: *mut u64,
) -> c_int {
    call(|| {
        let l = handle(l, "loop")?;
        if l.on_loop_thread() {
            return Err(Error::InvalidArgument(
                "stop from the loop's own handler: it would wait for itself".into(),
            ));
        }
        OptOut::new(out_processed).set(l.stop());
        Ok(())
    })
}

/// Stops the loop if it runs (as rmpsc_event_loop_stop) and frees it. NULL
/// is ignored. From the loop's own handler, the loop stops once the
/// handler returns, calling it for what is left, without being waited for:
/// the handler must not use the freed handle, and `ctx` must stay valid
/// for as long as the process may still be running that thread.
#[no_mangle]
pub extern "C" fn rmpsc_event_loop_free(l: *mut rmpsc_event_loop_t) {
    free_handle(l)
}
