//! The gate every admin password check passes: login, the setup link and the password change.
//!
//! argon2 costs 19 MiB and tens of milliseconds a run, so a stranger must not be able to start
//! many at once (40 concurrent logins once took the process from 24 MB to 668 MB). Two rules:
//! - at most [`ARGON2_PERMITS`] checks run at once, all routes together; when they are busy
//!   the answer is 429 with `Retry-After`, not a queue;
//! - per client address, one check at a time, and after a failure the next waits a growing
//!   delay (none after the first failure, then 1, 2, 4 ... up to 30 s). The attempt is counted
//!   when it starts, so concurrent attempts cannot slip past. A correct password still gets in
//!   once the delay has passed: an address shared through an SSH tunnel or a proxy is slowed
//!   down, never locked out for long.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::addrs::AddrTable;

/// argon2 runs for admin passwords at once.
pub const ARGON2_PERMITS: usize = 2;
/// The longest delay between two attempts from one address.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Failures are forgotten after this long without one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// What a client is told to wait when the checks are busy.
const BUSY_RETRY: Duration = Duration::from_secs(1);

/// The delay after `failures` consecutive failures.
pub fn delay_after(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => Duration::from_secs(1u64 << (n - 2).min(5)).min(MAX_DELAY),
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    /// No attempt before this.
    next: Instant,
    last_failure: Instant,
    in_flight: bool,
}

/// Bounds admin password checks (see the module doc).
#[derive(Default)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Arc<Semaphore>,
    addrs: Mutex<AddrTable<Backoff>>,
    /// argon2 runs started through the gate (exported as a metric).
    checks: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            permits: Arc::new(Semaphore::new(ARGON2_PERMITS)),
            addrs: Mutex::new(AddrTable::default()),
            checks: AtomicU64::new(0),
        }
    }
}

/// An admitted attempt: holds an argon2 permit and the address's turn until it is dropped.
/// It owns what it needs, so it moves into the blocking task that runs argon2: a client that
/// hangs up mid-check frees nothing before the check is over, and its outcome still counts.
/// Say how it ended with [`Attempt::failed`] or [`Attempt::succeeded`]; dropped without
/// either, it counts as neither.
pub struct Attempt {
    inner: Arc<Inner>,
    ip: Option<IpAddr>,
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    /// Admits an attempt from `ip`, or says how long to wait.
    pub fn begin(&self, ip: Option<IpAddr>) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let mut addrs = self.inner.addrs.lock();
        if let Some(b) = ip.and_then(|ip| addrs.get_mut(&ip)) {
            if b.in_flight {
                return Err(BUSY_RETRY);
            }
            if now.duration_since(b.last_failure) >= FORGET_AFTER {
                b.failures = 0;
            }
            if now < b.next {
                return Err(b.next - now);
            }
        }
        let permit = self
            .inner
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| BUSY_RETRY)?;
        if let Some(ip) = ip {
            let stale =
                |b: &Backoff| !b.in_flight && now.duration_since(b.last_failure) >= FORGET_AFTER;
            let b = addrs.entry(ip, stale, || Backoff {
                failures: 0,
                next: now,
                last_failure: now,
                in_flight: false,
            });
            b.in_flight = true;
        }
        Ok(Attempt {
            inner: self.inner.clone(),
            ip,
            _permit: permit,
        })
    }

    /// argon2 runs started so far.
    pub fn checks(&self) -> u64 {
        self.inner.checks.load(Relaxed)
    }
}

impl Attempt {
    /// Counts an argon2 run made under this attempt (for the metric).
    pub fn argon2<T>(&self, run: impl FnOnce() -> T) -> T {
        self.inner.checks.fetch_add(1, Relaxed);
        run()
    }

    /// The password was wrong: the address waits longer before its next attempt.
    pub fn failed(self) {
        let Some(ip) = self.ip else { return };
        let now = Instant::now();
        if let Some(b) = self.inner.addrs.lock().get_mut(&ip) {
            b.failures = b.failures.saturating_add(1);
            b.last_failure = now;
            b.next = now + delay_after(b.failures);
        }
    }

    /// The password was right: the address starts afresh.
    pub fn succeeded(self) {
        if let Some(ip) = self.ip {
            self.inner.addrs.lock().remove(&ip);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            if let Some(b) = self.inner.addrs.lock().get_mut(&ip) {
                b.in_flight = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn delays_grow_and_are_capped() {
        let d: Vec<u64> = (0..10).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(d, [0, 0, 1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn one_attempt_per_address_at_a_time_and_permits_are_shared() {
        let gate = Gate::default();
        let a = gate.begin(IP).expect("first");
        assert_eq!(
            gate.begin(IP).err(),
            Some(BUSY_RETRY),
            "same address, in flight"
        );
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)));
        let b = gate.begin(other).expect("another address");
        let third = Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3)));
        assert!(gate.begin(third).is_err(), "both permits busy");
        a.failed();
        b.succeeded();
        // The first failure costs no delay; the second does.
        let c = gate.begin(IP).expect("after one failure");
        c.argon2(|| ());
        c.failed();
        let wait = gate.begin(IP).err().expect("after two failures");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert_eq!(gate.checks(), 1, "only argon2 runs are counted");
    }

    #[test]
    fn success_resets_and_an_abandoned_attempt_frees_the_address() {
        let gate = Gate::default();
        gate.begin(IP).expect("1").failed();
        drop(gate.begin(IP).expect("2"));
        gate.begin(IP).expect("3").succeeded();
        gate.begin(IP).expect("4").failed();
        gate.begin(IP)
            .expect("5, the first failure after success is free");
    }
}
