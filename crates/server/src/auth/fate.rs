//! FATE's signature (`api.md` §7.2, §7.3): what `fate_client` sends to api-1 and what FATE
//! Flow sites send each other, computed and checked byte for byte as they do.
//!
//! `Signature = md5_hex(md5_hex(app_id + who + nonce + timestamp) + app_token)`, where `who`
//! is the `userName` header for a client and the `initiatorPartyId` header for a site. The body
//! and the path are not covered; that is why [`super::replay::ReplayCache`] exists.

use md5::{Digest, Md5};

use ferroflow_wire::RetCode;

/// How far in the past a timestamp may lie (FATE: 60 s).
pub const PAST_WINDOW_MS: i64 = 60_000;
/// How far in the future a timestamp may lie (FATE accepts any; a signature dated ahead
/// would stay valid, and replayable, until then).
pub const FUTURE_WINDOW_MS: i64 = 60_000;

/// A refused request: FATE's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: RetCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: RetCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

fn md5_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// FATE's signature of a request.
pub fn sign(app_id: &str, who: &str, nonce: &str, timestamp: &str, app_token: &str) -> String {
    md5_hex(&(md5_hex(&format!("{app_id}{who}{nonce}{timestamp}")) + app_token))
}

/// Which of FATE's two header sets a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// api-1: `userName` is signed.
    Client,
    /// api-2 and api-4: `initiatorPartyId` is signed.
    Site,
}

/// The signature headers of one request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub app_id: String,
    /// `userName` (client) or `initiatorPartyId` (site); absent is `""`.
    pub who: String,
    pub nonce: String,
    pub timestamp: String,
    pub timestamp_ms: i64,
    pub signature: String,
}

impl Signed {
    /// Reads the headers (`header` looks a name up case-insensitively). Missing or malformed
    /// ones are 5001 naming the header, in FATE's order and wording.
    pub fn parse(kind: Kind, header: impl Fn(&str) -> Option<String>) -> Result<Self, Refusal> {
        let get = |n: &str| {
            header(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let invalid = |name: &str| {
            Refusal::new(
                RetCode::InvalidParameter,
                match kind {
                    Kind::Client => format!("Invalid parameter: name[{name}]"),
                    Kind::Site => format!("invalid parameter: {name}"),
                },
            )
        };
        let app_id = get("appId").ok_or_else(|| invalid("appId"))?;
        let timestamp = get("Timestamp").ok_or_else(|| invalid("Timestamp"))?;
        let timestamp_ms = timestamp
            .parse::<i64>()
            .ok()
            .filter(|t| *t >= 0 && timestamp.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| invalid("Timestamp"))?;
        let nonce = get("Nonce")
            .filter(|n| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| invalid("Nonce"))?;
        let signature = get("Signature")
            .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| invalid("Signature"))?;
        let who = match kind {
            Kind::Client => header("userName"),
            Kind::Site => header("initiatorPartyId"),
        }
        .unwrap_or_default();
        if app_id.len() > 100 || who.len() > 100 || who.chars().any(char::is_control) {
            return Err(invalid(if app_id.len() > 100 {
                "appId"
            } else {
                "userName"
            }));
        }
        Ok(Self {
            app_id,
            who,
            nonce,
            timestamp,
            timestamp_ms,
            signature: signature.to_ascii_lowercase(),
        })
    }

    /// 5000 unless the timestamp lies within the window around `now_ms`.
    pub fn check_time(&self, now_ms: i64) -> Result<(), Refusal> {
        if self.timestamp_ms.saturating_add(PAST_WINDOW_MS) < now_ms {
            return Err(Refusal::new(RetCode::ApiExpired, "Request has expired"));
        }
        if self.timestamp_ms > now_ms.saturating_add(FUTURE_WINDOW_MS) {
            return Err(Refusal::new(
                RetCode::ApiExpired,
                "Request has expired: its timestamp lies more than 60 s ahead of this site's clock",
            ));
        }
        Ok(())
    }

    /// 5003 `varify failed!` unless the signature is the one `app_token` makes.
    pub fn verify(&self, app_token: &str) -> Result<(), Refusal> {
        let want = sign(
            &self.app_id,
            &self.who,
            &self.nonce,
            &self.timestamp,
            app_token,
        );
        if constant_time_eq(want.as_bytes(), self.signature.as_bytes()) {
            Ok(())
        } else {
            Err(Refusal::new(RetCode::VerifyFailed, "varify failed!"))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 4 random decimal digits, leading zeros kept (FATE's site nonce).
pub fn nonce() -> String {
    let n = u16::from_le_bytes([
        uuid::Uuid::new_v4().as_bytes()[0],
        uuid::Uuid::new_v4().as_bytes()[1],
    ]) % 10_000;
    format!("{n:04}")
}

/// The headers FATE Flow adds to a command it sends to another site (§7.3).
pub fn site_headers(
    app_id: &str,
    app_token: &str,
    initiator: &str,
    now_ms: i64,
) -> Vec<(String, String)> {
    let nonce = nonce();
    let timestamp = now_ms.to_string();
    let signature = sign(app_id, initiator, &nonce, &timestamp, app_token);
    vec![
        ("Signature".into(), signature),
        ("appId".into(), app_id.to_string()),
        ("Nonce".into(), nonce),
        ("Timestamp".into(), timestamp),
        ("initiatorPartyId".into(), initiator.to_string()),
    ]
}

/// The headers `fate_client` adds to an api-1 call (§7.2).
pub fn client_headers(
    app_id: &str,
    app_token: &str,
    user_name: &str,
    now_ms: i64,
) -> Vec<(String, String)> {
    let nonce = nonce();
    let timestamp = now_ms.to_string();
    let signature = sign(app_id, user_name, &nonce, &timestamp, app_token);
    vec![
        ("appId".into(), app_id.to_string()),
        ("userName".into(), user_name.to_string()),
        ("Nonce".into(), nonce),
        ("Timestamp".into(), timestamp),
        ("Signature".into(), signature),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed by fate_client 2.2's `BaseFlowClient.generate_signature_params` (client) and
    /// FATE Flow 2.2's site signature hook, with the nonce and clock fixed.
    #[test]
    fn golden_signatures() {
        assert_eq!(
            sign("admin", "", "4321", "1767225600000", "fate_flow_admin"),
            "ddfcbdf1ae4e56a83baeffe90f562ce3"
        );
        assert_eq!(
            sign(
                "12345678",
                "alice",
                "1000",
                "1700000000000",
                "AbCdEf0123456789"
            ),
            "072f298e143a5c235f98e17e4bf8b70d"
        );
        assert_eq!(
            sign("9999", "9999", "0042", "1767225600123", "Zy9xW8vU7tS6rQ5p"),
            "fab30b88e91368142bc5471afb551cae"
        );
        assert_eq!(
            sign("10000", "", "9001", "1767225600999", "Zy9xW8vU7tS6rQ5p"),
            "95dcba3190c5924f694a185833c8a879"
        );
    }

    fn lookup(h: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
        move |n: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn headers_made_here_verify_and_parse() {
        let h = client_headers("app1", "tok", "bob", 1_000_000);
        let s = Signed::parse(Kind::Client, lookup(&h)).unwrap();
        assert_eq!((s.who.as_str(), s.timestamp_ms), ("bob", 1_000_000));
        s.verify("tok").unwrap();
        assert_eq!(s.verify("other").unwrap_err().code, RetCode::VerifyFailed);

        let h = site_headers("9999", "tok", "10000", 5);
        let s = Signed::parse(Kind::Site, lookup(&h)).unwrap();
        assert_eq!(s.who, "10000");
        s.verify("tok").unwrap();
        // The initiator is signed: another one does not verify.
        let mut forged = s.clone();
        forged.who = "9999".into();
        assert!(forged.verify("tok").is_err());
    }

    #[test]
    fn malformed_headers_name_themselves() {
        let good = client_headers("app1", "tok", "", 1_000_000);
        let without = |name: &str| -> Vec<(String, String)> {
            good.iter().filter(|(k, _)| k != name).cloned().collect()
        };
        for name in ["appId", "Timestamp", "Nonce", "Signature"] {
            let e = Signed::parse(Kind::Client, lookup(&without(name))).unwrap_err();
            assert_eq!(e.code, RetCode::InvalidParameter);
            assert_eq!(e.message, format!("Invalid parameter: name[{name}]"));
        }
        let with = |name: &str, v: &str| -> Vec<(String, String)> {
            let mut h = without(name);
            h.push((name.to_string(), v.to_string()));
            h
        };
        for (name, v) in [
            ("Nonce", "123"),
            ("Nonce", "12a4"),
            ("Timestamp", "-5"),
            ("Timestamp", "12.5"),
            ("Signature", "zz"),
        ] {
            let e = Signed::parse(Kind::Client, lookup(&with(name, v))).unwrap_err();
            assert_eq!(e.code, RetCode::InvalidParameter, "{name}={v}");
        }
        // A missing userName is the empty user, as fate_client always sends one.
        let s = Signed::parse(Kind::Client, lookup(&without("userName"))).unwrap();
        assert_eq!(s.who, "");
    }

    #[test]
    fn the_window_is_a_minute_each_way() {
        let s = |ts: i64| Signed {
            app_id: "a".into(),
            who: String::new(),
            nonce: "0000".into(),
            timestamp: ts.to_string(),
            timestamp_ms: ts,
            signature: String::new(),
        };
        let now = 10_000_000;
        s(now - PAST_WINDOW_MS).check_time(now).unwrap();
        s(now + FUTURE_WINDOW_MS).check_time(now).unwrap();
        assert_eq!(
            s(now - PAST_WINDOW_MS - 1)
                .check_time(now)
                .unwrap_err()
                .code,
            RetCode::ApiExpired
        );
        assert_eq!(
            s(now + FUTURE_WINDOW_MS + 1)
                .check_time(now)
                .unwrap_err()
                .code,
            RetCode::ApiExpired
        );
    }

    #[test]
    fn nonces_are_four_digits() {
        for _ in 0..200 {
            let n = nonce();
            assert!(n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()), "{n}");
        }
    }
}
