//! Captures the TRACE-level logs of the current thread (and of the tasks a current-thread tokio
//! runtime runs on it), `log` records included.

use std::io::Write;
use std::sync::{Arc, Mutex, Once, OnceLock};

use tracing::subscriber::{DefaultGuard, NoSubscriber};
use tracing::Dispatch;

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Starts capturing; logging stops when the guard is dropped. `log` records (tungstenite,
/// rustls) are forwarded to `tracing` for the whole process.
pub fn capture() -> (Capture, DefaultGuard) {
    static LOG_BRIDGE: Once = Once::new();
    static KEEPER: OnceLock<Dispatch> = OnceLock::new();
    LOG_BRIDGE.call_once(|| {
        let _ = tracing_log::LogTracer::init();
    });
    // tracing-core decides callsite interest from the *calling thread's* default while it
    // believes a single dispatcher exists: a test thread without a subscriber would then switch
    // events off for every thread. A second dispatcher that lives for the whole process keeps
    // it asking every live dispatcher.
    KEEPER.get_or_init(|| Dispatch::new(NoSubscriber::default()));
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (capture, guard)
}
