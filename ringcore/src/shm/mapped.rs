//! A mapped segment whose header was validated, shared by every kind of
//! segment (slot ring, message ring, pool, transport segments): creation,
//! attach, the ring over its data area, and the sides' claims.

use super::layout::{Geometry, Header, Kind, HEADER_SIZE};
use super::liveness::{Claim, SideWords};
use super::segment::{resolve_name, Permissions, Segment};
use crate::error::{Error, Result};
use crate::ring::raw::RawRing;
use crate::ring::typed::Owner;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

/// How long a side's heartbeat may be silent before its holder counts as
/// dead when another process wants to take the side over.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(1);

/// A mapped segment with a validated header, shared by the ring kinds.
pub(crate) struct Mapped {
    pub(crate) segment: Arc<Segment>,
    pub(crate) geometry: Geometry,
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ident = &self.header().ident;
        f.debug_struct("Segment")
            .field("path", &self.segment.path())
            .field("geometry", &self.geometry)
            .field(
                "creator_pid",
                &ident.creator_pid.load(crate::sync::Ordering::Relaxed),
            )
            .field("producer_pid", &self.producer_words().holder())
            .field("consumer_pid", &self.consumer_words().holder())
            .finish()
    }
}

/// `InvalidHeader` for a descriptor whose size is not sealed: its sender
/// could shrink the file under the mapping (a `SIGBUS` at the next access).
fn refuse_unsealed(fd: &OwnedFd, kind: Kind) -> Result<()> {
    if !crate::sys::fs::size_sealed(fd.as_fd()) {
        return Err(Error::InvalidHeader(format!(
            "a {} whose size is not sealed: its sender could shrink it under the mapping",
            Kind::name(kind as u32)
        )));
    }
    Ok(())
}

impl Mapped {
    /// `segment` as one of `geometry`: a truncation of its file under this
    /// process closes its ring here (see [`Segment::truncated`]).
    fn new(segment: Segment, geometry: Geometry) -> Mapped {
        segment.mark_on_truncation(super::layout::CLOSED_AT);
        Mapped {
            segment: Arc::new(segment),
            geometry,
        }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the segment is at least HEADER_SIZE bytes (checked when
        // mapped) and page-aligned; Header is made of atomics, valid for any bits.
        unsafe { self.segment.base().cast::<Header>().as_ref() }
    }

    pub(crate) fn data(&self) -> NonNull<u8> {
        // SAFETY: data starts at HEADER_SIZE, inside the mapping.
        unsafe { self.segment.base().add(HEADER_SIZE) }
    }

    /// Creates a segment (named when `name` is given, else a memfd) for `g`.
    pub(crate) fn create(name: Option<&str>, g: Geometry, perm: Permissions) -> Result<Mapped> {
        Self::create_with(name, g, perm, |_| {})
    }

    /// [`create`](Self::create), running `init_data` on the data area
    /// before the header is published.
    pub(crate) fn create_with(
        name: Option<&str>,
        g: Geometry,
        perm: Permissions,
        init_data: impl FnOnce(&Mapped),
    ) -> Result<Mapped> {
        let len = g.total_size();
        let segment = match name {
            Some(n) => Segment::create_named(&resolve_name(n)?, len, perm)?,
            None => Segment::create_memfd("ringmpsc", len)?,
        };
        let m = Mapped::new(segment, g);
        init_data(&m);
        m.header().init(&g);
        // Named only now: an attacher sees nothing, or the whole segment.
        m.segment.publish()?;
        Ok(m)
    }

    /// Validates a mapped segment as `kind`. Segments appear whole, so a
    /// header not marked ready is refused at once.
    pub(crate) fn validate(segment: Segment, kind: Kind, slot_size: Option<u32>) -> Result<Mapped> {
        // SAFETY: as in `header`; from_fd/open_named guarantee HEADER_SIZE bytes.
        let header = unsafe { segment.base().cast::<Header>().as_ref() };
        if !header.is_ready() {
            return Err(Error::InvalidHeader(
                "segment header is not marked ready (not a finished segment)".into(),
            ));
        }
        let geometry = header.validate(segment.len(), kind, slot_size)?;
        Ok(Mapped::new(segment, geometry))
    }

    pub(crate) fn open(
        name: &str,
        kind: Kind,
        slot_size: Option<u32>,
        timeout: Duration,
    ) -> Result<Mapped> {
        let seg = Segment::open_named(&resolve_name(name)?, HEADER_SIZE, timeout)?;
        Self::validate(seg, kind, slot_size)?.allocated()
    }

    /// [`from_fd`](Self::from_fd) for a descriptor from a peer that must
    /// not be able to shrink the file under this mapping (a `SIGBUS` at
    /// the next access): refused unless its size is sealed.
    pub(crate) fn from_sealed_fd(
        fd: OwnedFd,
        kind: Kind,
        slot_size: Option<u32>,
    ) -> Result<Mapped> {
        refuse_unsealed(&fd, kind)?;
        Self::from_fd(fd, kind, slot_size)
    }

    /// [`from_sealed_fd`](Self::from_sealed_fd) for a segment whose layout
    /// the caller knows from its size alone (`geometry` of the file's
    /// length), its header not read: one its peers map writable (a
    /// transport's control segment, shared by every client), where a
    /// hostile one could scribble the header to stop others mapping it.
    pub(crate) fn from_sealed_fd_sized(
        fd: OwnedFd,
        kind: Kind,
        geometry: impl FnOnce(usize) -> Option<Geometry>,
    ) -> Result<Mapped> {
        refuse_unsealed(&fd, kind)?;
        let seg = Segment::from_fd(fd, HEADER_SIZE)?;
        let len = seg.len();
        let geometry = geometry(len)
            .filter(|g| g.kind == kind && g.total_size() == len)
            .ok_or_else(|| {
                Error::InvalidHeader(format!(
                    "{len} bytes is not the size of a {}",
                    Kind::name(kind as u32)
                ))
            })?;
        Mapped::new(seg, geometry).allocated()
    }

    pub(crate) fn from_fd(fd: OwnedFd, kind: Kind, slot_size: Option<u32>) -> Result<Mapped> {
        let seg = Segment::from_fd(fd, HEADER_SIZE)?;
        Self::validate(seg, kind, slot_size)?.allocated()
    }

    /// The attached segment with storage for all its header declares: a
    /// hole would cost a `SIGBUS` at its first write on a full file system.
    fn allocated(self) -> Result<Mapped> {
        self.segment.allocate(self.geometry.total_size())?;
        Ok(self)
    }

    pub(crate) fn raw(&self) -> RawRing {
        let h = self.header();
        // SAFETY: the indices and the data area live in the mapping, which
        // every handle keeps alive through an Arc<Segment>; the geometry was
        // validated against the file size.
        unsafe {
            RawRing::new(
                NonNull::from(&h.indices),
                self.data(),
                self.geometry.ring_bits as u8,
                self.geometry.slot_size as usize,
                true,
            )
        }
    }

    pub(crate) fn producer_words(&self) -> SideWords {
        SideWords::of_ring(self.header().indices.producer.holder())
    }

    pub(crate) fn consumer_words(&self) -> SideWords {
        SideWords::of_ring(self.header().indices.consumer.holder())
    }

    /// The creator is gone and neither side is held by a live process.
    pub(crate) fn is_stale(&self) -> bool {
        !self.header().ident.creator_alive()
            && !self.producer_words().is_alive(DEFAULT_STALE_AFTER)
            && !self.consumer_words().is_alive(DEFAULT_STALE_AFTER)
    }

    /// Takes a side for this process; the claim is the handles' owner.
    pub(crate) fn claim(&self, producer: bool, stale_after: Duration) -> Result<Owner> {
        let (words, name) = if producer {
            (self.producer_words(), "producer side")
        } else {
            (self.consumer_words(), "consumer side")
        };
        let claim: Owner = Claim::take(self.segment.clone(), words, name, stale_after)?;
        Ok(claim)
    }
}

/// Removes the named segment if it is stale (its creator died and no live
/// process holds a side), and the name still leads to it; returns whether
/// it was removed. Any kind of
/// ringmpsc segment is accepted; a file that is not one is left alone.
pub fn remove_if_stale(name: &str) -> Result<bool> {
    let path = resolve_name(name)?;
    let seg = Segment::open_named(&path, HEADER_SIZE, Duration::ZERO)?;
    // SAFETY: at least HEADER_SIZE bytes are mapped; atomics accept any bits.
    let header = unsafe { seg.base().cast::<Header>().as_ref() };
    let kind = match header.ident.kind.load(crate::sync::Ordering::Relaxed) {
        1 => Kind::SlotRing,
        2 => Kind::MessageRing,
        3 => Kind::Pool,
        k => return Err(Error::InvalidHeader(format!("unknown segment kind {k}"))),
    };
    let m = Mapped::validate(seg, kind, None)?;
    if !m.is_stale() {
        return Ok(false);
    }
    // Only the stale file: another process may have removed it and made a
    // live one under the name since.
    m.segment.unlink_if_ours()
}

/// Status, liveness and lifecycle shared by the ring kinds that live in a
/// segment (`self.mapped`).
macro_rules! segment_methods {
    () => {
        /// The segment's descriptor, to pass to another process.
        pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
            self.mapped.segment.fd()
        }

        /// Status and close from this process, without taking a side.
        pub fn observer(&self) -> RingObserver {
            let owner: Owner = self.mapped.segment.clone();
            RingObserver::new(self.mapped.raw(), owner)
        }

        /// Slots waiting to be read (bytes, for a message ring).
        pub fn len(&self) -> usize {
            self.mapped.raw().len()
        }

        /// True when nothing waits.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Closes the ring for both processes and wakes every sleeper.
        pub fn close(&self) {
            self.mapped.raw().close();
        }

        /// Whether either side closed the ring.
        pub fn is_closed(&self) -> bool {
            self.mapped.raw().is_closed()
        }

        /// Whether a producer process holds the ring and stamped its heartbeat
        /// within `timeout` (the heartbeat is stamped every 20 ms).
        pub fn is_producer_alive(&self, timeout: Duration) -> bool {
            self.mapped.producer_words().is_alive(timeout)
        }

        /// Whether a consumer process holds the ring and stamped within `timeout`.
        pub fn is_consumer_alive(&self, timeout: Duration) -> bool {
            self.mapped.consumer_words().is_alive(timeout)
        }

        /// Pid of the producer process (0 when none).
        pub fn producer_pid(&self) -> u32 {
            self.mapped.producer_words().holder()
        }

        /// Pid of the consumer process (0 when none).
        pub fn consumer_pid(&self) -> u32 {
            self.mapped.consumer_words().holder()
        }

        /// Pid of the process that created the segment.
        pub fn creator_pid(&self) -> u32 {
            self.mapped
                .header()
                .ident
                .creator_pid
                .load(crate::sync::Ordering::Relaxed)
        }

        /// Removes the segment's name (named segments; mappings stay valid).
        pub fn unlink(&self) -> Result<()> {
            self.mapped.segment.unlink()
        }

        /// Removes the segment's name when this handle and every side taken
        /// from it are dropped (if the name still leads to this segment),
        /// e.g. for the creator to clean up after itself. Anonymous
        /// segments have no name: nothing to do.
        pub fn unlink_on_drop(&self, unlink: bool) {
            self.mapped.segment.set_unlink_on_drop(unlink);
        }

        /// Stale: the creator is gone and no live process holds either side.
        pub fn is_stale(&self) -> bool {
            self.mapped.is_stale()
        }
    };
}
pub(crate) use segment_methods;
