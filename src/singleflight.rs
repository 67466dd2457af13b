//! Single-flight: concurrent calls for the same key share one execution.
//!
//! Used twice: a burst of requests presenting the same not-yet-cached secret runs argon2 once,
//! and concurrent retries of one `requestId` are decided (and notify) once. If the leader is
//! cancelled, its entry is removed and a waiter takes over, so nobody waits forever.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use parking_lot::Mutex;
use tokio::sync::watch;

/// Shares the result of one in-flight computation per key among concurrent callers.
pub struct SingleFlight<K, V> {
    map: Mutex<HashMap<K, watch::Receiver<Option<V>>>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// Removes the leader's entry however the leader ends (value sent, error, or cancellation).
struct LeaderGuard<'a, K: Hash + Eq, V> {
    map: &'a Mutex<HashMap<K, watch::Receiver<Option<V>>>>,
    key: Option<K>,
}

impl<K: Hash + Eq, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.map.lock().remove(&k);
        }
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
            let waiting = {
                let mut map = self.map.lock();
                match map.get(&key) {
                    Some(rx) => Ok(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        map.insert(key.clone(), rx);
                        Err(tx)
                    }
                }
            };
            match waiting {
                Ok(mut rx) => {
                    if let Ok(v) = rx.wait_for(Option::is_some).await {
                        if let Some(v) = v.clone() {
                            return v;
                        }
                    }
                    // The leader went away without a result: try to lead.
                }
                Err(tx) => {
                    let _guard = LeaderGuard {
                        map: &self.map,
                        key: Some(key.clone()),
                    };
                    // `f` is taken only here, and this branch always returns.
                    let Some(f) = f.take() else {
                        unreachable!("the leader branch runs once")
                    };
                    let v = f().await;
                    tx.send_replace(Some(v.clone()));
                    return v;
                }
            }
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
}
