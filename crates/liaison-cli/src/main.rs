//! `liaison`: runs a county node (`serve`), and is its operator's command line.

// Every `print!` and `println!` of this crate goes through these, not std's, which panic when
// standard output is a pipe whose reader has gone (`liaison due --json | head -1`). Defined
// before the modules so that they see them.
macro_rules! print {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*)) };
}
macro_rules! println {
    () => { $crate::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

mod admin;
mod audit;
mod city;
mod demo;
mod directory;
mod federation;
mod keys;
mod period;
mod print;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use liaison_proto::v1 as pb;

/// Exit code for bad input from the operator (arguments, notice files).
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a configuration file with problems.
pub const EXIT_BAD_CONFIG: u8 = 3;
/// Exit code for a store or a backup that fails its checks: the code `serve` gives for a damaged
/// store, which is a problem of the node's setup as much as a bad configuration is.
pub const EXIT_DAMAGED: u8 = EXIT_BAD_CONFIG;
/// Exit code when the node's admin interface cannot be reached.
pub const EXIT_UNREACHABLE: u8 = 4;
/// Exit code when an audit bundle does not verify.
pub const EXIT_NOT_VERIFIED: u8 = 5;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;

#[derive(Parser)]
#[command(
    name = "liaison",
    version,
    about = "Signed notices between county bureaus, with reply deadlines kept (流动人口计划生育区域协作信息交换)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct NodeArgs {
    /// The node's configuration file.
    #[arg(long, short = 'c', env = "LIAISON_CONFIG", default_value = "node.toml")]
    pub config: PathBuf,
    /// The bearer token file to use instead of the operator's admin.token, e.g. an auditor's
    /// auditor.token.
    #[arg(long, env = "LIAISON_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(clap::Args, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: serve peers and the admin interface, deliver the outbox. SIGTERM or SIGINT
    /// stop it, letting work in progress finish for a few seconds; it then exits 0.
    Serve {
        #[command(flatten)]
        node: NodeArgs,
        /// Log lines as human-readable text or as JSON objects, one per line (with the span of
        /// the notice concerned). LIAISON_LOG sets the level filter, e.g. `info` or `debug`.
        #[arg(long, env = "LIAISON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Sign a notice written in a JSON or TOML file and put it in the outbox (发函). Sending the
    /// same file again queues nothing new: the node answers with the notice already queued.
    Send {
        #[command(flatten)]
        node: NodeArgs,
        /// The notice draft (see docs/notices.md).
        file: PathBuf,
        /// Queue a new notice even if this file was sent before.
        #[arg(long)]
        again: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Answer a notice in the inbox with a reply written in a JSON or TOML file (复函). Sending
    /// the same reply to the same notice again queues nothing new.
    Reply {
        #[command(flatten)]
        node: NodeArgs,
        /// The id of the inbox notice to answer.
        id: String,
        /// The reply draft; its recipient may be left out.
        file: PathBuf,
        /// Queue a new reply even if this file was sent as a reply to this notice before.
        #[arg(long)]
        again: bool,
        #[command(flatten)]
        out: Output,
    },
    /// List sent notices, newest first (发件箱).
    Outbox {
        #[command(flatten)]
        node: NodeArgs,
        /// Only this status: queued, in_flight, delivered, rejected, cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only notices to this county code.
        #[arg(long)]
        peer: Option<String>,
        /// At most this many (at most 10000); the listing says when more match.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
    /// List received notices, newest first (收件箱).
    Inbox {
        #[command(flatten)]
        node: NodeArgs,
        /// Only notices from this county code.
        #[arg(long)]
        peer: Option<String>,
        /// At most this many (at most 10000); the listing says when more match.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
    /// Show one notice: header, body, signature and receipt, replies.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Deliver a queued or in-flight notice again now.
    Retry {
        #[command(flatten)]
        node: NodeArgs,
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Stop delivering a notice that has not been delivered yet.
    Cancel {
        #[command(flatten)]
        node: NodeArgs,
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// List the peer counties, their agreements and backlogs.
    Peers {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        out: Output,
    },
    /// Replies this county owes, soonest deadline first (应复函).
    Due {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
    /// Replies other counties owe this county, soonest deadline first (待对方复函).
    Awaited {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
    /// Replies past their deadline, owed by this county or to it (超期).
    Overdue {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
    /// The quarterly bulletin's figures (季度通报) per peer county and kind, from the signed times.
    Report {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        period: period::PeriodArgs,
        /// Print CSV instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        #[command(flatten)]
        out: Output,
    },
    /// After a peer county announced that it restored its log from a backup: acknowledge the
    /// alarms about it and take its next checkpoint as the new starting point.
    AcceptPeerLog {
        #[command(flatten)]
        node: NodeArgs,
        /// The peer's county code.
        peer: String,
    },
    /// Copy the node's store to a new file while the node runs, and check the copy (备份).
    Backup {
        #[command(flatten)]
        node: NodeArgs,
        /// The file to write, on the node's machine; an existing file is never overwritten.
        #[arg(long = "out", value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        out: Output,
    },
    /// Replace the store of a stopped node with a backup made by `liaison backup`, after checking
    /// the backup. The replaced files are kept in the store's directory.
    Restore {
        /// The node's configuration file (it names the data directory).
        #[arg(long, short = 'c', env = "LIAISON_CONFIG", default_value = "node.toml")]
        config: PathBuf,
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Audit bundles: export a period of the log, verify a bundle offline (审计).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The city bureau's work on all counties' audit bundles (市局).
    #[command(subcommand)]
    City(CityCommand),
    /// Make the files of a whole federation: CA, keys, certificates and node.toml for each county.
    #[command(subcommand)]
    Federation(FederationCommand),
    /// The federation directory (名录) the city signs: edit the draft, sign, verify, publish.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// The web console on the admin listener (/console/): accounts and passwords.
    #[command(subcommand)]
    Console(ConsoleCommand),
    /// Signing keys (Ed25519).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// TLS certificates from a throw-away CA, for tests and trials.
    #[command(subcommand)]
    Pki(keys::PkiCommand),
    /// Run a small federation of Yan'an counties on 127.0.0.1, exchange and answer notices, print
    /// every outbox and inbox, and stop.
    Demo {
        /// Keep the federation's files in this directory instead of a temporary one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConsoleCommand {
    /// Read a password from standard input (its first line) and print its argon2 hash, for
    /// `password_hash` in a `[[console.accounts]]` entry of node.toml.
    HashPassword,
}

#[derive(Subcommand)]
enum FederationCommand {
    /// Write a CA, the city's key and the directory it signs (every county a peer of every
    /// other, with an agreement (协议书) for every kind), and per county a signing key, TLS
    /// certificate and node.toml that uses the signed directory.
    Init {
        /// The directory to write; it must not exist or be empty.
        #[arg(long)]
        dir: PathBuf,
        /// A TOML file of `[[county]]` entries with `code` and `name`; default: all 13 of Yan'an.
        #[arg(long)]
        counties: Option<PathBuf>,
        /// The address peers reach every node at (for a trial on one machine, 127.0.0.1).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Exchange ports are base-port + 2i, admin ports base-port + 2i + 1.
        #[arg(long, default_value_t = 7400)]
        base_port: u16,
        /// The day the agreements take effect.
        #[arg(long, default_value = "2026-01-01")]
        agreement_effective: String,
        /// The code of the city whose bureau signs the directory.
        #[arg(long, default_value = "610600")]
        city: String,
        /// The city's name.
        #[arg(long, default_value = "延安市")]
        city_name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write one self-contained audit bundle for a period (see docs/audit-format.md).
    Export {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        period: period::PeriodArgs,
        /// Only notices exchanged with this county code, in full.
        #[arg(long)]
        peer: Option<String>,
        /// Leave every payload out, with the salt of its commitment, so nothing in the bundle can
        /// confirm a guessed payload; signatures, times and deadlines still verify.
        #[arg(long)]
        redact_payloads: bool,
        /// The bundle file to write; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle with nothing but the file: signatures, digests, the log's proofs,
    /// receipts, and every deadline. Exits non-zero on any failure.
    Verify {
        /// The bundle file.
        bundle: PathBuf,
        /// Check every signature with the keys of this city-signed directory (the signed note),
        /// not with the keys the bundle carries.
        #[arg(long, requires = "city_key")]
        directory: Option<PathBuf>,
        /// The city's verifier key (vkey) that signed the directory.
        #[arg(long, requires = "directory")]
        city_key: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Subcommand)]
enum CityCommand {
    /// The quarterly bulletin (市局季度通报) from every county's audit bundle: each verified offline,
    /// every notice and receipt matched across the two counties that hold it, every discrepancy
    /// named, each county's figures and rank. Exits 5 when a bundle does not verify or a
    /// discrepancy is found (see docs/audit-format.md, "The city report").
    Report {
        #[command(flatten)]
        period: period::PeriodArgs,
        /// Print CSV instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Also write a printable page (A4, self-contained HTML) to this file; an existing file is
        /// never overwritten.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        #[command(flatten)]
        out: Output,
        /// The city's signed directory (名录): a bundle whose keys it does not list, or lists
        /// for a shorter time, is left out.
        #[arg(long, value_name = "FILE", requires = "city_key")]
        directory: Option<PathBuf>,
        /// The city's verifier key for --directory (`liaison/city/<code>+<id>+<key>`).
        #[arg(long, value_name = "VKEY", requires = "directory")]
        city_key: Option<String>,
        /// The counties' audit bundles (`liaison audit export`), one per county.
        #[arg(required = true, value_name = "BUNDLE")]
        bundles: Vec<PathBuf>,
    },
}

/// Writes to standard output. When nobody reads it any more (the reader of a pipe exited, as
/// `head` does), the command has nothing left to do: it exits at once with code 0, quietly, as
/// ripgrep does. Any other write error ends the command with [`EXIT_FAILURE`].
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(i32::from(EXIT_FAILURE));
        }
    }
}

/// A failure with the exit code it deserves.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::new(EXIT_FAILURE, format!("{e:#}"))
    }
}

/// How `liaison serve` writes its log to standard error.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event: timestamp, level, fields, target, and the spans it is in.
    Json,
}

fn init_logging(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIAISON_LOG")
        .unwrap_or_else(|_| default.into());
    // Colours only on a terminal: a log file or the journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Serve { node, log_format } => {
            init_logging("info", log_format);
            serve(&node).await
        }
        Command::Send {
            node,
            file,
            again,
            out,
        } => admin::send(&node, &file, None, again, out).await,
        Command::Reply {
            node,
            id,
            file,
            again,
            out,
        } => admin::send(&node, &file, Some(id), again, out).await,
        Command::Outbox {
            node,
            status,
            peer,
            limit,
            out,
        } => admin::outbox(&node, status, peer, limit, out).await,
        Command::Inbox {
            node,
            peer,
            limit,
            out,
        } => admin::inbox(&node, peer, limit, out).await,
        Command::Show { node, id, out } => admin::show(&node, &id, out).await,
        Command::Retry { node, id, out } => admin::retry(&node, &id, out).await,
        Command::Cancel { node, id, out } => admin::cancel(&node, &id, out).await,
        Command::Peers { node, out } => admin::peers(&node, out).await,
        Command::AcceptPeerLog { node, peer } => admin::accept_peer_log(&node, &peer).await,
        Command::Backup { node, file, out } => admin::backup(&node, &file, out).await,
        Command::Restore { config, from } => restore(&config, &from).await,
        Command::Due { node, limit, out } => {
            admin::due(&node, pb::Side::Owed, false, limit, out).await
        }
        Command::Awaited { node, limit, out } => {
            admin::due(&node, pb::Side::Awaited, false, limit, out).await
        }
        Command::Overdue { node, limit, out } => {
            admin::due(&node, pb::Side::Unspecified, true, limit, out).await
        }
        Command::Report {
            node,
            period,
            csv,
            out,
        } => {
            let (from_ms, to_ms) = period
                .range()
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e))?;
            admin::report(&node, from_ms, to_ms, csv, out).await
        }
        Command::Audit(AuditCommand::Export {
            node,
            period,
            peer,
            redact_payloads,
            out,
        }) => {
            let (from_ms, to_ms) = period
                .range()
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e))?;
            admin::export_audit(&node, from_ms, to_ms, peer, redact_payloads, &out).await
        }
        Command::Audit(AuditCommand::Verify {
            bundle,
            directory,
            city_key,
            out,
        }) => audit::verify(&bundle, directory.as_deref().zip(city_key.as_deref()), out),
        Command::City(CityCommand::Report {
            period,
            csv,
            html,
            out,
            directory,
            city_key,
            bundles,
        }) => {
            let (from_ms, to_ms) = period
                .range()
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e))?;
            let format = city::Format {
                csv,
                html: html.as_deref(),
                out,
            };
            let trusted = match (directory, city_key) {
                (Some(file), Some(key)) => Some(city::open_directory(&file, &key)?),
                _ => None,
            };
            city::report(&bundles, trusted.as_ref(), from_ms, to_ms, format)
        }
        Command::Federation(FederationCommand::Init {
            dir,
            counties,
            host,
            base_port,
            agreement_effective,
            city,
            city_name,
        }) => federation::init(
            &dir,
            counties,
            host,
            base_port,
            &agreement_effective,
            federation::CityArgs {
                code: city,
                name: city_name,
            },
        ),
        Command::Directory(cmd) => directory::directory(cmd).await,
        Command::Console(ConsoleCommand::HashPassword) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, format!("cannot read stdin: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Failure::new(
                    EXIT_BAD_INPUT,
                    "no password on standard input".to_owned(),
                ));
            }
            let hash = liaison_node::console::hash_password(password)
                .map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
            println!("{hash}");
            Ok(())
        }
        Command::Keys(cmd) => keys::keys(cmd),
        Command::Pki(cmd) => keys::pki(cmd),
        Command::Demo { dir } => {
            init_logging("warn", LogFormat::Text);
            demo::run(dir).await
        }
    }
}

async fn serve(node: &NodeArgs) -> Result<(), Failure> {
    use liaison_node::{Node, clock::SystemClock, config::Config};
    // From here a stop signal is honoured at any moment: one that comes while the node starts
    // lets the start finish (a store is never left half-opened), then stops it.
    let stop = listen_for_stop()
        .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot listen for stop signals: {e}")))?;
    tracing::info!(config = %node.config.display(), "starting");
    let config =
        Config::load(&node.config).map_err(|e| Failure::new(EXIT_BAD_CONFIG, e.to_string()))?;
    let (exchange_addr, admin_addr) = (config.exchange_addr, config.admin_addr);
    let node = Node::start(config, std::sync::Arc::new(SystemClock))
        .map_err(|e| Failure::new(EXIT_BAD_CONFIG, e.to_string()))?;
    let stopped_while_starting = |node: Node| async move {
        node.close()
            .await
            .map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
        tracing::info!("stopped during start-up; liaison serve exits (code 0)");
        Ok(())
    };
    if stop.borrow().is_some() {
        return stopped_while_starting(node).await;
    }
    let bind = |addr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot listen on {addr}: {e}")))
    };
    let exchange = bind(exchange_addr).await?;
    let admin = bind(admin_addr).await?;
    if stop.borrow().is_some() {
        return stopped_while_starting(node).await;
    }
    let mut requested = stop.clone();
    node.run(exchange, admin, async move {
        let _ = requested.wait_for(Option::is_some).await;
    })
    .await
    .map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
    tracing::info!("liaison serve exits (code 0)");
    Ok(())
}

/// Replaces the store of the stopped node configured in `config_path` with the backup `from`.
async fn restore(config_path: &std::path::Path, from: &std::path::Path) -> Result<(), Failure> {
    use liaison_node::clock::{Clock, SystemClock};
    use liaison_node::config::Config;
    let config =
        Config::load(config_path).map_err(|e| Failure::new(EXIT_BAD_CONFIG, e.to_string()))?;
    if !from.is_file() {
        return Err(Failure::new(
            EXIT_BAD_INPUT,
            format!("there is no backup file {}", from.display()),
        ));
    }
    for (what, addr) in [
        ("admin", config.admin_addr),
        ("exchange", config.exchange_addr),
    ] {
        if answers(addr).await {
            return Err(Failure::new(
                EXIT_FAILURE,
                format!(
                    "the node of {} is running: something answers at its {what} address {addr}; \
                     stop the node first (e.g. `systemctl stop liaison`), then restore",
                    config.county
                ),
            ));
        }
    }
    let store_dir = config.data_dir.join("store");
    let now_ms = SystemClock.now_ms();
    let head = liaison_store::Store::restore(&store_dir, from, now_ms).map_err(|e| match e {
        liaison_store::StoreError::Damaged(problems) => Failure::new(
            EXIT_DAMAGED,
            format!(
                "{} is not a usable backup; nothing was changed:\n  - {}\nTry an older backup.",
                from.display(),
                problems.join("\n  - ")
            ),
        ),
        other => Failure::new(
            EXIT_FAILURE,
            format!("cannot restore {}: {other}", from.display()),
        ),
    })?;
    print::restored(
        &config,
        from,
        head.size,
        &store_dir.join(format!("replaced-{now_ms}")),
    );
    Ok(())
}

/// Whether something accepts connections at `addr` (a wildcard address is tried on loopback).
async fn answers(addr: std::net::SocketAddr) -> bool {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    )
}

/// Listens for SIGTERM and SIGINT from now on; the value becomes the signal's name when one
/// comes.
fn listen_for_stop() -> std::io::Result<tokio::sync::watch::Receiver<Option<&'static str>>> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int) = (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        );
        async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
    };
    #[cfg(not(unix))]
    let signals = async {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    };
    let (requested, stop) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let signal = signals.await;
        tracing::info!(
            signal,
            grace_secs = liaison_node::SHUTDOWN_GRACE.as_secs(),
            "stop requested"
        );
        let _ = requested.send(Some(signal));
    });
    Ok(stop)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message.trim_end());
            ExitCode::from(failure.code)
        }
    }
}
