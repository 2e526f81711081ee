//! `liaison directory …`: the city bureau (市人口计生局) keeps the federation directory as a TOML
//! draft, signs versions of it offline with its key, and hands a signed version to a node.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use liaison_core::NodeKey;
use liaison_core::checkpoint::NoteVerifierKey;
use liaison_core::deadline::RuleDoc;
use liaison_core::directory::{
    AgreementDoc, ContactDoc, CountyDoc, DirectoryDoc, KeyDoc, SignedDirectory, city_verifier_key,
    format_instant, sign_directory,
};
use liaison_core::{KeyId, NoticeKind};
use liaison_node::clock::{Clock, SystemClock};
use liaison_node::pki;

use crate::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_NOT_VERIFIED, Failure, NodeArgs, Output};

/// The draft file the commands work on unless told otherwise.
const DEFAULT_DRAFT: &str = "directory.toml";

#[derive(clap::Args, Clone)]
pub struct DraftArg {
    /// The directory's TOML draft.
    #[arg(long, default_value = DEFAULT_DRAFT)]
    draft: PathBuf,
}

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// Start an empty draft for the city (serial 0: nothing signed yet).
    New {
        #[command(flatten)]
        draft: DraftArg,
        /// The city's code, e.g. 610600.
        #[arg(long)]
        city: String,
        /// The city's name, e.g. 延安市.
        #[arg(long)]
        name: String,
    },
    /// Add a county with its endpoint, TLS CA and first signing key.
    AddCounty {
        #[command(flatten)]
        draft: DraftArg,
        /// The county code.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// Where its exchange service listens, https://host:port.
        #[arg(long)]
        endpoint: String,
        /// A PEM file of the CA certificate(s) its TLS certificates chain to.
        #[arg(long)]
        tls_ca: PathBuf,
        /// Its signing key's public half: 64 hex digits, or a PEM file (`liaison keys public`).
        #[arg(long)]
        public_key: String,
        /// From when the key signs (RFC 3339); default: now.
        #[arg(long)]
        valid_from: Option<String>,
    },
    /// Announce a county's new signing key (keys are never removed).
    AddKey {
        #[command(flatten)]
        draft: DraftArg,
        #[arg(long)]
        county: String,
        /// 64 hex digits, or a PEM file.
        #[arg(long)]
        public_key: String,
        /// From when the key signs (RFC 3339); default: now.
        #[arg(long)]
        valid_from: Option<String>,
    },
    /// Retire a county's key: notices issued from `--at` on may not use it.
    RetireKey {
        #[command(flatten)]
        draft: DraftArg,
        #[arg(long)]
        county: String,
        /// The key: its key id (as `liaison keys public` prints it) or 64 hex digits.
        #[arg(long)]
        key: String,
        /// When it stops (RFC 3339); default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Set the reply-deadline rule (回复时限) of one kind for a county, which its node then applies
    /// in place of its own `[deadlines]`; `--holiday-extension` alone sets only that.
    Deadline {
        #[command(flatten)]
        draft: DraftArg,
        #[arg(long)]
        county: String,
        /// The kind of notice the rule is for (snake-case, e.g. contact_letter).
        #[arg(long, requires = "rule")]
        kind: Option<String>,
        /// Days to reply.
        #[arg(long, group = "rule")]
        days: Option<u32>,
        /// Days to reply to an urgent notice; default: --days.
        #[arg(long, requires = "days")]
        urgent_days: Option<u32>,
        /// Count working days (工作日) instead of calendar days.
        #[arg(long, requires = "days")]
        working_days: bool,
        /// No reply is required for this kind.
        #[arg(long, group = "rule")]
        no_reply: bool,
        /// Whether a calendar-day period ending on a rest day moves to the next working day.
        #[arg(long)]
        holiday_extension: Option<bool>,
    },
    /// Add, or replace, the agreement (协议书) between two counties.
    Agree {
        #[command(flatten)]
        draft: DraftArg,
        /// The two county codes.
        #[arg(long, num_args = 2, required = true)]
        counties: Vec<String>,
        /// Kinds either may send the other, comma-separated snake-case names, or `all`.
        #[arg(long, value_delimiter = ',', required = true)]
        kinds: Vec<String>,
        /// The first day it is in force (YYYY-MM-DD).
        #[arg(long)]
        effective: String,
        /// One per county: `CODE,CONTACT PERSON,PHONE[,RESPONSIBLE PERSON[,POSTCODE]]`.
        #[arg(long = "contact", required = true)]
        contacts: Vec<String>,
    },
    /// Sign the next version: the serial goes up by one, issued_at becomes now. Writes the signed
    /// directory and keeps the new serial in the draft.
    Sign {
        #[command(flatten)]
        draft: DraftArg,
        /// The city's signing key (made by `liaison keys generate`; keep it offline).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signed directory.
        #[arg(long, default_value = "directory.note")]
        out: PathBuf,
    },
    /// Check a signed directory against the city's verifier key. Exits 5 if it does not verify.
    Verify {
        /// The city's verifier key, `liaison/city/<code>+<id>+<key>` (as `sign` prints it).
        #[arg(long)]
        city_key: String,
        file: PathBuf,
    },
    /// Print a draft or a signed directory (a signed one's signature is not checked: see verify).
    Show {
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// Hand a signed directory to a running node; its peers learn it from there.
    Publish {
        #[command(flatten)]
        node: NodeArgs,
        file: PathBuf,
    },
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure::new(EXIT_BAD_INPUT, message)
}

fn read(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", file.display())))
}

fn read_draft(file: &Path) -> Result<DirectoryDoc, Failure> {
    DirectoryDoc::parse(&read(file)?).map_err(|e| bad_input(format!("{}: {e}", file.display())))
}

/// Checks the changed draft and writes it back; nothing is written if it has a problem.
fn write_draft(file: &Path, doc: &DirectoryDoc) -> Result<(), Failure> {
    doc.check()
        .map_err(|e| bad_input(format!("{}: {e}; nothing was changed", file.display())))?;
    std::fs::write(file, doc.to_text()).map_err(|e| {
        Failure::new(
            EXIT_FAILURE,
            format!("cannot write {}: {e}", file.display()),
        )
    })
}

fn now_text() -> String {
    format_instant(SystemClock.now_ms())
}

/// A public key given as hex or PEM text, or as the name of a PEM file, as 64 hex digits.
fn public_key_hex(text: &str) -> Result<String, Failure> {
    let text = if Path::new(text).is_file() {
        read(Path::new(text))?
    } else {
        text.to_owned()
    };
    let key =
        pki::verifying_key_from_text(&text).map_err(|e| bad_input(format!("--public-key: {e}")))?;
    Ok(hex::encode(key.as_bytes()))
}

fn county<'d>(
    doc: &'d mut DirectoryDoc,
    file: &Path,
    code: &str,
) -> Result<&'d mut CountyDoc, Failure> {
    doc.county_mut(code).ok_or_else(|| {
        bad_input(format!(
            "{}: there is no county {code} in the draft",
            file.display()
        ))
    })
}

fn contact(text: &str) -> Result<ContactDoc, Failure> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if !(3..=5).contains(&parts.len()) {
        return Err(bad_input(format!(
            "--contact {text:?}: give CODE,CONTACT PERSON,PHONE[,RESPONSIBLE PERSON[,POSTCODE]]"
        )));
    }
    Ok(ContactDoc {
        county: parts[0].to_owned(),
        contact_person: parts[1].to_owned(),
        phone: parts[2].to_owned(),
        responsible_person: parts.get(3).copied().unwrap_or_default().to_owned(),
        postcode: parts.get(4).copied().unwrap_or_default().to_owned(),
    })
}

/// The text of a signed note (without its signature lines), or the whole file for a draft.
fn note_text(file_text: &str) -> &str {
    match file_text.rfind("\n\n") {
        Some(at) if file_text[at + 2..].starts_with("— ") => &file_text[..at + 1],
        _ => file_text,
    }
}

pub async fn directory(cmd: DirectoryCommand) -> Result<(), Failure> {
    match cmd {
        DirectoryCommand::New { draft, city, name } => {
            let file = draft.draft;
            if file.exists() {
                return Err(bad_input(format!(
                    "{} exists already; it is never overwritten",
                    file.display()
                )));
            }
            let doc = DirectoryDoc::new(&city, &name);
            write_draft(&file, &doc)?;
            println!(
                "wrote {}: the directory of {city} {name}, with no county yet",
                file.display()
            );
            println!("next: liaison directory add-county …, agree …, then sign --key city.pem");
            Ok(())
        }
        DirectoryCommand::AddCounty {
            draft,
            code,
            name,
            endpoint,
            tls_ca,
            public_key,
            valid_from,
        } => {
            let file = draft.draft;
            let mut doc = read_draft(&file)?;
            if doc.county_mut(&code).is_some() {
                return Err(bad_input(format!(
                    "{}: county {code} is in the draft already",
                    file.display()
                )));
            }
            doc.counties.push(CountyDoc {
                code: code.clone(),
                name,
                endpoint,
                tls_ca: read(&tls_ca)?,
                keys: vec![KeyDoc {
                    public_key: public_key_hex(&public_key)?,
                    valid_from: valid_from.unwrap_or_else(now_text),
                    valid_until: None,
                }],
                deadlines: None,
            });
            write_draft(&file, &doc)?;
            println!("added county {code} to {}", file.display());
            Ok(())
        }
        DirectoryCommand::AddKey {
            draft,
            county: code,
            public_key,
            valid_from,
        } => {
            let file = draft.draft;
            let mut doc = read_draft(&file)?;
            let public_key = public_key_hex(&public_key)?;
            let entry = county(&mut doc, &file, &code)?;
            if entry.keys.iter().any(|k| k.public_key == public_key) {
                return Err(bad_input(format!(
                    "{}: {code} has this key already",
                    file.display()
                )));
            }
            entry.keys.push(KeyDoc {
                public_key,
                valid_from: valid_from.unwrap_or_else(now_text),
                valid_until: None,
            });
            write_draft(&file, &doc)?;
            println!("announced a new key of {code} in {}", file.display());
            Ok(())
        }
        DirectoryCommand::Deadline {
            draft,
            county: code,
            kind,
            days,
            urgent_days,
            working_days,
            no_reply,
            holiday_extension,
        } => {
            let file = draft.draft;
            let mut doc = read_draft(&file)?;
            let entry = county(&mut doc, &file, &code)?;
            let policy = entry.deadlines.get_or_insert_with(Default::default);
            if let Some(on) = holiday_extension {
                policy.holiday_extension = Some(on);
            }
            if let Some(kind) = &kind {
                policy.rules.insert(
                    kind.clone(),
                    RuleDoc {
                        required: !no_reply,
                        days,
                        urgent_days,
                        working_days,
                    },
                );
            } else if holiday_extension.is_none() {
                return Err(bad_input(
                    "give --kind with --days or --no-reply, or --holiday-extension".to_owned(),
                ));
            }
            write_draft(&file, &doc)?;
            println!(
                "set the deadline rules of {code} in {}; its node applies them once a signed \
                 version reaches it",
                file.display()
            );
            Ok(())
        }
        DirectoryCommand::RetireKey {
            draft,
            county: code,
            key,
            at,
        } => {
            let file = draft.draft;
            let mut doc = read_draft(&file)?;
            let entry = county(&mut doc, &file, &code)?;
            let wanted = key.trim().to_ascii_lowercase();
            let found = entry.keys.iter_mut().find(|k| {
                k.public_key == wanted
                    || pki::verifying_key_from_text(&k.public_key)
                        .is_ok_and(|v| KeyId::of(&v).to_string() == wanted)
            });
            let Some(found) = found else {
                return Err(bad_input(format!(
                    "{}: {code} has no key {key}",
                    file.display()
                )));
            };
            found.valid_until = Some(at.unwrap_or_else(now_text));
            write_draft(&file, &doc)?;
            println!("retired the key {key} of {code} in {}", file.display());
            Ok(())
        }
        DirectoryCommand::Agree {
            draft,
            counties,
            kinds,
            effective,
            contacts,
        } => {
            let file = draft.draft;
            let mut doc = read_draft(&file)?;
            let kinds: Vec<String> = if kinds.iter().any(|k| k == "all") {
                NoticeKind::ALL
                    .iter()
                    .map(|k| k.name().to_owned())
                    .collect()
            } else {
                kinds
            };
            let contacts = contacts
                .iter()
                .map(|c| contact(c))
                .collect::<Result<Vec<_>, _>>()?;
            let same_pair = |a: &AgreementDoc| {
                counties.iter().all(|c| a.counties.contains(c)) && a.counties.len() == 2
            };
            doc.agreements.retain(|a| !same_pair(a));
            doc.agreements.push(AgreementDoc {
                counties: counties.clone(),
                kinds,
                effective,
                contacts,
            });
            write_draft(&file, &doc)?;
            println!(
                "{}: agreement between {} and {} written",
                file.display(),
                counties[0],
                counties[1]
            );
            Ok(())
        }
        DirectoryCommand::Sign { draft, key, out } => {
            let file = draft.draft;
            let mut doc = read_draft(&file)?;
            // Signing from a stale draft would give a serial the nodes already have.
            if let Ok(previous) = std::fs::read_to_string(&out)
                && let Ok(previous) = DirectoryDoc::parse(note_text(&previous))
                && previous.serial > doc.serial
            {
                return Err(bad_input(format!(
                    "{} holds serial {}, but {} is at serial {}: sign from the newest draft",
                    out.display(),
                    previous.serial,
                    file.display(),
                    doc.serial
                )));
            }
            let key_text = read(&key)?;
            let city_key = NodeKey::new(
                pki::signing_key_from_pem(&key_text, &key).map_err(|e| bad_input(e.to_string()))?,
            );
            let signed = sign_directory(&mut doc, &city_key, SystemClock.now_ms())
                .map_err(|e| bad_input(format!("{}: {e}", file.display())))?;
            let vkey =
                city_verifier_key(&doc.city, &city_key).map_err(|e| bad_input(e.to_string()))?;
            std::fs::write(&out, &signed.note).map_err(|e| {
                Failure::new(EXIT_FAILURE, format!("cannot write {}: {e}", out.display()))
            })?;
            std::fs::write(&file, doc.to_text()).map_err(|e| {
                Failure::new(
                    EXIT_FAILURE,
                    format!("cannot write {}: {e}", file.display()),
                )
            })?;
            println!(
                "signed serial {} of the directory of {} {} into {}",
                signed.serial,
                doc.city,
                doc.city_name,
                out.display()
            );
            println!("city key (directory.city_key in every node.toml): {vkey}");
            println!(
                "next: liaison directory publish {} (to any one node)",
                out.display()
            );
            Ok(())
        }
        DirectoryCommand::Verify { city_key, file } => {
            let vkey = NoteVerifierKey::parse(city_key.trim())
                .map_err(|e| bad_input(format!("--city-key: {e}")))?;
            let signed = SignedDirectory::open(&read(&file)?, &vkey)
                .map_err(|e| Failure::new(EXIT_NOT_VERIFIED, format!("{}: {e}", file.display())))?;
            println!(
                "{}: verified — serial {} signed by {} at {}",
                file.display(),
                signed.serial,
                vkey.name(),
                format_instant(signed.issued_at_ms)
            );
            Ok(())
        }
        DirectoryCommand::Show { file, out } => {
            let text = read(&file)?;
            let doc = DirectoryDoc::parse(note_text(&text))
                .map_err(|e| bad_input(format!("{}: {e}", file.display())))?;
            let federation = doc
                .check()
                .map_err(|e| bad_input(format!("{}: {e}", file.display())))?;
            if out.json {
                let value: toml::Value = toml::from_str(&doc.to_text())
                    .map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                print!("{federation}");
            }
            Ok(())
        }
        DirectoryCommand::Publish { node, file } => {
            let note = read(&file)?;
            let answer = crate::admin::publish_directory(&node, note).await?;
            if answer.accepted {
                println!(
                    "the node now uses serial {} of the directory; its peers learn it from there",
                    answer.serial
                );
            } else {
                println!(
                    "the node already uses this version (serial {})",
                    answer.serial
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_is_read_from_comma_separated_fields() {
        let Ok(c) = contact("610602, 王芳, 0911-8212345, 张伟") else {
            panic!("a contact with four fields is read");
        };
        assert_eq!(
            (
                c.county.as_str(),
                c.contact_person.as_str(),
                c.phone.as_str()
            ),
            ("610602", "王芳", "0911-8212345")
        );
        assert_eq!(
            (c.responsible_person.as_str(), c.postcode.as_str()),
            ("张伟", "")
        );
        assert!(contact("610602,王芳").is_err());
    }

    #[test]
    fn the_text_of_a_signed_note_is_what_comes_before_its_signatures() {
        let draft = "format = \"x\"\n\n[[counties]]\ncode = \"1\"\n";
        assert_eq!(note_text(draft), draft);
        let note = format!("{draft}\n— liaison/city/610600 AAAA\n");
        assert_eq!(note_text(&note), draft);
    }
}
