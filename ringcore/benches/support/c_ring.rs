//! The C API's in-process ring (`rmpsc_ring_*`) and MPSC channel
//! (`rmpsc_mpsc_*`) from `libringmpsc.so`, loaded with `dlopen` so that
//! every call is what a C program makes: an indirect call into the shared
//! library. Shared by the c_api and latency benches.

use std::ffi::{c_int, c_void, CString};

/// `RMPSC_OK`.
pub const OK: c_int = 0;

type RingPtr = *mut c_void;
type ChannelPtr = *mut c_void;

/// The `rmpsc_ring_*` functions of the loaded library.
#[derive(Clone, Copy)]
pub struct CApi {
    new: extern "C" fn(usize, usize, *mut RingPtr) -> c_int,
    free: extern "C" fn(RingPtr),
    try_send: extern "C" fn(RingPtr, *const c_void) -> c_int,
    try_recv: extern "C" fn(RingPtr, *mut c_void) -> c_int,
    pub reserve: extern "C" fn(RingPtr, usize, *mut *mut c_void, *mut usize) -> c_int,
    pub commit: extern "C" fn(RingPtr, usize) -> c_int,
    pub peek: extern "C" fn(RingPtr, *mut *const c_void, *mut usize) -> c_int,
    pub advance: extern "C" fn(RingPtr, usize) -> c_int,
    mpsc_new: extern "C" fn(usize, usize, u32, *mut ChannelPtr) -> c_int,
    mpsc_free: extern "C" fn(ChannelPtr),
    mpsc_new_producer: extern "C" fn(ChannelPtr, *mut RingPtr) -> c_int,
    mpsc_recv: extern "C" fn(ChannelPtr, *mut c_void, usize, *mut usize) -> c_int,
    /// The workloads' loops through a lease, compiled as C (`lease_loops.c`),
    /// when `liblease_loops.so` is beside the library.
    pub lease: Option<LeaseLoops>,
}

/// The loops of `support/lease_loops.c` (`liblease_loops.so`, which `make
/// lib` builds beside the library): one thread's whole loop each, so the
/// header's inline functions inline as in a C program.
#[derive(Clone, Copy)]
pub struct LeaseLoops {
    pub single_produce: extern "C" fn(RingPtr, u64),
    pub single_consume: extern "C" fn(RingPtr, u64) -> u64,
    pub batch_produce: extern "C" fn(RingPtr, u64),
    pub batch_consume: extern "C" fn(RingPtr, u64) -> u64,
}

impl CApi {
    /// Loads the library that `make lib` builds (or the one named by
    /// `RINGMPSC_BENCH_LIB`); exits with a message if it cannot.
    pub fn load() -> CApi {
        let path = std::env::var("RINGMPSC_BENCH_LIB").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/release/libringmpsc.so"
            )
            .into()
        });
        CApi::load_from(&path).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        })
    }

    fn load_from(path: &str) -> Result<CApi, String> {
        // Global: the lease loops' calls resolve to this library.
        let lib = open(path, libc::RTLD_NOW | libc::RTLD_GLOBAL)?;
        let loops_path = std::path::Path::new(path).with_file_name("liblease_loops.so");
        let loops_path = loops_path.to_str().ok_or("a path that is not UTF-8")?;
        let loops = open(loops_path, libc::RTLD_NOW)
            .inspect_err(|e| eprintln!("{e}: no lease rows"))
            .ok();
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
        // SAFETY: each type below is the function's in include/ringmpsc.h
        // or lease_loops.c.
        unsafe {
            Ok(CApi {
                new: sym(lib, path, "rmpsc_ring_new"),
                free: sym(lib, path, "rmpsc_ring_free"),
                try_send: sym(lib, path, "rmpsc_ring_try_send"),
                try_recv: sym(lib, path, "rmpsc_ring_try_recv"),
                reserve: sym(lib, path, "rmpsc_ring_reserve"),
                commit: sym(lib, path, "rmpsc_ring_commit"),
                peek: sym(lib, path, "rmpsc_ring_peek"),
                advance: sym(lib, path, "rmpsc_ring_advance"),
                mpsc_new: sym(lib, path, "rmpsc_mpsc_new"),
                mpsc_free: sym(lib, path, "rmpsc_mpsc_free"),
                mpsc_new_producer: sym(lib, path, "rmpsc_mpsc_new_producer"),
                mpsc_recv: sym(lib, path, "rmpsc_mpsc_recv"),
                lease: loops.map(|loops| LeaseLoops {
                    single_produce: sym(loops, loops_path, "lease_single_produce"),
                    single_consume: sym(loops, loops_path, "lease_single_consume"),
                    batch_produce: sym(loops, loops_path, "lease_batch_produce"),
                    batch_consume: sym(loops, loops_path, "lease_batch_consume"),
                }),
            })
        }
    }

    /// A new ring of `1 << bits` u64 slots.
    pub fn ring(&self, bits: u8) -> CRing {
        let mut r = std::ptr::null_mut();
        assert_eq!((self.new)(1 << bits, 8, &mut r), OK);
        CRing {
            api: *self,
            ring: r,
        }
    }

    /// A new MPSC channel whose producers get rings of `1 << bits` u64
    /// slots.
    pub fn mpsc(&self, bits: u8) -> CMpsc {
        let mut ch = std::ptr::null_mut();
        assert_eq!((self.mpsc_new)(1 << bits, 8, 0, &mut ch), OK);
        CMpsc { api: *self, ch }
    }
}

/// `dlopen`s `path` for the rest of the process (never closed).
fn open(path: &str, flags: c_int) -> Result<*mut c_void, String> {
    let cpath = CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated path.
    let lib = unsafe { libc::dlopen(cpath.as_ptr(), flags) };
    if lib.is_null() {
        return Err(format!("cannot load {path} (run `make lib` first)"));
    }
    Ok(lib)
}

/// A C ring handle, used by one thread per side as the header requires.
pub struct CRing {
    pub api: CApi,
    pub ring: RingPtr,
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
    /// Sends `v` (`rmpsc_ring_try_send`); false when the ring is full.
    pub fn send_one(&self, v: u64) -> bool {
        (self.api.try_send)(self.ring, (&v as *const u64).cast()) == OK
    }

    /// The next item, if there is one.
    pub fn try_recv(&self) -> Option<u64> {
        let mut v = 0u64;
        ((self.api.try_recv)(self.ring, (&mut v as *mut u64).cast()) == OK).then_some(v)
    }
}

/// A C MPSC channel handle: producers registered from any thread, the
/// consumer side used by one thread.
pub struct CMpsc {
    api: CApi,
    ch: ChannelPtr,
}

// SAFETY: registration is thread-safe; the consumer calls come from one
// thread at a time, as the header requires.
unsafe impl Send for CMpsc {}
// SAFETY: as above.
unsafe impl Sync for CMpsc {}

impl Drop for CMpsc {
    fn drop(&mut self) {
        (self.api.mpsc_free)(self.ch);
    }
}

impl CMpsc {
    /// A new producer: a ring handle holding the producer side.
    pub fn producer(&self) -> CRing {
        let mut r = std::ptr::null_mut();
        assert_eq!((self.api.mpsc_new_producer)(self.ch, &mut r), OK);
        CRing {
            api: self.api,
            ring: r,
        }
    }

    /// Copies up to `out.len()` items into `out` (`rmpsc_mpsc_recv`); the
    /// count.
    pub fn recv(&self, out: &mut [u64]) -> usize {
        let mut n = 0;
        let rc = (self.api.mpsc_recv)(self.ch, out.as_mut_ptr().cast(), out.len(), &mut n);
        assert_eq!(rc, OK);
        n
    }
}
