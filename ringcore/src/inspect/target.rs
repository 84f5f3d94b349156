//! One segment or log, named by the user, for a closer look.

use crate::error::{Error, Result};
use crate::shm::inspect::SegmentView;
use crate::sync::{AtomicU64, Ordering};
use std::path::{Path, PathBuf};

/// A segment or a log.
#[derive(Debug, Clone)]
pub enum Target {
    /// A segment, mapped read-only.
    Segment(SegmentView),
    /// A log, by its first file's path.
    Log(PathBuf),
}

impl Target {
    /// What `name` names: a bare name is looked up in `dir` (the segment
    /// directory, `/dev/shm` by default), a name with a `/` is a path. A
    /// file with a segment header is a segment, one with a log header is
    /// (a file of) a log, and a path with no file whose `NAME.n` files
    /// exist is a log whose first files retention deleted.
    ///
    /// Errors: `Io` (`NotFound`: nothing by that name; or cannot be read),
    /// `InvalidHeader` (a file that is neither, or a damaged header),
    /// naming the file.
    pub fn open(dir: &Path, name: &str) -> Result<Target> {
        if name.is_empty() || name.contains('\0') {
            return Err(Error::InvalidArgument(format!("bad name {name:?}")));
        }
        let path = crate::shm::inspect::segment_path(dir, name);
        match crate::sys::fs::lstat(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if crate::log::list_files(&path).is_ok_and(|f| !f.is_empty()) {
                    return Ok(Target::Log(path));
                }
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no segment or log named {}", path.display()),
                )));
            }
            Err(e) => return Err(Error::Io(e)),
            Ok(_) => {}
        }
        let view = crate::shm::view::View::open(&path, false)?;
        let magic = view.at::<AtomicU64>(0).map(|w| w.load(Ordering::Relaxed));
        if magic == Some(crate::shm::layout::MAGIC) {
            return Ok(Target::Segment(SegmentView::over(view)?));
        }
        if magic == Some(crate::log::format::MAGIC) {
            let base = super::catalog::log_base(&path, &view);
            return Ok(Target::Log(base));
        }
        Err(Error::InvalidHeader(format!(
            "{}: not a ringmpsc segment or log",
            path.display()
        )))
    }

    /// The path it was opened by (a log's first file).
    pub fn path(&self) -> &Path {
        match self {
            Target::Segment(s) => s.path(),
            Target::Log(p) => p,
        }
    }
}
