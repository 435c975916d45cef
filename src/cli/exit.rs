//! The process exit status: the only place exit numbers live.
//!
//! Every subcommand returns an [`ExitStatus`]; `main` returns it and the
//! [`Termination`] impl turns it into the process status. Nothing else in
//! the program calls `std::process::exit`.

use std::process::{ExitCode, Termination};

/// How a `switchboard` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ExitStatus {
    /// 0: the command did what was asked (rules valid, explanation given,
    /// server stopped cleanly).
    Success = 0,
    /// 1: the rules are invalid (errors, or warnings with
    /// `--deny-warnings`).
    Invalid = 1,
    /// 2: the command could not run: a usage error, an unreadable file, a
    /// bad event, a server that could not start.
    Failure = 2,
}

impl ExitStatus {
    /// The process status number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The worse of two statuses: failure beats invalid beats success, so a
    /// run over several inputs reports the worst thing that happened.
    #[must_use]
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max(other)
    }
}

impl Termination for ExitStatus {
    fn report(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// The exit codes as shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  success (for `check`: no errors; warnings are allowed unless --deny-warnings)
  1  the rules are invalid (errors, or warnings with --deny-warnings)
  2  the command could not run: bad usage, unreadable file, bad event, I/O error,
     or a server that could not start";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_order() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Invalid.code(), 1);
        assert_eq!(ExitStatus::Failure.code(), 2);
        assert_eq!(
            ExitStatus::Invalid.worst(ExitStatus::Success),
            ExitStatus::Invalid
        );
        assert_eq!(
            ExitStatus::Invalid.worst(ExitStatus::Failure),
            ExitStatus::Failure
        );
    }
}
