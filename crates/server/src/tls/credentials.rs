//! A site's credentials on disk and the peer cards sites exchange (`ferroflow keys …`).
//!
//! `<data_dir>/credentials/` (every file 0600, the directory 0700):
//! - `site.crt`, `site.key`: the TLS certificate (self-signed, ECDSA P-256) and its key. The
//!   certificate names the parties the site serves as URI SANs `urn:ferroflow:party:<id>`;
//! - `sign.key`: the Ed25519 key commands are signed with;
//! - `peers/<key id>.card`: one trusted peer card per file.
//!
//! A peer card is what a site hands to its partners: its certificate, its signing public key
//! and the parties both speak for. A card is checked when imported and at every start: its
//! parties must be exactly the certificate's party SANs, and its key id the hash of its key.
//! Several cards may name the same parties (a rotation: old and new trusted side by side).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};

use ferroflow_core::id::PartyId;

use crate::config::TlsConfig;
use crate::federation::sign::{self, SigningKey};

/// The URI SAN prefix that binds a certificate to a party.
pub const PARTY_SAN: &str = "urn:ferroflow:party:";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a site hands to its partners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// The card format's version.
    pub ferroflow_peer_card: u32,
    pub parties: Vec<String>,
    pub key_id: String,
    /// The Ed25519 public key commands are signed with, base64.
    pub signing_key: String,
    /// The TLS certificate, PEM.
    pub certificate: String,
}

/// A card that was checked: the certificate in DER, the key in bytes.
#[derive(Debug, Clone)]
pub struct Peer {
    pub card: Card,
    pub cert_der: Vec<u8>,
    pub public_key: Vec<u8>,
    pub parties: BTreeSet<PartyId>,
}

impl Card {
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).expect("a card serialises") + "\n"
    }

    /// Reads and checks a card.
    pub fn parse(text: &str) -> Result<Peer, Error> {
        let card: Card = serde_json::from_str(text)
            .map_err(|e| Error::Invalid(format!("not a ferroflow peer card: {e}")))?;
        if card.ferroflow_peer_card != 1 {
            return Err(Error::Invalid(format!(
                "peer card version {} is not known (1)",
                card.ferroflow_peer_card
            )));
        }
        let cert_der = CertificateDer::from_pem_slice(card.certificate.as_bytes())
            .map_err(|e| Error::Invalid(format!("peer card certificate: {e}")))?
            .to_vec();
        let public_key = B64
            .decode(card.signing_key.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| Error::Invalid("peer card signing_key: not an Ed25519 key".into()))?;
        if sign::key_id(&public_key) != card.key_id {
            return Err(Error::Invalid(format!(
                "peer card key_id {} is not the id of its signing key ({})",
                card.key_id,
                sign::key_id(&public_key)
            )));
        }
        let parties = certificate_parties(&cert_der)?;
        let listed: BTreeSet<PartyId> = card.parties.iter().map(PartyId::new).collect();
        if parties.is_empty() || parties != listed {
            return Err(Error::Invalid(format!(
                "peer card parties {:?} are not its certificate's ({:?})",
                card.parties,
                parties.iter().map(PartyId::as_str).collect::<Vec<_>>()
            )));
        }
        Ok(Peer {
            card,
            cert_der,
            public_key,
            parties,
        })
    }
}

/// The parties a certificate is bound to: its `urn:ferroflow:party:<id>` URI SANs.
pub fn certificate_parties(der: &[u8]) -> Result<BTreeSet<PartyId>, Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Invalid(format!("not an X.509 certificate: {e}")))?;
    let mut parties = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(u) = name
                && let Some(p) = u.strip_prefix(PARTY_SAN)
            {
                parties.insert(PartyId::new(p));
            }
        }
    }
    Ok(parties)
}

/// A party id that can stand in a URI and a file name.
pub fn check_party(p: &str) -> Result<(), Error> {
    if p.is_empty()
        || p.len() > 64
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::Invalid(format!(
            "party id {p:?}: letters, digits, '-', '_' and '.' only, at most 64"
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by its owner only, whole or not at all (temp + rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Makes the site's key pairs and self-signed certificate (`ferroflow keys init`). Refuses
/// to overwrite: a new identity for a site that has one is a rotation (see the docs).
pub fn init(files: &TlsConfig, parties: &[String], hosts: &[String]) -> Result<Card, Error> {
    if parties.is_empty() {
        return Err(Error::Invalid("at least one --party".into()));
    }
    for p in parties {
        check_party(p)?;
    }
    for f in [&files.cert, &files.key, &files.signing_key] {
        if f.exists() {
            return Err(Error::Invalid(format!(
                "{} exists: this site has credentials (rotate into another directory)",
                f.display()
            )));
        }
    }
    let mut names: Vec<String> = hosts.to_vec();
    if names.is_empty() {
        names.push("localhost".into());
    }
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| Error::Invalid(format!("certificate: {e}")))?;
    for h in &names {
        let san = match h.parse::<std::net::IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) => rcgen::SanType::DnsName(
                h.clone()
                    .try_into()
                    .map_err(|e| Error::Invalid(format!("host {h:?}: {e}")))?,
            ),
        };
        params.subject_alt_names.push(san);
    }
    for p in parties {
        params.subject_alt_names.push(rcgen::SanType::URI(
            format!("{PARTY_SAN}{p}")
                .try_into()
                .map_err(|e| Error::Invalid(format!("party {p:?}: {e}")))?,
        ));
    }
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("ferroflow site {}", parties.join(",")),
    );
    let key = rcgen::KeyPair::generate().map_err(|e| Error::Invalid(format!("key: {e}")))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| Error::Invalid(format!("certificate: {e}")))?;
    let signing = SigningKey::generate_pkcs8().map_err(Error::Invalid)?;
    for dir in [
        files.cert.parent(),
        files.key.parent(),
        files.signing_key.parent(),
    ]
    .into_iter()
    .flatten()
    {
        private_dir(dir)?;
    }
    private_dir(&files.peers_dir)?;
    write_private(&files.key, key.serialize_pem().as_bytes())?;
    write_private(&files.signing_key, pem("PRIVATE KEY", &signing).as_bytes())?;
    write_private(&files.cert, cert.pem().as_bytes())?;
    export(files)
}

/// The site's own credentials, loaded.
#[derive(Debug)]
pub struct Own {
    pub cert_der: Vec<u8>,
    pub key_der: PrivateKeyDer<'static>,
    pub signing: SigningKey,
    pub parties: BTreeSet<PartyId>,
    pub cert_pem: String,
}

pub fn load_own(files: &TlsConfig) -> Result<Own, Error> {
    let read = |p: &Path| std::fs::read(p).map_err(io(p));
    let cert_pem = String::from_utf8(read(&files.cert)?)
        .map_err(|_| Error::Invalid(format!("{}: not PEM", files.cert.display())))?;
    let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| Error::Invalid(format!("{}: {e}", files.cert.display())))?
        .to_vec();
    let key_der = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| Error::Invalid(format!("{}: {e}", files.key.display())))?;
    let signing_der = PrivatePkcs8KeyDer::from_pem_slice(&read(&files.signing_key)?)
        .map_err(|e| Error::Invalid(format!("{}: {e}", files.signing_key.display())))?;
    let signing = SigningKey::from_pkcs8(signing_der.secret_pkcs8_der())
        .map_err(|e| Error::Invalid(format!("{}: {e}", files.signing_key.display())))?;
    let parties = certificate_parties(&cert_der)?;
    if parties.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: the certificate names no party ({PARTY_SAN}<id>)",
            files.cert.display()
        )));
    }
    Ok(Own {
        cert_der,
        key_der,
        signing,
        parties,
        cert_pem,
    })
}

/// The site's card (`ferroflow keys export`).
pub fn export(files: &TlsConfig) -> Result<Card, Error> {
    let own = load_own(files)?;
    Ok(card_of(&own))
}

pub fn card_of(own: &Own) -> Card {
    Card {
        ferroflow_peer_card: 1,
        parties: own.parties.iter().map(|p| p.to_string()).collect(),
        key_id: own.signing.key_id().to_string(),
        signing_key: B64.encode(own.signing.public_key()),
        certificate: own.cert_pem.clone(),
    }
}

/// Imports a peer's card into the trust store (`ferroflow keys add-peer`): checked, then
/// written as `<key id>.card`. A card with the same key id replaces the earlier one.
pub fn add_peer(files: &TlsConfig, text: &str) -> Result<Peer, Error> {
    let peer = Card::parse(text)?;
    if let Ok(own) = load_own(files)
        && own.signing.key_id() == peer.card.key_id
    {
        return Err(Error::Invalid("this is this site's own card".into()));
    }
    private_dir(&files.peers_dir)?;
    write_private(
        &files.peers_dir.join(format!("{}.card", peer.card.key_id)),
        peer.card.to_text().as_bytes(),
    )?;
    Ok(peer)
}

/// Removes a trusted card by its key id (`ferroflow keys remove-peer`); false: none had it.
pub fn remove_peer(files: &TlsConfig, key_id: &str) -> Result<bool, Error> {
    if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!("key id {key_id:?}: hex digits")));
    }
    let path = files.peers_dir.join(format!("{key_id}.card"));
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Every trusted card; a card that does not check out stops the site (a trust store is
/// never half-read).
pub fn load_peers(dir: &Path) -> Result<Vec<Peer>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "card"))
        .collect();
    paths.sort();
    let mut peers = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(io(&p))?;
        let peer =
            Card::parse(&text).map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
        peers.push(peer);
    }
    Ok(peers)
}
