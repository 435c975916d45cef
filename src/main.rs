//! The `switchboard` binary: parse the command line, run the subcommand,
//! exit with its status (codes in `cli::exit`, also shown by `--help`).
//!
//! Everything lives in the library so tests can drive it in process; this
//! file must stay a thin shell.

use clap::Parser;
use switchboard::cli::{self, Cli, ExitStatus};

fn main() -> ExitStatus {
    // Usage errors are reported by clap and exit with status 2, which is
    // also `ExitStatus::Failure`.
    let cli = Cli::parse();
    cli::run(cli)
}
