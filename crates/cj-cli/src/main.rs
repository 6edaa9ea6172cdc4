//! `cj`: CJ Affiliate from the shell.

/// `eprintln!` that never panics. Standard error can be a closed pipe too (`cj ... 2>&1 |
/// head -1`), where std's `eprintln!` panics (exit 101), perhaps after the orders were sent;
/// this one drops the line and the command keeps the exit status it earned. Defined before the
/// modules, it stands for std's macro in all of them.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod advertisers;
mod checked;
mod commissions;
mod demo;
mod input;
mod orders;
mod program_terms;
mod queue;
mod reconcile;
mod relay;
mod shell;

use std::process::ExitCode;
use std::time::Duration;

use cj::{Error, InvalidInput};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit statuses, as documented in `cj --help`.
pub mod exit {
    /// Everything was accepted.
    pub const OK: u8 = 0;
    /// CJ refused orders or the request (its errors, or an HTTP 4xx).
    pub const CJ_ERRORS: u8 = 1;
    /// Bad usage or invalid input: nothing was sent.
    pub const USAGE: u8 = 2;
    /// Not sent, not processed, or the outcome is unknown (no connection, a timeout, a 429 or
    /// 5xx after the last retry, an unreadable answer, pages that do not add up, orders CJ's
    /// answer did not confirm): safe to run again (for orders: CJ deduplicates them).
    pub const TRANSPORT: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "cj",
    version,
    about = "CJ Affiliate from the shell: orders, commissions, program terms, commission estimates, \
             advertisers",
    after_help = "Exit status: 0 all accepted; 1 CJ refused orders or the request; 2 usage or \
                  validation error (nothing sent); 3 not sent, not processed, outcome unknown or \
                  not read completely (safe to run again; orders too: CJ deduplicates them); \
                  130 interrupted (Ctrl-C). Each command's --help says what its own mean."
)]
struct Cli {
    /// Print what the SDK does on standard error (`-vv`: more); `RUST_LOG` also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send orders to CJ's Tracking API (test mode unless --live).
    Orders {
        #[command(subcommand)]
        action: orders::Action,
    },
    /// What CJ recorded: every commission of advertisers or publishers (Commission Detail API).
    Commissions(Box<commissions::CommissionsArgs>),
    /// Every contract of a publisher, with its program terms (Program Terms API); `estimate`:
    /// which commission applies to an order, offline.
    ProgramTerms(program_terms::ProgramTermsArgs),
    /// Advertisers (Advertiser Lookup API).
    Advertisers {
        #[command(subcommand)]
        action: advertisers::Action,
    },
    /// A durable queue of orders, sent in CJ's batches.
    Queue(queue::QueueArgs),
    /// Which orders sent CJ recorded, and how: each order's verdict against Commission Detail.
    Reconcile(reconcile::ReconcileArgs),
    /// Run an offline CJ (Tracking, Program Terms, Commission Detail, Advertiser Lookup) until
    /// Ctrl-C.
    Sandbox(demo::SandboxArgs),
    /// Walk the whole product against an in-process sandbox, offline, and print a report.
    Demo,
    /// Print a completion script for a shell (e.g. `cj completions bash >
    /// ~/.local/share/bash-completion/completions/cj`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on standard output (e.g. `cj man > ~/.local/share/man/man1/cj.1`).
    Man,
    /// The old spelling of `cj program-terms estimate`.
    #[command(hide = true)]
    Commission {
        #[command(subcommand)]
        action: program_terms::CommissionAction,
    },
}

/// Connection settings shared by every command: a personal access token, the only
/// credentials CJ's GraphQL APIs take (see [`RestConnection`] for a developer key).
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Personal access token.
    #[arg(long, env = "CJ_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds one attempt may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
        value_parser = crate::shell::at_least_one::<u64>)]
    pub timeout: u64,
    /// Retries after a failed attempt (0 turns retrying off).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
}

impl Connection {
    /// A client with these settings and those `configure` adds; on failure the error is
    /// printed and the exit status returned.
    pub fn client(
        &self,
        configure: impl FnOnce(cj::ClientBuilder) -> cj::ClientBuilder,
    ) -> Result<cj::Client, u8> {
        build_client(self.builder_or(None), configure)
    }

    /// A client builder with these settings, authenticating with `developer_key` when no
    /// token is given.
    fn builder_or(&self, developer_key: Option<&str>) -> Result<cj::ClientBuilder, String> {
        let credentials = match (&self.token, developer_key) {
            (Some(token), _) => cj::Credentials::token(token.as_str()),
            (None, Some(key)) => cj::Credentials::developer_key(key),
            (None, None) => return Err("no access token: pass --token or set CJ_TOKEN".into()),
        };
        let retry = cj::RetryPolicy::new(
            self.retries,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        Ok(cj::Client::builder()
            .credentials(credentials)
            .timeout(Duration::from_secs(self.timeout))
            .retry(retry))
    }
}

/// [`Connection`] for CJ's REST APIs, which also take a legacy developer key.
#[derive(Args, Debug, Clone)]
pub struct RestConnection {
    #[command(flatten)]
    connection: Connection,
    /// A legacy developer key, instead of a token.
    #[arg(long, env = "CJ_DEVELOPER_KEY", hide_env_values = true)]
    developer_key: Option<String>,
}

impl RestConnection {
    /// As [`Connection::client`], with the developer key when no token is given.
    pub fn client(
        &self,
        configure: impl FnOnce(cj::ClientBuilder) -> cj::ClientBuilder,
    ) -> Result<cj::Client, u8> {
        let builder = self.connection.builder_or(self.developer_key.as_deref());
        build_client(builder, configure)
    }
}

/// The client `configure` makes of `builder`; on failure the error is printed and the exit
/// status returned.
fn build_client(
    builder: Result<cj::ClientBuilder, String>,
    configure: impl FnOnce(cj::ClientBuilder) -> cj::ClientBuilder,
) -> Result<cj::Client, u8> {
    builder
        .and_then(|b| configure(b).build().map_err(|e| e.to_string()))
        .map_err(|message| {
            eprintln!("error: {message}");
            exit::USAGE
        })
}

/// How results are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Output {
    /// A readable table.
    #[default]
    Table,
    /// JSON with CJ's field names.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    shell::init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::TRANSPORT);
        }
    };
    let mut code = runtime.block_on(async {
        match cli.command {
            Command::Orders { action } => orders::run(action).await,
            Command::Commissions(args) => commissions::run(*args).await,
            Command::ProgramTerms(args) => program_terms::run(args).await,
            Command::Advertisers { action } => advertisers::run(action).await,
            Command::Sandbox(args) => demo::sandbox(args).await,
            Command::Queue(args) => queue::run(args).await,
            Command::Reconcile(args) => reconcile::run(args).await,
            Command::Demo => demo::demo().await,
            Command::Completions { shell } => shell::completions(shell),
            Command::Man => shell::man(),
            Command::Commission {
                action: program_terms::CommissionAction::Estimate(args),
            } => program_terms::estimate_command(args),
        }
    });
    // A blocking read left behind at Ctrl-C (a terminal, a pipe that stays open) must not
    // keep the process alive: what matters was awaited before `block_on` returned.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if stdout::failed() && code == exit::OK {
        // The result was not (fully) written: not a success, whatever CJ answered.
        code = exit::TRANSPORT;
    }
    ExitCode::from(code)
}

/// What a failed request was for: decides what its message says of sending it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// A read (commissions, program terms, advertisers, reconcile): nothing changes at CJ,
    /// so running it again is always safe.
    Read,
    /// Orders sent to the Tracking API: CJ may have recorded them; sending them again is
    /// safe because CJ deduplicates orders.
    Orders,
}

/// Prints the error of a read-only command and returns the exit status; as
/// [`report_request_error`] with [`Request::Read`].
pub fn report_error(error: &Error, lines: &[usize]) -> u8 {
    report_request_error(error, lines, Request::Read)
}

/// Prints the error of a command that sent orders and returns the exit status; as
/// [`report_request_error`] with [`Request::Orders`].
pub fn report_orders_error(error: &Error, lines: &[usize]) -> u8 {
    report_request_error(error, lines, Request::Orders)
}

/// Prints the error, naming input lines for invalid orders, and what it means for the
/// request (as [`Error::delivery`] classifies it: not sent, not processed, maybe processed,
/// refused); returns the exit status. Only orders are said to be safe to resend.
pub fn report_request_error(error: &Error, lines: &[usize], request: Request) -> u8 {
    if let Error::Invalid(InvalidInput { problems }) = error {
        eprintln!("error: invalid input, nothing was sent:");
        for p in problems {
            match (p.index.and_then(|i| lines.get(i)), &p.id) {
                (Some(line), Some(id)) => eprintln!(
                    "  line {line} (orderId {id:?}): field `{}`: {}",
                    p.field, p.message
                ),
                (Some(line), None) => {
                    eprintln!("  line {line}: field `{}`: {}", p.field, p.message)
                }
                (None, _) => eprintln!("  {p}"),
            }
        }
        return exit::USAGE;
    }
    eprintln!("error: {}", error_chain(error));
    let orders = request == Request::Orders;
    match error.delivery() {
        _ if matches!(error, Error::Config(_)) => exit::USAGE,
        // Pages that do not add up: what was read is incomplete, nothing CJ refused.
        _ if matches!(error, Error::Paging(_)) => {
            eprintln!("the records could not be read completely; safe to run again");
            exit::TRANSPORT
        }
        cj::Delivery::Answered => exit::CJ_ERRORS,
        cj::Delivery::NotSent if orders => {
            eprintln!("nothing was sent: no order reached CJ; safe to send again");
            exit::TRANSPORT
        }
        cj::Delivery::NotSent => {
            eprintln!("nothing was sent; safe to run again");
            exit::TRANSPORT
        }
        cj::Delivery::NotProcessed if orders => {
            eprintln!(
                "CJ did not process the request: no order was recorded; safe to send again{}",
                later(error)
            );
            exit::TRANSPORT
        }
        cj::Delivery::NotProcessed => {
            eprintln!(
                "CJ did not process the request; safe to run again{}",
                later(error)
            );
            exit::TRANSPORT
        }
        _ if orders => {
            eprintln!(
                "outcome unknown: CJ may have recorded the orders; safe to resend (CJ \
                 deduplicates orders)"
            );
            exit::TRANSPORT
        }
        _ => {
            eprintln!("CJ's answer did not come or could not be read; safe to run again");
            exit::TRANSPORT
        }
    }
}

/// ` later` after CJ's rate limit (HTTP 429), which asks for a wait.
fn later(error: &Error) -> &'static str {
    if error.status() == Some(cj::StatusCode::TOO_MANY_REQUESTS) {
        " later (CJ's rate limit)"
    } else {
        ""
    }
}

/// An error and its causes, joined as `anyhow`'s `{:#}` does.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Writes one line to standard output, like `println!`, but never panics: once the reader is
/// gone (`cj ... | head -1`) the rest is dropped quietly, and the exit status stays the one the
/// command earns (the orders may have been sent: what CJ answered decides it).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Standard output for [`outln!`]: it stops writing at the first failure.
pub mod stdout {
    use std::io::{ErrorKind, Write};
    use std::sync::atomic::{AtomicU8, Ordering};

    const OPEN: u8 = 0;
    /// The reader closed the pipe: nothing more is written, and nothing is said.
    const CLOSED: u8 = 1;
    /// Writing failed otherwise (a full disk, ...): said once on standard error.
    const FAILED: u8 = 2;

    static STATE: AtomicU8 = AtomicU8::new(OPEN);

    /// Writes `args` and a newline, unless an earlier write failed.
    pub fn line(args: std::fmt::Arguments<'_>) {
        if STATE.load(Ordering::Relaxed) != OPEN {
            return;
        }
        let mut out = std::io::stdout().lock();
        let written = out
            .write_fmt(args)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        if let Err(e) = written {
            lost(e);
        }
    }

    /// Writes `bytes` as they are (whole lines, many at once), unless an earlier write failed.
    pub fn bytes(bytes: &[u8]) {
        if bytes.is_empty() || STATE.load(Ordering::Relaxed) != OPEN {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
            lost(e);
        }
    }

    fn lost(e: std::io::Error) {
        if e.kind() == ErrorKind::BrokenPipe {
            STATE.store(CLOSED, Ordering::Relaxed);
        } else {
            STATE.store(FAILED, Ordering::Relaxed);
            eprintln!("error: cannot write to standard output: {e}");
        }
    }

    /// Whether output was lost for another reason than a closed pipe.
    pub fn failed() -> bool {
        STATE.load(Ordering::Relaxed) == FAILED
    }
}

/// Prints `value` as JSON (indented when `pretty`): [`exit::OK`], or, when it cannot be
/// written, the message and [`exit::TRANSPORT`].
pub fn print_json(value: &impl serde::Serialize, pretty: bool) -> u8 {
    let json = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    match json {
        Ok(json) => {
            outln!("{json}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot print the result as JSON: {e}");
            exit::TRANSPORT
        }
    }
}

/// Prints rows under a header, in columns as wide as their widest cell.
pub fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    for line in table_lines(header, rows) {
        outln!("{line}");
    }
}

/// The lines of a table: rows under a header, in columns as wide as their widest cell.
pub fn table_lines<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> Vec<String> {
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(header)
        .chain(rows)
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}
