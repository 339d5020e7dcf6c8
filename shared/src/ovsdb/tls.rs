//! TLS for `ssl:HOST:PORT` remotes, as OVS's `lib/stream-ssl.c` does it: mutual TLS with PEM
//! files named on the command line (`-p/--private-key`, `-c/--certificate`, `-C/--ca-cert`,
//! `--bootstrap-ca-cert`, `--ssl-protocols`, `--ssl-ciphers`).
//!
//! - The client always presents its certificate (ovsdb-server requires one).
//! - The server's certificate must chain to a certificate in the CA file. Like OVS, the
//!   server's **name is not checked** against its certificate (see `OvsServerVerifier`).
//! - The files are read at every connection attempt, so a renewed certificate or CA is picked
//!   up on the next reconnect; a missing or bad file fails that attempt like any connect error.
//! - rustls implements TLS 1.2 and 1.3 only, and only AEAD suites with forward secrecy.
//!   `--ssl-protocols` may name `TLSv1` and `TLSv1.1` (OVS 3.1's default is
//!   `TLSv1,TLSv1.1,TLSv1.2`), which are ignored; a list that keeps neither 1.2 nor 1.3 is an
//!   error. `--ssl-ciphers` takes an OpenSSL cipher list: the names of suites rustls has
//!   (OpenSSL or IANA spelling, `!NAME` to exclude) restrict the TLS 1.2 suites, while
//!   OpenSSL keywords (`HIGH`, `!aNULL`, `DEFAULT`, ...) and suites rustls lacks are accepted
//!   and ignored, as OpenSSL's list does not apply to TLS 1.3 suites either.
//! - `--bootstrap-ca-cert`: when the CA file does not exist yet, the first connection trusts
//!   the CA certificate the server sends at the end of its chain (ovsdb-server sends it with
//!   `--peer-ca-cert`), saves it to the file and drops the connection; the next one verifies
//!   against it, as OVS does. OVS also insists that this certificate is self-signed; here it
//!   must be the anchor the server's chain verifies to (an intermediate would be accepted).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CipherSuite, DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedCipherSuite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::error::{Error, Result};

/// TLS material and options for `ssl:` remotes: paths, read at each connection attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// `-p/--private-key`: PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub private_key: PathBuf,
    /// `-c/--certificate`: PEM certificate for the private key, optionally followed by
    /// intermediate CA certificates to send along.
    pub certificate: PathBuf,
    /// `-C/--ca-cert`, or the file of `--bootstrap-ca-cert`: PEM CA certificate(s) that the
    /// server's certificate must chain to.
    pub ca_cert: PathBuf,
    /// `--bootstrap-ca-cert`: if `ca_cert` does not exist, trust and save the CA certificate
    /// the server sends on the first connection.
    pub bootstrap_ca_cert: bool,
    /// `--ssl-protocols`: comma- or space-separated list (`TLSv1.2,TLSv1.3`); `None` enables
    /// every version rustls has (1.2 and 1.3).
    pub protocols: Option<String>,
    /// `--ssl-ciphers`: OpenSSL cipher list, applied as described in the module docs.
    pub ciphers: Option<String>,
}

impl TlsConfig {
    pub fn new(
        private_key: impl Into<PathBuf>,
        certificate: impl Into<PathBuf>,
        ca_cert: impl Into<PathBuf>,
    ) -> TlsConfig {
        TlsConfig {
            private_key: private_key.into(),
            certificate: certificate.into(),
            ca_cert: ca_cert.into(),
            bootstrap_ca_cert: false,
            protocols: None,
            ciphers: None,
        }
    }

    /// From ovn-controller's option names (`private-key`, `certificate`, `ca-cert`,
    /// `bootstrap-ca-cert`, `ssl-protocols`, `ssl-ciphers`): None when no SSL material is
    /// given, an error when it is incomplete or the protocols/ciphers are not usable.
    pub fn from_options(options: &std::collections::BTreeMap<String, String>) -> Result<Option<TlsConfig>> {
        let get = |k: &str| options.get(k).filter(|v| !v.is_empty());
        let (key, cert) = (get("private-key"), get("certificate"));
        let (ca, bootstrap) = (get("ca-cert"), get("bootstrap-ca-cert"));
        if key.is_none() && cert.is_none() && ca.is_none() && bootstrap.is_none() {
            return Ok(None);
        }
        let (Some(key), Some(cert)) = (key, cert) else {
            return Err(tls_err("SSL needs both --private-key and --certificate"));
        };
        let mut tls = match (ca, bootstrap) {
            (Some(ca), _) => TlsConfig::new(key, cert, ca),
            (None, Some(b)) => TlsConfig { bootstrap_ca_cert: true, ..TlsConfig::new(key, cert, b) },
            (None, None) => return Err(tls_err("SSL needs --ca-cert or --bootstrap-ca-cert")),
        };
        tls.protocols = get("ssl-protocols").cloned();
        tls.ciphers = get("ssl-ciphers").cloned();
        tls.check()?;
        Ok(Some(tls))
    }

    /// Checks `protocols` and `ciphers` (not the files, which may appear later), so that a
    /// command line can be rejected at startup.
    pub fn check(&self) -> Result<()> {
        protocol_versions(self.protocols.as_deref())?;
        cipher_suites(rustls::crypto::ring::DEFAULT_CIPHER_SUITES, self.ciphers.as_deref())?;
        Ok(())
    }
}

fn tls_err(msg: impl Into<String>) -> Error {
    Error::Tls(msg.into())
}

/// `--ssl-protocols` as rustls versions.
fn protocol_versions(spec: Option<&str>) -> Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let Some(spec) = spec else {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    };
    let (mut v12, mut v13) = (false, false);
    for p in spec.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
        match p.to_ascii_lowercase().as_str() {
            "tlsv1" | "tlsv1.1" => {}
            "tlsv1.2" => v12 = true,
            "tlsv1.3" => v13 = true,
            _ => return Err(tls_err(format!("{p}: SSL protocol not recognized"))),
        }
    }
    let mut v = Vec::new();
    if v13 {
        v.push(&rustls::version::TLS13);
    }
    if v12 {
        v.push(&rustls::version::TLS12);
    }
    if v.is_empty() {
        return Err(tls_err(format!("--ssl-protocols={spec}: only TLSv1.2 and TLSv1.3 are supported")));
    }
    Ok(v)
}

/// OpenSSL's names for the TLS 1.2 suites rustls has (TLS 1.3 suites have the IANA names).
const OPENSSL_NAMES: &[(CipherSuite, &str)] = &[
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305"),
];

fn suite_matches(s: &SupportedCipherSuite, name: &str) -> bool {
    let id = s.suite();
    id.as_str().is_some_and(|n| n.eq_ignore_ascii_case(name))
        || OPENSSL_NAMES.iter().any(|(c, n)| *c == id && n.eq_ignore_ascii_case(name))
}

/// `--ssl-ciphers` applied to `all` (see the module docs).
fn cipher_suites(all: &[SupportedCipherSuite], spec: Option<&str>) -> Result<Vec<SupportedCipherSuite>> {
    let Some(spec) = spec else { return Ok(all.to_vec()) };
    let mut wanted: Vec<SupportedCipherSuite> = Vec::new();
    let mut excluded: Vec<SupportedCipherSuite> = Vec::new();
    for tok in spec.split(|c: char| c == ':' || c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()) {
        let (neg, name) = match tok.strip_prefix(['!', '-']) {
            Some(n) => (true, n),
            None => (false, tok.trim_start_matches('+')),
        };
        for s in all.iter().filter(|s| suite_matches(s, name)) {
            if neg {
                excluded.push(*s);
            } else {
                wanted.push(*s);
            }
        }
    }
    let is13 = |s: &SupportedCipherSuite| matches!(s, SupportedCipherSuite::Tls13(_));
    let named12 = wanted.iter().any(|s| !is13(s));
    let v: Vec<SupportedCipherSuite> = all
        .iter()
        .filter(|s| is13(s) || !named12 || wanted.iter().any(|w| w.suite() == s.suite()))
        .filter(|s| !excluded.iter().any(|x| x.suite() == s.suite()))
        .copied()
        .collect();
    if v.is_empty() {
        return Err(tls_err(format!("--ssl-ciphers={spec}: no cipher suite left")));
    }
    Ok(v)
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| tls_err(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_err(format!("{what} {}: no PEM certificate in the file", path.display())));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| tls_err(format!("private key {}: {e}", path.display())))
}

fn read_roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in read_certs(path, "CA certificate")? {
        roots.add(c).map_err(|e| tls_err(format!("CA certificate {}: {e}", path.display())))?;
    }
    Ok(roots)
}

/// Verifies the server's certificate as OVS does: the chain must lead to a trusted CA and be
/// valid now, but the certificate is **not** matched against the host name of the remote.
/// OVS's stream-ssl only sets `SSL_VERIFY_PEER` with the CA file and never calls
/// `X509_check_host`; certificates made by `ovs-pki` carry names such as
/// `DNS:sb1 id:<uuid>` that could never match an address, so checking names would refuse
/// deployments that work with ovn-controller.
#[derive(Debug)]
struct OvsServerVerifier {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for OvsServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(&cert, &self.roots, intermediates, now, self.algs.all)?;
        // Deliberately no verify_server_name(): see the type's comment.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// For `--bootstrap-ca-cert` before the CA file exists: accepts a chain that verifies up to
/// the last certificate the server sent, and keeps that certificate to be saved.
#[derive(Debug)]
struct BootstrapVerifier {
    algs: WebPkiSupportedAlgorithms,
    ca: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for BootstrapVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // OVS takes the top of the chain and requires it to be a CA the server sent along.
        let Some((ca, middle)) = intermediates.split_last() else {
            return Err(rustls::Error::General(
                "the server sent no CA certificate to bootstrap from (ovsdb-server needs --peer-ca-cert)".into(),
            ));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(&cert, &roots, middle, now, self.algs.all)?;
        *self.ca.lock().unwrap_or_else(|e| e.into_inner()) = Some(ca.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Splits `host:port` (IPv6 in brackets) and returns the host as a TLS server name. It is
/// only sent as SNI (for a DNS name); the certificate is not checked against it.
fn server_name(addr: &str) -> Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|e| tls_err(format!("{host}: not a host name or address ({e})")))
}

/// Writes the bootstrapped CA certificate, refusing to replace a file that appeared meanwhile
/// (OVS opens it with `O_EXCL`): written to a temporary file first, then linked into place, so
/// that a crash never leaves a truncated CA file behind.
fn save_ca_cert(path: &Path, ca: &CertificateDer<'_>) -> Result<()> {
    let err = |what: &str, e: std::io::Error| {
        tls_err(format!("could not bootstrap CA certificate: {what} {}: {e}", path.display()))
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(pem_encode("CERTIFICATE", ca.as_ref()).as_bytes())?;
        f.sync_all()
    });
    let linked = written.map_err(|e| err("writing", e)).and_then(|()| {
        // hard_link fails if the target exists, like O_EXCL.
        std::fs::hard_link(&tmp, path).map_err(|e| err("creating", e))
    });
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// SHA-1 of the DER certificate in lowercase hex, as `ovs-pki fingerprint` prints it.
fn fingerprint(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Connects to `addr` (`host:port`) over TCP and runs the TLS handshake with the files of
/// `tls`, read now. A bootstrap connection saves the CA certificate and fails, so that the
/// caller reconnects with full verification.
pub(crate) async fn connect(tls: Option<&TlsConfig>, addr: &str) -> Result<TlsStream<TcpStream>> {
    let Some(tls) = tls else {
        return Err(tls_err("ssl: remotes need --private-key, --certificate and --ca-cert"));
    };
    let name = server_name(addr)?;
    let base = rustls::crypto::ring::default_provider();
    let provider =
        Arc::new(CryptoProvider { cipher_suites: cipher_suites(&base.cipher_suites, tls.ciphers.as_deref())?, ..base });
    let algs = provider.signature_verification_algorithms;
    let versions = protocol_versions(tls.protocols.as_deref())?;
    let key = read_key(&tls.private_key)?;
    let certs = read_certs(&tls.certificate, "certificate")?;
    let boot = (tls.bootstrap_ca_cert && !tls.ca_cert.exists())
        .then(|| Arc::new(BootstrapVerifier { algs, ca: Mutex::new(None) }));
    let verifier: Arc<dyn ServerCertVerifier> = match &boot {
        Some(b) => b.clone(),
        None => Arc::new(OvsServerVerifier { roots: Arc::new(read_roots(&tls.ca_cert)?), algs }),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| tls_err(format!("--ssl-protocols/--ssl-ciphers: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(certs, key)
        .map_err(|e| {
            tls_err(format!(
                "certificate {} / private key {}: {e}",
                tls.certificate.display(),
                tls.private_key.display()
            ))
        })?;

    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| tls_err(format!("TLS handshake failed: {e}")))?;
    if let Some(boot) = boot {
        let ca = boot.ca.lock().unwrap_or_else(|e| e.into_inner()).take();
        let ca = ca.ok_or_else(|| tls_err("could not bootstrap CA certificate: none received"))?;
        save_ca_cert(&tls.ca_cert, &ca)?;
        tracing::warn!(
            "ovsdb: trusting CA certificate from ssl:{addr} (fingerprint {}), saved to {}",
            fingerprint(ca.as_ref()),
            tls.ca_cert.display()
        );
        return Err(tls_err(format!(
            "bootstrapped CA certificate {}: reconnecting to verify the server with it",
            tls.ca_cert.display()
        )));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(protocol_versions(None).unwrap().len(), 2);
        let v = protocol_versions(Some("TLSv1,TLSv1.1,TLSv1.2")).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].version, rustls::ProtocolVersion::TLSv1_2);
        assert_eq!(protocol_versions(Some("tlsv1.2 TLSv1.3")).unwrap().len(), 2);
        assert!(protocol_versions(Some("TLSv1,TLSv1.1")).is_err());
        assert!(protocol_versions(Some("SSLv3")).is_err());
    }

    #[test]
    fn ciphers() {
        let all = rustls::crypto::ring::DEFAULT_CIPHER_SUITES;
        assert_eq!(cipher_suites(all, None).unwrap().len(), all.len());
        // OVS's default: keywords only, nothing restricted.
        assert_eq!(cipher_suites(all, Some("HIGH:!aNULL:!MD5")).unwrap().len(), all.len());
        let v = cipher_suites(all, Some("ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA")).unwrap();
        let names: Vec<_> = v.iter().filter_map(|s| s.suite().as_str()).collect();
        assert!(names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), "{names:?}");
        assert!(!names.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"), "{names:?}");
        assert!(names.contains(&"TLS13_AES_128_GCM_SHA256") || names.iter().any(|n| n.contains("AES_128_GCM_SHA256")));
        let v = cipher_suites(all, Some("DEFAULT:!ECDHE-RSA-CHACHA20-POLY1305")).unwrap();
        assert_eq!(v.len(), all.len() - 1);
    }

    #[test]
    fn names() {
        assert!(matches!(server_name("127.0.0.1:6642").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("[::1]:6642").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("sb.example.org:6642").unwrap(), ServerName::DnsName(_)));
    }

    #[test]
    fn fingerprint_is_sha1_hex() {
        assert_eq!(fingerprint(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn pem_round_trip() {
        for n in 0..7usize {
            let der: Vec<u8> = (0..(n * 37 + 1)).map(|i| (i * 7 + n) as u8).collect();
            let pem = pem_encode("CERTIFICATE", &der);
            let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), &der[..]);
        }
    }

    #[test]
    fn missing_files_are_errors() {
        let t = TlsConfig::new("/nonexistent/key.pem", "/nonexistent/cert.pem", "/nonexistent/ca.pem");
        t.check().unwrap();
        let e = read_key(&t.private_key).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/key.pem"), "{e}");
        let e = read_roots(&t.ca_cert).unwrap_err().to_string();
        assert!(e.contains("CA certificate /nonexistent/ca.pem"), "{e}");
    }
}
