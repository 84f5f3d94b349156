//! The `ringmpsc` binary: everything is in the library ([`ringmpsc_cli::run`]).

fn main() {
    std::process::exit(ringmpsc_cli::run(std::env::args_os()));
}
