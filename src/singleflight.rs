//! Single-flight: concurrent calls for the same key share one execution.
//!
//! Used twice: a burst of requests presenting the same not-yet-cached secret runs argon2 once,
//! and concurrent retries of one `requestId` are decided (and notify) once. If the leader is
//! cancelled, its entry is removed and a waiter takes over, so nobody waits forever.
//! Hand-written with one `Notify` per slot: against a watch channel per call, alternating load
//! runs gave an action/healthz ratio of 0.45 against 0.42-0.44 (docs/decisions.md).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Shares the result of one in-flight computation per key among concurrent callers.
pub struct SingleFlight<K, V> {
    map: Mutex<HashMap<K, Arc<Slot<V>>>>,
}

/// One in-flight computation: its outcome once known, and the waiters' wake-up. (A watch
/// channel did the same with eight times the wake-up machinery, created for every request.)
struct Slot<V> {
    outcome: Mutex<Outcome<V>>,
    done: Notify,
}

enum Outcome<V> {
    Running,
    Done(V),
    /// The leader went away without a result.
    Abandoned,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// However the leader ends (result, error or cancellation): removes its entry, marks a slot
/// without a result abandoned, and wakes the waiters.
struct LeaderGuard<'a, K: Hash + Eq, V> {
    map: &'a Mutex<HashMap<K, Arc<Slot<V>>>>,
    key: K,
    slot: Arc<Slot<V>>,
}

impl<K: Hash + Eq, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        self.map.lock().remove(&self.key);
        {
            let mut outcome = self.slot.outcome.lock();
            if matches!(*outcome, Outcome::Running) {
                *outcome = Outcome::Abandoned;
            }
        }
        self.slot.done.notify_waiters();
    }
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    /// Runs `f` unless a call for `key` is already running, in which case its result is
    /// returned instead.
    pub async fn run<F, Fut>(&self, key: K, f: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let mut f = Some(f);
        loop {
            let (slot, leads) = {
                let mut map = self.map.lock();
                match map.get(&key) {
                    Some(slot) => (slot.clone(), false),
                    None => {
                        let slot = Arc::new(Slot {
                            outcome: Mutex::new(Outcome::Running),
                            done: Notify::new(),
                        });
                        map.insert(key.clone(), slot.clone());
                        (slot, true)
                    }
                }
            };
            if leads {
                let guard = LeaderGuard {
                    map: &self.map,
                    key: key.clone(),
                    slot,
                };
                // `f` is taken only here, and this branch always returns.
                let Some(f) = f.take() else {
                    unreachable!("the leader branch runs once")
                };
                let v = f().await;
                *guard.slot.outcome.lock() = Outcome::Done(v.clone());
                return v;
            }
            // Registered before the outcome is looked at, so a leader finishing in between
            // still wakes this waiter.
            let notified = slot.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let seen = match Self::observe(&slot) {
                Outcome::Running => {
                    notified.await;
                    Self::observe(&slot)
                }
                seen => seen,
            };
            if let Outcome::Done(v) = seen {
                return v;
            }
            // The leader went away without a result: try to lead. (Its guard has removed the
            // entry already; should this one still be there, it must not be found again.)
            let mut map = self.map.lock();
            if map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                map.remove(&key);
            }
        }
    }

    /// A copy of the slot's outcome as it stands.
    fn observe(slot: &Slot<V>) -> Outcome<V> {
        match &*slot.outcome.lock() {
            Outcome::Running => Outcome::Running,
            Outcome::Done(v) => Outcome::Done(v.clone()),
            Outcome::Abandoned => Outcome::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_calls_share_one_run() {
        let sf = Arc::new(SingleFlight::<u8, usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (sf, runs) = (sf.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                sf.run(1, || async {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    runs.fetch_add(1, Ordering::SeqCst)
                })
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 0);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cancelled_leader_hands_over() {
        let sf = Arc::new(SingleFlight::<u8, u8>::default());
        let sf2 = sf.clone();
        let leader = tokio::spawn(async move { sf2.run(1, std::future::pending::<u8>).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let sf3 = sf.clone();
        let waiter = tokio::spawn(async move { sf3.run(1, || async { 7 }).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        leader.abort();
        assert_eq!(waiter.await.unwrap(), 7);
    }

    /// A waiter that looks at a slot only after its leader gave up (the wake-up already went
    /// out) must lead, not wait for a wake-up that never comes nor find the same slot again.
    #[tokio::test]
    async fn waiter_arriving_after_an_abandoned_leader_leads() {
        let sf = SingleFlight::<u8, u8>::default();
        let slot = Arc::new(Slot {
            outcome: Mutex::new(Outcome::Abandoned),
            done: Notify::new(),
        });
        slot.done.notify_waiters();
        sf.map.lock().insert(1, slot);
        let got =
            tokio::time::timeout(std::time::Duration::from_secs(5), sf.run(1, || async { 9 }))
                .await;
        assert_eq!(got.ok(), Some(9));
    }
}
