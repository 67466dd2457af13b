//! A blocking writer whose bytes an async task sends on: an export or a backup written on the
//! blocking pool goes out in 64 KiB chunks, at most as many ahead as the channel holds, so a
//! long one never sits in memory whole and waits while its reader is behind. A leaf module,
//! shared by the admin API's export and the control socket's backup.

use tokio::sync::mpsc;

/// Bytes per chunk handed on.
pub const CHUNK: usize = 64 * 1024;

/// Collects what is written and sends it, a full chunk at a time (and the rest on `flush`),
/// as `wrap(bytes)`: the receiver's item type is the caller's (plain bytes, or a body's
/// `Result`).
pub struct ChunkWriter<T> {
    tx: mpsc::Sender<T>,
    wrap: fn(Vec<u8>) -> T,
    buf: Vec<u8>,
    sent: bool,
}

impl<T> ChunkWriter<T> {
    pub fn new(tx: mpsc::Sender<T>, wrap: fn(Vec<u8>) -> T) -> Self {
        ChunkWriter {
            tx,
            wrap,
            buf: Vec::with_capacity(CHUNK),
            sent: false,
        }
    }

    /// Whether a chunk went out: from then on a failure can only cut the stream off.
    pub fn sent(&self) -> bool {
        self.sent
    }

    /// Sends `item` after what was sent so far (an error that ends a body, say).
    pub fn send_last(self, item: T) {
        let _ = self.tx.blocking_send(item);
    }
}

impl<T> std::io::Write for ChunkWriter<T> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    /// Sends what is collected; fails once the receiver went away (the client left).
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send((self.wrap)(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))?;
        self.sent = true;
        Ok(())
    }
}
