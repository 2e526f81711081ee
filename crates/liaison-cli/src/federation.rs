//! `liaison federation init`: the files of a whole federation on one machine or network — a
//! throw-away CA, the city's key and the directory it signs (every county a peer of every other,
//! with an agreement for every kind), and per county its signing key, TLS certificate and a
//! node.toml that names the signed directory.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use liaison_core::CountyCode;
use liaison_core::county::YANAN_COUNTIES;
use liaison_node::federation::{self, Member};
use serde::Deserialize;

use liaison_node::clock::{Clock, SystemClock};

use crate::{EXIT_BAD_INPUT, EXIT_FAILURE, Failure};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountiesFile {
    county: Vec<CountyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountyEntry {
    code: String,
    name: String,
}

/// Reads `[[county]] code = "…" name = "…"` entries, or all 13 of Yan'an without a file.
fn counties(file: Option<&Path>) -> Result<Vec<(CountyCode, String)>, Failure> {
    let bad = |message: String| Failure::new(EXIT_BAD_INPUT, message);
    let Some(file) = file else {
        return YANAN_COUNTIES
            .iter()
            .map(|(code, name)| {
                Ok((
                    CountyCode::parse(code).map_err(|e| bad(e.to_string()))?,
                    (*name).to_owned(),
                ))
            })
            .collect();
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
    let parsed: CountiesFile =
        toml::from_str(&text).map_err(|e| bad(format!("{}: {e}", file.display())))?;
    let mut out: Vec<(CountyCode, String)> = Vec::new();
    for (i, entry) in parsed.county.iter().enumerate() {
        let code = CountyCode::parse(&entry.code)
            .map_err(|e| bad(format!("{}: county[{i}].code: {e}", file.display())))?;
        if out.iter().any(|(c, _)| *c == code) {
            return Err(bad(format!(
                "{}: county[{i}].code: {code} is listed twice",
                file.display()
            )));
        }
        if entry.name.trim().is_empty()
            || entry
                .name
                .chars()
                .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(bad(format!(
                "{}: county[{i}].name: must not be empty or contain quotes, backslashes or control characters",
                file.display()
            )));
        }
        out.push((code, entry.name.clone()));
    }
    if out.len() < 2 {
        return Err(bad(format!(
            "{}: a federation needs at least two counties",
            file.display()
        )));
    }
    Ok(out)
}

/// The city whose bureau signs the directory of a federation made here.
pub struct CityArgs {
    pub code: String,
    pub name: String,
}

pub fn init(
    dir: &Path,
    counties_file: Option<PathBuf>,
    host: IpAddr,
    base_port: u16,
    agreement_effective: &str,
    city: CityArgs,
) -> Result<(), Failure> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Failure::new(
            EXIT_BAD_INPUT,
            format!(
                "{} exists and is not empty; it is never overwritten",
                dir.display()
            ),
        ));
    }
    if liaison_core::parse_date(agreement_effective).is_err() {
        return Err(Failure::new(
            EXIT_BAD_INPUT,
            format!(
                "--agreement-effective: {agreement_effective:?} is not a date such as 2026-01-01"
            ),
        ));
    }
    let counties = counties(counties_file.as_deref())?;
    let last_port = u32::from(base_port) + 2 * counties.len() as u32;
    if last_port > u32::from(u16::MAX) {
        return Err(Failure::new(
            EXIT_BAD_INPUT,
            format!(
                "--base-port {base_port} leaves no room for {} counties",
                counties.len()
            ),
        ));
    }
    let members: Vec<Member> = counties
        .iter()
        .enumerate()
        .map(|(i, (county, name))| Member {
            county: *county,
            name: name.clone(),
            exchange_addr: SocketAddr::new(host, base_port + 2 * i as u16),
            // The admin interface stays on loopback whatever the exchange address.
            admin_addr: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), base_port + 2 * i as u16 + 1),
        })
        .collect();
    let city = federation::City {
        code: city.code,
        name: city.name,
        refresh_secs: liaison_node::config::DEFAULT_DIRECTORY_REFRESH.as_secs(),
        now_ms: SystemClock.now_ms(),
    };
    let (files, city_files) = federation::create_signed(dir, &members, agreement_effective, &city)
        .map_err(|e| {
            let code = match e {
                federation::FederationError::Directory(_) => EXIT_BAD_INPUT,
                _ => EXIT_FAILURE,
            };
            Failure::new(code, e.to_string())
        })?;
    println!(
        "made a federation of {} counties in {}:",
        files.len(),
        dir.display()
    );
    for (file, member) in files.iter().zip(&members) {
        println!(
            "  {} {}  exchange {}  admin {}  {}",
            member.county,
            member.name,
            member.exchange_addr,
            member.admin_addr,
            file.config.display()
        );
    }
    println!("start each node with: liaison serve --config <its node.toml>");
    println!(
        "the CA's private key is {}: keep it offline",
        dir.join("ca.key").display()
    );
    println!(
        "the directory of {} {}, serial 1, is {}; the city changes {} and signs it with {} \
         (keep it offline): liaison directory sign --draft {} --key {} --out {}",
        city.code,
        city.name,
        city_files.signed.display(),
        city_files.draft.display(),
        city_files.key.display(),
        city_files.draft.display(),
        city_files.key.display(),
        city_files.signed.display(),
    );
    println!("city key (directory.city_key): {}", city_files.verifier_key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_file_the_federation_is_all_thirteen_yanan_counties() {
        let all = counties(None).ok().unwrap();
        assert_eq!(all.len(), 13);
        assert_eq!(all[0].0.as_str(), "610602");
    }

    #[test]
    fn a_counties_file_with_a_bad_or_repeated_code_is_refused_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("counties.toml");
        std::fs::write(&file, "[[county]]\ncode = \"610602\"\nname = \"宝塔区\"\n[[county]]\ncode = \"61060\"\nname = \"x\"\n").unwrap();
        let message = counties(Some(&file)).err().unwrap().message;
        assert!(message.contains("county[1].code"), "{message}");
        std::fs::write(&file, "[[county]]\ncode = \"610602\"\nname = \"a\"\n[[county]]\ncode = \"610602\"\nname = \"b\"\n").unwrap();
        let message = counties(Some(&file)).err().unwrap().message;
        assert!(message.contains("listed twice"), "{message}");
    }
}
