//! The federation directory (名录) that the city bureau (市人口计生局) signs: every county, its
//! endpoint, TLS CA and signing keys (with validity windows, history kept), and the agreements
//! (协议书) between counties. It travels as a C2SP signed note whose text is a TOML document; see
//! docs/protocol.md, "The federation directory".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::checkpoint::{NoteError, NoteSigner, NoteVerifierKey, open_note, sign_note};
use crate::deadline::PolicyDoc;
use crate::trust::{self, Agreement, Peer, PeerKey};
use crate::{CountyCode, DuePolicy, NodeKey, NoticeKind};

/// The value of the `format` field of this version of the directory.
pub const FORMAT: &str = "liaison-directory/v1";

/// The note key name under which the city with code `city` signs its directory.
pub fn city_key_name(city: &str) -> String {
    format!("liaison/city/{city}")
}

/// The directory document as written in TOML: a draft (no `issued_at` yet) or the text of a
/// signed version. Field names are those of docs/protocol.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryDoc {
    pub format: String,
    /// The city's six-digit code, e.g. `610600`.
    pub city: String,
    pub city_name: String,
    /// The serial of the version; every signed version has a higher one than the last.
    pub serial: u64,
    /// When the city signed this version (RFC 3339); absent in a draft not yet signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    #[serde(default)]
    pub counties: Vec<CountyDoc>,
    #[serde(default)]
    pub agreements: Vec<AgreementDoc>,
}

/// One county of the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountyDoc {
    pub code: String,
    pub name: String,
    /// Where its exchange service listens, `https://…`.
    pub endpoint: String,
    /// PEM text of the CA certificate(s) its TLS certificates chain to.
    pub tls_ca: String,
    #[serde(default)]
    pub keys: Vec<KeyDoc>,
    /// The county's reply-deadline rules, when the city sets them: the directive's limits with
    /// these changes. Absent: the county's own `[deadlines]` settings apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadlines: Option<PolicyDoc>,
}

/// One signing key of a county; never removed, only retired with `valid_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDoc {
    /// The Ed25519 public key, 64 hex digits.
    pub public_key: String,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// An agreement (协议书) between two counties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementDoc {
    pub counties: Vec<String>,
    /// Notice kinds, by snake-case name, that either county may send the other.
    pub kinds: Vec<String>,
    /// First day (YYYY-MM-DD, China Standard Time) on which it is in force.
    pub effective: String,
    /// Each county's people for this agreement: exactly one entry per county.
    pub contacts: Vec<ContactDoc>,
}

/// Who answers for one county under an agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactDoc {
    pub county: String,
    /// Responsible person (负责人).
    #[serde(default)]
    pub responsible_person: String,
    /// Contact person (联系人).
    pub contact_person: String,
    pub phone: String,
    #[serde(default)]
    pub postcode: String,
}

/// One problem in a directory document, with its TOML path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Why a directory cannot be used: its signature, or every problem in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("the city's signature: {0}")]
    Signature(#[from] NoteError),
    #[error("the directory is of city {stated} but the key is {key_name}, which signs for another")]
    WrongCity { stated: String, key_name: String },
    #[error("{}", .0.iter().map(|p| format!("{}: {}", p.key, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
}

impl DirectoryError {
    fn one(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Problem {
            key: key.into(),
            message: message.into(),
        }])
    }
}

/// A county of a checked directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct County {
    pub code: CountyCode,
    pub name: String,
    pub endpoint: String,
    pub tls_ca: String,
    pub keys: Vec<PeerKey>,
    /// The deadline policy the city sets for the county, if it sets one.
    pub policy: Option<DuePolicy>,
}

/// The people of one county under an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub responsible_person: String,
    pub contact_person: String,
    pub phone: String,
    pub postcode: String,
}

/// An agreement of a checked directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bilateral {
    pub counties: [CountyCode; 2],
    pub kinds: BTreeSet<NoticeKind>,
    pub effective: Date,
    pub contacts: BTreeMap<CountyCode, Contact>,
}

/// A directory whose every field was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Federation {
    pub city: String,
    pub city_name: String,
    pub serial: u64,
    pub issued_at_ms: Option<i64>,
    pub counties: Vec<County>,
    pub agreements: Vec<Bilateral>,
}

impl Federation {
    /// The county with `code`.
    pub fn county(&self, code: CountyCode) -> Option<&County> {
        self.counties.iter().find(|c| c.code == code)
    }

    /// The peers as county `me` sees them: every other county, with the agreement between it and
    /// `me` from `me`'s side (the peer's contact person and phone).
    pub fn to_trust_directory(&self, me: CountyCode) -> trust::Directory {
        trust::Directory::new(self.counties.iter().filter(|c| c.code != me).map(|c| {
            let agreement = self
                .agreements
                .iter()
                .find(|a| a.counties.contains(&me) && a.counties.contains(&c.code))
                .and_then(|a| {
                    let contact = a.contacts.get(&c.code)?;
                    Some(Agreement {
                        allowed_kinds: a.kinds.clone(),
                        responsible_person: contact.responsible_person.clone(),
                        contact_person: contact.contact_person.clone(),
                        phone: contact.phone.clone(),
                        postcode: contact.postcode.clone(),
                        effective: a.effective,
                    })
                });
            Peer {
                county: c.code,
                name: c.name.clone(),
                endpoint: c.endpoint.clone(),
                keys: c.keys.clone(),
                agreement,
            }
        }))
    }

    /// The distinct `tls_ca` PEM texts of all counties, joined: the roots peers' TLS
    /// certificates may chain to.
    pub fn tls_roots_pem(&self) -> String {
        let mut seen = BTreeSet::new();
        let mut pem = String::new();
        for c in &self.counties {
            let ca = c.tls_ca.trim();
            if seen.insert(ca) {
                pem.push_str(ca);
                pem.push('\n');
            }
        }
        pem
    }
}

/// Parses an RFC 3339 instant to Unix milliseconds.
fn parse_instant(text: &str) -> Result<i64, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|e| {
            format!("{text:?} is not an RFC 3339 time such as 2026-01-01T00:00:00+08:00: {e}")
        })
}

/// Unix milliseconds as RFC 3339 in China Standard Time, e.g. `2026-03-02T09:00:00+08:00`.
pub fn format_instant(unix_ms: i64) -> String {
    crate::clock::cst_datetime(unix_ms)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_ms.to_string())
}

impl DirectoryDoc {
    /// An empty draft for `city`, serial 0 (no version signed yet).
    pub fn new(city: &str, city_name: &str) -> Self {
        Self {
            format: FORMAT.to_owned(),
            city: city.to_owned(),
            city_name: city_name.to_owned(),
            serial: 0,
            issued_at: None,
            counties: Vec::new(),
            agreements: Vec::new(),
        }
    }

    /// Reads a TOML document strictly: unknown keys are refused, and an error names its path.
    pub fn parse(text: &str) -> Result<Self, DirectoryError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| DirectoryError::one("(toml)", e.message()))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().message().to_owned();
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next());
            match (missing, path.as_str()) {
                (Some(field), ".") => DirectoryError::one(field, "is required"),
                (Some(field), path) => {
                    DirectoryError::one(format!("{path}.{field}"), "is required")
                }
                (None, ".") => DirectoryError::one("(toml)", message),
                (None, path) => DirectoryError::one(path, message),
            }
        })
    }

    /// The document as TOML text.
    pub fn to_text(&self) -> String {
        // Every field is a string, integer or array of tables: serialization cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every rule of docs/protocol.md and reports every problem with its path.
    pub fn check(&self) -> Result<Federation, DirectoryError> {
        let mut problems = Vec::new();
        let mut problem = |key: String, message: String| problems.push(Problem { key, message });
        if self.format != FORMAT {
            problem(
                "format".into(),
                format!("{:?} is not {FORMAT:?}", self.format),
            );
        }
        if self.city.len() != 6 || !self.city.bytes().all(|b| b.is_ascii_digit()) {
            problem(
                "city".into(),
                format!("{:?} is not a six-digit city code", self.city),
            );
        }
        if self.city_name.trim().is_empty() {
            problem("city_name".into(), "must not be empty".into());
        }
        let issued_at_ms = match self.issued_at.as_deref().map(parse_instant).transpose() {
            Ok(t) => t,
            Err(e) => {
                problem("issued_at".into(), e);
                None
            }
        };
        let mut counties = Vec::new();
        let mut codes = BTreeSet::new();
        for (i, c) in self.counties.iter().enumerate() {
            let at = |f: &str| format!("counties[{i}].{f}");
            let code = match CountyCode::parse(&c.code) {
                Ok(code) => {
                    if !codes.insert(code) {
                        problem(at("code"), format!("{code} is listed twice"));
                    }
                    Some(code)
                }
                Err(e) => {
                    problem(at("code"), e.to_string());
                    None
                }
            };
            if c.name.trim().is_empty() {
                problem(at("name"), "must not be empty".into());
            }
            if !c.endpoint.starts_with("https://") {
                problem(
                    at("endpoint"),
                    format!(
                        "{:?} must start with https:// (counties talk over mutual TLS)",
                        c.endpoint
                    ),
                );
            }
            if !c.tls_ca.contains("-----BEGIN CERTIFICATE-----") {
                problem(
                    at("tls_ca"),
                    "must hold the PEM text of at least one CA certificate".into(),
                );
            }
            if c.keys.is_empty() {
                problem(at("keys"), "list at least one signing key".into());
            }
            let mut keys = Vec::new();
            for (k, key) in c.keys.iter().enumerate() {
                let at = |f: &str| format!("counties[{i}].keys[{k}].{f}");
                let public = parse_public_key(&key.public_key)
                    .map_err(|e| problem(at("public_key"), e))
                    .ok();
                let from = parse_instant(&key.valid_from)
                    .map_err(|e| problem(at("valid_from"), e))
                    .ok();
                let until = match key.valid_until.as_deref().map(parse_instant).transpose() {
                    Ok(u) => Some(u),
                    Err(e) => {
                        problem(at("valid_until"), e);
                        None
                    }
                };
                if let (Some(public), Some(from), Some(until)) = (public, from, until) {
                    if until.is_some_and(|u| u <= from) {
                        problem(at("valid_until"), "must be after valid_from".into());
                    }
                    if keys.iter().any(|k: &PeerKey| k.key == public) {
                        problem(at("public_key"), "is listed twice for this county".into());
                    }
                    keys.push(PeerKey {
                        key: public,
                        valid_from_ms: from,
                        valid_until_ms: until,
                    });
                }
            }
            let policy = match c.deadlines.as_ref().map(PolicyDoc::to_policy) {
                None => None,
                Some(Ok(policy)) => Some(policy),
                Some(Err(found)) => {
                    for (key, message) in found {
                        problem(at(&format!("deadlines.{key}")), message);
                    }
                    None
                }
            };
            if let Some(code) = code {
                counties.push(County {
                    code,
                    name: c.name.clone(),
                    endpoint: c.endpoint.clone(),
                    tls_ca: c.tls_ca.clone(),
                    keys,
                    policy,
                });
            }
        }
        let mut agreements = Vec::new();
        let mut pairs = BTreeSet::new();
        for (i, a) in self.agreements.iter().enumerate() {
            let at = |f: &str| format!("agreements[{i}].{f}");
            let mut pair = Vec::new();
            if a.counties.len() != 2 {
                problem(at("counties"), "must name exactly two counties".into());
            }
            for (n, text) in a.counties.iter().enumerate() {
                match CountyCode::parse(text) {
                    Ok(code) if codes.contains(&code) => pair.push(code),
                    Ok(code) => problem(
                        format!("agreements[{i}].counties[{n}]"),
                        format!("{code} is not a county of the directory"),
                    ),
                    Err(e) => problem(format!("agreements[{i}].counties[{n}]"), e.to_string()),
                }
            }
            let pair = match pair[..] {
                [a, b] if a == b => {
                    problem(at("counties"), "a county cannot agree with itself".into());
                    None
                }
                [a, b] => {
                    if !pairs.insert((a.min(b), a.max(b))) {
                        problem(
                            at("counties"),
                            format!("there is already an agreement between {a} and {b}"),
                        );
                    }
                    Some([a, b])
                }
                _ => None,
            };
            let mut kinds = BTreeSet::new();
            for (k, name) in a.kinds.iter().enumerate() {
                match name.parse::<NoticeKind>() {
                    Ok(kind) => {
                        kinds.insert(kind);
                    }
                    Err(e) => problem(format!("agreements[{i}].kinds[{k}]"), e.to_string()),
                }
            }
            let effective = crate::parse_date(&a.effective)
                .map_err(|e| problem(at("effective"), e.to_string()))
                .ok();
            let mut contacts = BTreeMap::new();
            for (n, c) in a.contacts.iter().enumerate() {
                let at = |f: &str| format!("agreements[{i}].contacts[{n}].{f}");
                let code = match CountyCode::parse(&c.county) {
                    Ok(code) if pair.is_some_and(|p| !p.contains(&code)) => {
                        problem(
                            at("county"),
                            format!("{code} is not one of the agreement's counties"),
                        );
                        None
                    }
                    Ok(code) => Some(code),
                    Err(e) => {
                        problem(at("county"), e.to_string());
                        None
                    }
                };
                if c.contact_person.trim().is_empty() {
                    problem(
                        at("contact_person"),
                        "must name the contact person (联系人)".into(),
                    );
                }
                if c.phone.trim().is_empty() {
                    problem(at("phone"), "must give the contact phone (联系电话)".into());
                }
                if let Some(code) = code {
                    let contact = Contact {
                        responsible_person: c.responsible_person.clone(),
                        contact_person: c.contact_person.clone(),
                        phone: c.phone.clone(),
                        postcode: c.postcode.clone(),
                    };
                    if contacts.insert(code, contact).is_some() {
                        problem(at("county"), format!("{code} has contacts twice"));
                    }
                }
            }
            if let Some(pair) = pair {
                for code in pair {
                    if !contacts.contains_key(&code) {
                        problem(
                            at("contacts"),
                            format!("give the contact person and phone of {code}"),
                        );
                    }
                }
                if let Some(effective) = effective {
                    agreements.push(Bilateral {
                        counties: pair,
                        kinds,
                        effective,
                        contacts,
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(DirectoryError::Invalid(problems));
        }
        Ok(Federation {
            city: self.city.clone(),
            city_name: self.city_name.clone(),
            serial: self.serial,
            issued_at_ms,
            counties,
            agreements,
        })
    }

    /// The county entry with `code`, for editing.
    pub fn county_mut(&mut self, code: &str) -> Option<&mut CountyDoc> {
        self.counties.iter_mut().find(|c| c.code == code)
    }
}

/// Parses 64 hex digits as an Ed25519 public key.
fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{text:?} is not 64 hex digits"))?;
    let key = VerifyingKey::from_bytes(&bytes)
        .map_err(|_| format!("{text:?} is not an Ed25519 public key"))?;
    if key.is_weak() {
        return Err(format!("{text:?} is a weak Ed25519 key"));
    }
    Ok(key)
}

/// A directory the city signed, as received: the whole note (to store and pass on unchanged) and
/// what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDirectory {
    pub serial: u64,
    pub issued_at_ms: i64,
    /// The signed text (TOML).
    pub text: String,
    /// The whole signed note, text and signature lines.
    pub note: String,
    pub federation: Federation,
}

impl SignedDirectory {
    /// Verifies the city's signature and checks the text. The key must be named
    /// `liaison/city/<city>` for the city the text names.
    pub fn open(note: &str, city_key: &NoteVerifierKey) -> Result<Self, DirectoryError> {
        let text = open_note(note, city_key)?;
        let doc = DirectoryDoc::parse(text)?;
        if city_key.name() != city_key_name(&doc.city) {
            return Err(DirectoryError::WrongCity {
                stated: doc.city,
                key_name: city_key.name().to_owned(),
            });
        }
        let federation = doc.check()?;
        let issued_at_ms = federation
            .issued_at_ms
            .ok_or_else(|| DirectoryError::one("issued_at", "is required in a signed directory"))?;
        Ok(Self {
            serial: federation.serial,
            issued_at_ms,
            text: text.to_owned(),
            note: note.to_owned(),
            federation,
        })
    }

    /// The peers as county `me` sees them.
    pub fn to_trust_directory(&self, me: CountyCode) -> trust::Directory {
        self.federation.to_trust_directory(me)
    }
}

/// Signs the next version of `doc` with the city's key: the serial becomes one more than the
/// draft's, `issued_at` becomes `now_ms`, and `doc` is updated to match. Returns the signed note.
pub fn sign_directory(
    doc: &mut DirectoryDoc,
    city_key: &NodeKey,
    now_ms: i64,
) -> Result<SignedDirectory, DirectoryError> {
    let mut next = doc.clone();
    next.serial = doc
        .serial
        .checked_add(1)
        .ok_or_else(|| DirectoryError::one("serial", "cannot go higher"))?;
    next.issued_at = Some(format_instant(now_ms));
    next.check()?;
    let signer = NoteSigner::new(&city_key_name(&next.city), city_key)
        .map_err(|e| DirectoryError::one("city", e.to_string()))?;
    let note = sign_note(&next.to_text(), &signer)?;
    let signed = SignedDirectory::open(&note, &signer.verifier_key())?;
    *doc = next;
    Ok(signed)
}

/// The verifier key (vkey) of the city's signing key, as nodes are configured with it.
pub fn city_verifier_key(city: &str, key: &NodeKey) -> Result<NoteVerifierKey, DirectoryError> {
    NoteVerifierKey::new(&city_key_name(city), key.verifying_key())
        .map_err(|e| DirectoryError::one("city", e.to_string()))
}

impl fmt::Display for Federation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "directory of {} {} serial {}{}",
            self.city,
            self.city_name,
            self.serial,
            self.issued_at_ms
                .map(|t| format!(", signed {}", format_instant(t)))
                .unwrap_or_else(|| ", not signed".into())
        )?;
        for c in &self.counties {
            writeln!(f, "county {} {}  {}", c.code, c.name, c.endpoint)?;
            for k in &c.keys {
                writeln!(
                    f,
                    "  key {}  from {}{}",
                    k.key_id(),
                    format_instant(k.valid_from_ms),
                    k.valid_until_ms
                        .map(|u| format!(" until {}", format_instant(u)))
                        .unwrap_or_default()
                )?;
            }
        }
        for a in &self.agreements {
            let kinds: Vec<&str> = a.kinds.iter().map(|k| k.name()).collect();
            writeln!(
                f,
                "agreement {} ↔ {} from {}: {}",
                a.counties[0],
                a.counties[1],
                a.effective,
                kinds.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    /// 2026-03-02 09:00 CST.
    const MARCH: i64 = 1_772_413_200_000;

    fn key(seed: u8) -> NodeKey {
        NodeKey::new(SigningKey::from_bytes(&[seed; 32]))
    }

    fn county(code: &str, name: &str, seed: u8) -> CountyDoc {
        CountyDoc {
            code: code.into(),
            name: name.into(),
            endpoint: format!("https://{code}.example:7443"),
            tls_ca: CA.into(),
            keys: vec![KeyDoc {
                public_key: hex::encode(key(seed).verifying_key().as_bytes()),
                valid_from: "2026-01-01T00:00:00+08:00".into(),
                valid_until: None,
            }],
            deadlines: None,
        }
    }

    fn contact(code: &str, person: &str) -> ContactDoc {
        ContactDoc {
            county: code.into(),
            responsible_person: "负责人".into(),
            contact_person: person.into(),
            phone: "0911-1234567".into(),
            postcode: "716000".into(),
        }
    }

    fn doc() -> DirectoryDoc {
        let mut doc = DirectoryDoc::new("610600", "延安市");
        doc.counties = vec![
            county("610602", "宝塔区", 2),
            county("610603", "安塞区", 3),
            county("610621", "延长县", 4),
        ];
        doc.agreements = vec![AgreementDoc {
            counties: vec!["610602".into(), "610603".into()],
            kinds: vec!["case_notice".into(), "contact_letter".into()],
            effective: "2026-01-01".into(),
            contacts: vec![contact("610602", "王芳"), contact("610603", "李强")],
        }];
        doc
    }

    fn problems(doc: &DirectoryDoc) -> Vec<String> {
        match doc.check() {
            Err(DirectoryError::Invalid(p)) => p.into_iter().map(|p| p.key).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_signed_directory_round_trips_and_bumps_the_serial() {
        let city = key(1);
        let mut draft = doc();
        let signed = sign_directory(&mut draft, &city, MARCH).unwrap();
        assert_eq!((signed.serial, draft.serial), (1, 1));
        assert_eq!(signed.issued_at_ms, MARCH);
        assert_eq!(
            draft.issued_at.as_deref(),
            Some("2026-03-02T09:00:00+08:00")
        );
        let vkey = city_verifier_key("610600", &city).unwrap();
        assert!(vkey.to_string().starts_with("liaison/city/610600+"));
        let opened = SignedDirectory::open(&signed.note, &vkey).unwrap();
        assert_eq!(opened, signed);
        assert_eq!(DirectoryDoc::parse(&opened.text).unwrap(), draft);
        let again = sign_directory(&mut draft, &city, MARCH + 1000).unwrap();
        assert_eq!(again.serial, 2);
    }

    #[test]
    fn the_trust_directory_is_seen_from_one_county_with_the_peers_contacts() {
        let mut draft = doc();
        let signed = sign_directory(&mut draft, &key(1), MARCH).unwrap();
        let baota = CountyCode::parse("610602").unwrap();
        let ansai = CountyCode::parse("610603").unwrap();
        let yanchang = CountyCode::parse("610621").unwrap();
        let seen = signed.to_trust_directory(baota);
        assert!(seen.get(baota).is_none(), "a county is not its own peer");
        let peer = seen.get(ansai).unwrap();
        let agreement = peer.agreement.as_ref().unwrap();
        assert_eq!(agreement.contact_person, "李强");
        assert!(peer.may_send(NoticeKind::CaseNotice, MARCH).is_ok());
        assert!(peer.may_send(NoticeKind::Bulletin, MARCH).is_err());
        assert!(seen.get(yanchang).unwrap().agreement.is_none());
        let from_ansai = signed.to_trust_directory(ansai);
        assert_eq!(
            from_ansai
                .get(baota)
                .unwrap()
                .agreement
                .as_ref()
                .unwrap()
                .contact_person,
            "王芳"
        );
    }

    #[test]
    fn a_forged_or_foreign_signature_is_refused() {
        let mut draft = doc();
        let signed = sign_directory(&mut draft, &key(1), MARCH).unwrap();
        let vkey = city_verifier_key("610600", &key(1)).unwrap();
        let forged = signed.note.replace("延长县", "延川县");
        assert!(matches!(
            SignedDirectory::open(&forged, &vkey),
            Err(DirectoryError::Signature(
                NoteError::InvalidSignature { .. }
            ))
        ));
        let other = city_verifier_key("610600", &key(9)).unwrap();
        assert!(matches!(
            SignedDirectory::open(&signed.note, &other),
            Err(DirectoryError::Signature(NoteError::NotSignedByKey { .. }))
        ));
        // A key of another city cannot vouch for this one, even if it signed the text.
        let mut foreign = doc();
        foreign.city = "610700".into();
        let foreign_note = sign_directory(&mut foreign, &key(1), MARCH).unwrap().note;
        let text = open_note(
            &foreign_note,
            &city_verifier_key("610700", &key(1)).unwrap(),
        )
        .unwrap()
        .replace("610700", "610600");
        let renamed = sign_note(
            &text,
            &NoteSigner::new(&city_key_name("610700"), &key(1)).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            SignedDirectory::open(&renamed, &city_verifier_key("610700", &key(1)).unwrap()),
            Err(DirectoryError::WrongCity { .. })
        ));
    }

    #[test]
    fn unknown_keys_and_missing_fields_are_refused_with_their_path() {
        let text = doc()
            .to_text()
            .replace("[[counties.keys]]", "[[counties.keys]]\ncomment = \"x\"");
        let err = DirectoryDoc::parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("counties[0].keys[0]"), "{err}");
        assert!(err.contains("comment"), "{err}");
        let text = doc().to_text().replace("name = \"安塞区\"\n", "");
        let err = DirectoryDoc::parse(&text).unwrap_err().to_string();
        assert_eq!(err, "counties[1].name: is required");
    }

    #[test]
    fn every_validation_rule_names_its_key() {
        let mut d = doc();
        d.format = "liaison-directory/v0".into();
        d.city = "6106".into();
        d.issued_at = Some("yesterday".into());
        d.counties[1].code = "610602".into();
        d.counties[0].endpoint = "http://x".into();
        d.counties[0].tls_ca = "none".into();
        d.counties[2].keys[0].valid_from = "2026-01-01".into();
        d.counties[0].keys[0].valid_until = Some("2025-01-01T00:00:00+08:00".into());
        d.counties[1].keys[0].public_key = "abcd".into();
        d.agreements[0].kinds.push("gossip".into());
        d.agreements[0].effective = "2026-02-30".into();
        d.agreements[0].contacts[1].phone = String::new();
        d.agreements.push(AgreementDoc {
            counties: vec!["610602".into(), "610699".into()],
            kinds: vec![],
            effective: "2026-01-01".into(),
            contacts: vec![],
        });
        assert_eq!(
            problems(&d),
            [
                "format",
                "city",
                "issued_at",
                "counties[0].endpoint",
                "counties[0].tls_ca",
                "counties[0].keys[0].valid_until",
                "counties[1].code",
                "counties[1].keys[0].public_key",
                "counties[2].keys[0].valid_from",
                // 610603 is gone: its entry now says 610602.
                "agreements[0].counties[1]",
                "agreements[0].kinds[2]",
                "agreements[0].effective",
                "agreements[0].contacts[1].phone",
                "agreements[1].counties[1]",
            ]
        );
        let mut d = doc();
        d.agreements.push(d.agreements[0].clone());
        d.agreements[0].contacts.pop();
        assert_eq!(
            problems(&d),
            ["agreements[0].contacts", "agreements[1].counties"]
        );
        let mut d = doc();
        d.agreements[0].counties = vec!["610602".into(), "610602".into()];
        d.agreements[0].contacts[1].county = "610621".into();
        assert_eq!(problems(&d), ["agreements[0].counties"]);
    }

    #[test]
    fn a_countys_deadline_rules_are_read_from_toml_and_checked_with_their_path() {
        let mut set = doc();
        set.counties[1].deadlines = Some(PolicyDoc {
            holiday_extension: Some(false),
            rules: [("contact_letter".to_owned(), RuleDocFixture::days(7))]
                .into_iter()
                .collect(),
        });
        let text = set.to_text();
        assert!(
            text.contains("[counties.deadlines.rules.contact_letter]\ndays = 7\n"),
            "{text}"
        );
        let federation = DirectoryDoc::parse(&text).unwrap().check().unwrap();
        let ansai = federation
            .county(CountyCode::parse("610603").unwrap())
            .unwrap();
        let policy = ansai.policy.as_ref().unwrap();
        assert!(!policy.holiday_extension());
        let letter = policy.rule(NoticeKind::ContactLetter).unwrap();
        assert_eq!(letter.normal, crate::Period::CalendarDays(7));
        // Kinds not named keep the directive's rules.
        assert_eq!(
            policy.rule(NoticeKind::CaseNotice),
            DuePolicy::default().rule(NoticeKind::CaseNotice)
        );
        let baota = federation
            .county(CountyCode::parse("610602").unwrap())
            .unwrap();
        assert_eq!(baota.policy, None);

        let mut bad = doc();
        bad.counties[1].deadlines = Some(PolicyDoc {
            holiday_extension: None,
            rules: [
                ("contact_letter".to_owned(), RuleDocFixture::days(400)),
                ("bulletin".to_owned(), RuleDocFixture::days(5)),
                ("letter".to_owned(), RuleDocFixture::days(5)),
            ]
            .into_iter()
            .collect(),
        });
        let Err(DirectoryError::Invalid(problems)) = bad.check() else {
            panic!("refused");
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "counties[1].deadlines.rules.bulletin",
                "counties[1].deadlines.rules.contact_letter",
                "counties[1].deadlines.rules.letter",
            ]
        );
    }

    /// Rules as a city writes them.
    struct RuleDocFixture;

    impl RuleDocFixture {
        fn days(days: u32) -> crate::deadline::RuleDoc {
            crate::deadline::RuleDoc {
                required: true,
                days: Some(days),
                urgent_days: None,
                working_days: false,
            }
        }
    }

    #[test]
    fn the_shipped_example_draft_is_valid_and_signs_as_its_next_serial() {
        let mut doc =
            DirectoryDoc::parse(include_str!("../../../deploy/examples/directory.toml")).unwrap();
        let federation = doc.check().unwrap();
        assert_eq!(federation.counties.len(), 2);
        assert_eq!(federation.counties[0].keys.len(), 2);
        let signed = sign_directory(&mut doc, &key(1), MARCH).unwrap();
        assert_eq!(signed.serial, 5);
    }

    #[test]
    fn a_draft_without_issued_at_is_not_a_signed_directory() {
        let city = key(1);
        let signer = NoteSigner::new(&city_key_name("610600"), &city).unwrap();
        let note = sign_note(&doc().to_text(), &signer).unwrap();
        let err = SignedDirectory::open(&note, &signer.verifier_key()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "issued_at: is required in a signed directory"
        );
    }
}
