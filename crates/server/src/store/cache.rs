//! Rows read on every authenticated call, kept in memory for a short time.
//!
//! With authentication on, every api-1 call reads its app and the app's roles, every command
//! this site sends reads the partner app it is signed with, and every job a partner creates
//! reads the partner's grants. These rows change rarely (an administrator's routes, the
//! start-up apps), so the store keeps what it read in a [`Ttl`] map:
//! - every write of the store to these tables empties the maps once it is done (a drop guard,
//!   so that an error path empties them too), so a change made through this site's store is
//!   seen by the very next call;
//! - a read that raced with a write cannot put back what it read before the write: each map
//!   has a generation, bumped by every emptying, and a value read under an older generation is
//!   not kept;
//! - a change made by another process on the same database (another instance of the site) is
//!   seen within [`TTL`]: an entry older than that is read again;
//! - the maps are bounded ([`CAPACITY`]); a full map is emptied, so ids a caller makes up cannot
//!   grow them.
//!
//! Nothing is persisted: a restarted site starts with empty maps.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a row read from the database is trusted without reading it again: the longest a
/// change made by another instance of the site (on the same database) goes unseen here.
pub const TTL: Duration = Duration::from_secs(2);

/// Entries of one map at most.
pub const CAPACITY: usize = 10_000;

/// A map whose entries expire after `ttl`, emptied by [`Ttl::invalidate`].
pub struct Ttl<K, V> {
    ttl: Duration,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    generation: u64,
    entries: HashMap<K, (Instant, V)>,
}

impl<K: Eq + Hash, V: Clone> Default for Ttl<K, V> {
    fn default() -> Self {
        Self::new(TTL)
    }
}

impl<K: Eq + Hash, V: Clone> Ttl<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock leaves a map that is still a valid cache.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation to pass to [`Ttl::put`] for a value about to be read from the database.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The value of `key` if it was read less than `ttl` before `now`.
    pub fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inner = self.lock();
        let (at, v) = inner.entries.get(key)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| v.clone())
    }

    /// Keeps `value`, read at `now` under `generation` — unless the map was emptied since.
    pub fn put(&self, key: K, value: V, generation: u64, now: Instant) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(key, (now, value));
    }

    /// Forgets everything; reads under an earlier generation are not kept.
    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_until_it_expires() {
        let t: Ttl<String, u32> = Ttl::new(Duration::from_secs(2));
        let at = Instant::now();
        t.put("a".into(), 1, t.generation(), at);
        assert_eq!(t.get("a", at), Some(1));
        assert_eq!(t.get("a", at + Duration::from_millis(1999)), Some(1));
        assert_eq!(t.get("a", at + Duration::from_secs(2)), None, "expired");
        assert_eq!(t.get("b", at), None);
    }

    #[test]
    fn invalidation_forgets_and_refuses_reads_made_before_it() {
        let t: Ttl<String, u32> = Ttl::new(Duration::from_secs(2));
        let at = Instant::now();
        t.put("a".into(), 1, t.generation(), at);
        // A read starts (generation taken), a write lands and invalidates, the read ends.
        let before = t.generation();
        t.invalidate();
        assert_eq!(t.get("a", at), None, "forgotten");
        t.put("a".into(), 1, before, at);
        assert_eq!(
            t.get("a", at),
            None,
            "a value read before the change is not kept"
        );
        t.put("a".into(), 2, t.generation(), at);
        assert_eq!(t.get("a", at), Some(2));
    }

    #[test]
    fn a_full_map_is_emptied_rather_than_grown() {
        let t: Ttl<u32, u32> = Ttl::new(Duration::from_secs(2));
        let at = Instant::now();
        for k in 0..CAPACITY as u32 {
            t.put(k, k, t.generation(), at);
        }
        assert_eq!(t.len(), CAPACITY);
        t.put(u32::MAX, 0, t.generation(), at);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(&u32::MAX, at), Some(0));
    }
}
