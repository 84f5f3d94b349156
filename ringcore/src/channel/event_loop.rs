//! A consumer thread for an MPSC channel.

use super::mpsc::Core;
use super::{RingConsumer, RingProducer};
use crate::error::Error;
use crate::wait::{WaitStrategy, Waiter, LIVENESS_SLICE};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The consumer loop everyone writes, as a thread: it runs
/// [`consume_all`](Core::consume_all) with a handler, waits by a
/// [`WaitStrategy`] when idle, and on [`stop`](EventLoop::stop) closes the
/// channel and drains everything before the thread ends (nothing is lost).
///
/// ```
/// use ringcore::channel::{mpsc, EventLoop};
/// use ringcore::{Config, WaitStrategy};
/// let ch = mpsc::Channel::<u64>::new(Config::with_ring_bits(8))?;
/// let registrar = ch.registrar();
/// let lp = EventLoop::spawn(ch, |_x: &u64| {}, WaitStrategy::Blocking);
/// let mut tx = registrar.register()?;
/// for i in 0..100 { tx.send_one_blocking(i, WaitStrategy::Blocking).unwrap(); }
/// assert_eq!(lp.stop(), 100);
/// # Ok::<(), ringcore::Error>(())
/// ```
pub struct EventLoop {
    stop: Arc<AtomicBool>,
    processed: Arc<AtomicU64>,
    wake: Arc<super::ChannelWake>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("processed", &self.processed())
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// Moves `channel` to a new thread that calls `handler` on every item.
    /// Panics when the thread cannot be started, as `std::thread::spawn`
    /// does; [`try_spawn_batched`](Self::try_spawn_batched) gives the
    /// channel back instead.
    pub fn spawn<P, C, F>(channel: Core<P, C>, handler: F, strategy: WaitStrategy) -> EventLoop
    where
        P: RingProducer,
        C: RingConsumer,
        F: FnMut(&C::Item) + Send + 'static,
    {
        Self::try_spawn_batched(channel, handler, strategy, |batch: &mut dyn FnMut()| {
            batch()
        })
        .unwrap_or_else(|(_, e)| panic!("spawning the event loop thread: {e}"))
    }

    /// [`spawn`](Self::spawn), running each batch of handler calls (all
    /// that was readable when the thread woke up) inside `around`, which
    /// must call the batch once: where the handler needs a lock for every
    /// call (the Python binding takes the GIL), the thread takes it once
    /// per batch, not once per item, and never while it waits. When the
    /// thread cannot be started (thread or memory limits), the channel
    /// comes back with the error, its consumer untouched.
    pub fn try_spawn_batched<P, C, F, B>(
        channel: Core<P, C>,
        mut handler: F,
        strategy: WaitStrategy,
        mut around: B,
    ) -> Result<EventLoop, (Core<P, C>, std::io::Error)>
    where
        P: RingProducer,
        C: RingConsumer,
        F: FnMut(&C::Item) + Send + 'static,
        B: FnMut(&mut dyn FnMut()) + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let processed = Arc::new(AtomicU64::new(0));
        let wake = channel.wake();
        // The thread takes the channel from here once it runs; a spawn
        // that fails leaves it for the caller.
        let handoff = Arc::new(Mutex::new(Some(channel)));
        let (s, p, h) = (stop.clone(), processed.clone(), handoff.clone());
        let spawned = std::thread::Builder::new()
            .name("ringmpsc-event-loop".into())
            .spawn(move || {
                let Some(mut channel) = h.lock().unwrap_or_else(PoisonError::into_inner).take()
                else {
                    return;
                };
                // Whatever the strategy, the wait gives up now and then to
                // look at the stop flag (a stop's wake-up alone would find
                // nothing to read, and the wait would go on), then waits on
                // from the step it reached.
                let mut waiter = Waiter::within(strategy, LIVENESS_SLICE);
                while !s.load(Ordering::Acquire) {
                    match channel.wait_for_data_with(&mut waiter) {
                        Ok(()) => {
                            let mut n = 0;
                            around(&mut || n = channel.consume_all(&mut handler));
                            p.fetch_add(n as u64, Ordering::Relaxed);
                            waiter.reset();
                        }
                        Err(Error::TimedOut) => waiter.renew(),
                        Err(_) => break,
                    }
                }
                channel.close();
                let mut n = 0;
                around(&mut || n = channel.drain_all(&mut handler));
                p.fetch_add(n as u64, Ordering::Relaxed);
            });
        match spawned {
            Ok(thread) => Ok(EventLoop {
                stop,
                processed,
                wake,
                thread: Some(thread),
            }),
            Err(e) => {
                let channel = handoff
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .expect("a thread that never started took nothing");
                Err((channel, e))
            }
        }
    }

    /// Items handled so far.
    pub fn processed(&self) -> u64 {
        self.processed.load(Ordering::Relaxed)
    }

    /// The count of items handled, shared with the loop's thread: it can
    /// be read without the loop, during its stop and after it.
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.processed.clone()
    }

    /// The loop's thread.
    pub fn thread_id(&self) -> Option<std::thread::ThreadId> {
        self.thread.as_ref().map(|t| t.thread().id())
    }

    /// Stops the loop: closes the channel, drains every ring, joins the
    /// thread; returns the total number of items handled. Called from the
    /// loop's own handler, it cannot wait for itself: the loop stops (and
    /// drains) once the handler returns, and the count is what was handled
    /// so far.
    pub fn stop(mut self) -> u64 {
        self.finish();
        self.processed()
    }

    /// Asks the loop to stop, as [`stop`](Self::stop) does, without
    /// waiting: the thread closes the channel, drains it and ends
    /// ([`is_finished`](Self::is_finished)), and `stop` then joins it at
    /// once. For a caller that must stay responsive while it waits (a
    /// binding that handles signals).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.wake_all();
    }

    /// Whether the loop's thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    fn finish(&mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.finish();
    }
}
