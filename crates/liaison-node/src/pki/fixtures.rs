//! Certificates and keys made with openssl, and helpers, shared by the tests of the `pki` modules.

use std::fs;
use std::path::{Path, PathBuf};

use liaison_core::CountyCode;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::tls::verify_chain;
use super::write_private;

/// `openssl genpkey -algorithm ed25519`.
pub(crate) const OPENSSL_ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEID4Xr+uAUhLDOsXE7OafO1swW8llYUYouE5to4ifwCWF
-----END PRIVATE KEY-----
";
/// `openssl pkey -in KEY -pubout` of [`OPENSSL_ED25519_KEY`].
pub(crate) const OPENSSL_ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAIpKYvBB1K4lEas2mJrw865fi9XuyWZHyffCKC1bEmH4=
-----END PUBLIC KEY-----
";
/// The raw public key of [`OPENSSL_ED25519_KEY`] in hex.
pub(crate) const OPENSSL_ED25519_PUBLIC_HEX: &str =
    "229298bc10752b89446acda626bc3ceb97e2f57bb25991f27df08a0b56c4987e";

// An openssl CA and a node certificate for 610621 (SANs 610621.county.liaison, localhost,
// 127.0.0.1; EKU serverAuth+clientAuth), both P-256. Made with the commands in the module docs,
// except that they were signed with `openssl ca -startdate 20200101000000Z -enddate
// 21200101000000Z` so the fixtures stay valid whatever the test machine's clock says.
pub(crate) const OPENSSL_CA_CERT: &str = "-----BEGIN CERTIFICATE-----
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
pub(crate) const OPENSSL_CA_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4e2xpzq1sDFzig5w
/J1c4PafvHeLJwhjDuZZndNPgLahRANCAAR6Pm3EsF/ZfyUTNEfRM/fXmsK2PEMn
Mjq2bthGxYFLyfIoz+brBi9NMxoKGBqdwOqSSEKrf+PHtVDOvhkRi52l
-----END PRIVATE KEY-----
";
pub(crate) const OPENSSL_NODE_CERT: &str = "-----BEGIN CERTIFICATE-----
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
pub(crate) const OPENSSL_NODE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4T2gMEzY3l71sBn0
dj4RqigCufja8BKPKKqSi6A6V3yhRANCAASoWTEXC1IfqazvNxBoT/u1X/43iVKM
gRKWEtIPmwWkHBRlUZzTvPFQH9QWY1TRt8T5a9RknyyCPS/80H06KYo5
-----END PRIVATE KEY-----
";

pub(crate) fn county(code: &str) -> CountyCode {
    CountyCode::parse(code).unwrap()
}

pub(crate) fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

pub(crate) fn chains_to(
    cert_pem: &str,
    ca_pem: &str,
    usage: webpki::KeyUsage,
) -> Result<(), webpki::Error> {
    let ca = der(ca_pem);
    let anchor = webpki::anchor_from_trusted_cert(&ca)?;
    verify_chain(&der(cert_pem), &[], &[anchor], usage)
}

/// Writes the files into a temporary directory and returns their paths (cert, key, ca).
pub(crate) fn write_files(
    dir: &Path,
    cert: &str,
    key: &str,
    ca: &str,
) -> (PathBuf, PathBuf, PathBuf) {
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
