//! A table that signal and fork handlers walk while threads claim and free
//! its entries.
//!
//! A handler may not lock or allocate, so the table is made of chunks
//! linked by atomic pointers that, once linked, never move or go away:
//! a walk is atomic loads only. An owner claims a free entry by an atomic
//! step of its own (its `take`) and frees it by another; when every entry
//! is taken a chunk twice the size of the last is linked at the end, so
//! the table has no limit and a walk costs at most twice the most entries
//! ever held at once (plus the first chunk).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Entries of the first chunk.
const FIRST: usize = 64;

struct Chunk<E> {
    entries: Box<[E]>,
    next: AtomicPtr<Chunk<E>>,
}

/// The table: a `static`, so its entries live as long as the process.
pub(crate) struct Registry<E: 'static> {
    first: AtomicPtr<Chunk<E>>,
}

impl<E: Default + Sync + 'static> Registry<E> {
    /// An empty table: its first chunk is made at the first claim.
    pub(crate) const fn new() -> Registry<E> {
        Registry {
            first: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The first entry, in walking order, for which `take` returns true (it
    /// takes the entry by an atomic step of its own); where none does, a
    /// new chunk (of [`Default`] entries, free ones) is added and walked.
    /// Allocates: not for handlers.
    pub(crate) fn claim(&'static self, mut take: impl FnMut(&E) -> bool) -> &'static E {
        let mut link = &self.first;
        let mut size = FIRST;
        loop {
            // Acquire pairs with the AcqRel of the link below: the chunk's
            // entries are made before it is seen.
            let mut chunk = link.load(Ordering::Acquire);
            if chunk.is_null() {
                let made = Box::into_raw(Box::new(Chunk {
                    entries: (0..size).map(|_| E::default()).collect(),
                    next: AtomicPtr::new(ptr::null_mut()),
                }));
                chunk = match link.compare_exchange(
                    ptr::null_mut(),
                    made,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => made,
                    Err(linked) => {
                        // SAFETY: `made` came from Box::into_raw just above
                        // and was never shared: the link went to another's.
                        drop(unsafe { Box::from_raw(made) });
                        linked
                    }
                };
            }
            // SAFETY: a linked chunk is never unlinked or freed, and it was
            // fully made before its link was published (Release above).
            let chunk: &'static Chunk<E> = unsafe { &*chunk };
            if let Some(entry) = chunk.entries.iter().find(|e| take(e)) {
                return entry;
            }
            link = &chunk.next;
            size *= 2;
        }
    }

    /// Every entry, free or taken, in walking order: atomic loads only, for
    /// signal and fork handlers.
    pub(crate) fn iter(&'static self) -> impl Iterator<Item = &'static E> {
        let mut link = &self.first;
        std::iter::from_fn(move || {
            let chunk = link.load(Ordering::Acquire);
            // SAFETY: as in `claim`: linked chunks are complete and permanent.
            let chunk: &'static Chunk<E> = unsafe { chunk.as_ref()? };
            link = &chunk.next;
            Some(chunk.entries.iter())
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Default)]
    struct Slot {
        taken: AtomicBool,
    }

    fn take(s: &Slot) -> bool {
        s.taken
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[test]
    fn the_table_grows_past_its_first_chunk_and_hands_each_entry_out_once() {
        static TABLE: Registry<Slot> = Registry::new();
        let claimed: Vec<&Slot> = (0..FIRST * 3 + 5).map(|_| TABLE.claim(take)).collect();
        let mut addrs: Vec<usize> = claimed.iter().map(|s| *s as *const Slot as usize).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), claimed.len(), "an entry was handed out twice");
        // Chunks of 64, 128 and 256: the walk sees all of them.
        assert_eq!(TABLE.iter().count(), FIRST + 2 * FIRST + 4 * FIRST);
        let taken = TABLE
            .iter()
            .filter(|s| s.taken.load(Ordering::Relaxed))
            .count();
        assert_eq!(taken, claimed.len());
        // A freed entry is the next one claimed; the table does not grow.
        claimed[7].taken.store(false, Ordering::Release);
        assert!(ptr::eq(TABLE.claim(take), claimed[7]));
        assert_eq!(TABLE.iter().count(), 7 * FIRST);
    }

    #[test]
    fn threads_claiming_at_once_past_a_chunk_get_distinct_entries() {
        static TABLE: Registry<Slot> = Registry::new();
        let per_thread = if cfg!(miri) { 40 } else { 400 };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| TABLE.claim(take) as *const Slot as usize)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut addrs: Vec<usize> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("claiming thread"))
            .collect();
        let claimed = addrs.len();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), claimed, "an entry was handed out twice");
        let taken = TABLE
            .iter()
            .filter(|s| s.taken.load(Ordering::Relaxed))
            .count();
        assert_eq!(taken, claimed);
    }
}
