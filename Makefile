.PHONY: all test
all:
	cargo build --release
test:
	cargo test --workspace
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check
