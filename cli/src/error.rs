//! The tool's error: a message naming the file and what is wrong, and the
//! exit code it maps to.

use crate::exit;

/// A failed command.
#[derive(Debug)]
pub struct CliError {
    code: i32,
    message: String,
    broken_pipe: bool,
}

impl CliError {
    /// An error with this exit code and message.
    pub fn new(code: i32, message: impl Into<String>) -> CliError {
        CliError {
            code,
            message: message.into(),
            broken_pipe: false,
        }
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(exit::USAGE, message)
    }

    /// The exit code.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// Writing the output failed because its reader went away.
    pub fn is_broken_pipe(&self) -> bool {
        self.broken_pipe
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<ringcore::Error> for CliError {
    fn from(e: ringcore::Error) -> CliError {
        let code = match &e {
            ringcore::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => exit::NOT_FOUND,
            ringcore::Error::InvalidArgument(_) => exit::USAGE,
            _ => exit::FAILED,
        };
        CliError::new(code, e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError {
            code: exit::FAILED,
            broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe,
            message: e.to_string(),
        }
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> CliError {
        match e.io_error_kind() {
            Some(kind) => std::io::Error::new(kind, e.to_string()).into(),
            None => CliError::new(exit::FAILED, e.to_string()),
        }
    }
}
