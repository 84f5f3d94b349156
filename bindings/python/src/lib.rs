//! The `ringmpsc._ringmpsc` extension module: conversions, GIL release and
//! error mapping over `ringcore`, nothing more. The public Python package is
//! `python/ringmpsc`, which re-exports these classes.

use pyo3::prelude::*;

mod aio;
mod channel;
mod cli;
mod dtype;
mod errors;
mod log;
mod msg;
mod notifier;
mod numa;
mod pool;
mod ring;
mod shared;
mod spmc_mpmc;
mod transport;
mod util;
mod view;

// Not declared safe without the GIL (free-threaded CPython): audited per
// class, these rely on the GIL for correctness, not just for speed.
// - Views (`View`, handed out by `Ring.readable`, `MessageReceiver.recv_view`,
//   `MessageSender.claim`, `LogWriter.reserve`, `BufferPool.view/payload`):
//   giving their memory back checks the lease unused and then revokes it,
//   while `View.__getbuffer__` checks the lease and then counts the export.
//   The GIL keeps the two apart; without it a memoryview could be exported
//   between the check and the revocation and show memory already reused.
// - `Message.release` tests its `released` flag, releases the record, then
//   sets the flag, all under the GIL: two threads releasing one message
//   without it could both pass the test, the second freeing the next record,
//   which nobody read.
// The side locks (`Mutex` + `Busy`) and the lock-free cores would hold, but
// the module is one unit: it says `gil_used` until those two are redone
// (an atomic state per lease, a compare-exchange for `released`).
#[pymodule(gil_used = true)]
fn _ringmpsc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ring::Ring>()?;
    m.add_class::<aio::Armed>()?;
    m.add_class::<aio::WaitSet>()?;
    m.add_class::<shared::SharedRing>()?;
    m.add_class::<msg::MessageRing>()?;
    m.add_class::<msg::MessageSender>()?;
    m.add_class::<msg::MessageReceiver>()?;
    m.add_class::<msg::Message>()?;
    m.add_class::<pool::BufferPool>()?;
    m.add_class::<view::View>()?;
    m.add_class::<channel::MpscChannel>()?;
    m.add_class::<notifier::EventNotifier>()?;
    m.add_class::<channel::EventLoop>()?;
    m.add_class::<spmc_mpmc::SpmcChannel>()?;
    m.add_class::<spmc_mpmc::MpmcChannel>()?;
    m.add_class::<spmc_mpmc::Consumer>()?;
    m.add_class::<log::LogWriter>()?;
    m.add_class::<log::LogReader>()?;
    m.add_class::<log::LogMessage>()?;
    m.add_class::<log::LogFollow>()?;
    m.add_class::<log::LogMapping>()?;
    m.add_class::<transport::Server>()?;
    m.add_class::<transport::Client>()?;
    m.add_function(wrap_pyfunction!(shared::remove_if_stale, m)?)?;
    m.add_function(wrap_pyfunction!(cli::_cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_nodes, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_is_numa, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_node_of_cpu, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_nearest_node, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_bind_to_cpu, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_bind_to_node, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_current_cpu, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_current_node, m)?)?;
    m.add_function(wrap_pyfunction!(numa::numa_bind_memory, m)?)?;
    Ok(())
}
