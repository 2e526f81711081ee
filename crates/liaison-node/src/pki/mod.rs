//! Node identities: the county naming rule for TLS certificates, the errors about certificate, key
//! and PEM files, and writing private files. [`tls`] holds the TLS material (loading and checking a
//! node's certificates, the rustls configurations, recognising a peer's county) and [`keys`] the
//! Ed25519 signing keys; their items are re-exported here. [`dev_ca`] is the throw-away CA that
//! `liaison pki` and the demo issue certificates with; a running node never uses it.
//!
//! A node's TLS certificate names its county as the DNS subjectAltName `<code>.county.liaison`
//! (e.g. `610602.county.liaison`). Clients verify servers against that name and servers check
//! client certificates for it, so the TLS identity of a peer *is* its county code. The same
//! certificate serves both directions and therefore carries the `serverAuth` and `clientAuth`
//! extended key usages.
//!
//! # Certificates from your own CA (openssl)
//!
//! [`dev_ca::CertificateAuthority`] is for tests and demos. A federation that already runs a CA (or wants
//! one made with openssl) issues node certificates like this; any key type rustls supports works
//! (ECDSA P-256/P-384, Ed25519, RSA ≥ 2048):
//!
//! ```text
//! # Once, for the federation: the CA (keep ca.key offline).
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key
//! openssl req -x509 -new -key ca.key -subj "/CN=Yan'an liaison CA" -days 3650 \
//!   -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
//!   -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt
//!
//! # Per node (here 宝塔区, 610602): key and request on the node, signature at the CA.
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out node.key
//! openssl req -new -key node.key -subj "/CN=liaison node 610602" \
//!   -addext "subjectAltName=DNS:610602.county.liaison" \
//!   -addext "extendedKeyUsage=serverAuth,clientAuth" \
//!   -addext "keyUsage=critical,digitalSignature" -out node.csr
//! openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 730 \
//!   -copy_extensions copy -out node.crt        # OpenSSL ≥ 3.0; older: -extfile with the same lines
//!
//! # The node's Ed25519 signing key (its public half goes into the peers' directories).
//! openssl genpkey -algorithm ed25519 -out signing.key
//! openssl pkey -in signing.key -pubout
//! ```
//!
//! Add further `DNS:`/`IP:` entries to `subjectAltName` if peers dial the node by another name
//! than the county name (tonic sends the county name as SNI, so that is rarely needed).
//! [`load_tls_files`] refuses a certificate that does not chain to the CA, has expired, lacks one of
//! the two key usages, or does not belong to the key, naming the file, so such mistakes show at
//! start-up rather than as a failed handshake at a peer.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use liaison_core::CountyCode;

pub mod dev_ca;
pub mod keys;
pub mod tls;

#[cfg(test)]
mod fixtures;

pub use keys::{
    generate_signing_key, signing_key_from_pem, signing_key_to_pem, verifying_key_from_text,
    verifying_key_to_pem,
};
pub use tls::{ALPN_H2, TlsFiles, load_tls_files, load_tls_files_with_ca, peer_is_county};
pub(crate) use tls::{certificate_not_after, pem_certificate_not_after};

/// The DNS suffix under which every county's TLS name lives.
pub const COUNTY_DNS_SUFFIX: &str = "county.liaison";

/// What went wrong with a certificate, key or PEM file; `file` names the file (or, for text that
/// did not come from a file, what the text was).
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read { file: PathBuf, source: io::Error },
    /// The PEM framing or base64 is broken.
    #[error("{}: malformed PEM: {detail}", file.display())]
    BadPem { file: PathBuf, detail: String },
    /// No certificate block where one was expected.
    #[error("{}: no certificate in it (expected a \"-----BEGIN CERTIFICATE-----\" block)", file.display())]
    NoCertificate { file: PathBuf },
    /// A certificate block that does not parse as X.509.
    #[error("{}: not a valid X.509 certificate: {detail}", file.display())]
    BadCertificate { file: PathBuf, detail: String },
    /// No private-key block where one was expected.
    #[error(
        "{}: no private key in it (expected an unencrypted \"-----BEGIN PRIVATE KEY-----\", \"EC PRIVATE KEY\" or \"RSA PRIVATE KEY\" block)",
        file.display()
    )]
    NoPrivateKey { file: PathBuf },
    /// A private key of a kind or form that cannot be used.
    #[error("{}: unusable private key: {detail}", file.display())]
    BadPrivateKey { file: PathBuf, detail: String },
    /// The key file and the certificate file do not go together.
    #[error("{}: the private key does not belong to the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    /// The certificate does not verify against the CA for what a node needs.
    #[error("{}: {problem}", cert.display())]
    UntrustedCertificate { cert: PathBuf, problem: String },
    /// A CA whose subject name rcgen cannot re-encode identically, so its issues would not chain.
    #[error("{}: the CA certificate's subject name cannot be reproduced for issuing ({detail})", file.display())]
    UnsupportedCaName { file: PathBuf, detail: String },
    /// Not a usable Ed25519 signing-key file.
    #[error("{}: not an Ed25519 signing key: {detail}", file.display())]
    BadSigningKey { file: PathBuf, detail: String },
    /// A peer's verifying key that is neither valid SPKI PEM nor 64 hex characters of a sound key.
    #[error(
        "not an Ed25519 public key ({detail}); expected a \"-----BEGIN PUBLIC KEY-----\" PEM block or 64 hex characters"
    )]
    BadVerifyingKey { detail: String },
    /// An extra certificate name that is neither an IP address nor a DNS name.
    #[error("{name:?} is neither an IP address nor a valid DNS name for a certificate")]
    BadName { name: String },
    /// rcgen failed to generate a key or certificate.
    #[error("cannot {action}: {source}")]
    Generate {
        action: String,
        source: rcgen::Error,
    },
}

/// The DNS name a county's certificate carries, e.g. `610602.county.liaison`.
pub fn county_dns_name(code: CountyCode) -> String {
    format!("{}.{COUNTY_DNS_SUFFIX}", code.as_str())
}

/// Writes `contents` to `path` readable by the owner only (mode 0600 on Unix), creating parent
/// directories; meant for private keys.
pub fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(named)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(named)?;
    // The mode above only applies to a new file; tighten an existing one before the key lands in it.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(named)?;
    file.write_all(contents.as_bytes()).map_err(named)?;
    file.sync_all().map_err(named)
}

pub(crate) fn read_text(file: &Path) -> Result<String, PkiError> {
    fs::read_to_string(file).map_err(|source| PkiError::Read {
        file: file.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::fixtures::county;
    use super::*;

    #[test]
    fn county_dns_name_follows_the_convention() {
        assert_eq!(county_dns_name(county("610602")), "610602.county.liaison");
    }

    #[cfg(unix)]
    #[test]
    fn write_private_creates_parents_and_leaves_the_file_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/deeper/node.key");
        write_private(&path, "secret").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "secret");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let loose = dir.path().join("loose.key");
        fs::write(&loose, "old").unwrap();
        fs::set_permissions(&loose, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&loose, "new").unwrap();
        assert_eq!(
            fs::metadata(&loose).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_to_string(&loose).unwrap(), "new");
    }
}
