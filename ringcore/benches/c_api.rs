//! The C API against the Rust API in the same run: the SPSC workloads of
//! the `spsc` bench (single item, batches of 256, ping-pong) through
//! `Ring<u64>` and through `libringmpsc.so`'s `rmpsc_ring_*` functions,
//! loaded with `dlopen` so that every C call is what a C program makes: an
//! indirect call into the shared library. Rounds alternate between the
//! two; each figure is the median of the rounds, printed beside the bare
//! atomic ping-pong between the same two CPUs (the core-to-core probe).
//!
//! `make bench-c` (builds the library first), or
//! `cargo bench -p ringcore --bench c_api -- [items] [round_trips] [library]`.

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "support/pairs.rs"]
mod pairs;

use pairs::{atomic_rtt, median_rtt, ping_pong, single, two_threads, Rtt, RUNS};
use ringcore::{Config, Ring};
use std::ffi::{c_int, c_void, CString};

const CAPACITY_BITS: u8 = 12;
const BATCH: usize = 256;
const OK: c_int = 0;

type RingPtr = *mut c_void;

/// The `rmpsc_ring_*` functions of the loaded library.
#[derive(Clone, Copy)]
struct CApi {
    new: extern "C" fn(usize, usize, *mut RingPtr) -> c_int,
    free: extern "C" fn(RingPtr),
    send: extern "C" fn(RingPtr, *const c_void, usize, *mut usize) -> c_int,
    try_recv: extern "C" fn(RingPtr, *mut c_void) -> c_int,
    reserve: extern "C" fn(RingPtr, usize, *mut *mut c_void, *mut usize) -> c_int,
    commit: extern "C" fn(RingPtr, usize) -> c_int,
    peek: extern "C" fn(RingPtr, *mut *const c_void, *mut usize) -> c_int,
    advance: extern "C" fn(RingPtr, usize) -> c_int,
}

impl CApi {
    fn load(path: &str) -> Result<CApi, String> {
        let cpath = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path; the library stays loaded for the
        // rest of the process (never closed).
        let lib = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW) };
        if lib.is_null() {
            return Err(format!("cannot load {path} (run `make lib` first)"));
        }
        /// The symbol `name` as a function pointer of type `F`.
        ///
        /// # Safety
        /// `F` is the function's type in include/ringmpsc.h.
        unsafe fn sym<F>(lib: *mut c_void, path: &str, name: &str) -> F {
            let c = CString::new(name).unwrap();
            // SAFETY: a loaded library and a NUL-terminated name.
            let p = unsafe { libc::dlsym(lib, c.as_ptr()) };
            assert!(!p.is_null(), "{name} not exported by {path}");
            // SAFETY: F is the symbol's function pointer type (the caller's
            // contract), of the size of a pointer.
            unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
        }
        // SAFETY: each type below is the function's in include/ringmpsc.h.
        unsafe {
            Ok(CApi {
                new: sym(lib, path, "rmpsc_ring_new"),
                free: sym(lib, path, "rmpsc_ring_free"),
                send: sym(lib, path, "rmpsc_ring_send"),
                try_recv: sym(lib, path, "rmpsc_ring_try_recv"),
                reserve: sym(lib, path, "rmpsc_ring_reserve"),
                commit: sym(lib, path, "rmpsc_ring_commit"),
                peek: sym(lib, path, "rmpsc_ring_peek"),
                advance: sym(lib, path, "rmpsc_ring_advance"),
            })
        }
    }

    fn ring(&self) -> CRing {
        let mut r = std::ptr::null_mut();
        assert_eq!((self.new)(1 << CAPACITY_BITS, 8, &mut r), OK);
        CRing {
            api: *self,
            ring: r,
        }
    }
}

/// A C ring handle, used by one thread per side as the header requires.
struct CRing {
    api: CApi,
    ring: RingPtr,
}

// SAFETY: the C handle may be used from any thread, one per side.
unsafe impl Send for CRing {}
// SAFETY: as above: each thread calls only its side's functions.
unsafe impl Sync for CRing {}

impl Drop for CRing {
    fn drop(&mut self) {
        (self.api.free)(self.ring);
    }
}

impl CRing {
    fn send_one(&self, v: u64) -> bool {
        let mut sent = 0;
        let rc = (self.api.send)(self.ring, (&v as *const u64).cast(), 1, &mut sent);
        rc == OK && sent == 1
    }

    fn try_recv(&self) -> Option<u64> {
        let mut v = 0u64;
        ((self.api.try_recv)(self.ring, (&mut v as *mut u64).cast()) == OK).then_some(v)
    }
}

fn rust_single(items: u64) -> f64 {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    single(
        items,
        move |i| tx.send_one(i).is_ok(),
        move || rx.try_recv().ok(),
    )
}

fn c_single(api: &CApi, items: u64) -> f64 {
    let ring = std::sync::Arc::new(api.ring());
    let r2 = ring.clone();
    single(items, move |i| ring.send_one(i), move || r2.try_recv())
}

fn rust_batch(items: u64) -> f64 {
    let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                let want = (items - next).min(BATCH as u64) as usize;
                match tx.reserve(want) {
                    Ok(mut r) => {
                        let slots = r.as_mut_slice();
                        for (i, s) in slots.iter_mut().enumerate() {
                            *s = next + i as u64;
                        }
                        let k = slots.len();
                        next += k as u64;
                        r.commit_n(k);
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                let got = rx.consume_up_to(BATCH, |&v| sum += v);
                if got == 0 {
                    std::hint::spin_loop();
                }
                n += got as u64;
            }
            sum
        },
    )
}

/// The C batch workload as `examples-c/bench_ring.c` writes it.
fn c_batch(api: &CApi, items: u64) -> f64 {
    let ring = std::sync::Arc::new(api.ring());
    let r2 = ring.clone();
    two_threads(
        items,
        move || {
            let mut next = 0u64;
            while next < items {
                let want = (items - next).min(BATCH as u64) as usize;
                let (mut slots, mut n) = (std::ptr::null_mut(), 0usize);
                if (ring.api.reserve)(ring.ring, want, &mut slots, &mut n) != OK {
                    std::hint::spin_loop();
                    continue;
                }
                // SAFETY: the library handed out `n` writable u64 slots.
                let s = unsafe { std::slice::from_raw_parts_mut(slots.cast::<u64>(), n) };
                for (i, v) in s.iter_mut().enumerate() {
                    *v = next + i as u64;
                }
                assert_eq!((ring.api.commit)(ring.ring, n), OK);
                next += n as u64;
            }
        },
        move || {
            let (mut sum, mut n) = (0u64, 0u64);
            while n < items {
                let (mut slots, mut k) = (std::ptr::null(), 0usize);
                if (r2.api.peek)(r2.ring, &mut slots, &mut k) != OK {
                    std::hint::spin_loop();
                    continue;
                }
                let k = k.min(BATCH);
                // SAFETY: the library handed out at least `k` readable u64 slots.
                let s = unsafe { std::slice::from_raw_parts(slots.cast::<u64>(), k) };
                sum += s.iter().sum::<u64>();
                assert_eq!((r2.api.advance)(r2.ring, k), OK);
                n += k as u64;
            }
            sum
        },
    )
}

fn rust_rtt(rtts: usize) -> Rtt {
    ping_pong(rtts, || {
        let (mut tx, mut rx) = Ring::<u64>::new(Config::with_ring_bits(CAPACITY_BITS)).unwrap();
        (move |i| tx.send_one(i).is_ok(), move || rx.try_recv().ok())
    })
}

fn c_rtt(api: &CApi, rtts: usize) -> Rtt {
    ping_pong(rtts, || {
        let ring = std::sync::Arc::new(api.ring());
        let r2 = ring.clone();
        (move |i| ring.send_one(i), move || r2.try_recv())
    })
}

/// Median of `RUNS` alternating rounds of `a` and `b`.
fn alternate(a: impl Fn() -> f64, b: impl Fn() -> f64) -> (f64, f64) {
    let (mut x, mut y): (Vec<f64>, Vec<f64>) = (0..RUNS).map(|_| (a(), b())).unzip();
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(|p, q| p.partial_cmp(q).unwrap());
        v[RUNS / 2]
    };
    (mid(&mut x), mid(&mut y))
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let items: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    let rtts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let lib = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/release/libringmpsc.so"
        )
        .into()
    });
    let api = match CApi::load(&lib) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!(
        "C API vs Rust: {items} u64 items per run, median of {RUNS} alternating rounds, 2 pinned threads\n"
    );
    let m = |x: f64| format!("{:.1} M/s", x / 1e6);
    println!("| workload | Rust `Ring<u64>` | C `rmpsc_ring_*` | C / Rust |");
    println!("|---|---|---|---|");
    let (r, c) = alternate(|| rust_single(items), || c_single(&api, items));
    println!("| single item | {} | {} | {:.2}x |", m(r), m(c), c / r);
    let (r, c) = alternate(|| rust_batch(items), || c_batch(&api, items));
    println!("| batch of {BATCH} | {} | {} | {:.2}x |", m(r), m(c), c / r);
    let floor = median_rtt(|| atomic_rtt(rtts));
    let (r, c) = alternate(|| rust_rtt(rtts).p50, || c_rtt(&api, rtts).p50);
    println!("| ping-pong p50 | {r:.0} ns | {c:.0} ns | {:.2}x |", c / r);
    println!(
        "\ncore-to-core probe (bare atomic ping-pong p50 / p99): {:.0} / {:.0} ns",
        floor.p50, floor.p99
    );
}
