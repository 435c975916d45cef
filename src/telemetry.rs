//! Log set-up for `serve`: human-readable lines by default, JSON lines with
//! `--log-format json`, filtered by `RUST_LOG` (default `info`).
//!
//! This module only builds subscribers. What is logged, and the rule that
//! no token or secret is ever a field of a log event, belong to the
//! callers (the server and the reloader); a test captures the output of
//! [`subscriber`] to hold them to it.

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Log lines waiting for the writer thread before callers wait.
const BUFFERED_LINES: usize = 8 * 1024;

/// The filter used when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("a global log subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps the background log writer alive; dropping it flushes what is
/// still buffered. Hold it until the process is about to exit.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the process-wide subscriber writing to standard error.
///
/// Lines are handed to a background thread that writes them in batches
/// (flushing whenever it has nothing more to write), so a request never
/// waits on a `write` to a slow terminal or pipe. The channel is not
/// lossy: under a flood, callers wait rather than lines being dropped
/// (every decision must be logged).
pub fn init(format: LogFormat) -> Result<LogGuard, TelemetryError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (writer, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // ~2-4 MB of pending lines at most (the default, 128k lines, could
        // hold tens of MB when the output is slower than the traffic).
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("switchboard-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    tracing::subscriber::set_global_default(subscriber(format, filter, writer))
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(LogGuard { _worker: worker })
}

/// A subscriber in the given format writing to `writer` (tests pass an
/// in-memory buffer).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync + 'static>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    match format {
        LogFormat::Human => Box::new(builder.with_ansi(false).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .finish(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_fields_at_top_level() {
        let buffer = Buffer::default();
        let subscriber = subscriber(LogFormat::Json, EnvFilter::new("info"), buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(call_id = 42, rule = "VIP", "decision");
            tracing::debug!("filtered out");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["call_id"], 42);
        assert_eq!(line["rule"], "VIP");
        assert_eq!(line["message"], "decision");
        assert_eq!(line["level"], "INFO");
    }

    #[test]
    fn human_lines_have_no_colour_codes() {
        let buffer = Buffer::default();
        let subscriber = subscriber(LogFormat::Human, EnvFilter::new("info"), buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(revision = "abc", "rules rejected");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("WARN"), "{text}");
        assert!(text.contains("rules rejected"), "{text}");
        assert!(text.contains("revision=\"abc\""), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
