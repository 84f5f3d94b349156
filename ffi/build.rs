//! Gives the shared library a soname carrying the major version, so programs
//! linked against libringmpsc.so.0 keep working across minor releases.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libringmpsc.so.{major}");
}
