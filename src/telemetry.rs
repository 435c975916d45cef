//! Log set-up for `serve`: human-readable lines by default, JSON lines with
//! `--log-format json`, filtered by `RUST_LOG` (default `info`).
//!
//! This module only builds subscribers. What is logged, and the rule that
//! no token or secret is ever a field of a log event, belong to the
//! callers (the server and the reloader); a test captures the output of
//! [`subscriber`] to hold them to it.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// How often buffered lines are written out.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(25);

/// Buffered bytes beyond which the logging thread writes them out itself
/// rather than waiting for the flusher (backpressure, bounded memory).
const MAX_BUFFERED: usize = 1024 * 1024;

/// The filter used when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("a global log subscriber is already installed")]
    AlreadyInstalled,
    #[error("cannot start the log writer thread: {0}")]
    Thread(std::io::Error),
}

/// Installs the process-wide subscriber writing to standard error through
/// a [`BatchWriter`]. Keep the guard until the process exits: dropping it
/// writes out what is still buffered.
pub fn init(format: LogFormat) -> Result<LogGuard, TelemetryError> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (writer, guard) = BatchWriter::spawn(std::io::stderr(), FLUSH_INTERVAL)?;
    tracing::subscriber::set_global_default(subscriber(format, filter, writer))
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(guard)
}

/// A log writer that appends each line to a memory buffer and leaves the
/// `write` system calls to a background thread, which writes everything
/// buffered every [`FLUSH_INTERVAL`]: one system call for many lines, and
/// no thread to wake per line. Lines are never dropped; if the output
/// falls more than [`MAX_BUFFERED`] bytes behind, the logging thread
/// writes them out itself. Order is kept. A crash (`kill -9`) loses at
/// most the last interval of lines; the decision log proper is durable
/// elsewhere.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Batch>,
}

struct Batch {
    pending: Mutex<Vec<u8>>,
    /// The output; held while writing so that batches stay in order.
    output: Mutex<Box<dyn Write + Send>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Batch {
    /// Writes out everything buffered so far.
    fn flush(&self) {
        let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if !batch.is_empty() {
            // Nowhere to report a failing log output: drop the batch.
            let _ = output.write_all(&batch);
            let _ = output.flush();
        }
    }
}

impl std::fmt::Debug for BatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchWriter")
    }
}

/// Stops the flusher and writes out the last lines when dropped.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    shared: Arc<Batch>,
    flusher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        self.shared.flush();
    }
}

impl BatchWriter {
    /// A writer to `output`, flushed every `interval` by a new thread.
    pub fn spawn(
        output: impl Write + Send + 'static,
        interval: Duration,
    ) -> Result<(BatchWriter, LogGuard), TelemetryError> {
        let shared = Arc::new(Batch {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            output: Mutex::new(Box::new(output)),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let flushing = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("switchboard-log".to_owned())
            .spawn(move || loop {
                let mut stop = flushing.stop.lock().unwrap_or_else(PoisonError::into_inner);
                // Checked under the lock before waiting: a stop requested
                // while we were flushing is not missed.
                if !*stop {
                    stop = flushing
                        .wake
                        .wait_timeout(stop, interval)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                let stopping = *stop;
                drop(stop);
                flushing.flush();
                if stopping {
                    return;
                }
            })
            .map_err(TelemetryError::Thread)?;
        Ok((
            BatchWriter {
                shared: Arc::clone(&shared),
            },
            LogGuard {
                shared,
                flusher: Some(flusher),
            },
        ))
    }
}

impl Write for BatchWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let overflowing = {
            let mut pending = self
                .shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.extend_from_slice(bytes);
            pending.len() > MAX_BUFFERED
        };
        if overflowing {
            self.shared.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Lines are written out by the flusher; an explicit flush of every
        // event would defeat the batching.
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'w self) -> BatchWriter {
        self.clone()
    }
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
    fn batches_keep_order_and_the_guard_flushes() {
        let output = Buffer::default();
        let (writer, guard) =
            BatchWriter::spawn(output.clone(), Duration::from_secs(3600)).unwrap();
        let subscriber = subscriber(LogFormat::Human, EnvFilter::new("info"), writer);
        tracing::subscriber::with_default(subscriber, || {
            for n in 0..100 {
                tracing::info!(n, "line");
            }
        });
        // The interval is an hour: nothing is written before the guard goes.
        assert!(output.0.lock().unwrap().is_empty());
        drop(guard);
        let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
        let numbers: Vec<usize> = text
            .lines()
            .map(|line| line.rsplit("n=").next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(numbers, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn lines_are_written_within_the_interval() {
        let output = Buffer::default();
        let (mut writer, _guard) =
            BatchWriter::spawn(output.clone(), Duration::from_millis(10)).unwrap();
        writer.write_all(b"hello\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while output.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(output.0.lock().unwrap().as_slice(), b"hello\n");
    }

    #[test]
    fn a_backlog_is_written_by_the_caller() {
        let output = Buffer::default();
        let (mut writer, _guard) =
            BatchWriter::spawn(output.clone(), Duration::from_secs(3600)).unwrap();
        let line = vec![b'x'; 1024];
        for _ in 0..(MAX_BUFFERED / 1024 + 1) {
            writer.write_all(&line).unwrap();
        }
        assert!(output.0.lock().unwrap().len() > MAX_BUFFERED);
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
