//! Mutual TLS between ferroflow sites (rustls, the ring provider).
//!
//! The trust store is the set of peer certificates the operator imported (peer cards,
//! [`credentials`]); a certificate is trusted when it is byte for byte one of them, so there
//! is no CA to run and removing a card revokes it. Both ends present their certificate: a
//! connection whose certificate is not in the store is refused during the handshake, before
//! any byte of a command is read. A certificate speaks for the parties its card (and its
//! `urn:ferroflow:party:<id>` SANs) name; the connection's peer ([`TlsPeer`]) is put in each
//! request's extensions.
//!
//! Site traffic over TLS has its own listeners (`security.tls.port` for HTTPS,
//! `security.tls.grpc_port` for gRPC), so the plain HTTP port keeps serving api-1 clients and
//! the site's own task processes, and FATE Flow peers keep their plain transports.

pub mod credentials;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use ferroflow_core::id::PartyId;

use crate::config::TlsConfig;
use crate::federation::sign::{Refusal, SigningKey, TrustedKey, Verifier};
use credentials::{Own, Peer};

/// How long a peer may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; past it, accepting waits (a flood of silent connections
/// holds at most this many tasks).
const MAX_HANDSHAKES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Credentials(#[from] credentials::Error),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{0}")]
    Invalid(String),
}

/// What a site listener does with a connection it refused at the handshake, besides logging
/// it: the site records it in its audit log.
pub type OnRefused = Arc<dyn Fn(SocketAddr, &str) + Send + Sync>;

/// Logs a refusal at the TLS or the signature layer: who (an address, a party) and why.
pub fn refused(peer: &str, reason: &dyn std::fmt::Display) {
    tracing::warn!(peer, %reason, "site connection or command refused");
}

/// Whether a path is a site command (api-2 partner, api-4 scheduler).
pub fn is_site_command(path: &str) -> bool {
    path.starts_with("/v2/partner/") || path.starts_with("/v2/scheduler/")
}

/// What a connection from a peer certificate may send, whatever the transport: site
/// commands only (never api-1, api-3 or the dashboard), each with a ferroflow signature. The
/// signature itself is checked where the command is handled (a relay passes it on).
pub fn admit(peer: &TlsPeer, path: &str, signed: bool) -> Result<(), Refusal> {
    let refusal = if !is_site_command(path) {
        Refusal::NotASiteCommand
    } else if !signed {
        Refusal::Unsigned
    } else {
        return Ok(());
    };
    refused(&peer.to_string(), &format!("{path}: {refusal}"));
    Err(refusal)
}

impl std::fmt::Display for TlsPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parties: Vec<&str> = self.identity.parties.iter().map(PartyId::as_str).collect();
        write!(f, "{} (parties {})", self.addr, parties.join(","))
    }
}

/// A trusted peer certificate: the parties it speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub parties: BTreeSet<PartyId>,
    /// The signing key of the same card.
    pub key_id: String,
}

/// The peer at the other end of a site TLS connection.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    pub addr: SocketAddr,
    pub identity: Arc<PeerIdentity>,
}

/// The certificates this site trusts, by their bytes.
#[derive(Debug, Default)]
struct Trust {
    by_cert: BTreeMap<Vec<u8>, Arc<PeerIdentity>>,
}

impl Trust {
    fn identify(&self, der: &[u8]) -> Option<Arc<PeerIdentity>> {
        self.by_cert.get(der).cloned()
    }
}

/// Everything this site needs to speak to and hear from ferroflow peers: its own identity,
/// the trusted peers, the TLS configurations and the signature verifier.
pub struct Security {
    pub own_parties: BTreeSet<PartyId>,
    pub signing: SigningKey,
    pub verifier: Verifier,
    trust: Arc<Trust>,
    /// Parties some trusted card speaks for.
    peer_parties: BTreeSet<PartyId>,
    http_server: Arc<ServerConfig>,
    grpc_server: Arc<ServerConfig>,
    http_client: ClientConfig,
    grpc_client: Arc<ClientConfig>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("own_parties", &self.own_parties)
            .field("key_id", &self.signing.key_id())
            .field("peer_parties", &self.peer_parties)
            .finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Security {
    /// Loads the site's credentials and trusted cards. `own_party` must be one of the
    /// certificate's parties (it is the `src-party-id` of what this site sends).
    pub fn load(files: &TlsConfig, own_party: &PartyId) -> Result<Self, Error> {
        let own = credentials::load_own(files)?;
        if !own.parties.contains(own_party) {
            return Err(Error::Invalid(format!(
                "{}: the certificate names parties {:?}, not this site's party_id {own_party}",
                files.cert.display(),
                own.parties.iter().map(PartyId::as_str).collect::<Vec<_>>()
            )));
        }
        let peers = credentials::load_peers(&files.peers_dir)?;
        Self::new(own, peers)
    }

    pub fn new(own: Own, peers: Vec<Peer>) -> Result<Self, Error> {
        let mut trust = Trust::default();
        let mut keys = Vec::new();
        let mut peer_parties = BTreeSet::new();
        for p in &peers {
            trust.by_cert.insert(
                p.cert_der.clone(),
                Arc::new(PeerIdentity {
                    parties: p.parties.clone(),
                    key_id: p.card.key_id.clone(),
                }),
            );
            keys.push(TrustedKey {
                key_id: p.card.key_id.clone(),
                public_key: p.public_key.clone(),
                parties: p.parties.clone(),
            });
            peer_parties.extend(p.parties.iter().cloned());
        }
        // This site's own key verifies the commands it sends to itself.
        keys.push(TrustedKey {
            key_id: own.signing.key_id().to_string(),
            public_key: own.signing.public_key(),
            parties: own.parties.clone(),
        });
        let trust = Arc::new(trust);
        let chain = vec![CertificateDer::from(own.cert_der.clone())];
        let server = |alpn: &[u8]| -> Result<Arc<ServerConfig>, Error> {
            let mut c = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .with_client_cert_verifier(Arc::new(Pinned {
                    trust: trust.clone(),
                    provider: provider(),
                }))
                .with_single_cert(chain.clone(), own.key_der.clone_key())?;
            c.alpn_protocols = vec![alpn.to_vec()];
            Ok(Arc::new(c))
        };
        let client = |alpn: &[u8]| -> Result<ClientConfig, Error> {
            let mut c = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned {
                    trust: trust.clone(),
                    provider: provider(),
                }))
                .with_client_auth_cert(chain.clone(), own.key_der.clone_key())?;
            c.alpn_protocols = vec![alpn.to_vec()];
            Ok(c)
        };
        Ok(Self {
            http_server: server(b"http/1.1")?,
            grpc_server: server(b"h2")?,
            http_client: client(b"http/1.1")?,
            grpc_client: Arc::new(client(b"h2")?),
            own_parties: own.parties,
            signing: own.signing,
            verifier: Verifier::new(keys),
            trust,
            peer_parties,
        })
    }

    /// Whether a trusted card speaks for `party`: commands to it are signed.
    pub fn is_peer_party(&self, party: &PartyId) -> bool {
        self.peer_parties.contains(party)
    }

    /// The client configuration for HTTPS (reqwest).
    pub fn http_client_config(&self) -> ClientConfig {
        self.http_client.clone()
    }

    /// Accepts site connections on `listener` for the HTTPS site port.
    pub fn http_listener(
        &self,
        listener: TcpListener,
        on_refused: OnRefused,
    ) -> std::io::Result<Listener> {
        Listener::spawn(
            listener,
            self.http_server.clone(),
            self.trust.clone(),
            on_refused,
        )
    }

    /// Accepts site connections on `listener` for the gRPC-over-TLS port.
    pub fn grpc_listener(
        &self,
        listener: TcpListener,
        on_refused: OnRefused,
    ) -> std::io::Result<Listener> {
        Listener::spawn(
            listener,
            self.grpc_server.clone(),
            self.trust.clone(),
            on_refused,
        )
    }

    /// A TLS connection to a peer's gRPC port, for tonic (HTTP/2).
    pub async fn connect_grpc(
        &self,
        addr: &str,
    ) -> std::io::Result<hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
        connect(addr, self.grpc_client.clone()).await
    }

    /// The peer a certificate belongs to (tests, tools).
    pub fn identify(&self, cert_der: &[u8]) -> Option<Arc<PeerIdentity>> {
        self.trust.identify(cert_der)
    }
}

/// Opens a TLS connection to `addr` with `config` (the server's name is not checked: its
/// certificate is, against the pinned set).
pub async fn connect(
    addr: &str,
    config: Arc<ClientConfig>,
) -> std::io::Result<hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
    let tcp = TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("ferroflow-peer").expect("a valid DNS name");
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(hyper_util::rt::TokioIo::new(tls))
}

/// Verifies peers, both ways, against the pinned certificates.
#[derive(Debug)]
struct Pinned {
    trust: Arc<Trust>,
    provider: Arc<CryptoProvider>,
}

impl Pinned {
    fn check(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        match self.trust.identify(end_entity.as_ref()) {
            Some(_) => Ok(()),
            None => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ClientCertVerifier for Pinned {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ServerCertVerifier::verify_tls12_signature(self, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ServerCertVerifier::verify_tls13_signature(self, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ServerCertVerifier::supported_verify_schemes(self)
    }
}

/// An accepted site connection: the TLS stream and who is at the other end.
pub struct Conn {
    io: tokio_rustls::server::TlsStream<TcpStream>,
    pub peer: TlsPeer,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = TlsPeer;

    fn connect_info(&self) -> TlsPeer {
        self.peer.clone()
    }
}

/// Accepts TCP connections and runs each handshake on its own task (a slow or silent peer
/// holds up no one); connections that complete it come out of [`Listener::next`].
pub struct Listener {
    rx: mpsc::Receiver<Conn>,
    local: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Listener {
    fn spawn(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        trust: Arc<Trust>,
        on_refused: OnRefused,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accept = tokio::spawn(async move {
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, addr) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "site TLS listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx, trust) = (acceptor.clone(), tx.clone(), trust.clone());
                let on_refused = on_refused.clone();
                tokio::spawn(async move {
                    let refused = |reason: &dyn std::fmt::Display| {
                        refused(&addr.to_string(), reason);
                        on_refused(addr, &reason.to_string());
                    };
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                    drop(slot);
                    let io = match handshake {
                        Ok(Ok(io)) => io,
                        Ok(Err(e)) => return refused(&e),
                        Err(_) => return refused(&"handshake timed out"),
                    };
                    let identity = io
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| trust.identify(c.as_ref()));
                    // The verifier accepted the certificate, so it is known; checked again
                    // rather than assumed.
                    let Some(identity) = identity else {
                        return refused(&"no trusted certificate");
                    };
                    let peer = TlsPeer { addr, identity };
                    let _ = tx.send(Conn { io, peer }).await;
                });
            }
        });
        Ok(Self { rx, local, accept })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next connection that completed its handshake; `None` once the listener stopped.
    pub async fn next(&mut self) -> Option<Conn> {
        self.rx.recv().await
    }

    /// The connections as a stream, for tonic.
    pub fn into_stream(self) -> impl futures::Stream<Item = std::io::Result<Conn>> + Send {
        futures::stream::unfold(self, |mut l| async move {
            let c = l.next().await?;
            Some((Ok(c), l))
        })
    }
}

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Conn, TlsPeer) {
        match self.next().await {
            Some(c) => {
                let peer = c.peer.clone();
                (c, peer)
            }
            // The accept task ended (it only does when aborted): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<TlsPeer> {
        Err(std::io::Error::other(
            "a site TLS listener's address is a socket address, not a peer",
        ))
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Listener>> for TlsPeer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Listener>) -> Self {
        stream.remote_addr().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(dir: &std::path::Path, parties: &[&str]) -> TlsConfig {
        let files = TlsConfig::in_dir(dir);
        let parties: Vec<String> = parties.iter().map(|p| p.to_string()).collect();
        credentials::init(&files, &parties, &["127.0.0.1".into()]).unwrap();
        files
    }

    #[test]
    fn cards_bind_parties_and_several_cards_per_peer_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let a = site(&dir.path().join("a"), &["9999"]);
        let a2 = site(&dir.path().join("a2"), &["9999"]);
        let b = site(&dir.path().join("b"), &["10000", "10001"]);
        let card_a = credentials::export(&a).unwrap();
        let card_a2 = credentials::export(&a2).unwrap();
        assert_eq!(card_a.parties, vec!["9999"]);
        // Files are the owner's only.
        use std::os::unix::fs::PermissionsExt as _;
        for f in [&a.cert, &a.key, &a.signing_key] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
        assert!(
            credentials::init(&a, &["9999".into()], &[]).is_err(),
            "never overwrites"
        );
        // A rotation: the old and the new card side by side.
        credentials::add_peer(&b, &card_a.to_text()).unwrap();
        credentials::add_peer(&b, &card_a2.to_text()).unwrap();
        let sec = Security::load(&b, &PartyId::new("10000")).unwrap();
        let own_a = credentials::load_own(&a).unwrap();
        let own_a2 = credentials::load_own(&a2).unwrap();
        for own in [&own_a, &own_a2] {
            let id = sec.identify(&own.cert_der).expect("trusted");
            assert_eq!(id.parties, BTreeSet::from([PartyId::new("9999")]));
            assert!(sec.verifier.key(own.signing.key_id()).is_some());
        }
        assert!(sec.is_peer_party(&PartyId::new("9999")));
        assert!(!sec.is_peer_party(&PartyId::new("10000")));
        assert!(credentials::remove_peer(&b, &card_a.key_id).unwrap());
        let sec = Security::load(&b, &PartyId::new("10000")).unwrap();
        assert!(sec.identify(&own_a.cert_der).is_none(), "removed");
        assert!(sec.identify(&own_a2.cert_der).is_some());

        // A card whose parties are not its certificate's is refused.
        let mut forged = card_a2.clone();
        forged.parties = vec!["10000".into()];
        assert!(credentials::add_peer(&b, &forged.to_text()).is_err());
        let mut forged = card_a2.clone();
        forged.signing_key = credentials::export(&b).unwrap().signing_key;
        assert!(credentials::add_peer(&b, &forged.to_text()).is_err());
        assert!(
            Security::load(&b, &PartyId::new("9999")).is_err(),
            "the own party must be the certificate's"
        );
    }
}
