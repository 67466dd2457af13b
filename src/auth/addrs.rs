//! Per-address state with a bound, shared by the two password throttles (the endpoint
//! credential throttle in `auth` and the admin password gate in `auth::gate`): a flood from
//! many addresses makes the table forget, never grow past [`MAX_TRACKED`].
//!
//! Hand-written rather than `governor` (see docs/decisions.md, "Password throttles"): both
//! throttles count failures and forgive successes, which GCRA's per-request cells cannot.

use std::collections::HashMap;
use std::net::IpAddr;

/// Addresses tracked at most.
pub const MAX_TRACKED: usize = 10_000;

/// A map from client address to a throttle's state, at most [`MAX_TRACKED`] entries.
pub struct AddrTable<V> {
    map: HashMap<IpAddr, V>,
}

impl<V> Default for AddrTable<V> {
    fn default() -> Self {
        AddrTable {
            map: HashMap::new(),
        }
    }
}

impl<V> AddrTable<V> {
    /// The entry for `ip`, made by `new` if there is none. Making one in a full table first
    /// drops the entries that `stale` says are done with, and all of them if that frees
    /// nothing.
    pub fn entry(
        &mut self,
        ip: IpAddr,
        stale: impl Fn(&V) -> bool,
        new: impl FnOnce() -> V,
    ) -> &mut V {
        if self.map.len() >= MAX_TRACKED && !self.map.contains_key(&ip) {
            self.map.retain(|_, v| !stale(v));
            if self.map.len() >= MAX_TRACKED {
                self.map.clear();
            }
        }
        self.map.entry(ip).or_insert_with(new)
    }

    pub fn get_mut(&mut self, ip: &IpAddr) -> Option<&mut V> {
        self.map.get_mut(ip)
    }

    pub fn remove(&mut self, ip: &IpAddr) {
        self.map.remove(ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_drops_stale_entries_then_everything() {
        let mut t = AddrTable::default();
        for i in 0..MAX_TRACKED as u32 {
            t.entry(IpAddr::from(i.to_be_bytes()), |_| false, || i % 2);
        }
        let ip = IpAddr::from(u32::MAX.to_be_bytes());
        // Odd values are stale: half the table goes, the rest stays.
        t.entry(ip, |v| v % 2 == 1, || 7);
        assert_eq!(t.map.len(), MAX_TRACKED / 2 + 1);
        assert_eq!(t.get_mut(&IpAddr::from(2u32.to_be_bytes())), Some(&mut 0));
        assert_eq!(t.get_mut(&IpAddr::from(1u32.to_be_bytes())), None);
        // An address already in a full table is found without dropping anything.
        let mut t = AddrTable::default();
        for i in 0..MAX_TRACKED as u32 {
            t.entry(IpAddr::from(i.to_be_bytes()), |_| false, || 0);
        }
        t.entry(IpAddr::from(0u32.to_be_bytes()), |_| true, || 0);
        assert_eq!(t.map.len(), MAX_TRACKED, "present: nothing dropped");
        // Nothing stale: everything goes.
        t.entry(IpAddr::from([10, 0, 0, 1]), |_| false, || 0);
        assert_eq!(t.map.len(), 1);
    }
}
