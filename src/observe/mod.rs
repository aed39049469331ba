//! Operations: Prometheus metrics, the per-request access log and its buffered sink.

mod access_line;
mod access_log;
mod log_writer;
mod metrics;
mod timestamp;

pub use access_log::{ACCESS_TARGET, AccessEvent, AccessLog};
pub use log_writer::{FlushGuard, LogWriter};
pub use metrics::{EndpointLabels, EndpointMetrics, LoadLabels, Metrics, RequestLabels};
