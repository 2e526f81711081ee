//! Ed25519 signing keys: a node's own key in PKCS#8 PEM (as openssl writes it) and peers'
//! verifying keys as SPKI PEM or hex.

use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::PkiError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::fixtures::*;

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
}
