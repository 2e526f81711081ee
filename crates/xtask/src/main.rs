//! `cargo xtask test [ARGS]`: makes sure the machine has what the tests drive for real — Debian's
//! Chromium and ChromeDriver (the console's browser tests), the FUSE tools (the power-loss tests)
//! and openssl (the certificate tests) — installing them with apt-get when they are missing, then
//! runs `cargo test --workspace ARGS`.

use std::path::Path;
use std::process::{Command, ExitCode};

/// A Debian package the tests need, and the file that shows it is installed.
struct Needed {
    package: &'static str,
    file: &'static str,
    why: &'static str,
}

const NEEDED: [Needed; 4] = [
    Needed {
        package: "chromium",
        file: "/usr/bin/chromium",
        why: "the console's browser tests",
    },
    Needed {
        package: "chromium-driver",
        file: "/usr/bin/chromedriver",
        why: "the console's browser tests",
    },
    Needed {
        package: "fuse3",
        file: "/usr/bin/fusermount3",
        why: "the power-loss tests' FUSE mount",
    },
    Needed {
        package: "openssl",
        file: "/usr/bin/openssl",
        why: "the certificate tests' `openssl verify`",
    },
];

/// Variables that `cargo run` sets for this package; the tests' own build must not see them, or
/// build scripts that watch them would rebuild for it and again for the next ordinary build.
const PACKAGE_VARIABLES: [&str; 8] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_BIN_EXE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

fn install_missing() -> Result<(), String> {
    let missing: Vec<&Needed> = NEEDED
        .iter()
        .filter(|n| !Path::new(n.file).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    for n in &missing {
        eprintln!("xtask: {} is missing (needed by {})", n.file, n.why);
    }
    if !is_root() {
        return Err(format!(
            "installing {} needs root: run `sudo apt-get install {}`, or run this command as root \
             (the FUSE and tmpfs tests need root anyway)",
            packages.join(", "),
            packages.join(" ")
        ));
    }
    eprintln!("xtask: apt-get install {}", packages.join(" "));
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(&packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn test(args: &[String]) -> Result<(), String> {
    install_missing()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["test", "--workspace"]).args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if PACKAGE_VARIABLES.iter().any(|p| name.starts_with(p)) {
            command.env_remove(name.as_ref());
        }
    }
    run(&mut command)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        _ => Err("usage: cargo xtask test [ARGS for cargo test]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("xtask: {why}");
            ExitCode::FAILURE
        }
    }
}
