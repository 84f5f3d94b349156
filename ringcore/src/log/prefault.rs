//! Faults in the pages ahead of the writer on a thread of its own.
//!
//! A fresh page of a log file costs its writer a microsecond or two to
//! allocate, zero and map (on tmpfs), once every few dozen small records,
//! even readied in bulk ([`LogFile::prepare`]). That is most of an append's
//! cost and the main source of its latency jitter. The writer therefore
//! tells this thread, every [`STEP`] bytes, where it is; the thread keeps
//! the [`AHEAD`] bytes after that readied (allocated, and faulted in with
//! `MADV_POPULATE_WRITE` on the writer's own mapping), so the writer finds
//! its pages ready and skips its own `prepare`. If the thread falls behind,
//! or cannot allocate, the writer readies the pages itself: nothing depends
//! on it for correctness.

use super::file::LogFile;
use crate::error::{Error, Result};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// How often the writer reports its position, in bytes written.
pub(crate) const STEP: u64 = 1 << 20;
/// How far ahead of the writer pages are kept faulted in.
const AHEAD: u64 = 8 << 20;
/// Bytes readied per step, so a report from the writer (and a stop) is seen
/// within a millisecond or so.
const CHUNK: u64 = 1 << 20;

#[derive(Default)]
struct State {
    /// The file being written and how far it is ready.
    file: Option<(Arc<LogFile>, u64)>,
    /// Ready the current file up to here.
    target: u64,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The thread only copies plain values under the lock; a panic
        // elsewhere cannot leave the state half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle the writer holds; dropping it stops the thread.
pub(crate) struct Prefaulter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Prefaulter {
    /// Starts the thread, pinned to `cpu` when given (a thread inherits the
    /// CPU mask of its creator: a writer pinned to one core would share it
    /// with its helper). Fails only when the pinning does.
    pub(crate) fn start(cpu: Option<usize>) -> Result<Prefaulter> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let (pinned_tx, pinned) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("rmpsc-prefault".into())
            .spawn(move || {
                let pinning = cpu.map_or(Ok(()), crate::numa::bind_to_cpu);
                let go = pinning.is_ok();
                let _ = pinned_tx.send(pinning);
                if go {
                    run(&s);
                }
            })?;
        let pinning = pinned.recv().unwrap_or_else(|_| {
            Err(Error::InvalidArgument(
                "the prefault thread did not start".into(),
            ))
        });
        let mut p = Prefaulter {
            shared,
            thread: Some(thread),
        };
        if let Err(e) = pinning {
            p.thread.take().map(|t| t.join());
            return Err(e);
        }
        Ok(p)
    }

    /// The writer is at `pos` of `file`: keep the pages after it ready.
    pub(crate) fn report(&self, file: &Arc<LogFile>, pos: u64) {
        let mut st = self.shared.lock();
        match &st.file {
            Some((f, _)) if Arc::ptr_eq(f, file) => {}
            _ => st.file = Some((Arc::clone(file), pos)),
        }
        // Never past the end: the thread would spin there, with nothing to do.
        st.target = (pos + AHEAD).min(file.geometry.file_size);
        drop(st);
        self.shared.wake.notify_one();
    }

    /// How far the thread has readied `file` (0 while it is on another).
    pub(crate) fn ready(&self, file: &Arc<LogFile>) -> u64 {
        match &self.shared.lock().file {
            Some((f, done)) if Arc::ptr_eq(f, file) => *done,
            _ => 0,
        }
    }
}

impl Drop for Prefaulter {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut st = shared.lock();
    loop {
        if st.stop {
            return;
        }
        let work = match &st.file {
            Some((file, done)) if *done < st.target => {
                Some((Arc::clone(file), *done, st.target.min(*done + CHUNK)))
            }
            _ => None,
        };
        let Some((file, from, to)) = work else {
            st = shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        drop(st);
        let reached = file.prepare(from, to);
        st = shared.lock();
        let State {
            file: current,
            target,
            ..
        } = &mut *st;
        if let Some((f, done)) = current {
            if Arc::ptr_eq(f, &file) {
                match reached {
                    Ok(end) => *done = end.max(*done),
                    // A full file system: the writer's own `prepare` reports
                    // it. Try again at the writer's next report.
                    Err(_) => *target = *done,
                }
            }
        }
    }
}
