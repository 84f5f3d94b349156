//! Maps `ringcore::Error` onto the exception classes of `ringmpsc.errors`
//! (defined in Python so that they can also derive from built-in types).

use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use ringcore::Error;

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

/// The Python exception for a ringcore error.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Full => raise(py, &Full, "Full", msg),
        Error::Empty => raise(py, &Empty, "Empty", msg),
        Error::Closed => raise(py, &Closed, "Closed", msg),
        Error::TimedOut => raise(py, &Timeout, "Timeout", msg),
        Error::TooLarge { .. } => raise(py, &TooLarge, "TooLarge", msg),
        Error::Corrupt(_) => raise(py, &Corrupt, "Corrupt", msg),
        Error::InvalidHeader(_) => raise(py, &InvalidHeader, "InvalidHeader", msg),
        Error::Busy(_) => raise(py, &Busy, "Busy", msg),
        Error::TooManyProducers | Error::TooManyConsumers => raise(py, &TooMany, "TooMany", msg),
        Error::Disconnected => raise(py, &Disconnected, "Disconnected", msg),
        Error::FellBehind(_) => raise(py, &FellBehind, "FellBehind", msg),
        Error::InvalidArgument(_) => PyValueError::new_err(msg),
        Error::Io(io) => match (io.raw_os_error(), io.kind()) {
            // OSError(errno, text) picks the subclass (FileNotFoundError, ...).
            (Some(errno), _) => PyOSError::new_err((errno, msg)),
            (None, std::io::ErrorKind::NotFound) => PyFileNotFoundError::new_err(msg),
            (None, std::io::ErrorKind::AlreadyExists) => PyFileExistsError::new_err(msg),
            (None, std::io::ErrorKind::PermissionDenied) => PyPermissionError::new_err(msg),
            (None, _) => PyOSError::new_err(msg),
        },
        _ => PyOSError::new_err(msg),
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
