//! `include/ringmpsc.h` is generated from this crate by cbindgen and
//! committed; this test fails when it is stale. `make header` (which sets
//! RMPSC_BLESS=1) rewrites it.

use std::path::Path;

#[test]
fn committed_header_is_fresh() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let header = crate_dir.join("../include/ringmpsc.h");
    if std::env::var_os("RMPSC_BLESS").is_some() {
        std::fs::write(&header, &generated).unwrap();
        return;
    }
    let committed = std::fs::read(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/ringmpsc.h is stale: run `make header` and commit it"
    );
}
