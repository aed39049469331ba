//! A buffered log sink: log lines are appended to an in-memory buffer and written to stderr
//! in batches — when the buffer passes 64 KiB, and by a flusher thread every 100 ms — so the
//! access log costs a memcpy per request instead of a syscall (like nginx's `access_log
//! buffer= flush=`). At most 100 ms of lines are lost if the process is killed.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

const FLUSH_AT: usize = 64 * 1024;
/// A fresh buffer's capacity: a full batch and a long line fit without growing it (growing
/// copied the buffer over and over: memmove under `append` was 0.5% of the gateway's CPU).
const CAPACITY: usize = FLUSH_AT + 8 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Cloneable handle implementing `io::Write`; give `move || writer.clone()` to tracing.
#[derive(Clone, Debug, Default)]
pub struct LogWriter {
    buf: Arc<Mutex<Vec<u8>>>,
}

/// Flushes the buffer when dropped (keep it alive as long as logging happens).
#[derive(Debug)]
pub struct FlushGuard {
    writer: LogWriter,
}

impl LogWriter {
    /// A writer and its guard; starts the flusher thread.
    pub fn start() -> (LogWriter, FlushGuard) {
        let writer = LogWriter::default();
        let weak = Arc::downgrade(&writer.buf);
        // The thread ends once every handle is gone.
        let _ = thread::Builder::new()
            .name("aclgate-log".to_owned())
            .spawn(move || {
                while let Some(buf) = weak.upgrade() {
                    drain(&buf);
                    drop(buf);
                    thread::sleep(FLUSH_EVERY);
                }
            });
        let guard = FlushGuard {
            writer: writer.clone(),
        };
        (writer, guard)
    }

    /// Let `write` append to the buffer, under one lock (used for the access log's lines).
    pub(crate) fn append(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut buf = self.lock();
        write(&mut buf);
        if buf.len() >= FLUSH_AT {
            let out = std::mem::replace(&mut *buf, Vec::with_capacity(CAPACITY));
            drop(buf);
            // Nowhere to report a failing stderr.
            let _ = io::stderr().write_all(&out);
        }
    }

    /// The buffer (what is not yet written out).
    pub(super) fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves at worst a partial line: keep logging.
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.append(|buf| buf.extend_from_slice(data));
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        drain(&self.buf);
        Ok(())
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        drain(&self.writer.buf);
    }
}

fn drain(buf: &Mutex<Vec<u8>>) {
    let out = {
        let mut b = buf.lock().unwrap_or_else(|p| p.into_inner());
        if b.is_empty() {
            return;
        }
        std::mem::replace(&mut *b, Vec::with_capacity(CAPACITY))
    };
    // Nowhere to report a failing stderr.
    let _ = io::stderr().write_all(&out);
}
