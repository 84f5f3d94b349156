//! Gives the shared library a soname carrying its compatibility version, so
//! a program linked against one ABI never loads another: the major version,
//! or major.minor while the major is 0 (where a minor release may break).
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let soversion = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libringmpsc.so.{soversion}");
}
