//! `ringmpsc.View`: a buffer-protocol window onto shared memory (ring slots,
//! a message payload, a pool slab), so `memoryview(view)` and
//! `numpy.frombuffer(view, dtype)` read it in place, without a copy.

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_int, c_void};

/// A window onto shared memory that supports the buffer protocol. It keeps
/// the mapping alive (through `owner`) for as long as any view or
/// memoryview of it exists, so reading it is always memory-safe; what it
/// shows is only meaningful until the item it covers is released.
#[pyclass(module = "ringmpsc._ringmpsc", name = "View", frozen)]
pub(crate) struct View {
    _owner: Py<PyAny>,
    ptr: usize,
    len: usize,
    readonly: bool,
}

impl View {
    /// # Safety
    /// `ptr..ptr+len` stays mapped while `owner` is alive.
    pub(crate) unsafe fn new(owner: Py<PyAny>, ptr: *const u8, len: usize, readonly: bool) -> View {
        View {
            _owner: owner,
            ptr: ptr as usize,
            len,
            readonly,
        }
    }
}

#[pymethods]
impl View {
    fn __len__(&self) -> usize {
        self.len
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        if this.readonly && flags & ffi::PyBUF_WRITABLE != 0 {
            return Err(PyBufferError::new_err("this view is read-only"));
        }
        // SAFETY: `view` is the exporter's out-struct from the interpreter;
        // the memory stays mapped while `slf` (stored in view.obj) lives.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.ptr as *mut c_void,
                this.len as ffi::Py_ssize_t,
                this.readonly as c_int,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __repr__(&self) -> String {
        format!(
            "View({} bytes, readonly={})",
            self.len,
            if self.readonly { "True" } else { "False" }
        )
    }
}
