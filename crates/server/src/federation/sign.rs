//! Signed commands between ferroflow sites: an Ed25519 signature over what a command does and
//! who sends it to whom, checked by its destination whatever carried it (a direct connection,
//! a relaying site, FATE's gRPC packets). See `docs/security.md`.
//!
//! Ed25519 rather than HMAC: each site has one key pair and hands out only its public key (in
//! its peer card, next to its certificate), so nothing secret is ever exchanged, and a relay
//! that can read a command cannot forge one.
//!
//! The signed text ([`canonical`]) is one line per field, none of which can hold a newline:
//! a fixed tag, the method, the path (with its query), the SHA-256 of the body, the timestamp
//! (Unix milliseconds), the nonce, the source party (`src-party-id`), the destination party
//! (`dest-party-id`) and the initiator (`initiator-party-id`, which decides permission checks
//! on job creation and so must not be changed on the way). Replays are refused by a timestamp
//! window and a bounded cache of the nonces seen in it ([`NonceCache`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use ferroflow_core::id::PartyId;
use ferroflow_wire::{Envelope, RetCode};

pub const SIGNATURE: &str = "x-ferroflow-signature";
pub const KEY_ID: &str = "x-ferroflow-key-id";
pub const TIMESTAMP: &str = "x-ferroflow-timestamp";
pub const NONCE: &str = "x-ferroflow-nonce";
/// FATE's party headers, as the signature covers them.
pub const SRC_PARTY: &str = "src-party-id";
pub const DEST_PARTY: &str = "dest-party-id";
pub const INITIATOR: &str = "initiator-party-id";

/// The first line of the signed text: names the scheme and its version, so a signature made
/// for anything else (or an older form of this one) never verifies.
const TAG: &str = "ferroflow-command-v1";

/// How far a command's timestamp may be from the receiver's clock, either way.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;

/// How many nonces a site remembers at most; past that the oldest are forgotten and every
/// command not newer than them is refused ([`NonceCache`]).
pub const NONCE_CAPACITY: usize = 100_000;

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent, with its query if any.
    pub path: &'a str,
    pub body: &'a [u8],
    pub timestamp_ms: i64,
    pub nonce: &'a str,
    pub src: &'a str,
    pub dest: &'a str,
    pub initiator: &'a str,
}

/// The text a signature is made over.
pub fn canonical(s: &Signed) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, s.body);
    format!(
        "{TAG}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
        s.method.to_ascii_uppercase(),
        s.path,
        hex(digest.as_ref()),
        s.timestamp_ms,
        s.nonce,
        s.src,
        s.dest,
        s.initiator
    )
    .into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A public key's id: the first 16 bytes of its SHA-256, in hex.
pub fn key_id(public_key: &[u8]) -> String {
    hex(&ring::digest::digest(&ring::digest::SHA256, public_key).as_ref()[..16])
}

/// Now, in Unix milliseconds (the signatures' clock is the wall clock, not the site's).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// This site's signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl SigningKey {
    /// A new key, as PKCS#8 (what the key file holds).
    pub fn generate_pkcs8() -> Result<Vec<u8>, String> {
        Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| "cannot generate an Ed25519 key".to_string())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| format!("not an Ed25519 PKCS#8 key ({e})"))?;
        let key_id = key_id(pair.public_key().as_ref());
        Ok(Self { pair, key_id })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The headers that carry a signature over `s` (its timestamp and nonce included).
    pub fn headers(&self, s: &Signed) -> Vec<(String, String)> {
        let sig = self.pair.sign(&canonical(s));
        vec![
            (SIGNATURE.into(), B64.encode(sig.as_ref())),
            (KEY_ID.into(), self.key_id.clone()),
            (TIMESTAMP.into(), s.timestamp_ms.to_string()),
            (NONCE.into(), s.nonce.to_string()),
        ]
    }
}

/// A fresh nonce: 128 random bits in hex.
pub fn nonce() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system's random source works");
    hex(&b)
}

/// A key this site trusts, and the parties its holder may speak for.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub key_id: String,
    pub public_key: Vec<u8>,
    pub parties: BTreeSet<PartyId>,
}

/// Who signed a command that verified; put in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key_id: String,
    /// The parties the signing key speaks for.
    pub parties: BTreeSet<PartyId>,
    /// The command's `src-party-id`, one of `parties`.
    pub src: PartyId,
}

/// Why a command was refused at the signature layer. Anything wrong with the signature itself
/// (missing fields, wrong bytes, outside the window, seen before) is FATE's 5003 "verify
/// failed"; anything wrong with who signed (an unknown key, a party the key does not speak
/// for, no signature where one is required) is 5004 "authentication failed".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("signature header {0} missing or malformed")]
    Malformed(&'static str),
    #[error("timestamp outside the {}-second window", WINDOW_MS / 1000)]
    Expired,
    #[error("signature does not match the command")]
    Mismatch,
    #[error("command replayed (nonce seen before, or signed before this site started)")]
    Replayed,
    #[error("unknown signing key {0}")]
    UnknownKey(String),
    #[error("src-party-id {src:?} is not a party of signing key {key_id}")]
    PartyNotBound { src: String, key_id: String },
    #[error("dest-party-id {0:?} is not served by this site")]
    NotHere(String),
    #[error("a command over mutual TLS must carry a ferroflow signature")]
    Unsigned,
    #[error("this site has no ferroflow credentials to verify a signature with")]
    NoCredentials,
    #[error("only site commands are served over the site TLS port")]
    NotASiteCommand,
}

impl Refusal {
    pub fn code(&self) -> RetCode {
        match self {
            Refusal::Malformed(_) | Refusal::Expired | Refusal::Mismatch | Refusal::Replayed => {
                RetCode::VerifyFailed
            }
            _ => RetCode::AuthenticationFailed,
        }
    }

    pub fn envelope(&self) -> Envelope {
        let (_, fate) = self.code().entry();
        Envelope::with_code(self.code(), format!("{fate} ({self})"))
    }
}

/// The nonces seen within the window, by key. Bounded: when full, the entry with the oldest
/// timestamp is forgotten and its timestamp becomes a floor: commands not newer than the
/// floor are refused as possible replays, so forgetting never lets a replay through. The
/// floor starts at the cache's creation: the nonces of a previous run of the site are not
/// known, so commands signed before it started are refused.
#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    window_ms: i64,
    by_time: BTreeSet<(i64, String, String)>,
    seen: HashSet<(String, String)>,
    floor_ms: i64,
}

impl NonceCache {
    /// `floor_ms`: commands with a timestamp at or before it are refused.
    pub fn new(capacity: usize, window_ms: i64, floor_ms: i64) -> Self {
        Self {
            capacity: capacity.max(1),
            window_ms,
            by_time: BTreeSet::new(),
            seen: HashSet::new(),
            floor_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Records `(key_id, nonce)` with its timestamp; false when it was seen before (or may
    /// have been, being no newer than what the cache had to forget).
    pub fn insert(&mut self, key_id: &str, nonce: &str, timestamp_ms: i64, now_ms: i64) -> bool {
        // Entries whose timestamp left the window can go: their commands fail the window.
        while let Some(first) = self.by_time.first() {
            if first.0 + self.window_ms >= now_ms {
                break;
            }
            let (_, k, n) = self.by_time.pop_first().expect("first exists");
            self.seen.remove(&(k, n));
        }
        if timestamp_ms <= self.floor_ms {
            return false;
        }
        let id = (key_id.to_string(), nonce.to_string());
        if self.seen.contains(&id) {
            return false;
        }
        while self.seen.len() >= self.capacity {
            let (ts, k, n) = self.by_time.pop_first().expect("a full cache has entries");
            self.seen.remove(&(k, n));
            self.floor_ms = self.floor_ms.max(ts);
        }
        if timestamp_ms <= self.floor_ms {
            return false;
        }
        self.by_time
            .insert((timestamp_ms, id.0.clone(), id.1.clone()));
        self.seen.insert(id);
        true
    }
}

/// Checks signatures against the keys this site trusts, and remembers nonces.
#[derive(Debug)]
pub struct Verifier {
    keys: BTreeMap<String, TrustedKey>,
    nonces: Mutex<NonceCache>,
}

/// A received command, as the verifier reads it.
#[derive(Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
    /// Looks a header up by its (lower-case) name.
    pub headers: &'a dyn Fn(&str) -> Option<String>,
}

impl Verifier {
    /// A verifier that refuses what was signed before now (see [`NonceCache`]).
    pub fn new(keys: impl IntoIterator<Item = TrustedKey>) -> Self {
        Self::starting_at(keys, now_ms())
    }

    pub fn starting_at(keys: impl IntoIterator<Item = TrustedKey>, start_ms: i64) -> Self {
        Self {
            keys: keys.into_iter().map(|k| (k.key_id.clone(), k)).collect(),
            nonces: Mutex::new(NonceCache::new(NONCE_CAPACITY, WINDOW_MS, start_ms)),
        }
    }

    pub fn key(&self, key_id: &str) -> Option<&TrustedKey> {
        self.keys.get(key_id)
    }

    /// Verifies a signed command: known key, timestamp in the window, signature over the
    /// command, `src-party-id` one of the key's parties, nonce not seen. The nonce is recorded
    /// only when everything else holds, so refused commands cannot fill the cache.
    pub fn verify(&self, r: &Received, now_ms: i64) -> Result<Verified, Refusal> {
        let h = |name: &'static str| (r.headers)(name).filter(|v| !v.is_empty());
        let sig = h(SIGNATURE).ok_or(Refusal::Malformed(SIGNATURE))?;
        let key_id = h(KEY_ID).ok_or(Refusal::Malformed(KEY_ID))?;
        let timestamp_ms: i64 = h(TIMESTAMP)
            .and_then(|t| t.parse().ok())
            .ok_or(Refusal::Malformed(TIMESTAMP))?;
        let nonce = h(NONCE)
            .filter(|n| (16..=128).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(Refusal::Malformed(NONCE))?;
        let sig = B64
            .decode(sig.trim())
            .map_err(|_| Refusal::Malformed(SIGNATURE))?;
        let src = (r.headers)(SRC_PARTY).unwrap_or_default();
        let dest = (r.headers)(DEST_PARTY).unwrap_or_default();
        let initiator = (r.headers)(INITIATOR).unwrap_or_default();
        let key = self
            .keys
            .get(&key_id)
            .ok_or_else(|| Refusal::UnknownKey(key_id.clone()))?;
        if (timestamp_ms - now_ms).abs() > WINDOW_MS {
            return Err(Refusal::Expired);
        }
        let text = canonical(&Signed {
            method: r.method,
            path: r.path,
            body: r.body,
            timestamp_ms,
            nonce: &nonce,
            src: &src,
            dest: &dest,
            initiator: &initiator,
        });
        UnparsedPublicKey::new(&ED25519, &key.public_key)
            .verify(&text, &sig)
            .map_err(|_| Refusal::Mismatch)?;
        let src = PartyId::new(src);
        if !key.parties.contains(&src) {
            return Err(Refusal::PartyNotBound {
                src: src.to_string(),
                key_id,
            });
        }
        let fresh = self
            .nonces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(&key_id, &nonce, timestamp_ms, now_ms);
        if !fresh {
            return Err(Refusal::Replayed);
        }
        Ok(Verified {
            key_id,
            parties: key.parties.clone(),
            src,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed<'a>(body: &'a [u8], ts: i64, nonce: &'a str) -> Signed<'a> {
        Signed {
            method: "POST",
            path: "/v2/partner/job/create",
            body,
            timestamp_ms: ts,
            nonce,
            src: "9999",
            dest: "10000",
            initiator: "9999",
        }
    }

    #[test]
    fn the_canonical_form_is_fixed() {
        let text = String::from_utf8(canonical(&signed(b"{}", 1_700_000_000_000, "ab"))).unwrap();
        assert_eq!(
            text,
            "ferroflow-command-v1\nPOST\n/v2/partner/job/create\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n\
             1700000000000\nab\n9999\n10000\n9999"
        );
        let base = canonical(&signed(b"{}", 1, "ab"));
        // Every field changes the text.
        let mut s = signed(b"{}", 1, "ab");
        for change in [
            |s: &mut Signed| s.method = "GET",
            |s: &mut Signed| s.path = "/v2/partner/job/stop",
            |s: &mut Signed| s.body = b"{ }",
            |s: &mut Signed| s.timestamp_ms = 2,
            |s: &mut Signed| s.nonce = "ac",
            |s: &mut Signed| s.src = "9998",
            |s: &mut Signed| s.dest = "10001",
            |s: &mut Signed| s.initiator = "",
        ] as [fn(&mut Signed); 8]
        {
            let mut c = s;
            change(&mut c);
            assert_ne!(canonical(&c), base, "{c:?}");
        }
        s.method = "post";
        assert_eq!(canonical(&s), base, "methods compare upper-case");
    }

    fn trusted(key: &SigningKey, parties: &[&str]) -> TrustedKey {
        TrustedKey {
            key_id: key.key_id().to_string(),
            public_key: key.public_key(),
            parties: parties.iter().map(|p| PartyId::new(*p)).collect(),
        }
    }

    fn verify_with(
        v: &Verifier,
        headers: &[(String, String)],
        s: &Signed,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Refusal> {
        let mut all: Vec<(String, String)> = headers.to_vec();
        all.push((SRC_PARTY.into(), s.src.into()));
        all.push((DEST_PARTY.into(), s.dest.into()));
        all.push((INITIATOR.into(), s.initiator.into()));
        let lookup = move |n: &str| {
            all.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        v.verify(
            &Received {
                method: s.method,
                path: s.path,
                body,
                headers: &lookup,
            },
            now,
        )
    }

    #[test]
    fn verification_accepts_once_and_refuses_what_was_changed() {
        let key = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let other = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let now = 1_700_000_000_000;
        let v = Verifier::starting_at(
            [trusted(&key, &["9999"]), trusted(&other, &["10001"])],
            now - 10_000,
        );
        let n = nonce();
        let s = signed(b"{\"job_id\":\"1\"}", now, &n);
        let h = key.headers(&s);
        let ok = verify_with(&v, &h, &s, s.body, now + 1000).unwrap();
        assert_eq!(ok.src.as_str(), "9999");
        assert_eq!(
            verify_with(&v, &h, &s, s.body, now + 1000),
            Err(Refusal::Replayed)
        );

        let n2 = nonce();
        let s2 = signed(b"{\"job_id\":\"1\"}", now, &n2);
        let h2 = key.headers(&s2);
        assert_eq!(
            verify_with(&v, &h2, &s2, b"{\"job_id\":\"2\"}", now),
            Err(Refusal::Mismatch),
            "tampered body"
        );
        assert_eq!(
            verify_with(&v, &h2, &s2, s2.body, now + WINDOW_MS + 1),
            Err(Refusal::Expired)
        );
        assert_eq!(
            verify_with(&v, &h2, &s2, s2.body, now - WINDOW_MS - 1),
            Err(Refusal::Expired),
            "from too far in the future"
        );
        // A refused command did not use up its nonce.
        assert!(verify_with(&v, &h2, &s2, s2.body, now).is_ok());

        // Another trusted key claiming party 9999.
        let n3 = nonce();
        let s3 = signed(b"{}", now, &n3);
        let h3 = other.headers(&s3);
        assert!(matches!(
            verify_with(&v, &h3, &s3, s3.body, now),
            Err(Refusal::PartyNotBound { .. })
        ));
        assert_eq!(
            verify_with(&v, &h3, &s3, s3.body, now).unwrap_err().code(),
            RetCode::AuthenticationFailed
        );

        let stranger = SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap();
        let h4 = stranger.headers(&s3);
        assert!(matches!(
            verify_with(&v, &h4, &s3, s3.body, now),
            Err(Refusal::UnknownKey(_))
        ));
        let mut h5 = h3.clone();
        h5.retain(|(k, _)| k != NONCE);
        assert_eq!(
            verify_with(&v, &h5, &s3, s3.body, now),
            Err(Refusal::Malformed(NONCE))
        );
        assert_eq!(Refusal::Mismatch.envelope().code, 5003);

        // Signed before the verifier started (a restart forgot its nonces): refused.
        let n6 = nonce();
        let s6 = signed(b"{}", now - 10_000, &n6);
        assert_eq!(
            verify_with(&v, &key.headers(&s6), &s6, s6.body, now),
            Err(Refusal::Replayed)
        );
    }

    #[test]
    fn the_nonce_cache_forgets_with_the_window_and_stays_bounded() {
        let mut c = NonceCache::new(3, 1000, 0);
        assert!(!c.insert("k", "z", 0, 100), "not after the start");
        assert!(c.insert("k", "a", 100, 100));
        assert!(!c.insert("k", "a", 100, 200), "seen");
        assert!(c.insert("k2", "a", 100, 200), "nonces are per key");
        assert!(c.insert("k", "b", 150, 200));
        assert_eq!(c.len(), 3);
        // Full: the oldest (100) goes, and nothing at or before 100 is accepted any more.
        assert!(c.insert("k", "c", 300, 300));
        assert_eq!(c.len(), 3);
        assert!(
            !c.insert("k", "d", 100, 300),
            "not newer than what was forgotten"
        );
        assert!(!c.insert("k", "a", 100, 300));
        assert!(c.insert("k", "e", 400, 400));
        // The window passes: entries expire, the cache empties.
        assert!(c.insert("k", "f", 2000, 2000));
        assert!(c.len() <= 3);
        assert!(c.insert("k", "g", 5000, 5000));
        assert_eq!(c.len(), 1, "everything older than the window is gone");
        assert!(
            c.insert("k", "a", 5001, 5001),
            "an old nonce with a new time"
        );
    }
}
