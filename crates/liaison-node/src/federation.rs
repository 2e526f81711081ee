//! Makes a whole federation on one machine: a throw-away CA, and for each county its signing key,
//! TLS certificate and a configuration file listing every other county as a peer with an agreement
//! for every kind. Used by `liaison demo`, the tests and the sample deployment.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use liaison_core::CountyCode;

use crate::pki::dev_ca::CertificateAuthority;
use crate::pki::{self, PkiError};

/// One county of a federation being made.
#[derive(Debug, Clone)]
pub struct Member {
    pub county: CountyCode,
    pub name: String,
    /// Where its exchange service will listen (peers dial this).
    pub exchange_addr: SocketAddr,
    /// Where its admin interface will listen (loopback).
    pub admin_addr: SocketAddr,
}

/// The files made for one member.
#[derive(Debug, Clone)]
pub struct MemberFiles {
    pub county: CountyCode,
    pub config: PathBuf,
    pub signing_key: PathBuf,
}

/// Why a federation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), FederationError> {
    let io = |source| FederationError::Io {
        path: path.display().to_string(),
        source,
    };
    if private {
        pki::write_private(path, text).map_err(io)
    } else {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)
    }
}

/// Writes `dir/ca.crt`, `dir/ca.key` and, per member, `dir/<code>/{node.toml,signing.pem,tls.crt,tls.key}`.
/// Agreements take effect on `agreement_effective` (YYYY-MM-DD).
pub fn create(
    dir: &Path,
    members: &[Member],
    agreement_effective: &str,
) -> Result<Vec<MemberFiles>, FederationError> {
    let ca = CertificateAuthority::generate("liaison federation CA")?;
    write(&dir.join("ca.crt"), &ca.cert_pem(), false)?;
    write(&dir.join("ca.key"), &ca.key_pem(), true)?;
    let keys: Vec<_> = members
        .iter()
        .map(|_| pki::generate_signing_key())
        .collect();
    let mut files = Vec::new();
    for (member, key) in members.iter().zip(&keys) {
        let home = dir.join(member.county.as_str());
        let cert = ca.issue_node_certificate(member.county, &[])?;
        write(&home.join("tls.crt"), &cert.cert_pem, false)?;
        write(&home.join("tls.key"), &cert.key_pem, true)?;
        write(
            &home.join("signing.pem"),
            &pki::signing_key_to_pem(key),
            true,
        )?;
        let mut config = format!(
            "# liaison node {code} {name}\n\n[node]\ncounty = \"{code}\"\nname = \"{name}\"\ndata_dir = \"data\"\nsigning_key = \"signing.pem\"\n\n\
             [tls]\ncert = \"tls.crt\"\nkey = \"tls.key\"\nca = \"../ca.crt\"\n\n\
             [listen]\nexchange = \"{exchange}\"\nadmin = \"{admin}\"\n\n\
             [delivery]\ninitial_backoff_ms = 200\nmax_backoff_ms = 5000\ntimeout_secs = 10\n",
            code = member.county,
            name = member.name,
            exchange = member.exchange_addr,
            admin = member.admin_addr,
        );
        for (peer, peer_key) in members.iter().zip(&keys) {
            if peer.county == member.county {
                continue;
            }
            let _ = write!(
                config,
                "\n[[peers]]\ncounty = \"{code}\"\nname = \"{name}\"\nendpoint = \"https://{addr}\"\n\
                 keys = [{{ public_key = \"{key}\" }}]\n\
                 agreement = {{ effective = \"{effective}\", allowed_kinds = [\"all\"], responsible_person = \"{name}负责人\", contact_person = \"{name}联系人\", phone = \"0911-{phone}\" }}\n",
                code = peer.county,
                name = peer.name,
                addr = peer.exchange_addr,
                key = hex::encode(peer_key.verifying_key().as_bytes()),
                effective = agreement_effective,
                phone = &peer.county.as_str()[2..],
            );
        }
        let config_path = home.join("node.toml");
        write(&config_path, &config, false)?;
        files.push(MemberFiles {
            county: member.county,
            config: config_path,
            signing_key: home.join("signing.pem"),
        });
    }
    Ok(files)
}
