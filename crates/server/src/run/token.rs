//! Worker tokens: every task run gets its own random secret, handed to it in its environment
//! ([`ENV`], next to `CONFIG`), presented on every api-3 call ([`HEADER`]). The site keeps only
//! its SHA-256 ([`hash`]) with the run's launch record, so a run's calls can be told apart from
//! anyone else's — another task's included — and a restarted site still knows them.

use sha2::{Digest, Sha256};

/// The environment variable a task finds its token in (its spelling is the task side's too).
pub const ENV: &str = ferroflow_wire::worker::TOKEN_ENV;

/// The request header a task presents its token in.
pub const HEADER: &str = ferroflow_wire::worker::TOKEN_HEADER;

/// Random bytes per token: 256 bits from the operating system's generator.
const BYTES: usize = 32;

/// A task run's token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A fresh token from the OS RNG (lowercase hex).
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(hex(&bytes)))
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    /// What the site stores.
    pub fn hash(&self) -> String {
        hash(&self.0)
    }
}

/// SHA-256 of a presented token, lowercase hex: the form it is stored and looked up in.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether a header value has a token's shape (so garbage is refused as malformed, 5001,
/// before any lookup).
pub fn well_formed(token: &str) -> bool {
    token.len() == BYTES * 2 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_hashed() {
        let (a, b) = (Token::generate().unwrap(), Token::generate().unwrap());
        assert_ne!(a, b);
        assert!(well_formed(a.secret()));
        assert!(!well_formed("abc") && !well_formed(&"g".repeat(64)));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(a.hash(), hash(a.secret()));
        assert!(!format!("{a:?}").contains(a.secret()));
    }

    #[test]
    fn a_logged_launch_spec_does_not_show_the_token() {
        let t = Token::generate().unwrap();
        let spec = crate::launcher::Spec {
            env: vec![
                ("CONFIG".into(), "{}".into()),
                (ENV.into(), t.secret().into()),
            ],
            ..Default::default()
        };
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains(t.secret()) && shown.contains("CONFIG"),
            "{shown}"
        );
    }
}
