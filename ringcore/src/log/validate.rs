//! Checking a log's geometry (a writer's arguments) and a file header read
//! from disk, which is hostile input: every size is checked before use.

use super::format::{
    FileHeader, Geometry, BYTE_ORDER, FLAG_CHECKSUMS, HEADER_SIZE, MAGIC, MAX_REGION, VERSION,
};
use super::page_size;
use crate::error::{Error, Result};
use crate::sync::Ordering;
use std::path::Path;

impl Geometry {
    /// Checks sizes against each other and the page size.
    pub(crate) fn check(&self) -> Result<()> {
        let page = page_size();
        let bad = |m: String| Err(Error::InvalidArgument(m));
        if self.region_size == 0 || self.region_size % page != 0 {
            return bad(format!(
                "region size {} is not a multiple of the page size {page}",
                self.region_size
            ));
        }
        if self.region_size > MAX_REGION {
            return bad(format!("region size {} is above 1 GiB", self.region_size));
        }
        if self.file_size < self.region_size || self.file_size % self.region_size != 0 {
            return bad(format!(
                "file size {} is not a multiple of the region size {}",
                self.file_size, self.region_size
            ));
        }
        // The largest record must fit in any region, including the first
        // (after the header) and the last (before the roll reserve).
        let room = self.region_size - HEADER_SIZE.max(self.roll_reserve());
        if self.file_size == self.region_size {
            if self.max_record() > self.region_size - HEADER_SIZE - self.roll_reserve() {
                return bad(format!(
                    "an MTU of {} does not fit a single-region file of {} bytes",
                    self.mtu, self.file_size
                ));
            }
        } else if self.max_record() > room {
            return bad(format!(
                "an MTU of {} does not fit a region of {} bytes",
                self.mtu, self.region_size
            ));
        }
        Ok(())
    }
}

impl FileHeader {
    /// Checks a header read from a file of `file_len` bytes; returns the geometry.
    pub(crate) fn validate(&self, file_len: u64, path: &Path) -> Result<Geometry> {
        let bad = |m: String| Error::InvalidHeader(format!("{}: {m}", path.display()));
        if file_len < HEADER_SIZE {
            return Err(bad(format!(
                "{file_len} bytes is shorter than a log header"
            )));
        }
        // Acquire pairs with the Release store of `magic` in `LogFile::create`,
        // made last: a header with the magic is whole.
        let magic = self.magic.load(Ordering::Acquire);
        if magic != MAGIC {
            return Err(bad(if magic == 0 {
                "no log header (an empty or zeroed file)".into()
            } else {
                format!("not a ringmpsc log (magic {magic:#018x})")
            }));
        }
        let version = self.version.load(Ordering::Relaxed);
        let flags = match version {
            1 => 0,
            2..=VERSION => self.flags.load(Ordering::Relaxed),
            _ => {
                return Err(bad(format!(
                    "log format version {version}, this library reads 1 to {VERSION}"
                )))
            }
        };
        if flags & !FLAG_CHECKSUMS != 0 {
            return Err(bad(format!("unknown header flags {flags:#x}")));
        }
        if self.byte_order.load(Ordering::Relaxed) != BYTE_ORDER {
            return Err(bad("written with the other byte order".into()));
        }
        if self.header_size.load(Ordering::Relaxed) as u64 != HEADER_SIZE {
            return Err(bad("unexpected header size".into()));
        }
        let g = Geometry {
            region_size: self.region_size.load(Ordering::Relaxed),
            file_size: self.file_size.load(Ordering::Relaxed),
            mtu: self.mtu.load(Ordering::Relaxed),
            checksums: flags & FLAG_CHECKSUMS != 0,
        };
        if g.region_size == 0
            || g.region_size % 8 != 0
            || g.region_size > MAX_REGION
            || g.file_size < g.region_size
            || g.file_size % g.region_size != 0
            || g.max_record() > g.region_size
        {
            return Err(bad(format!("inconsistent geometry {g:?}")));
        }
        if file_len < g.file_size {
            return Err(bad(format!(
                "truncated: the file is {file_len} bytes, its header says {}",
                g.file_size
            )));
        }
        Ok(g)
    }
}
