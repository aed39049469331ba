//! Operations: Prometheus metrics, the per-request access log and its buffered sink.

mod access_format;
mod access_log;
mod log_writer;
mod metrics;

pub use access_format::{ACCESS_TARGET, AccessFormat};
pub use access_log::AccessEvent;
pub use log_writer::{FlushGuard, LogWriter};
pub use metrics::{Metrics, RequestLabels};
