.PHONY: all test loom miri
all:
	cargo build --release
test:
	cargo test --workspace
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check
loom:
	RUSTFLAGS="--cfg loom" cargo test -p ringcore --release --lib loom
miri:
	MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test -p ringcore --lib --test spsc_threads
