//! Finds (and if need be builds) the `liaison` binary, for tests that run a node as a child
//! process so that it can be killed with SIGKILL, and runs its commands for tests of the CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

static BINARY: OnceLock<PathBuf> = OnceLock::new();

/// Prefixes of the variables that cargo sets for the package whose tests run (not for a shell).
const PACKAGE_VARIABLES: [&str; 9] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CFG_",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_BIN_EXE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "OUT_DIR",
];

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The path of `target/<profile>/liaison`, next to the directory the test executable runs from.
///
/// The binary is built with `cargo build -p liaison-cli --bin liaison` (once per test process)
/// when it is missing or older than the test executable, which is relinked whenever the node's
/// code changes, so a child node never runs stale code.
///
/// # Panics
/// If the binary cannot be built.
pub fn liaison() -> &'static Path {
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        // target/debug/deps/<test> → target/debug
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lies in target/<profile>/deps");
        let binary = profile_dir.join(format!("liaison{}", std::env::consts::EXE_SUFFIX));
        let stale = match (modified(&binary), modified(&exe)) {
            (Some(bin), Some(test)) => bin < test,
            _ => true,
        };
        if stale {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("tests/ lies in the workspace");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "-p", "liaison-cli", "--bin", "liaison"]);
            // Cargo gives this test process the variables of the liaison-tests package; build
            // scripts (ring's) that watch them would rebuild for this build and again for the
            // next ordinary one, so the nested build gets the environment of a plain shell.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if PACKAGE_VARIABLES.iter().any(|p| name.starts_with(p)) {
                    build.env_remove(name.as_ref());
                }
            }
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.current_dir(workspace).status().expect("cargo runs");
            assert!(status.success(), "building the liaison binary failed");
        }
        assert!(
            binary.exists(),
            "{} is missing after the build",
            binary.display()
        );
        binary
    })
}

/// Runs the `liaison` binary with `args` (in `dir`, if given) off the async runtime's threads;
/// returns its exit code (-1 if a signal ended it), standard output and standard error.
pub async fn run<I, S>(dir: Option<&Path>, args: I) -> (i32, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let dir = dir.map(Path::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(liaison());
        command.args(&args);
        if let Some(dir) = &dir {
            command.current_dir(dir);
        }
        let output = command.output().expect("the liaison binary runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("the liaison command's task")
}
