//! A cap on concurrent connections per source address: the client's, or the PROXY header's
//! source on a listener that expects one (the balancer's own address carries many clients).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Concurrent connections per source address, capped.
#[derive(Debug)]
pub struct PerSource {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// The source already has its most connections.
#[derive(Debug)]
pub struct Refused;

/// One counted connection; uncounted on drop.
#[derive(Debug)]
pub struct SourceSlot {
    sources: Arc<PerSource>,
    ip: IpAddr,
}

impl PerSource {
    /// At most `max` connections per address (0: no cap).
    pub fn new(max: usize) -> Arc<PerSource> {
        Arc::new(PerSource {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Count a connection from `ip`, or `None` if the address already has `max`.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        if self.max == 0 {
            return Some(SourceSlot {
                sources: self.clone(),
                ip,
            });
        }
        let mut open = self.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            sources: self.clone(),
            ip,
        })
    }

    /// Admit a connection from `ip` under the cap, except that a trusted proxy (`exempt`) over
    /// the cap is let through uncounted (it carries many clients). `Err` means refuse it.
    pub fn admit_or_exempt(
        self: &Arc<Self>,
        ip: IpAddr,
        exempt: bool,
    ) -> Result<Option<SourceSlot>, Refused> {
        match self.admit(ip) {
            Some(slot) => Ok(Some(slot)),
            None if exempt => Ok(None),
            None => Err(Refused),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counts only: a panic elsewhere leaves nothing half-updated.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if self.sources.max == 0 {
            return;
        }
        let mut open = self.sources.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}
