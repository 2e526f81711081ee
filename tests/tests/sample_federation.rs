//! The 13-county sample federation of `deploy/federation/` as an administrator runs it: made by
//! `make-federation.sh`, started with `start-all.sh`, each county sends a contact letter to the
//! next with the CLI, and `city-report.sh` exports every county's redacted bundle and makes the
//! city's quarterly bulletin (市局季度通报) against the city's signed directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use liaison_tests::binary;

const COUNTIES: [&str; 13] = [
    "610602", "610603", "610621", "610622", "610625", "610626", "610627", "610628", "610629",
    "610630", "610631", "610632", "610681",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("LIAISON", binary::liaison())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn ok(output: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Stops the sample federation's nodes even when the test fails.
struct Running(PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = run(&self.0.join("stop-all.sh"), &[]);
    }
}

/// The quarter (`2026Q4`) of now, in China Standard Time.
fn this_quarter() -> String {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    format!("{}Q{}", now.year(), u8::from(now.month()).div_ceil(3))
}

#[test]
fn the_city_report_runs_over_the_thirteen_county_sample_federation_with_no_discrepancy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("yanan");
    // Thirteen counties need 26 ports: a base that differs between concurrent runs.
    let base = 20_000 + (std::process::id() % 1_500) * 26;
    let made = run(
        &workspace().join("deploy/federation/make-federation.sh"),
        &["-p", &base.to_string(), out.to_str().unwrap()],
    );
    ok(&made, "make-federation.sh");
    ok(&run(&out.join("start-all.sh"), &[]), "start-all.sh");
    let _running = Running(out.clone());

    let example =
        std::fs::read_to_string(workspace().join("deploy/examples/notices/contact_letter.json"))
            .unwrap();
    let mut letter: serde_json::Value = serde_json::from_str(&example).unwrap();
    for (i, from) in COUNTIES.iter().enumerate() {
        let to = COUNTIES[(i + 1) % COUNTIES.len()];
        letter["recipient"] = to.into();
        let file = dir.path().join(format!("letter-{from}.json"));
        std::fs::write(&file, letter.to_string()).unwrap();
        let config = out.join(from).join("node.toml");
        ok(
            &run(
                binary::liaison(),
                &[
                    "send",
                    "-c",
                    config.to_str().unwrap(),
                    file.to_str().unwrap(),
                ],
            ),
            "liaison send",
        );
    }
    // Every letter delivered: each county's outbox shows it so.
    let deadline = Instant::now() + Duration::from_secs(60);
    for from in COUNTIES {
        let config = out.join(from).join("node.toml");
        loop {
            let outbox = ok(
                &run(
                    binary::liaison(),
                    &[
                        "outbox",
                        "-c",
                        config.to_str().unwrap(),
                        "--status",
                        "delivered",
                    ],
                ),
                "liaison outbox",
            );
            if outbox.contains("contact_letter") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{from}'s letter was not delivered:\n{outbox}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let quarter = this_quarter();
    let report = run(&out.join("city-report.sh"), &[&quarter, "--csv"]);
    let csv = ok(&report, "city-report.sh");
    for county in COUNTIES {
        assert!(
            out.join("bundles")
                .join(&quarter)
                .join(format!("{county}.json"))
                .is_file(),
            "{county} exported no bundle"
        );
        // Each county sent one letter and received one, and owes one reply, not yet due.
        let row: Vec<&str> = csv
            .lines()
            .find(|l| l.split(',').nth(1) == Some(county))
            .unwrap_or_else(|| panic!("no row for {county}:\n{csv}"))
            .split(',')
            .collect();
        assert_eq!(
            &row[3..10],
            ["1", "1", "1", "0", "0", "0", "1"],
            "{county}: {row:?}"
        );
    }
    let text = ok(
        &run(&out.join("city-report.sh"), &[&quarter]),
        "city-report.sh",
    );
    assert!(text.contains("No discrepancy"), "{text}");
    for county in COUNTIES {
        assert!(
            text.contains(county),
            "{county} is not in the bulletin:\n{text}"
        );
    }
}
