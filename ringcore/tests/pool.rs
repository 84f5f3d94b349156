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
    let three = BufferPool::new(8, 3).unwrap();
    assert!(
        three.free(Handle::from_raw(3)).is_err(),
        "index out of range"
    );
    for h in hs.into_iter().skip(1).chain([again]) {
        pool.free(h).unwrap();
    }
    assert_eq!(pool.available_count(), 4);
    assert!(BufferPool::new(0, 4).is_err());
    assert!(BufferPool::new(64, 0).is_err());
}

#[test]
fn a_handle_is_refused_by_another_pool() {
    let _watchdog = watchdog::watchdog(120);
    // Two fresh pools of one geometry: the same slabs at the same
    // generations, told apart by their salts alone.
    let (a, b) = (
        BufferPool::new(16, 4).unwrap(),
        BufferPool::new(16, 4).unwrap(),
    );
    let from_a: Vec<Handle> = (0..4).map(|_| a.alloc().unwrap()).collect();
    let from_b: Vec<Handle> = (0..4).map(|_| b.alloc().unwrap()).collect();
    for (&ha, &hb) in from_a.iter().zip(&from_b) {
        assert!(b.free(ha).is_err() && b.write(ha, b"x").is_err() && b.len(ha).is_err());
        assert!(a.free(hb).is_err() && a.set_len(hb, 1).is_err());
    }
    for h in from_a {
        a.free(h).unwrap();
    }
    for h in from_b {
        b.free(h).unwrap();
    }
}

#[test]
fn a_stale_handle_stays_refused_however_often_its_slab_is_reused() {
    let _watchdog = watchdog::watchdog(120);
    let pool = BufferPool::new(16, 2).unwrap();
    let stale = pool.alloc().unwrap();
    pool.free(stale).unwrap();
    // The free list gives the same slab back each time: 256 more uses,
    // where a handle keeping 8 bits of the use count would match again.
    for _ in 0..255 {
        pool.free(pool.alloc().unwrap()).unwrap();
    }
    let live = pool.alloc().unwrap();
    assert_ne!(live, stale);
    assert!(pool.free(stale).is_err() && pool.write(stale, b"x").is_err());
    pool.free(live).unwrap();
    assert_eq!(pool.available_count(), 2);
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
