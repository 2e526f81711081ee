//! A throw-away certificate authority for tests, demos and `liaison pki`: makes a CA, loads one
//! (also one made with openssl) and issues node certificates from it. A running node never issues
//! certificates; it only loads them ([`super::load_tls_files`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use liaison_core::CountyCode;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData as _, SanType,
};
use rustls_pki_types::{CertificateDer, DnsName};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::ParsedExtension;
use x509_parser::x509::X509Name;

use super::tls::{
    bad_certificate, describe_chain_error, parse_certificates, parse_private_key, verify_chain,
};
use super::{PkiError, county_dns_name, read_text};

/// Lifetime of a CA made by [`CertificateAuthority::generate`].
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of a node certificate made by [`CertificateAuthority::issue_node_certificate`].
const NODE_LIFETIME: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Certificates start a little in the past so a peer whose clock runs behind still accepts them.
const BACKDATE: Duration = Duration::from_secs(3600);

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8); write it with [`write_private`](super::write_private).
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
        // Issued certificates name the CA's key by its own subjectKeyIdentifier (openssl derives it
        // with SHA-1, rcgen with SHA-256), so that their authorityKeyIdentifier matches it.
        if let Some(ski) = subject_key_identifier(&parsed) {
            params.key_identifier_method = KeyIdMethod::PreSpecified(ski.to_vec());
        }
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
        // RFC 5280 §4.2.1.1: required in every certificate that is not self-signed.
        params.use_authority_key_identifier_extension = true;
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

/// The subjectKeyIdentifier of a certificate, if it has one.
fn subject_key_identifier<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
            _ => None,
        })
}

/// PEM with 64-character lines and `\n` line ends, like openssl writes.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), config)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::pki::fixtures::*;
    use crate::pki::{load_tls_files, peer_is_county};
    use rustls_pki_types::ServerName;

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

    /// The authorityKeyIdentifier of the certificate in `cert_pem`.
    fn authority_key_id(cert_pem: &str) -> Vec<u8> {
        let der = der(cert_pem);
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        cert.extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    Some(aki.key_identifier.as_ref()?.0.to_vec())
                }
                _ => None,
            })
            .expect("an authorityKeyIdentifier with a key identifier")
    }

    fn ca_key_id(ca_pem: &str) -> Vec<u8> {
        let der = der(ca_pem);
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        subject_key_identifier(&cert).unwrap().to_vec()
    }

    #[test]
    fn node_certificates_name_their_ca_key_as_the_ca_names_itself() {
        let made = CertificateAuthority::generate("test CA").unwrap();
        let issued = made.issue_node_certificate(county("610602"), &[]).unwrap();
        assert_eq!(
            authority_key_id(&issued.cert_pem),
            ca_key_id(&made.cert_pem())
        );
        let reloaded = CertificateAuthority::from_pem(&made.cert_pem(), &made.key_pem()).unwrap();
        let issued = reloaded
            .issue_node_certificate(county("610602"), &[])
            .unwrap();
        assert_eq!(
            authority_key_id(&issued.cert_pem),
            ca_key_id(&made.cert_pem())
        );
        // openssl derives the CA's key identifier with SHA-1, rcgen with SHA-256: the CA's own wins.
        let openssl = CertificateAuthority::from_pem(OPENSSL_CA_CERT, OPENSSL_CA_KEY).unwrap();
        let issued = openssl
            .issue_node_certificate(county("610602"), &[])
            .unwrap();
        assert_eq!(
            authority_key_id(&issued.cert_pem),
            ca_key_id(OPENSSL_CA_CERT)
        );
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
}
