//! Node identities: the county naming rule for TLS certificates, loading the TLS files, a throw-away CA
//! for tests and demos, and Ed25519 signing-key files.
//!
//! A node's TLS certificate names its county as the DNS subjectAltName `<code>.county.liaison`
//! (e.g. `610602.county.liaison`). Clients verify servers against that name and servers check
//! client certificates for it, so the TLS identity of a peer *is* its county code. The same
//! certificate serves both directions and therefore carries the `serverAuth` and `clientAuth`
//! extended key usages.
//!
//! # Certificates from your own CA (openssl)
//!
//! [`CertificateAuthority`] is for tests and demos. A federation that already runs a CA (or wants
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

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use liaison_core::CountyCode;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::X509Name;

/// The DNS suffix under which every county's TLS name lives.
pub const COUNTY_DNS_SUFFIX: &str = "county.liaison";

/// Lifetime of a CA made by [`CertificateAuthority::generate`].
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of a node certificate made by [`CertificateAuthority::issue_node_certificate`].
const NODE_LIFETIME: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Certificates start a little in the past so a peer whose clock runs behind still accepts them.
const BACKDATE: Duration = Duration::from_secs(3600);

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

/// Whether the peer's end-entity certificate (the first) names county `code`; the chain must
/// already have been verified (rustls does that during the handshake).
pub fn peer_is_county(peer_certs: &[CertificateDer<'_>], code: CountyCode) -> bool {
    let Some(first) = peer_certs.first() else {
        return false;
    };
    let Ok(cert) = webpki::EndEntityCert::try_from(first) else {
        return false;
    };
    let Ok(name) = DnsName::try_from(county_dns_name(code)) else {
        return false;
    };
    cert.verify_is_valid_for_subject_name(&ServerName::DnsName(name))
        .is_ok()
}

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8); write it with [`write_private`].
    pub key_pem: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[elided]")
            .finish()
    }
}

/// A throw-away certificate authority for tests and demos: everything needed to issue node
/// certificates.
#[derive(Debug)]
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
}

impl CertificateAuthority {
    /// Makes a new CA (ECDSA P-256, valid ten years) whose subject is `CN=<name>`.
    pub fn generate(name: &str) -> Result<Self, PkiError> {
        let generate = |source| PkiError::Generate {
            action: format!("generate CA {name:?}"),
            source,
        };
        let key = KeyPair::generate().map_err(generate)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        // Only node certificates hang below it: no intermediate CAs.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params, CA_LIFETIME);
        let cert = params.self_signed(&key).map_err(generate)?;
        Ok(Self {
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA saved with [`cert_pem`](Self::cert_pem) and [`key_pem`](Self::key_pem) (or made
    /// with openssl), checking that the key is the certificate's and that what it issues chains to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        Self::from_named_pem(
            cert_pem,
            Path::new("CA certificate"),
            key_pem,
            Path::new("CA key"),
        )
    }

    /// Reads a CA from two PEM files; errors name the file.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, PkiError> {
        Self::from_named_pem(&read_text(cert)?, cert, &read_text(key)?, key)
    }

    fn from_named_pem(
        cert_pem: &str,
        cert_file: &Path,
        key_pem: &str,
        key_file: &Path,
    ) -> Result<Self, PkiError> {
        let cert_der = parse_certificates(cert_pem, cert_file)?.swap_remove(0);
        // Reject a file that is not a key at all before rcgen's terser error.
        parse_private_key(key_pem, key_file)?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadPrivateKey {
            file: key_file.to_owned(),
            detail: format!(
                "cannot sign with it ({e}); a CA key must be unencrypted PKCS#8 (\"BEGIN PRIVATE KEY\"): \
                 convert with `openssl pkcs8 -topk8 -nocrypt`"
            ),
        })?;
        let anchor = webpki::anchor_from_trusted_cert(&cert_der)
            .map_err(|e| bad_certificate(cert_file, &e))?;
        if webpki::spki_for_anchor(&anchor).as_ref() != key.subject_public_key_info().as_slice() {
            return Err(PkiError::KeyMismatch {
                cert: cert_file.to_owned(),
                key: key_file.to_owned(),
            });
        }
        let (_, parsed) = x509_parser::parse_x509_certificate(cert_der.as_ref()).map_err(|e| {
            PkiError::BadCertificate {
                file: cert_file.to_owned(),
                detail: e.to_string(),
            }
        })?;
        // rcgen writes an issued certificate's issuer name from these parameters, and webpki
        // chains by comparing that name byte for byte with the CA's subject.
        let mut params = CertificateParams::default();
        params.distinguished_name =
            distinguished_name_from(parsed.subject()).map_err(|detail| {
                PkiError::UnsupportedCaName {
                    file: cert_file.to_owned(),
                    detail: detail.to_owned(),
                }
            })?;
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = Self {
            issuer: Issuer::new(params, key),
            cert_der: cert_der.into_owned(),
        };
        ca.check_issued_certificates_chain(cert_file)?;
        Ok(ca)
    }

    /// Issues a throw-away certificate and verifies it against this CA, so a CA whose name rcgen
    /// re-encodes differently (or which has expired) is refused now rather than at a handshake.
    fn check_issued_certificates_chain(&self, cert_file: &Path) -> Result<(), PkiError> {
        let generate = |source| PkiError::Generate {
            action: "issue a test certificate from the CA".to_owned(),
            source,
        };
        let key = KeyPair::generate().map_err(generate)?;
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::DnsName(
            "ca-check.invalid".try_into().map_err(generate)?,
        )];
        set_validity(&mut params, Duration::from_secs(3600));
        let probe = params.signed_by(&key, &self.issuer).map_err(generate)?;
        let anchor = webpki::anchor_from_trusted_cert(&self.cert_der)
            .map_err(|e| bad_certificate(cert_file, &e))?;
        verify_chain(probe.der(), &[], &[anchor], webpki::KeyUsage::server_auth()).map_err(|e| {
            let problem = match e {
                webpki::Error::UnknownIssuer => {
                    "certificates issued with this CA do not chain to it: its subject name uses an \
                     encoding rcgen cannot reproduce (e.g. a multi-valued or repeated attribute)"
                        .to_owned()
                }
                other => describe_chain_error(&other, "the CA"),
            };
            PkiError::UntrustedCertificate {
                cert: cert_file.to_owned(),
                problem,
            }
        })
    }

    /// The CA certificate, PEM: the trust root every node is given.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", self.cert_der.as_ref())
    }

    /// The CA private key, PEM (PKCS#8); keep it off the nodes.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues a node certificate for `code` (ECDSA P-256, valid two years, server and client auth),
    /// also valid for `localhost`, 127.0.0.1 and `extra_names` (each an IP address or a DNS name).
    pub fn issue_node_certificate(
        &self,
        code: CountyCode,
        extra_names: &[String],
    ) -> Result<IssuedCertificate, PkiError> {
        let generate = |source| PkiError::Generate {
            action: format!("issue a node certificate for {code}"),
            source,
        };
        let mut names = vec![
            SanType::DnsName(county_dns_name(code).try_into().map_err(generate)?),
            SanType::DnsName("localhost".try_into().map_err(generate)?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        for name in extra_names {
            let san = if let Ok(ip) = name.parse::<IpAddr>() {
                SanType::IpAddress(ip)
            } else if DnsName::try_from(name.as_str()).is_ok() {
                SanType::DnsName(
                    name.as_str()
                        .try_into()
                        .map_err(|_| PkiError::BadName { name: name.clone() })?,
                )
            } else {
                return Err(PkiError::BadName { name: name.clone() });
            };
            if !names.contains(&san) {
                names.push(san);
            }
        }

        let key = KeyPair::generate().map_err(generate)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("liaison node {code}"));
        params.subject_alt_names = names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        set_validity(&mut params, NODE_LIFETIME);
        let cert = params.signed_by(&key, &self.issuer).map_err(generate)?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
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

/// Makes a new Ed25519 signing key from the operating system's random source.
///
/// # Panics
/// If the operating system cannot supply random bytes, as key generation must not go on without them.
pub fn generate_signing_key() -> SigningKey {
    let mut secret = [0u8; 32];
    if let Err(e) = getrandom::getrandom(&mut secret) {
        panic!("the operating system's random source failed: {e}");
    }
    SigningKey::from_bytes(&secret)
}

/// The signing key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), the form openssl also writes.
pub fn signing_key_to_pem(key: &SigningKey) -> String {
    match key.to_pkcs8_pem(LineEnding::LF) {
        Ok(pem) => pem.as_str().to_owned(),
        // Encoding 32 bytes into a fixed ASN.1 structure has no failure case in practice.
        Err(e) => panic!("Ed25519 PKCS#8 encoding failed: {e}"),
    }
}

/// Reads an Ed25519 signing key from PKCS#8 PEM (as written by [`signing_key_to_pem`] or
/// `openssl genpkey -algorithm ed25519`); `file` only names the source in errors.
pub fn signing_key_from_pem(text: &str, file: &Path) -> Result<SigningKey, PkiError> {
    let bad = |detail: String| PkiError::BadSigningKey {
        file: file.to_owned(),
        detail,
    };
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(bad(
            "the key is encrypted; decrypt it (`openssl pkey -in KEY -out KEY.plain`) \
                        and protect the file with mode 0600 instead"
                .to_owned(),
        ));
    }
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(bad("no \"-----BEGIN PRIVATE KEY-----\" block in it \
                        (make one with `openssl genpkey -algorithm ed25519`)"
            .to_owned()));
    }
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| bad(format!("{e}")))
}

/// The verifying (public) key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as peers' directories list it.
pub fn verifying_key_to_pem(key: &VerifyingKey) -> String {
    match key.to_public_key_pem(LineEnding::LF) {
        Ok(pem) => pem,
        // As for the private key: a fixed structure around 32 bytes.
        Err(e) => panic!("Ed25519 public key encoding failed: {e}"),
    }
}

/// Reads a peer's verifying key given as SPKI PEM or as 64 hex characters (the raw 32 bytes);
/// small-order ("weak") keys are refused since any signature could be forged for them.
pub fn verifying_key_from_text(text: &str) -> Result<VerifyingKey, PkiError> {
    let bad = |detail: String| PkiError::BadVerifyingKey { detail };
    let text = text.trim();
    let key = if text.starts_with("-----BEGIN") {
        VerifyingKey::from_public_key_pem(text).map_err(|e| bad(format!("bad PEM: {e}")))?
    } else {
        if text.len() != 64 {
            return Err(bad(format!(
                "{} characters, not a PEM block",
                text.chars().count()
            )));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| bad(format!("bad hex: {e}")))?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not a point on the curve".to_owned()))?
    };
    if key.is_weak() {
        return Err(bad("a small-order (weak) key".to_owned()));
    }
    Ok(key)
}

/// The PEM texts of a node's TLS certificate (chain), private key and CA, checked to be usable.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This node's certificate, optionally followed by intermediates.
    pub cert_pem: String,
    /// This node's private key.
    pub key_pem: String,
    /// The CA certificate(s) peers' certificates must chain to.
    pub ca_pem: String,
}

impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFiles")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[elided]")
            .field("ca_pem", &self.ca_pem)
            .finish()
    }
}

impl TlsFiles {
    /// Server side: present our certificate and require a client certificate from the CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(false)
    }

    /// Client side towards `peer`: present our certificate and accept only a server certificate
    /// from the CA that names `peer`'s county.
    pub fn client_config(&self, peer: CountyCode) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .domain_name(county_dns_name(peer))
    }
}

/// Reads and checks a node's TLS files: each parses, the key belongs to the certificate, and the
/// certificate chains to the CA for both server and client authentication now.
pub fn load_tls_files(cert: &Path, key: &Path, ca: &Path) -> Result<TlsFiles, PkiError> {
    let files = TlsFiles {
        cert_pem: read_text(cert)?,
        key_pem: read_text(key)?,
        ca_pem: read_text(ca)?,
    };
    let chain = parse_certificates(&files.cert_pem, cert)?;
    let key_der = parse_private_key(&files.key_pem, key)?;
    let ca_certs = parse_certificates(&files.ca_pem, ca)?;
    let anchors = ca_certs
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).map_err(|e| bad_certificate(ca, &e)))
        .collect::<Result<Vec<_>, _>>()?;

    let end_entity =
        webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| bad_certificate(cert, &e))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| {
        PkiError::BadPrivateKey {
            file: key.to_owned(),
            detail: format!(
                "not a key type TLS can use ({e}); use ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048"
            ),
        }
    })?;
    if let Some(spki) = signer.public_key()
        && spki.as_ref() != end_entity.subject_public_key_info().as_ref()
    {
        return Err(PkiError::KeyMismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        });
    }

    for (usage, name) in [
        (webpki::KeyUsage::server_auth(), "serverAuth"),
        (webpki::KeyUsage::client_auth(), "clientAuth"),
    ] {
        verify_chain(&chain[0], &chain[1..], &anchors, usage).map_err(|e| {
            let problem = match e {
                webpki::Error::UnknownIssuer => format!("not issued by the CA in {}", ca.display()),
                webpki::Error::InvalidSignatureForPublicKey => format!(
                    "not issued by the CA in {} (its issuer has the CA's name but a different key)",
                    ca.display()
                ),
                #[allow(deprecated)]
                webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
                    format!(
                        "lacks the {name} extended key usage (node certificates need both serverAuth and clientAuth)"
                    )
                }
                other => describe_chain_error(&other, "the certificate"),
            };
            PkiError::UntrustedCertificate { cert: cert.to_owned(), problem }
        })?;
    }
    Ok(files)
}

fn verify_chain(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    usage: webpki::KeyUsage,
) -> Result<(), webpki::Error> {
    let cert = webpki::EndEntityCert::try_from(end_entity)?;
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        anchors,
        intermediates,
        UnixTime::now(),
        usage,
        None,
        None,
    )
    .map(|_| ())
}

fn describe_chain_error(e: &webpki::Error, whose: &str) -> String {
    match e {
        webpki::Error::CertExpired { not_after, .. } => {
            format!("{whose} expired at {}", unix_to_text(not_after.as_secs()))
        }
        webpki::Error::CertNotValidYet { not_before, .. } => format!(
            "{whose} is not valid before {} (check this machine's clock)",
            unix_to_text(not_before.as_secs())
        ),
        other => format!("{whose} does not verify: {other:?}"),
    }
}

fn unix_to_text(secs: u64) -> String {
    (rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(secs)).to_string()
}

fn bad_certificate(file: &Path, e: &webpki::Error) -> PkiError {
    PkiError::BadCertificate {
        file: file.to_owned(),
        detail: format!("{e:?}"),
    }
}

fn read_text(file: &Path) -> Result<String, PkiError> {
    fs::read_to_string(file).map_err(|source| PkiError::Read {
        file: file.to_owned(),
        source,
    })
}

/// All certificates in `text`; at least one.
fn parse_certificates(text: &str, file: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(file, e))?;
    if certs.is_empty() {
        return Err(PkiError::NoCertificate {
            file: file.to_owned(),
        });
    }
    Ok(certs)
}

fn parse_private_key(text: &str, file: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => PkiError::NoPrivateKey {
            file: file.to_owned(),
        },
        other => bad_pem(file, other),
    })
}

fn bad_pem(file: &Path, e: rustls_pki_types::pem::Error) -> PkiError {
    PkiError::BadPem {
        file: file.to_owned(),
        detail: e.to_string(),
    }
}

fn set_validity(params: &mut CertificateParams, lifetime: Duration) {
    // Built from the epoch with std durations so no direct dependency on the `time` crate is needed.
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    params.not_before = epoch + now.saturating_sub(BACKDATE);
    params.not_after = epoch + now + lifetime;
}

/// Rebuilds an rcgen name from an X.509 Name, attribute by attribute with each value's string
/// type, so that names rcgen writes from it are byte for byte the original.
fn distinguished_name_from(name: &X509Name<'_>) -> Result<DistinguishedName, &'static str> {
    const MALFORMED: &str = "malformed name";
    let unsupported = "unsupported attribute string type";
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let mut attributes = rdn.iter();
        let attribute = attributes.next().ok_or(MALFORMED)?;
        if attributes.next().is_some() {
            return Err("multi-valued relative distinguished name");
        }
        let oid: Vec<u64> = attribute.attr_type().iter().ok_or(MALFORMED)?.collect();
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            return Err("repeated attribute");
        }
        let value = attribute.attr_value();
        let bytes = value.data;
        let text = || std::str::from_utf8(bytes).map_err(|_| "attribute value is not text");
        let value = match value.header.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?.to_owned()),
            Tag::PrintableString => {
                DnValue::PrintableString(text()?.try_into().map_err(|_| unsupported)?)
            }
            Tag::Ia5String => DnValue::Ia5String(text()?.try_into().map_err(|_| unsupported)?),
            Tag::T61String => DnValue::TeletexString(text()?.try_into().map_err(|_| unsupported)?),
            Tag::BmpString => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(bytes.to_vec()).map_err(|_| unsupported)?,
            ),
            Tag::UniversalString => DnValue::UniversalString(
                rcgen::string::UniversalString::from_utf32be(bytes.to_vec())
                    .map_err(|_| unsupported)?,
            ),
            _ => return Err(unsupported),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

/// notAfter (Unix seconds) of an X.509 certificate in DER, if it parses.
pub(crate) fn certificate_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// notAfter (Unix seconds) of the first certificate in `cert_pem`, if it parses.
pub(crate) fn pem_certificate_not_after(cert_pem: &str) -> Option<i64> {
    let der = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .next()?
        .ok()?;
    certificate_not_after(der.as_ref())
}

/// PEM with 64-character lines and `\n` line ends, like openssl writes.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl genpkey -algorithm ed25519`.
    const OPENSSL_ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEID4Xr+uAUhLDOsXE7OafO1swW8llYUYouE5to4ifwCWF
-----END PRIVATE KEY-----
";
    /// `openssl pkey -in KEY -pubout` of [`OPENSSL_ED25519_KEY`].
    const OPENSSL_ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAIpKYvBB1K4lEas2mJrw865fi9XuyWZHyffCKC1bEmH4=
-----END PUBLIC KEY-----
";
    /// The raw public key of [`OPENSSL_ED25519_KEY`] in hex.
    const OPENSSL_ED25519_PUBLIC_HEX: &str =
        "229298bc10752b89446acda626bc3ceb97e2f57bb25991f27df08a0b56c4987e";

    // An openssl CA and a node certificate for 610621 (SANs 610621.county.liaison, localhost,
    // 127.0.0.1; EKU serverAuth+clientAuth), both P-256. Made with the commands in the module docs,
    // except that they were signed with `openssl ca -startdate 20200101000000Z -enddate
    // 21200101000000Z` so the fixtures stay valid whatever the test machine's clock says.
    const OPENSSL_CA_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBujCCAWGgAwIBAgICEAAwCgYIKoZIzj0EAwIwQjELMAkGA1UEBhMCQ04xFzAV
BgNVBAoMDllhbidhbiBsaWFpc29uMRowGAYDVQQDDBFZYW4nYW4gbGlhaXNvbiBD
QTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFowQjELMAkGA1UEBhMC
Q04xFzAVBgNVBAoMDllhbidhbiBsaWFpc29uMRowGAYDVQQDDBFZYW4nYW4gbGlh
aXNvbiBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHo+bcSwX9l/JRM0R9Ez
99eawrY8QycyOrZu2EbFgUvJ8ijP5usGL00zGgoYGp3A6pJIQqt/48e1UM6+GRGL
naWjRTBDMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMB0GA1Ud
DgQWBBS9LKHp3J+W3cNCsdaGOl13KOFp1zAKBggqhkjOPQQDAgNHADBEAiBs5Luq
RspIudmJWJPcil0Ajva8f7AAmrTXkshnYq1yJAIgZmKPRUmZi7U38lpJU5aWYXHY
xRqcQy4A1IANiR3Fnag=
-----END CERTIFICATE-----
";
    const OPENSSL_CA_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4e2xpzq1sDFzig5w
/J1c4PafvHeLJwhjDuZZndNPgLahRANCAAR6Pm3EsF/ZfyUTNEfRM/fXmsK2PEMn
Mjq2bthGxYFLyfIoz+brBi9NMxoKGBqdwOqSSEKrf+PHtVDOvhkRi52l
-----END PRIVATE KEY-----
";
    const OPENSSL_NODE_CERT: &str = "-----BEGIN CERTIFICATE-----
MIICAjCCAamgAwIBAgICEAEwCgYIKoZIzj0EAwIwQjELMAkGA1UEBhMCQ04xFzAV
BgNVBAoMDllhbidhbiBsaWFpc29uMRowGAYDVQQDDBFZYW4nYW4gbGlhaXNvbiBD
QTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFowHjEcMBoGA1UEAwwT
bGlhaXNvbiBub2RlIDYxMDYyMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKhZ
MRcLUh+prO83EGhP+7Vf/jeJUoyBEpYS0g+bBaQcFGVRnNO88VAf1BZjVNG3xPlr
1GSfLII9L/zQfTopijmjgbAwga0wCQYDVR0TBAIwADAdBgNVHQ4EFgQUljgTejzT
W4d2+AVGOIu+Zk+hQEAwHwYDVR0jBBgwFoAUvSyh6dyflt3DQrHWhjpddyjhadcw
MQYDVR0RBCowKIIVNjEwNjIxLmNvdW50eS5saWFpc29ugglsb2NhbGhvc3SHBH8A
AAEwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCMA4GA1UdDwEB/wQEAwIH
gDAKBggqhkjOPQQDAgNHADBEAiBEYqNxgm5439HLGmicERx2vO+9lX8nWkby1TY5
lgZemAIgd31W3hOaq+npBT/3Oh+mvNfPVXtUpazhMByeVTeftms=
-----END CERTIFICATE-----
";
    const OPENSSL_NODE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4T2gMEzY3l71sBn0
dj4RqigCufja8BKPKKqSi6A6V3yhRANCAASoWTEXC1IfqazvNxBoT/u1X/43iVKM
gRKWEtIPmwWkHBRlUZzTvPFQH9QWY1TRt8T5a9RknyyCPS/80H06KYo5
-----END PRIVATE KEY-----
";

    fn county(code: &str) -> CountyCode {
        CountyCode::parse(code).unwrap()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn chains_to(
        cert_pem: &str,
        ca_pem: &str,
        usage: webpki::KeyUsage,
    ) -> Result<(), webpki::Error> {
        let ca = der(ca_pem);
        let anchor = webpki::anchor_from_trusted_cert(&ca)?;
        verify_chain(&der(cert_pem), &[], &[anchor], usage)
    }

    /// Writes the files into a temporary directory and returns their paths (cert, key, ca).
    fn write_files(dir: &Path, cert: &str, key: &str, ca: &str) -> (PathBuf, PathBuf, PathBuf) {
        let paths = (
            dir.join("node.crt"),
            dir.join("node.key"),
            dir.join("ca.crt"),
        );
        fs::write(&paths.0, cert).unwrap();
        write_private(&paths.1, key).unwrap();
        fs::write(&paths.2, ca).unwrap();
        paths
    }

    #[test]
    fn county_dns_name_follows_the_convention() {
        assert_eq!(county_dns_name(county("610602")), "610602.county.liaison");
    }

    #[test]
    fn issued_node_certificate_names_its_own_county_and_no_other() {
        let ca = CertificateAuthority::generate("test CA").unwrap();
        let issued = ca.issue_node_certificate(county("610602"), &[]).unwrap();
        let certs = [der(&issued.cert_pem)];
        assert!(peer_is_county(&certs, county("610602")));
        assert!(!peer_is_county(&certs, county("610603")));
        assert!(!peer_is_county(&[], county("610602")));
        assert!(!peer_is_county(
            &[CertificateDer::from(vec![1, 2, 3])],
            county("610602")
        ));
    }

    #[test]
    fn issued_node_certificate_chains_to_its_ca_for_server_and_client_auth() {
        let ca = CertificateAuthority::generate("test CA").unwrap();
        let issued = ca.issue_node_certificate(county("610621"), &[]).unwrap();
        chains_to(
            &issued.cert_pem,
            &ca.cert_pem(),
            webpki::KeyUsage::server_auth(),
        )
        .unwrap();
        chains_to(
            &issued.cert_pem,
            &ca.cert_pem(),
            webpki::KeyUsage::client_auth(),
        )
        .unwrap();
        let other = CertificateAuthority::generate("other CA").unwrap();
        assert_eq!(
            chains_to(
                &issued.cert_pem,
                &other.cert_pem(),
                webpki::KeyUsage::server_auth()
            ),
            Err(webpki::Error::UnknownIssuer)
        );
        // Same name, different key: the name matches but the signature cannot.
        let namesake = CertificateAuthority::generate("test CA").unwrap();
        assert_eq!(
            chains_to(
                &issued.cert_pem,
                &namesake.cert_pem(),
                webpki::KeyUsage::server_auth()
            ),
            Err(webpki::Error::InvalidSignatureForPublicKey)
        );
    }

    #[test]
    fn extra_names_become_ip_or_dns_subject_alt_names() {
        let ca = CertificateAuthority::generate("test CA").unwrap();
        let extra = [
            "10.1.2.3".to_owned(),
            "node.baota.example".to_owned(),
            "::1".to_owned(),
        ];
        let issued = ca.issue_node_certificate(county("610602"), &extra).unwrap();
        let cert_der = der(&issued.cert_pem);
        let cert = webpki::EndEntityCert::try_from(&cert_der).unwrap();
        for name in ["10.1.2.3", "::1", "127.0.0.1"] {
            let ip = ServerName::try_from(name).unwrap();
            cert.verify_is_valid_for_subject_name(&ip).unwrap();
        }
        let names: Vec<_> = cert.valid_dns_names().collect();
        assert_eq!(
            names,
            ["610602.county.liaison", "localhost", "node.baota.example"]
        );

        let err = ca
            .issue_node_certificate(county("610602"), &["not a name".to_owned()])
            .unwrap_err();
        assert!(matches!(err, PkiError::BadName { .. }), "{err}");
    }

    #[test]
    fn ca_round_trips_through_pem_and_still_issues_certificates_that_chain_to_it() {
        let original = CertificateAuthority::generate("Yan'an liaison CA 延安").unwrap();
        let loaded =
            CertificateAuthority::from_pem(&original.cert_pem(), &original.key_pem()).unwrap();
        assert_eq!(loaded.cert_pem(), original.cert_pem());
        assert_eq!(loaded.key_pem(), original.key_pem());
        let issued = loaded
            .issue_node_certificate(county("610602"), &[])
            .unwrap();
        chains_to(
            &issued.cert_pem,
            &original.cert_pem(),
            webpki::KeyUsage::client_auth(),
        )
        .unwrap();
    }

    #[test]
    fn ca_from_pem_refuses_a_key_that_is_not_the_certificates() {
        let one = CertificateAuthority::generate("one").unwrap();
        let two = CertificateAuthority::generate("two").unwrap();
        let err = CertificateAuthority::from_pem(&one.cert_pem(), &two.key_pem()).unwrap_err();
        assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "CA key: the private key does not belong to the certificate in CA certificate"
        );
        let err = CertificateAuthority::from_pem("garbage", &one.key_pem()).unwrap_err();
        assert!(matches!(err, PkiError::NoCertificate { .. }), "{err}");
    }

    #[test]
    fn openssl_made_ca_loads_and_issues_certificates_that_chain_to_it() {
        let ca = CertificateAuthority::from_pem(OPENSSL_CA_CERT, OPENSSL_CA_KEY).unwrap();
        assert_eq!(
            ca.cert_pem(),
            OPENSSL_CA_CERT,
            "re-encoded PEM matches openssl's text"
        );
        let issued = ca.issue_node_certificate(county("610602"), &[]).unwrap();
        chains_to(
            &issued.cert_pem,
            OPENSSL_CA_CERT,
            webpki::KeyUsage::server_auth(),
        )
        .unwrap();
    }

    #[test]
    fn ca_load_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("ca.crt");
        fs::write(&cert, OPENSSL_CA_CERT).unwrap();
        let err = CertificateAuthority::load(&cert, &dir.path().join("ca.key")).unwrap_err();
        assert!(matches!(err, PkiError::Read { .. }), "{err}");
        assert!(err.to_string().contains("ca.key"), "{err}");
    }

    #[test]
    fn signing_key_round_trips_through_pem() {
        let key = generate_signing_key();
        let pem = signing_key_to_pem(&key);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let loaded = signing_key_from_pem(&pem, Path::new("signing.key")).unwrap();
        assert_eq!(loaded.to_bytes(), key.to_bytes());
        assert_ne!(generate_signing_key().to_bytes(), key.to_bytes());
    }

    #[test]
    fn openssl_made_ed25519_key_loads() {
        let key = signing_key_from_pem(OPENSSL_ED25519_KEY, Path::new("signing.key")).unwrap();
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            OPENSSL_ED25519_PUBLIC_HEX
        );
        assert_eq!(
            verifying_key_to_pem(&key.verifying_key()),
            OPENSSL_ED25519_PUBLIC_PEM
        );
    }

    #[test]
    fn signing_key_from_pem_names_the_file_and_the_problem() {
        let err = signing_key_from_pem(OPENSSL_NODE_KEY, Path::new("/etc/liaison/signing.key"))
            .unwrap_err();
        assert!(matches!(err, PkiError::BadSigningKey { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("/etc/liaison/signing.key: not an Ed25519 signing key"),
            "{err}"
        );
        let err = signing_key_from_pem(OPENSSL_CA_CERT, Path::new("signing.key")).unwrap_err();
        assert!(
            err.to_string()
                .contains("no \"-----BEGIN PRIVATE KEY-----\" block"),
            "{err}"
        );
    }

    #[test]
    fn verifying_keys_load_from_hex_and_pem() {
        let from_hex = verifying_key_from_text(OPENSSL_ED25519_PUBLIC_HEX).unwrap();
        let from_pem = verifying_key_from_text(OPENSSL_ED25519_PUBLIC_PEM).unwrap();
        assert_eq!(from_hex, from_pem);
        let upper = format!("  {}\n", OPENSSL_ED25519_PUBLIC_HEX.to_uppercase());
        assert_eq!(verifying_key_from_text(&upper).unwrap(), from_hex);
        let key = generate_signing_key().verifying_key();
        assert_eq!(
            verifying_key_from_text(&verifying_key_to_pem(&key)).unwrap(),
            key
        );
    }

    #[test]
    fn garbage_verifying_keys_are_refused_with_a_clear_error() {
        for garbage in [
            "",
            "hello",
            &"zz".repeat(32),
            &"ab".repeat(31),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            // The identity point: small order, so any signature would verify under it.
            "0100000000000000000000000000000000000000000000000000000000000000",
        ] {
            let err = verifying_key_from_text(garbage).unwrap_err();
            assert!(
                matches!(err, PkiError::BadVerifyingKey { .. }),
                "{garbage:?}: {err}"
            );
            assert!(
                err.to_string().contains("not an Ed25519 public key"),
                "{err}"
            );
        }
    }

    #[test]
    fn load_tls_files_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = write_files(
            dir.path(),
            OPENSSL_NODE_CERT,
            OPENSSL_NODE_KEY,
            OPENSSL_CA_CERT,
        );
        let missing = dir.path().join("missing-ca.crt");
        let err = load_tls_files(&cert, &key, &missing).unwrap_err();
        assert!(matches!(err, PkiError::Read { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}", missing.display())),
            "{err}"
        );
        load_tls_files(&cert, &key, &ca).unwrap();
    }

    #[test]
    fn load_tls_files_names_a_file_holding_the_wrong_thing() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = write_files(
            dir.path(),
            OPENSSL_NODE_KEY,
            OPENSSL_NODE_CERT,
            OPENSSL_CA_CERT,
        );
        let err = load_tls_files(&cert, &key, &ca).unwrap_err();
        assert!(
            matches!(&err, PkiError::NoCertificate { file } if *file == cert),
            "{err}"
        );

        let (cert, key, ca) = write_files(
            dir.path(),
            OPENSSL_NODE_CERT,
            OPENSSL_NODE_CERT,
            OPENSSL_CA_CERT,
        );
        let err = load_tls_files(&cert, &key, &ca).unwrap_err();
        assert!(
            matches!(&err, PkiError::NoPrivateKey { file } if *file == key),
            "{err}"
        );
        assert!(err.to_string().contains("no private key"), "{err}");

        let (cert, key, ca) = write_files(
            dir.path(),
            OPENSSL_NODE_CERT,
            OPENSSL_CA_KEY,
            OPENSSL_CA_CERT,
        );
        let err = load_tls_files(&cert, &key, &ca).unwrap_err();
        assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn load_tls_files_refuses_a_certificate_from_another_ca_or_without_client_auth() {
        let dir = tempfile::tempdir().unwrap();
        let ours = CertificateAuthority::generate("ours").unwrap();
        let issued = ours.issue_node_certificate(county("610602"), &[]).unwrap();
        let (cert, key, ca) = write_files(
            dir.path(),
            &issued.cert_pem,
            &issued.key_pem,
            OPENSSL_CA_CERT,
        );
        let err = load_tls_files(&cert, &key, &ca).unwrap_err();
        assert!(err.to_string().contains("not issued by the CA in"), "{err}");

        // A server-only certificate, as a web-server CA would typically issue.
        let leaf_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![county_dns_name(county("610602"))]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params, NODE_LIFETIME);
        let server_only = params.signed_by(&leaf_key, &ours.issuer).unwrap();
        let (cert, key, ca) = write_files(
            dir.path(),
            &server_only.pem(),
            &leaf_key.serialize_pem(),
            &ours.cert_pem(),
        );
        let err = load_tls_files(&cert, &key, &ca).unwrap_err();
        assert!(
            err.to_string()
                .contains("lacks the clientAuth extended key usage"),
            "{err}"
        );
    }

    #[test]
    fn openssl_made_node_certificate_loads_and_passes_peer_is_county() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca) = write_files(
            dir.path(),
            OPENSSL_NODE_CERT,
            OPENSSL_NODE_KEY,
            OPENSSL_CA_CERT,
        );
        let files = load_tls_files(&cert, &key, &ca).unwrap();
        assert_eq!(files.cert_pem, OPENSSL_NODE_CERT);
        assert!(!format!("{files:?}").contains("PRIVATE KEY"));
        let certs = [der(OPENSSL_NODE_CERT)];
        assert!(peer_is_county(&certs, county("610621")));
        assert!(!peer_is_county(&certs, county("610602")));
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

    #[test]
    fn distinguished_names_are_rebuilt_byte_for_byte() {
        use x509_parser::prelude::FromDer as _;
        let ca = der(OPENSSL_CA_CERT);
        let (_, parsed) = x509_parser::parse_x509_certificate(ca.as_ref()).unwrap();
        let dn = distinguished_name_from(parsed.subject()).unwrap();
        assert_eq!(
            dn.get(&DnType::CountryName),
            Some(&DnValue::PrintableString("CN".try_into().unwrap()))
        );
        assert_eq!(
            dn.get(&DnType::CommonName),
            Some(&DnValue::Utf8String("Yan'an liaison CA".into()))
        );

        // SEQUENCE { SET { CN=a, O=b } }: two attributes in one RDN.
        let multi_valued = [
            0x30, 0x16, 0x31, 0x14, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, b'a',
            0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x01, b'b',
        ];
        let (_, name) = X509Name::from_der(&multi_valued).unwrap();
        assert_eq!(
            distinguished_name_from(&name).unwrap_err(),
            "multi-valued relative distinguished name"
        );
        // SEQUENCE { SET { CN=a }, SET { CN=b } }: one attribute twice.
        let repeated = [
            0x30, 0x18, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, b'a',
            0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, b'b',
        ];
        let (_, name) = X509Name::from_der(&repeated).unwrap();
        assert_eq!(
            distinguished_name_from(&name).unwrap_err(),
            "repeated attribute"
        );
    }

    fn self_signed_until(not_after: (i32, u8, u8)) -> String {
        let mut params = CertificateParams::new(vec!["610602.county.liaison".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    fn unix(y: i32, m: u8, d: u8) -> i64 {
        time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
            .unwrap()
            .midnight()
            .assume_utc()
            .unix_timestamp()
    }

    #[test]
    fn not_after_is_read_from_utc_time_and_generalized_time() {
        // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280).
        assert_eq!(
            pem_certificate_not_after(&self_signed_until((2028, 11, 28))),
            Some(unix(2028, 11, 28))
        );
        assert_eq!(
            pem_certificate_not_after(&self_signed_until((2061, 2, 3))),
            Some(unix(2061, 2, 3))
        );
        assert_eq!(
            pem_certificate_not_after(OPENSSL_NODE_CERT),
            Some(unix(2120, 1, 1))
        );
        assert_eq!(pem_certificate_not_after(""), None);
        assert_eq!(pem_certificate_not_after(OPENSSL_NODE_KEY), None);
        assert_eq!(certificate_not_after(b""), None);
        assert_eq!(certificate_not_after(&der(OPENSSL_NODE_CERT)[..40]), None);
    }

    mod handshake {
        use super::*;
        use liaison_proto::v1::exchange_client::ExchangeClient;
        use liaison_proto::v1::exchange_server::{Exchange, ExchangeServer};
        use liaison_proto::v1::{DeliverRequest, DeliverResponse};
        use tonic::transport::{Channel, Server, server::TcpIncoming};
        use tonic::{Request, Response, Status};

        /// Accepts a call only from the county it expects, as the real exchange service must.
        struct OnlyFrom(CountyCode);

        #[tonic::async_trait]
        impl Exchange for OnlyFrom {
            async fn deliver(
                &self,
                request: Request<DeliverRequest>,
            ) -> Result<Response<DeliverResponse>, Status> {
                let certs = request
                    .peer_certs()
                    .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
                if peer_is_county(&certs, self.0) {
                    Ok(Response::new(DeliverResponse::default()))
                } else {
                    Err(Status::permission_denied("wrong county"))
                }
            }

            async fn consistency(
                &self,
                _request: Request<liaison_proto::v1::ConsistencyRequest>,
            ) -> Result<Response<liaison_proto::v1::ConsistencyResponse>, Status> {
                Err(Status::unimplemented("not part of this test"))
            }
        }

        fn node(dir: &Path, ca: &CertificateAuthority, code: &str) -> TlsFiles {
            let issued = ca.issue_node_certificate(county(code), &[]).unwrap();
            let dir = dir.join(code);
            fs::create_dir_all(&dir).unwrap();
            let (cert, key, ca) =
                write_files(&dir, &issued.cert_pem, &issued.key_pem, &ca.cert_pem());
            load_tls_files(&cert, &key, &ca).unwrap()
        }

        async fn serve(
            server: &TlsFiles,
            expect_client: &str,
        ) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
            let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = incoming.local_addr().unwrap();
            let router = Server::builder()
                .tls_config(server.server_config())
                .unwrap()
                .add_service(ExchangeServer::new(OnlyFrom(county(expect_client))));
            let task = tokio::spawn(async move {
                router.serve_with_incoming(incoming).await.unwrap();
            });
            (addr, task)
        }

        async fn call(
            client: &TlsFiles,
            addr: std::net::SocketAddr,
            server_county: &str,
        ) -> Result<(), String> {
            let channel = Channel::from_shared(format!("https://{addr}"))
                .unwrap()
                .tls_config(client.client_config(county(server_county)))
                .unwrap()
                .connect()
                .await
                .map_err(|e| format!("connect: {e:?}"))?;
            ExchangeClient::new(channel)
                .deliver(DeliverRequest::default())
                .await
                .map(|_| ())
                .map_err(|status| format!("call: {status}"))
        }

        #[tokio::test]
        async fn mutual_tls_identifies_both_counties() {
            let dir = tempfile::tempdir().unwrap();
            let ca = CertificateAuthority::generate("handshake CA").unwrap();
            let baota = node(dir.path(), &ca, "610602");
            let ansai = node(dir.path(), &ca, "610603");
            let (addr, task) = serve(&baota, "610603").await;

            call(&ansai, addr, "610602").await.unwrap();

            // The server is 宝塔区: a client expecting 延长县 there refuses the handshake.
            let err = call(&ansai, addr, "610621").await.unwrap_err();
            assert!(err.starts_with("connect:"), "{err}");

            // 宝塔区 itself is a valid member but not the county this server expects.
            let err = call(&baota, addr, "610602").await.unwrap_err();
            assert!(err.contains("wrong county"), "{err}");

            // A node from another CA is refused by the server's client verification.
            let stranger_ca = CertificateAuthority::generate("stranger CA").unwrap();
            let stranger = node(&dir.path().join("stranger"), &stranger_ca, "610603");
            let mixed = TlsFiles {
                ca_pem: baota.ca_pem.clone(),
                ..stranger
            };
            assert!(call(&mixed, addr, "610602").await.is_err());
            task.abort();
        }
    }
}
