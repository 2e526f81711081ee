//! Makes a whole federation on one machine: a throw-away CA, and for each county its signing key,
//! TLS certificate and a configuration file. The peers, each with an agreement for every kind, are
//! either in a directory the city signs ([`create_signed`], with the city's key) or listed by hand
//! in each configuration ([`create`]). Used by `liaison demo`, the tests and the sample deployment.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use liaison_core::directory::{
    AgreementDoc, ContactDoc, CountyDoc, DirectoryDoc, KeyDoc, city_verifier_key, sign_directory,
};
use liaison_core::{CountyCode, NodeKey, NoticeKind};

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
    #[error("the directory: {0}")]
    Directory(#[from] liaison_core::directory::DirectoryError),
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

/// The city that signs a federation's directory.
#[derive(Debug, Clone)]
pub struct City {
    /// Its six-digit code, e.g. `610600`.
    pub code: String,
    pub name: String,
    /// How often nodes look for a newer directory.
    pub refresh_secs: u64,
    /// When the directory is signed (Unix ms).
    pub now_ms: i64,
}

/// The city's files of a federation made by [`create_signed`].
#[derive(Debug, Clone)]
pub struct CityFiles {
    /// The city's signing key (keep it offline).
    pub key: PathBuf,
    /// The directory's TOML draft, to change and sign again.
    pub draft: PathBuf,
    /// The signed directory that the nodes' configurations name.
    pub signed: PathBuf,
    /// The city's verifier key, as the nodes' `directory.city_key` holds it.
    pub verifier_key: String,
}

/// Writes `dir/ca.crt`, `dir/ca.key` and, per member, `dir/<code>/{node.toml,signing.pem,tls.crt,tls.key}`,
/// each `node.toml` listing the other members as peers by hand. Agreements take effect on
/// `agreement_effective` (YYYY-MM-DD).
pub fn create(
    dir: &Path,
    members: &[Member],
    agreement_effective: &str,
) -> Result<Vec<MemberFiles>, FederationError> {
    make(dir, members, agreement_effective, None).map(|(files, _)| files)
}

/// As [`create`], but the peers come from a directory the city signs: also writes the city's key
/// `dir/city.pem`, the draft `dir/directory.toml` and the signed `dir/directory.note`, and each
/// `node.toml` has a `[directory]` section instead of peers and a CA file.
pub fn create_signed(
    dir: &Path,
    members: &[Member],
    agreement_effective: &str,
    city: &City,
) -> Result<(Vec<MemberFiles>, CityFiles), FederationError> {
    let (files, city_files) = make(dir, members, agreement_effective, Some(city))?;
    let city_files = city_files.ok_or_else(|| FederationError::Io {
        path: dir.display().to_string(),
        source: std::io::Error::other("no city files were written"),
    })?;
    Ok((files, city_files))
}

fn make(
    dir: &Path,
    members: &[Member],
    agreement_effective: &str,
    city: Option<&City>,
) -> Result<(Vec<MemberFiles>, Option<CityFiles>), FederationError> {
    let ca = CertificateAuthority::generate("liaison federation CA")?;
    write(&dir.join("ca.crt"), &ca.cert_pem(), false)?;
    write(&dir.join("ca.key"), &ca.key_pem(), true)?;
    let keys: Vec<_> = members
        .iter()
        .map(|_| pki::generate_signing_key())
        .collect();
    let city_files = match city {
        Some(city) => Some(sign_city_directory(
            dir,
            members,
            &keys,
            &ca.cert_pem(),
            agreement_effective,
            city,
        )?),
        None => None,
    };
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
        let ca_line = if city.is_some() {
            ""
        } else {
            "ca = \"../ca.crt\"\n"
        };
        let mut config = format!(
            "# liaison node {code} {name}\n\n[node]\ncounty = \"{code}\"\nname = \"{name}\"\ndata_dir = \"data\"\nsigning_key = \"signing.pem\"\n\n\
             [tls]\ncert = \"tls.crt\"\nkey = \"tls.key\"\n{ca_line}\n\
             [listen]\nexchange = \"{exchange}\"\nadmin = \"{admin}\"\n\n\
             [delivery]\ninitial_backoff_ms = 200\nmax_backoff_ms = 5000\ntimeout_secs = 10\n",
            code = member.county,
            name = member.name,
            exchange = member.exchange_addr,
            admin = member.admin_addr,
        );
        if let (Some(city), Some(city_files)) = (city, &city_files) {
            let _ = write!(
                config,
                "\n# The peers come from the directory the city signs; the node keeps its newest\n\
                 # copy in data/directory.note and learns newer ones from its peers.\n\
                 [directory]\nfile = \"../directory.note\"\ncity_key = \"{vkey}\"\nrefresh_secs = {refresh}\n",
                vkey = city_files.verifier_key,
                refresh = city.refresh_secs,
            );
        }
        for (peer, peer_key) in members.iter().zip(&keys) {
            if peer.county == member.county || city.is_some() {
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
    Ok((files, city_files))
}

/// Makes the city's key and signs the first directory: every member, and an agreement for every
/// kind between every two of them.
fn sign_city_directory(
    dir: &Path,
    members: &[Member],
    keys: &[ed25519_dalek::SigningKey],
    ca_pem: &str,
    agreement_effective: &str,
    city: &City,
) -> Result<CityFiles, FederationError> {
    let mut doc = DirectoryDoc::new(&city.code, &city.name);
    let valid_from = format!("{agreement_effective}T00:00:00+08:00");
    for (member, key) in members.iter().zip(keys) {
        doc.counties.push(CountyDoc {
            code: member.county.to_string(),
            name: member.name.clone(),
            endpoint: format!("https://{}", member.exchange_addr),
            tls_ca: ca_pem.to_owned(),
            keys: vec![KeyDoc {
                public_key: hex::encode(key.verifying_key().as_bytes()),
                valid_from: valid_from.clone(),
                valid_until: None,
            }],
            deadlines: None,
        });
    }
    let contact = |m: &Member| ContactDoc {
        county: m.county.to_string(),
        responsible_person: format!("{}负责人", m.name),
        contact_person: format!("{}联系人", m.name),
        phone: format!("0911-{}", &m.county.as_str()[2..]),
        postcode: String::new(),
    };
    for (i, a) in members.iter().enumerate() {
        for b in &members[i + 1..] {
            doc.agreements.push(AgreementDoc {
                counties: vec![a.county.to_string(), b.county.to_string()],
                kinds: NoticeKind::ALL
                    .iter()
                    .map(|k| k.name().to_owned())
                    .collect(),
                effective: agreement_effective.to_owned(),
                contacts: vec![contact(a), contact(b)],
            });
        }
    }
    let city_key = pki::generate_signing_key();
    let node_key = NodeKey::new(city_key.clone());
    let signed = sign_directory(&mut doc, &node_key, city.now_ms)?;
    let verifier_key = city_verifier_key(&city.code, &node_key)?.to_string();
    let files = CityFiles {
        key: dir.join("city.pem"),
        draft: dir.join("directory.toml"),
        signed: dir.join("directory.note"),
        verifier_key,
    };
    write(&files.key, &pki::signing_key_to_pem(&city_key), true)?;
    write(&files.draft, &doc.to_text(), false)?;
    write(&files.signed, &signed.note, false)?;
    write(
        &dir.join("city.vkey"),
        &format!("{}\n", files.verifier_key),
        false,
    )?;
    Ok(files)
}
