//! The `ringmpsc._ringmpsc` extension module: conversions, GIL release and
//! error mapping over `ringcore`, nothing more. The public Python package is
//! `python/ringmpsc`, which re-exports these classes.

use pyo3::prelude::*;

mod errors;
mod ring;
mod util;

#[pymodule]
fn _ringmpsc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ring::Ring>()?;
    Ok(())
}
