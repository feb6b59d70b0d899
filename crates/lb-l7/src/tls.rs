//! TLS configurations built with rustls: termination for listeners (one
//! certificate, or several picked by SNI; ALPN `h2` and `http/1.1`; TLS 1.2
//! and 1.3) and origination towards servers (CA, client certificate for
//! mTLS, ALPN).
//!
//! PEM files are read with `rustls_pki_types::pem::PemObject`. The `ring`
//! provider is passed explicitly, so nothing here depends on a process-wide
//! default provider being installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// ALPN protocol ids offered by listeners, in preference order.
const ALPN_SERVER: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Where the system's CA bundle usually lives (Debian/Ubuntu/Alpine,
/// Fedora/RHEL, openSUSE); used when an upstream gives no `ca`.
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A certificate for a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertSpec {
    /// Names this certificate is chosen for by SNI: exact (`a.example`) or
    /// wildcard (`*.example`, one label). Empty: the default certificate.
    pub server_names: Vec<String>,
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl CertSpec {
    /// A certificate chosen for `server_names` (empty: the default).
    pub fn new(
        server_names: Vec<String>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        Self {
            server_names,
            cert: cert.into(),
            key: key.into(),
        }
    }
}

/// A TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{0}: no certificate found")]
    NoCertificate(PathBuf),
    /// The key does not suit the certificate, or rustls rejected it.
    #[error("{path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// A listener was given no certificate at all.
    #[error("no certificate configured")]
    Empty,
    /// No CA given and no system CA bundle found.
    #[error("no ca given and no system CA bundle found (looked in {})", SYSTEM_CA_BUNDLES.join(", "))]
    NoSystemRoots,
    /// A server name that is neither a DNS name nor an IP address.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// rustls refused the configuration.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// A listener configuration: `certs` chosen by SNI (exact names first, then
/// one-label wildcards), falling back to the certificate without names (or
/// the first one), ALPN `h2` then `http/1.1`, TLS 1.2 and 1.3.
///
/// # Errors
/// [`TlsError`] naming the file that could not be read, or the key that
/// does not match its certificate.
pub fn server_config(certs: &[CertSpec]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let mut resolver = SniResolver::default();
    for spec in certs {
        let chain = read_certs(&spec.cert)?;
        let key = PrivateKeyDer::from_pem_file(&spec.key).map_err(|source| TlsError::Pem {
            path: spec.key.clone(),
            source,
        })?;
        let certified =
            CertifiedKey::from_der(chain, key, &provider).map_err(|source| TlsError::Key {
                path: spec.key.clone(),
                source,
            })?;
        resolver.add(&spec.server_names, Arc::new(certified));
    }
    if resolver.default.is_none() {
        return Err(TlsError::Empty);
    }
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = ALPN_SERVER.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A configuration for connecting to servers: trusting the CAs in `ca`
/// (the system bundle when `None`), presenting `client_cert` = (chain, key)
/// for mTLS, and offering ALPN `h2` only (`alpn_h2`, for HTTP/2 upstreams)
/// or `http/1.1` only.
///
/// # Errors
/// [`TlsError`] naming the file that could not be read.
pub fn client_config(
    ca: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
    alpn_h2: bool,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    let ca_path = match ca {
        Some(path) => path.to_path_buf(),
        None => SYSTEM_CA_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or(TlsError::NoSystemRoots)?,
    };
    for cert in read_certs(&ca_path)? {
        roots.add(cert)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            let der = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Pem {
                path: key.to_path_buf(),
                source,
            })?;
            builder
                .with_client_auth_cert(chain, der)
                .map_err(|source| TlsError::Key {
                    path: key.to_path_buf(),
                    source,
                })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if alpn_h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// Picks a certificate by SNI.
#[derive(Debug, Default)]
struct SniResolver {
    /// Lower-case exact names.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Lower-case parent domains of `*.` names (`example.com` for
    /// `*.example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    /// Without SNI or without a match.
    default: Option<Arc<CertifiedKey>>,
    /// Whether `default` came from a certificate without names.
    explicit_default: bool,
}

impl SniResolver {
    fn add(&mut self, names: &[String], key: Arc<CertifiedKey>) {
        if names.is_empty() && !self.explicit_default {
            self.default = Some(Arc::clone(&key));
            self.explicit_default = true;
        } else if self.default.is_none() {
            self.default = Some(Arc::clone(&key));
        }
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_owned()),
                None => self.exact.entry(name),
            }
            .or_insert_with(|| Arc::clone(&key));
        }
    }

    fn find(&self, sni: &str) -> Option<&Arc<CertifiedKey>> {
        let sni = sni.to_ascii_lowercase();
        self.exact.get(&sni).or_else(|| {
            let (_, parent) = sni.split_once('.')?;
            self.wildcard.get(parent)
        })
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        hello
            .server_name()
            .and_then(|sni| self.find(sni))
            .or(self.default.as_ref())
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<CertifiedKey> {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let der = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        Arc::new(CertifiedKey::from_der(vec![cert.cert.der().clone()], der, &provider()).unwrap())
    }

    #[test]
    fn exact_then_wildcard_then_default() {
        let (a, w, d) = (key("a.example"), key("x.example"), key("default"));
        let mut r = SniResolver::default();
        r.add(&["a.example".into()], Arc::clone(&a));
        r.add(&["*.Example".into()], Arc::clone(&w));
        r.add(&[], Arc::clone(&d));
        assert!(Arc::ptr_eq(r.find("A.example").unwrap(), &a));
        assert!(Arc::ptr_eq(r.find("b.example").unwrap(), &w));
        assert!(r.find("a.b.example").is_none());
        assert!(r.find("example").is_none());
        assert!(Arc::ptr_eq(r.default.as_ref().unwrap(), &d));
    }

    #[test]
    fn first_cert_is_default_without_a_nameless_one() {
        let (a, b) = (key("a.example"), key("b.example"));
        let mut r = SniResolver::default();
        r.add(&["a.example".into()], Arc::clone(&a));
        r.add(&["b.example".into()], b);
        assert!(Arc::ptr_eq(r.default.as_ref().unwrap(), &a));
    }
}
