//! Refuses a signed command the second time it is seen, so that one signed command is never
//! carried out twice within its window.
//!
//! What identifies a request is its signed headers *and* the request itself (method, path with
//! query, a digest of its body): FATE's signature covers neither the body nor the path, and
//! its nonces are too small to tell honest requests apart. `fate_client` draws 4 digits and
//! dates in whole seconds, so two honest requests of one app in the same second share their
//! headers once in 9,000 pairs — and its pipeline polls ten times a second. Headers alone
//! cannot be bound to one request; only the same request again can be refused.
//!
//! An entry is kept until its timestamp leaves the window (nothing older is accepted anyway),
//! so memory is bounded by the rate of signed requests; past [`ReplayCache::capacity`] live
//! entries new signatures are refused rather than old ones forgotten (forgetting would let
//! them be replayed).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Mutex;

/// Live signatures a site keeps: at most this many signed requests are admitted per window
/// (about 1,600 a second; one entry is some 150 bytes).
pub const CAPACITY: usize = 200_000;

/// What identifies one signed request: app id, nonce, timestamp and signature, and the digest
/// of the request they came with ([`request_digest`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub app_id: String,
    pub nonce: String,
    pub timestamp: String,
    pub signature: String,
    pub request: [u8; 32],
}

/// The digest of a request's method, path with query, declared length and body prefix.
pub fn request_digest(method: &str, path_and_query: &str, length: &str, body: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        method.as_bytes(),
        path_and_query.as_bytes(),
        length.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(body);
    h.finalize().into()
}

/// Why a signature was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The same signed request came before.
    Replayed,
    /// Too many signed requests inside one window.
    Full,
}

#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    keys: HashSet<Key>,
    /// Keys by the time they may be forgotten, earliest first.
    expiry: BinaryHeap<Reverse<(i64, Key)>>,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records `key`, which may be forgotten once `now` passes `forget_at`; `Err` if it was
    /// seen before or there is no room.
    pub fn admit(&self, key: Key, now: i64, forget_at: i64) -> Result<(), Seen> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(Reverse((at, _))) = s.expiry.peek() {
            if *at >= now {
                break;
            }
            if let Some(Reverse((_, k))) = s.expiry.pop() {
                s.keys.remove(&k);
            }
        }
        if s.keys.contains(&key) {
            return Err(Seen::Replayed);
        }
        if s.keys.len() >= self.capacity {
            return Err(Seen::Full);
        }
        s.keys.insert(key.clone());
        s.expiry.push(Reverse((forget_at, key)));
        Ok(())
    }

    /// Live entries (tests, metrics).
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        Key {
            app_id: "a".into(),
            nonce: n.into(),
            timestamp: "1000".into(),
            signature: "s".into(),
            request: request_digest("POST", "/v2/job/submit", "2", b"{}"),
        }
    }

    #[test]
    fn the_request_is_part_of_the_key() {
        let c = ReplayCache::new(10);
        let on = |method: &str, path: &str, length: &str, body: &[u8]| Key {
            request: request_digest(method, path, length, body),
            ..key("0001")
        };
        c.admit(on("POST", "/v2/job/stop", "2", b"{}"), 0, 100)
            .unwrap();
        for other in [
            on("POST", "/v2/job/stop", "3", b"{}"),
            on("POST", "/v2/job/stop", "2", b"[]"),
            on("POST", "/v2/job/stop?x=1", "2", b"{}"),
            on("PUT", "/v2/job/stop", "2", b"{}"),
            on("POST", "/v2/job/rerun", "2", b"{}"),
            // Parts are length-prefixed: moving bytes between them is another request.
            on("POST", "/v2/job/sto", "p2", b"{}"),
        ] {
            c.admit(other, 0, 100).unwrap();
        }
        assert_eq!(
            c.admit(on("POST", "/v2/job/stop", "2", b"{}"), 0, 100),
            Err(Seen::Replayed)
        );
    }

    #[test]
    fn a_key_is_admitted_once_while_it_lives() {
        let c = ReplayCache::new(10);
        c.admit(key("0001"), 0, 100).unwrap();
        assert_eq!(c.admit(key("0001"), 50, 100), Err(Seen::Replayed));
        assert_eq!(c.admit(key("0001"), 100, 100), Err(Seen::Replayed));
        c.admit(key("0002"), 50, 100).unwrap();
        assert_eq!(c.len(), 2);
        // After its time it is forgotten (the window refuses its timestamp by then).
        c.admit(key("0003"), 101, 300).unwrap();
        assert_eq!(c.len(), 1);
        c.admit(key("0001"), 101, 300).unwrap();
    }

    #[test]
    fn memory_is_bounded_and_full_refuses() {
        let c = ReplayCache::new(3);
        for n in ["1", "2", "3"] {
            c.admit(key(n), 0, 10).unwrap();
        }
        assert_eq!(c.admit(key("4"), 5, 10), Err(Seen::Full));
        assert_eq!(c.len(), 3);
        // Old entries expire and make room; nothing is forgotten early.
        c.admit(key("4"), 11, 20).unwrap();
        assert_eq!(c.len(), 1);
    }
}
