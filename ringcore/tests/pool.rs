//! The heap buffer pool: handle checks and threads sharing slabs
//! (small enough for Miri).

use ringcore::{BufferPool, Error, Handle};

#[path = "support/watchdog.rs"]
mod watchdog;

#[test]
fn pools_check_every_handle() {
    let _watchdog = watchdog::watchdog(120);
    let pool = BufferPool::new(100, 4).unwrap();
    assert_eq!(
        (pool.capacity(), pool.slab_size(), pool.available_count()),
        (4, 100, 4)
    );
    let hs: Vec<Handle> = (0..4).map(|_| pool.alloc().unwrap()).collect();
    assert!(pool.alloc().is_none());
    assert_eq!(pool.available_count(), 0);
    pool.write(hs[0], b"payload").unwrap();
    assert!(matches!(
        pool.write(hs[1], &[0; 101]),
        Err(Error::TooLarge { .. })
    ));
    let mut out = [0u8; 16];
    assert_eq!(pool.read_into(hs[0], &mut out).unwrap(), 7);
    // SAFETY: we hold hs[0] and nothing writes it meanwhile.
    assert_eq!(unsafe { pool.get(hs[0]) }.unwrap(), b"payload");
    pool.free(hs[0]).unwrap();
    assert!(pool.free(hs[0]).is_err(), "double free");
    assert!(pool.read_into(hs[0], &mut out).is_err(), "use after free");
    let again = pool.alloc().unwrap();
    assert_ne!(again, hs[0], "a reused slab gets a new generation");
    assert!(
        pool.set_len(hs[0], 1).is_err(),
        "the stale handle stays refused"
    );
    assert!(pool.free(Handle::from_raw(99)).is_err(), "foreign index");
    for h in hs.into_iter().skip(1).chain([again]) {
        pool.free(h).unwrap();
    }
    assert_eq!(pool.available_count(), 4);
    assert!(BufferPool::new(0, 4).is_err());
    assert!(BufferPool::new(64, 0).is_err());
}

#[test]
fn threads_share_a_pool_without_losing_slabs() {
    let _watchdog = watchdog::watchdog(120);
    let pool = BufferPool::new(64, 32).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..(if cfg!(miri) { 50 } else { 20_000u32 }) {
                    if let Some(h) = pool.alloc() {
                        let v = (t << 24 | i).to_le_bytes();
                        pool.write(h, &v).unwrap();
                        let mut out = [0u8; 4];
                        pool.read_into(h, &mut out).unwrap();
                        assert_eq!(out, v, "slab handed to two owners");
                        pool.free(h).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.available_count(), 32);
}

#[test]
fn racing_frees_of_one_handle_free_it_once() {
    let pool = std::sync::Arc::new(BufferPool::new(64, 4).unwrap());
    for _ in 0..2000 {
        let h = pool.try_alloc().unwrap().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    pool.free(h).is_ok()
                })
            })
            .collect();
        let wins = racers.into_iter().map(|t| t.join().unwrap());
        assert_eq!(wins.filter(|&won| won).count(), 1, "one free must win");
        // Every slab is still handed out once: all four allocate, a fifth does not.
        let all: Vec<Handle> = (0..4).map(|_| pool.try_alloc().unwrap().unwrap()).collect();
        assert!(pool.try_alloc().unwrap().is_none());
        for h in all {
            pool.free(h).unwrap();
        }
    }
}
