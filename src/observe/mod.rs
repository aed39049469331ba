//! Operations: Prometheus metrics and the per-request access log.

mod access_log;
mod metrics;

pub use access_log::AccessEvent;
pub use metrics::{Metrics, RequestLabels};
