//! Project tasks: `cargo xtask codegen [--check]`, `cargo xtask schemas ...`.

mod apis;
mod bench;
mod codegen;
mod schemas;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(about = "Project tasks for the CJ SDK workspace")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the typed GraphQL operations of cj-graphql from schema/ and queries/.
    Codegen {
        /// Fail if the checked-in code differs from what would be generated; write nothing.
        #[arg(long)]
        check: bool,
    },
    /// Benchmarks out of the test suite: `orders` measures `cj orders create` and `cj queue
    /// enqueue` (CPU, peak memory) against a plain serde baseline, on a loopback server.
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        what: BenchWhat,
        /// How many orders to generate.
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
    },
    /// Refresh schema/<api>.graphql from the API's GraphQL introspection (token: env CJ_TOKEN).
    Schemas {
        /// Only this API (default: every API).
        #[arg(long, value_enum)]
        api: Option<schemas::ApiName>,
        /// Read a saved introspection response (JSON) instead of querying the endpoint.
        #[arg(long, value_name = "PATH", requires = "api")]
        from_file: Option<PathBuf>,
        /// Write the SDL here instead of schema/<api>.graphql.
        #[arg(long, value_name = "PATH", requires = "api")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BenchWhat {
    /// Orders at scale: `cj orders create` and `cj queue enqueue`.
    Orders,
}

/// The workspace's top directory.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Codegen { check } => codegen::run(check),
        Command::Bench {
            what: BenchWhat::Orders,
            orders,
        } => bench::orders(orders),
        Command::Schemas {
            api,
            from_file,
            out,
        } => schemas::run(api, from_file.as_deref(), out.as_deref()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
