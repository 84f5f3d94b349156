//! Maps `ringcore::Error` onto the exception classes of `ringmpsc.errors`
//! (defined in Python so that they can also derive from built-in types).

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use ringcore::{Error, ErrorKind};

macro_rules! exception_classes {
    ($($name:ident),*) => {
        $(
            #[allow(non_upper_case_globals)]
            static $name: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        )*
    };
}
exception_classes!(
    Full,
    Empty,
    Closed,
    Timeout,
    TooLarge,
    Corrupt,
    InvalidHeader,
    Busy,
    TooMany,
    Disconnected,
    FellBehind
);

fn raise(py: Python<'_>, class: &'static PyOnceLock<Py<PyType>>, name: &str, msg: String) -> PyErr {
    match class.import(py, "ringmpsc.errors", name) {
        Ok(ty) => PyErr::from_type(ty.clone(), msg),
        Err(e) => e,
    }
}

/// `ringmpsc.errors.Error`, the base of the library's own exceptions.
static LIBRARY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Whether `e` is one of the library's own exceptions (not, say, one a
/// signal handler raised).
pub(crate) fn is_library_error(py: Python<'_>, e: &PyErr) -> bool {
    LIBRARY_ERROR
        .import(py, "ringmpsc.errors", "Error")
        .is_ok_and(|base| e.is_instance(py, base))
}

/// The Python exception for a ringcore error.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    to_py_saying(py, e, msg)
}

/// The Python exception for `e`, saying `msg`: for the places that know
/// better than the core's generic text what was closed or held (the end
/// of a log, a log's writer lock).
pub(crate) fn to_py_saying(py: Python<'_>, e: Error, msg: String) -> PyErr {
    // Every kind has its exception, no catch-all.
    match e.kind() {
        ErrorKind::Full => raise(py, &Full, "Full", msg),
        ErrorKind::Empty => raise(py, &Empty, "Empty", msg),
        ErrorKind::Closed => raise(py, &Closed, "Closed", msg),
        ErrorKind::TimedOut => raise(py, &Timeout, "Timeout", msg),
        ErrorKind::TooLarge => raise(py, &TooLarge, "TooLarge", msg),
        ErrorKind::Corrupt => raise(py, &Corrupt, "Corrupt", msg),
        ErrorKind::InvalidHeader => raise(py, &InvalidHeader, "InvalidHeader", msg),
        ErrorKind::Busy => raise(py, &Busy, "Busy", msg),
        ErrorKind::TooManyProducers | ErrorKind::TooManyConsumers => {
            raise(py, &TooMany, "TooMany", msg)
        }
        ErrorKind::Disconnected => raise(py, &Disconnected, "Disconnected", msg),
        ErrorKind::FellBehind => raise(py, &FellBehind, "FellBehind", msg),
        ErrorKind::InvalidArgument => PyValueError::new_err(msg),
        ErrorKind::Io => os_error(&e, msg),
    }
}

/// The OSError subclass Python would raise for an operating-system error.
fn os_error(e: &Error, msg: String) -> PyErr {
    let Error::Io(io) = e else {
        return PyOSError::new_err(msg);
    };
    match (e.os_error(), io.kind()) {
        // OSError(errno, text) picks the subclass (FileNotFoundError, ...).
        (Some(errno), _) => PyOSError::new_err((errno, msg)),
        (None, std::io::ErrorKind::NotFound) => PyFileNotFoundError::new_err(msg),
        (None, std::io::ErrorKind::AlreadyExists) => PyFileExistsError::new_err(msg),
        (None, std::io::ErrorKind::PermissionDenied) => PyPermissionError::new_err(msg),
        (None, _) => PyOSError::new_err(msg),
    }
}

/// `Result<T, ringcore::Error>` into `PyResult<T>`.
pub(crate) trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
