//! The `switchboard` binary: parse the command line, run the subcommand,
//! exit with its status (codes in `cli::exit`, also shown by `--help`).
//!
//! Everything lives in the library so tests can drive it in process; this
//! file must stay a thin shell.

use clap::Parser;
use switchboard::cli::{self, Cli, ExitStatus};

/// jemalloc, not glibc's allocator: under load glibc's `malloc` and `free`
/// were a sixth of the server's CPU and its per-thread arenas set the
/// memory peak; jemalloc cut the CPU per webhook by 10-20% and kept the
/// peak under 50 MB (README, "The service under load").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitStatus {
    // Usage errors are reported by clap and exit with status 2, which is
    // also `ExitStatus::Failure`.
    let cli = Cli::parse();
    cli::run(cli)
}
