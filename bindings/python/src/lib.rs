//! The `ringmpsc._ringmpsc` extension module: conversions, GIL release and
//! error mapping over `ringcore`, nothing more. The public Python package is
//! `python/ringmpsc`, which re-exports these classes.

use pyo3::prelude::*;

mod channel;
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

#[pymodule]
fn _ringmpsc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ring::Ring>()?;
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
