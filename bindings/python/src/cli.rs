//! The `ringmpsc` command for the pip package's console script: the same
//! Rust code as the binary ([`ringmpsc_cli::run`]), called with
//! `sys.argv`. Its output goes straight to the process's stdout and stderr.

use pyo3::prelude::*;

/// Runs the `ringmpsc` tool with `argv` (the program name first) and
/// returns its exit code. The GIL is released while it runs (`stat
/// --watch`, `dump --follow` and `export` run until interrupted).
#[pyfunction]
pub(crate) fn _cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| ringmpsc_cli::run(argv))
}
