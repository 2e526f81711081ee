//! A node's TLS material: reading and checking its certificate, key and CA files, the rustls
//! configurations for the exchange service and its clients, and recognising a peer's county in the
//! certificate it presented.

use std::fmt;
use std::path::Path;

use liaison_core::CountyCode;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, TrustAnchor, UnixTime};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::{PkiError, county_dns_name, read_text};

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

/// The only application protocol the exchange service speaks: HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";

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

    /// Server side for the exchange listener, which does its own handshakes: the same as
    /// [`Self::server_config`], offering ALPN `h2` only.
    pub fn rustls_server_config(&self) -> Result<std::sync::Arc<rustls::ServerConfig>, PkiError> {
        let here = Path::new("the node's TLS files");
        let unusable = |e: &dyn std::fmt::Display| PkiError::BadCertificate {
            file: here.to_owned(),
            detail: e.to_string(),
        };
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(parse_certificates(&self.ca_pem, here)?);
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.into(),
            provider.clone(),
        )
        .build()
        .map_err(|e| unusable(&e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| unusable(&e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                parse_certificates(&self.cert_pem, here)?,
                parse_private_key(&self.key_pem, here)?,
            )
            .map_err(|e| unusable(&e))?;
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(std::sync::Arc::new(config))
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
    let ca_pem = read_text(ca)?;
    load_tls_files_with_ca(cert, key, ca_pem, ca)
}

/// As [`load_tls_files`], with the CA certificates given as PEM text; `ca` names where they come
/// from in errors (e.g. the signed directory's file).
pub fn load_tls_files_with_ca(
    cert: &Path,
    key: &Path,
    ca_pem: String,
    ca: &Path,
) -> Result<TlsFiles, PkiError> {
    let files = TlsFiles {
        cert_pem: read_text(cert)?,
        key_pem: read_text(key)?,
        ca_pem,
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

pub(super) fn verify_chain(
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

pub(super) fn describe_chain_error(e: &webpki::Error, whose: &str) -> String {
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
    i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
        .map_or_else(|| format!("{secs} s after 1970"), |t| t.to_string())
}

pub(super) fn bad_certificate(file: &Path, e: &webpki::Error) -> PkiError {
    PkiError::BadCertificate {
        file: file.to_owned(),
        detail: format!("{e:?}"),
    }
}

/// All certificates in `text`; at least one.
pub(super) fn parse_certificates(
    text: &str,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
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

pub(super) fn parse_private_key(
    text: &str,
    file: &Path,
) -> Result<PrivateKeyDer<'static>, PkiError> {
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

#[cfg(test)]
mod tests {
    use std::fs;

    use rcgen::{CertificateParams, KeyPair};

    use super::*;
    use crate::pki::dev_ca::CertificateAuthority;
    use crate::pki::fixtures::*;

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

            async fn cosign(
                &self,
                _request: Request<liaison_proto::v1::CosignRequest>,
            ) -> Result<Response<liaison_proto::v1::CosignResponse>, Status> {
                Err(Status::unimplemented("not part of this test"))
            }

            async fn get_directory(
                &self,
                _request: Request<liaison_proto::v1::GetDirectoryRequest>,
            ) -> Result<Response<liaison_proto::v1::GetDirectoryResponse>, Status> {
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
