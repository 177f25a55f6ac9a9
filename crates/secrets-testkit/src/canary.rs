//! Canary values: plant one, then prove it never appears in text or logs.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// A unique value to plant in a secret.
#[derive(Debug, Clone)]
pub struct Canary(String);

impl Canary {
    /// A fresh canary, `canary-` and 24 random hex digits.
    pub fn new() -> Self {
        Canary(format!(
            "canary-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..24]
        ))
    }

    /// The canary's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Panics when `text` contains the canary, naming `what` it was found in.
    pub fn assert_absent(&self, what: &str, text: &str) {
        assert!(
            !text.contains(&self.0),
            "the canary value leaked into {what}:\n{text}"
        );
    }
}

impl Default for Canary {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything `tracing` wrote, at every level, while the guard lived.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// The captured text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl std::fmt::Debug for CapturedLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedLogs").finish_non_exhaustive()
    }
}

/// A writer into a [`CapturedLogs`].
#[derive(Debug)]
pub struct LogWriter(CapturedLogs);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (self.0)
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(self.clone())
    }
}

/// Captures every `tracing` event and span, at TRACE level and from every crate (SDKs
/// included), for the current thread until the guard drops. Use a current-thread runtime so
/// that all the work happens on this thread.
pub fn capture_trace_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}
