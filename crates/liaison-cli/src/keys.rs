//! Key and certificate commands: signing keys for notices, and a throw-away CA for TLS.

use std::path::PathBuf;

use clap::Subcommand;
use liaison_core::{CountyCode, KeyId};
use liaison_node::pki;
use liaison_node::pki::dev_ca::CertificateAuthority;

use crate::{EXIT_BAD_INPUT, EXIT_FAILURE, Failure};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make a new Ed25519 signing key (PKCS#8 PEM, readable by its owner only) and print its public
    /// half for the peers' directories.
    Generate {
        /// Where to write the private key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public key and key id of a signing key file (made here or with openssl).
    Public {
        /// The private key file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Make a throw-away certificate authority: DIR/ca.crt and DIR/ca.key.
    Ca {
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a node TLS certificate for a county from the CA in --ca-dir: DIR/tls.crt, DIR/tls.key.
    Issue {
        /// Directory holding ca.crt and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The node's county code; the certificate names it as <code>.county.liaison.
        #[arg(long)]
        county: String,
        /// Further DNS names or IP addresses the node is reached by.
        #[arg(long = "name")]
        names: Vec<String>,
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
    },
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::new(EXIT_FAILURE, e.to_string())
}

fn refuse_existing(path: &std::path::Path) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::new(
            EXIT_BAD_INPUT,
            format!("{} exists already; it is never overwritten", path.display()),
        ));
    }
    Ok(())
}

fn print_public(key: &ed25519_dalek::VerifyingKey) {
    println!("key id:     {}", KeyId::of(key));
    println!("public key: {}", hex::encode(key.as_bytes()));
    print!("{}", pki::verifying_key_to_pem(key));
}

pub fn keys(cmd: KeysCommand) -> Result<(), Failure> {
    match cmd {
        KeysCommand::Generate { out } => {
            refuse_existing(&out)?;
            let key = pki::generate_signing_key();
            pki::write_private(&out, &pki::signing_key_to_pem(&key))
                .map_err(|e| failed(format!("{}: {e}", out.display())))?;
            println!("wrote {}", out.display());
            print_public(&key.verifying_key());
            Ok(())
        }
        KeysCommand::Public { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::new(
                    EXIT_BAD_INPUT,
                    format!("cannot read {}: {e}", file.display()),
                )
            })?;
            let key = pki::signing_key_from_pem(&text, &file)
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?;
            print_public(&key.verifying_key());
            Ok(())
        }
    }
}

pub fn pki(cmd: PkiCommand) -> Result<(), Failure> {
    match cmd {
        PkiCommand::Ca { out } => {
            let (cert, key) = (out.join("ca.crt"), out.join("ca.key"));
            refuse_existing(&cert)?;
            refuse_existing(&key)?;
            let ca = CertificateAuthority::generate("liaison federation CA").map_err(failed)?;
            std::fs::create_dir_all(&out).map_err(|e| failed(format!("{}: {e}", out.display())))?;
            std::fs::write(&cert, ca.cert_pem())
                .map_err(|e| failed(format!("{}: {e}", cert.display())))?;
            pki::write_private(&key, &ca.key_pem())
                .map_err(|e| failed(format!("{}: {e}", key.display())))?;
            println!("wrote {} and {}", cert.display(), key.display());
            Ok(())
        }
        PkiCommand::Issue {
            ca_dir,
            county,
            names,
            out,
        } => {
            let county = CountyCode::parse(&county)
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, format!("--county: {e}")))?;
            let ca = CertificateAuthority::load(&ca_dir.join("ca.crt"), &ca_dir.join("ca.key"))
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?;
            let issued = ca
                .issue_node_certificate(county, &names)
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?;
            let (cert, key) = (out.join("tls.crt"), out.join("tls.key"));
            refuse_existing(&cert)?;
            refuse_existing(&key)?;
            std::fs::create_dir_all(&out).map_err(|e| failed(format!("{}: {e}", out.display())))?;
            std::fs::write(&cert, &issued.cert_pem)
                .map_err(|e| failed(format!("{}: {e}", cert.display())))?;
            pki::write_private(&key, &issued.key_pem)
                .map_err(|e| failed(format!("{}: {e}", key.display())))?;
            println!(
                "wrote {} and {} for {}",
                cert.display(),
                key.display(),
                pki::county_dns_name(county)
            );
            Ok(())
        }
    }
}
