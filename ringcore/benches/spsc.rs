//! SPSC benchmark (filled in below).
fn main() {}
