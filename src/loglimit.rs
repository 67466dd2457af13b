//! Rate limits for log lines a stranger can cause (refused action calls, malformed bodies).
//! A flood must not fill the disk: per reason, the first [`PER_WINDOW`] lines of each
//! [`WINDOW`] are written and the rest only counted; the count is written as one summary line
//! when the window ends (at the next line of that reason, or at the periodic [`LogLimiter::flush`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The length of one counting window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Lines per reason and window written in full.
pub const PER_WINDOW: u32 = 10;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    written: u32,
    dropped: u64,
}

/// Per-reason windows. Reasons are a fixed set of static strings, so the map stays small.
#[derive(Default)]
pub struct LogLimiter {
    windows: Mutex<HashMap<&'static str, Window>>,
}

impl LogLimiter {
    /// Whether a line for `reason` may be written now. When a window with dropped lines has
    /// just ended, its summary is written first.
    pub fn allow(&self, reason: &'static str) -> bool {
        let now = Instant::now();
        let mut windows = self.windows.lock();
        let w = windows.entry(reason).or_insert(Window {
            start: now,
            written: 0,
            dropped: 0,
        });
        if now.duration_since(w.start) >= WINDOW {
            summarise(reason, w.dropped);
            *w = Window {
                start: now,
                written: 0,
                dropped: 0,
            };
        }
        if w.written < PER_WINDOW {
            w.written += 1;
            true
        } else {
            w.dropped += 1;
            false
        }
    }

    /// Writes the summaries of windows that have ended (called periodically, so the count of
    /// a flood that stopped is not held back until the next line).
    pub fn flush(&self) {
        let now = Instant::now();
        self.windows.lock().retain(|reason, w| {
            if now.duration_since(w.start) < WINDOW {
                return true;
            }
            summarise(reason, w.dropped);
            false
        });
    }
}

impl LogLimiter {
    /// Writes every pending summary (at shutdown).
    pub fn flush_all(&self) {
        for (reason, w) in self.windows.lock().drain() {
            summarise(reason, w.dropped);
        }
    }
}

fn summarise(reason: &str, dropped: u64) {
    if dropped > 0 {
        tracing::warn!(
            reason,
            dropped,
            "log lines dropped: {dropped} more of this kind in {} s",
            WINDOW.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_lines_of_a_window_pass_and_the_rest_are_counted() {
        let l = LogLimiter::default();
        let passed = (0..1000).filter(|_| l.allow("missing")).count();
        assert_eq!(passed, PER_WINDOW as usize);
        assert!(l.allow("invalid"), "reasons are limited separately");
        let dropped = l.windows.lock()["missing"].dropped;
        assert_eq!(dropped, 1000 - u64::from(PER_WINDOW));
        // Within the window flush keeps the count.
        l.flush();
        assert_eq!(l.windows.lock()["missing"].dropped, dropped);
    }
}
