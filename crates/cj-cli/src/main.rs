//! `cj`: CJ Affiliate from the shell.

mod orders;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit statuses, as documented in `cj --help`.
pub mod exit {
    /// Everything was accepted.
    pub const OK: u8 = 0;
    /// CJ answered and reported errors.
    pub const CJ_ERRORS: u8 = 1;
    /// Bad usage or invalid input: nothing was sent.
    pub const USAGE: u8 = 2;
    /// The transport failed (no connection, timeout, unreadable answer).
    pub const TRANSPORT: u8 = 3;
}

#[derive(Parser)]
#[command(
    name = "cj",
    version,
    about = "CJ Affiliate from the shell",
    after_help = "Exit status: 0 all accepted, 1 CJ reported errors, 2 usage or validation \
                  error (nothing sent), 3 transport failure."
)]
struct Cli {
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
}

/// Connection settings shared by every command.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Personal access token.
    #[arg(long, env = "CJ_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Seconds one attempt may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
    /// Retries after a failed attempt (0 turns retrying off).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,
}

impl Connection {
    /// A client builder with these settings.
    pub fn builder(&self) -> Result<cj::ClientBuilder, String> {
        let token = self
            .token
            .clone()
            .ok_or("no access token: pass --token or set CJ_TOKEN")?;
        let retry = cj::RetryPolicy::new(
            self.retries,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        Ok(cj::Client::builder()
            .token(token)
            .timeout(Duration::from_secs(self.timeout))
            .retry(retry))
    }
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
    let code = runtime.block_on(async {
        match cli.command {
            Command::Orders { action } => orders::run(action).await,
        }
    });
    ExitCode::from(code)
}
