//! The certificates liaison writes pass `openssl verify -x509_strict` (RFC 5280 as openssl checks
//! it, e.g. an authorityKeyIdentifier on every certificate that is not self-signed): the
//! federation files that `liaison federation init`, the demo and the tests make, what `liaison pki
//! ca` and `liaison pki issue` write, and node certificates issued from a CA made with openssl as
//! the operations guide shows. Each CA also passes as its own trust anchor. And the modules of a
//! serving node do not issue certificates: only the throw-away CA (`pki::dev_ca`) and the
//! federation files that use it do.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output};

use liaison_core::CountyCode;
use liaison_node::federation::{self, Member};
use liaison_tests::{ANSAI, BAOTA, binary};

/// Runs `openssl ARGS`; fails the test, naming the package to install, if openssl is missing.
fn openssl(args: &[&str], dir: &Path) -> Output {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run openssl ({e}): the certificate tests need the `openssl` command. Install \
             Debian's package `openssl` (`apt-get install -y openssl`), or run `cargo xtask test`, \
             which installs it"
        ),
    }
}

/// `openssl verify -x509_strict -CAfile CA CERT` succeeds.
fn verifies_strictly(ca: &Path, cert: &Path) {
    let dir = cert.parent().unwrap();
    let output = openssl(
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            ca.to_str().unwrap(),
            cert.to_str().unwrap(),
        ],
        dir,
    );
    assert!(
        output.status.success(),
        "openssl verify -x509_strict -CAfile {} {}: {}\n{}{}",
        ca.display(),
        cert.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `liaison ARGS` and checks that it succeeds.
fn liaison(args: &[&str]) {
    let output = Command::new(binary::liaison())
        .args(args)
        .output()
        .expect("run liaison");
    assert!(
        output.status.success(),
        "liaison {args:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn member(code: &str, name: &str, port: u16) -> Member {
    Member {
        county: CountyCode::parse(code).unwrap(),
        name: name.to_owned(),
        exchange_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        admin_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port + 1)),
    }
}

#[test]
fn federation_certificates_pass_openssl_strict_verification() {
    let dir = tempfile::tempdir().unwrap();
    let members = [
        member(BAOTA, "宝塔区", 17000),
        member(ANSAI, "安塞区", 17010),
    ];
    federation::create(dir.path(), &members, "2026-01-01").unwrap();
    let ca = dir.path().join("ca.crt");
    verifies_strictly(&ca, &ca);
    for code in [BAOTA, ANSAI] {
        verifies_strictly(&ca, &dir.path().join(code).join("tls.crt"));
    }
}

#[test]
fn liaison_pki_certificates_pass_openssl_strict_verification() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let out = dir.path().join("node");
    liaison(&["pki", "ca", "--out", pki.to_str().unwrap()]);
    liaison(&[
        "pki",
        "issue",
        "--ca-dir",
        pki.to_str().unwrap(),
        "--county",
        BAOTA,
        "--name",
        "node.baota.example",
        "--out",
        out.to_str().unwrap(),
    ]);
    let ca = pki.join("ca.crt");
    verifies_strictly(&ca, &ca);
    verifies_strictly(&ca, &out.join("tls.crt"));
}

#[test]
fn certificates_issued_from_an_openssl_ca_pass_openssl_strict_verification() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    fs::create_dir_all(&pki).unwrap();
    // The CA as docs/operations.md makes it with openssl (its subjectKeyIdentifier is openssl's
    // SHA-1 of the key, which issued certificates must name in their authorityKeyIdentifier).
    for args in [
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ca.key",
        ][..],
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/C=CN/O=Yan'an liaison/CN=Yan'an liaison CA",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.crt",
        ][..],
    ] {
        let output = openssl(args, &pki);
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let out = dir.path().join("node");
    liaison(&[
        "pki",
        "issue",
        "--ca-dir",
        pki.to_str().unwrap(),
        "--county",
        ANSAI,
        "--out",
        out.to_str().unwrap(),
    ]);
    let ca = pki.join("ca.crt");
    verifies_strictly(&ca, &ca);
    verifies_strictly(&ca, &out.join("tls.crt"));
}

/// The code of `file` before its unit tests, without comment lines.
fn code_before_tests(file: &Path) -> String {
    let text = fs::read_to_string(file).unwrap();
    text.lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_serving_node_does_not_issue_certificates() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/liaison-node/src");
    // The throw-away CA, and the federation files for demos and tests that call it.
    let issuing = [src.join("pki/dev_ca.rs"), src.join("federation.rs")];
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !issuing.contains(&path) {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "the node's sources in {}", src.display());
    for file in files {
        let code = code_before_tests(&file);
        for used in ["dev_ca::", "CertificateAuthority", "federation::"] {
            assert!(
                !code.contains(used),
                "{} uses {used}: a serving node only loads certificates (pki::load_tls_files)",
                file.display()
            );
        }
        // rcgen makes certificates; the node's error type may carry rcgen's errors, nothing more.
        let rcgen_uses = code.matches("rcgen").count();
        let rcgen_errors = code.matches("rcgen::Error").count();
        assert_eq!(
            rcgen_uses,
            rcgen_errors,
            "{} uses rcgen: a serving node only loads certificates (pki::load_tls_files)",
            file.display()
        );
    }
}
