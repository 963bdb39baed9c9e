//! What every test's application logged, captured once for the binary.

use std::sync::Once;

static TRACING: Once = Once::new();

/// Everything every test's application logged (JSON lines, as production
/// logs), so a test can check what never reaches the log.
static CAPTURED: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = CAPTURED.lock() {
            log.extend_from_slice(buf);
        }
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log captured so far.
pub fn captured_log() -> String {
    String::from_utf8_lossy(&CAPTURED.lock().unwrap()).into_owned()
}

/// Logs are captured (and shown too when `TEST_LOG` is set).
pub fn init_test_logging() {
    licensor::tls::install_crypto_provider();
    TRACING.call_once(|| {
        let _ = licensor::telemetry::init_with_writer(
            licensor::config::LogFormat::Json,
            "info,licensor=debug,sqlx=warn",
            || CaptureWriter,
        );
    });
}
