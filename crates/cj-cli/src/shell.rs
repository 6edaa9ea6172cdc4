//! The shell's habits: completions, the man page, `-v`/`RUST_LOG`, and saying which Tracking
//! endpoint a command talked to.

use std::ops::RangeBounds;

use cj::tracking::{Mode, Orders};
use clap::CommandFactory;
use clap::builder::RangedU64ValueParser;

use crate::{Cli, exit, stdout};

/// `cj completions SHELL`: the completion script on standard output.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cj", &mut script);
    stdout::bytes(&script);
    exit::OK
}

/// `cj man`: the man page (roff) on standard output.
pub fn man() -> u8 {
    let mut page = Vec::new();
    match clap_mangen::Man::new(Cli::command()).render(&mut page) {
        Ok(()) => {
            stdout::bytes(&page);
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot render the man page: {e}");
            exit::TRANSPORT
        }
    }
}

/// Turns on the SDK's `tracing` output on standard error: `-v` its requests and answers,
/// `-vv` also its debug events, `-vvv` everything it traces; without `-v`, what `RUST_LOG`
/// says (nothing when unset). Spans are printed as they close, with their time and fields
/// (status, attempts), which never hold the token.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::FmtSpan;

    // `cj` matches every SDK crate's target (`cj_transport`, `cj_graphql`, ...).
    let filter = match verbose {
        0 => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.trim().is_empty() => EnvFilter::new(directives),
            _ => return,
        },
        1 => EnvFilter::new("warn,cj=info"),
        2 => EnvFilter::new("warn,cj=debug"),
        _ => EnvFilter::new("warn,cj=trace"),
    };
    // Fails only when a subscriber is already set: then that one stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Says on standard error which Tracking endpoint `orders` talks to: CJ's test endpoint
/// (orders not recorded) or the live one, naming its host. Every sending command calls it.
pub fn endpoint_notice(orders: &Orders) {
    let endpoint = orders.endpoint();
    let host = endpoint.host_str().unwrap_or("?");
    match orders.mode() {
        Mode::Test => eprintln!(
            "TEST: CJ's test endpoint ({host}{}): orders are not recorded and nothing reaches \
             reporting (--live sends for real)",
            endpoint.path()
        ),
        Mode::Live => eprintln!(
            "LIVE: CJ's live endpoint ({host}{}): orders are recorded and reach reporting",
            endpoint.path()
        ),
    }
}

/// A count in `range` (clap refuses others, naming the range).
pub fn count(range: impl RangeBounds<u64>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(range)
}

/// A whole number of at least 1: seconds, or a count or size that 0 would make meaningless.
pub fn at_least_one<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => T::try_from(n).map_err(|_| format!("{n} is too large")),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// A duration as the CLI's options take it: `90d`, `12h`, `30m`, `1h 30m`, or ISO 8601
/// (`P90D`, `PT2H`); days are 24 hours; not negative.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let span: cj::jiff::Span = text
        .parse()
        .map_err(|e| format!("{e} (write it like `90d`, `2h` or `90m`)"))?;
    let length = span
        .to_duration(cj::jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| e.to_string())?;
    std::time::Duration::try_from(length).map_err(|_| "a duration cannot be negative".to_string())
}
