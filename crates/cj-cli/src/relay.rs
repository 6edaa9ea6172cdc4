//! `cj commissions relay`: every new or corrected commission of a publisher, pushed once to a
//! partner's postback URL; and the relay's dead letters.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cj::commissions::Instant;
use cj::queue::SqliteStore;
use cj::queue::relay::{
    PostbackMethod, PostbackTemplate, Relay, RelayConfig, RelayReport, RelayStats, RelayStore,
};
use clap::{Args, Subcommand, ValueEnum};

use crate::commissions::CommissionDetail;
use crate::{Output, exit, outln, report_error};

/// `cj commissions relay`: runs the relay, or (subcommands) lists and retries its dead letters.
#[derive(Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit status with --once: 0 every record read was delivered; 1 records became \
                  dead letters (the partner refused them: see `dead-letters`), the partner \
                  redirects postbacks (3xx: fix --postback-url; the records wait), or CJ refused \
                  the query; 2 usage error; 3 CJ could not be read, records wait to be delivered \
                  again (they stay in the store), or the store failed; 130 Ctrl-C (the postback \
                  in flight is finished, what was delivered is printed).\n\n\
                  Delivered records are pruned after --retention-days (by `relay --interval` \
                  once a day, or `relay prune`); a pruned record is never delivered again."
)]
pub struct RelayArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Action {
    /// Records the partner refused (3xx, 4xx) or that failed every retry.
    DeadLetters {
        #[command(flatten)]
        target: Target,
        /// Output format (`json`: an array, each with the record in CJ's field names).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Put dead letters back in line (all, or those given) for the next run.
    Retry {
        #[command(flatten)]
        target: Target,
        /// A dead letter's commission id (repeatable); all when none is given.
        #[arg(long = "id", value_name = "COMMISSION_ID")]
        ids: Vec<String>,
    },
    /// Delete delivered records settled more than N days ago (waiting and dead records
    /// stay), giving the space back; a pruned record is never delivered again.
    Prune {
        #[command(flatten)]
        target: Target,
        /// Prune delivered records settled more than this many days ago.
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        older_than_days: u64,
    },
    /// What the relay's store holds: records waiting, delivered, dead; the cursor.
    Status {
        #[command(flatten)]
        target: Target,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// Which relay, in which store.
#[derive(Args)]
struct Target {
    /// The relay's SQLite file (created when missing).
    #[arg(
        long,
        env = "CJ_RELAY_STORE",
        hide_env_values = true,
        default_value = "cj-relay.sqlite"
    )]
    store: PathBuf,
    /// The publisher (CID) whose commissions are relayed.
    #[arg(
        long = "publisher-id",
        value_name = "CID",
        required_unless_present = "name"
    )]
    publisher_id: Option<String>,
    /// The relay's name in the store (default: the publisher's CID). Relays of one publisher
    /// to several partners need a name each.
    #[arg(long)]
    name: Option<String>,
}

impl Target {
    fn name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.publisher_id.clone())
            .unwrap_or_default()
    }

    /// The store, with the relay's tables; on failure, the exit status (the error printed).
    async fn open(&self) -> Result<SqliteStore, u8> {
        let store = SqliteStore::open(&self.store).map_err(|e| {
            eprintln!("error: {}: {e}", self.store.display());
            exit::USAGE
        })?;
        store.prepare_relay().await.map_err(store_failed)?;
        Ok(store)
    }
}

#[derive(ValueEnum, Clone, Copy, Default)]
enum MethodArg {
    /// GET the URL, its placeholders filled with the record's values.
    #[default]
    Get,
    /// POST the record as JSON with CJ's field names (placeholders in the URL filled too).
    Post,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// The partner's postback URL, with `{field}` placeholders naming CJ's record fields
    /// (`{commissionId}`, `{shopperId}`, `{orderId}`, `{saleAmountPubCurrency}`,
    /// `{pubCommissionAmountPubCurrency}`, `{actionStatus}`, `{original}`,
    /// `{correctionReason}`, `{eventDate}`, ...): each is replaced by the record's value,
    /// percent-encoded.
    #[arg(long, value_name = "TEMPLATE", required = true)]
    postback_url: Option<PostbackTemplate>,
    /// How postbacks are sent.
    #[arg(long, value_enum, default_value_t)]
    method: MethodArg,
    /// On the first run (no cursor in the store yet), relay commissions posted since this
    /// time (RFC 3339, or a date); default: the last 24 hours.
    #[arg(long, value_name = "T")]
    since_posting: Option<Instant>,
    /// One round (read what CJ has, deliver what is due), then exit.
    #[arg(long, conflicts_with = "interval")]
    once: bool,
    /// Seconds between rounds, until Ctrl-C.
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
        value_parser = crate::shell::at_least_one::<u64>)]
    interval: u64,
    /// Deliveries tried before a record that keeps failing (5xx, 408, 429, timeout, no
    /// connection) becomes a dead letter.
    #[arg(long, value_name = "N", default_value_t = 30,
        value_parser = crate::shell::at_least_one::<u32>)]
    max_attempts: u32,
    /// Seconds one postback may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
        value_parser = crate::shell::at_least_one::<u64>)]
    postback_timeout: u64,
    /// With --interval: delivered records settled more than this many days ago are pruned
    /// when the relay starts and once a day (0 keeps them).
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    retention_days: u64,
    /// How each round's report is printed.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    commission_detail: CommissionDetail,
}

/// The exit status after Ctrl-C.
const INTERRUPTED: u8 = 130;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Completes at Ctrl-C (never, if the signal cannot be watched).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Action {
    fn target(&self) -> &Target {
        match self {
            Action::DeadLetters { target, .. }
            | Action::Retry { target, .. }
            | Action::Prune { target, .. }
            | Action::Status { target, .. } => target,
        }
    }
}

pub async fn run(args: RelayArgs) -> u8 {
    let Some(action) = args.action else {
        return relay(args.run).await;
    };
    let target = action.target();
    let store = match target.open().await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let name = target.name();
    match &action {
        Action::DeadLetters { output, .. } => match store.relay_dead_letters(&name).await {
            Ok(dead) if *output == Output::Json => crate::print_json(&dead, true),
            Ok(dead) => {
                let header =
                    ["COMMISSION", "STATUS", "ATTEMPTS", "ORDER", "REASON"].map(String::from);
                let rows: Vec<[String; 5]> = dead
                    .iter()
                    .map(|d| {
                        [
                            d.commission_id.clone(),
                            d.status.map_or("-".into(), |s| s.to_string()),
                            d.attempts.to_string(),
                            d.record["orderId"].as_str().unwrap_or("-").to_string(),
                            d.reason.clone(),
                        ]
                    })
                    .collect();
                crate::print_table(&header, &rows);
                outln!("{} dead letter(s)", dead.len());
                exit::OK
            }
            Err(e) => store_failed(e),
        },
        Action::Retry { ids, .. } => {
            let ids = (!ids.is_empty()).then(|| ids.clone());
            match store.retry_dead_letters(&name, ids).await {
                Ok(n) => {
                    outln!("{n} record(s) put back in line; the next run delivers them");
                    exit::OK
                }
                Err(e) => store_failed(e),
            }
        }
        Action::Prune {
            older_than_days, ..
        } => {
            let days = Duration::from_secs(older_than_days.saturating_mul(DAY.as_secs()));
            let before = cj::jiff::Timestamp::now()
                .as_millisecond()
                .saturating_sub(i64::try_from(days.as_millis()).unwrap_or(i64::MAX));
            match store.prune_relay(&name, before).await {
                Ok(n) => {
                    outln!(
                        "{n} delivered record(s) settled more than {older_than_days} day(s) ago \
                         pruned"
                    );
                    exit::OK
                }
                Err(e) => store_failed(e),
            }
        }
        Action::Status { output, .. } => match store.relay_stats(&name).await {
            Ok(stats) if *output == Output::Json => crate::print_json(&stats, false),
            Ok(stats) => {
                print_stats(&stats);
                exit::OK
            }
            Err(e) => store_failed(e),
        },
    }
}

fn print_stats(stats: &RelayStats) {
    outln!(
        "waiting {}, in flight {}, delivered {}, dead letters {}",
        stats.pending,
        stats.in_flight,
        stats.delivered,
        stats.dead
    );
    if let Some(c) = &stats.cursor {
        outln!(
            "next read: posted since {}, after commission {}",
            c.since_posting,
            c.since_commission_id.as_deref().unwrap_or("(none yet)")
        );
    }
}

fn store_failed(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: the relay's store failed: {e}");
    exit::TRANSPORT
}

async fn relay(args: RunArgs) -> u8 {
    let (Some(publisher_id), Some(template)) = (&args.target.publisher_id, args.postback_url)
    else {
        eprintln!("error: --publisher-id and --postback-url are needed to run the relay");
        return exit::USAGE;
    };
    let client = match args.commission_detail.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match args.target.open().await {
        Ok(s) => Arc::new(s),
        Err(code) => return code,
    };
    let mut config = RelayConfig::default();
    config.name = args.target.name.clone();
    config.method = match args.method {
        MethodArg::Get => PostbackMethod::Get,
        MethodArg::Post => PostbackMethod::Post,
    };
    config.since_posting = args.since_posting;
    config.max_attempts = args.max_attempts;
    config.timeout = Duration::from_secs(args.postback_timeout.max(1));
    config.lease = config.lease.max(config.timeout * 2);
    config.retention = (args.retention_days > 0)
        .then(|| Duration::from_secs(args.retention_days.saturating_mul(DAY.as_secs())));
    let target = template.to_string();
    let relay = match Relay::new(
        store,
        client.commissions().clone(),
        publisher_id.as_str(),
        template,
        config,
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    if args.since_posting.is_some()
        && let Ok(stats) = relay.stats().await
        && stats.cursor.is_some()
    {
        eprintln!(
            "note: the store already has this relay's cursor; --since-posting applies to a \
             first run only"
        );
    }
    let output = args.output;
    if args.once {
        let progress = Progress::new();
        let round = relay.run_once_until(ctrl_c(), |report| progress.show(report));
        let report = match round.await {
            Ok(r) => r,
            Err(e) => {
                progress.clear();
                return store_failed(e);
            }
        };
        progress.clear();
        print_report(&report, output);
        if report.stopped {
            eprintln!(
                "interrupted: {} record(s) delivered in this run; the postback in flight was \
                 finished, the rest wait in the store",
                report.delivered
            );
            return INTERRUPTED;
        }
        return match relay.stats().await {
            Err(e) => store_failed(e),
            Ok(_) if report.redirected.is_some() => {
                eprintln!(
                    "error: {}; the records wait in the store",
                    report.redirected.as_deref().unwrap_or_default()
                );
                exit::CJ_ERRORS
            }
            Ok(_) if report.fetch_error.is_some() => report
                .fetch_error
                .as_ref()
                .map_or(exit::TRANSPORT, |e| report_error(e, &[])),
            Ok(stats) if stats.pending + stats.in_flight > 0 => {
                eprintln!(
                    "{} record(s) wait to be delivered again; they stay in the store",
                    stats.pending + stats.in_flight
                );
                exit::TRANSPORT
            }
            Ok(_) if report.dead > 0 => {
                eprintln!(
                    "{} record(s) became dead letters: `cj commissions relay dead-letters` \
                     lists them",
                    report.dead
                );
                exit::CJ_ERRORS
            }
            Ok(_) => exit::OK,
        };
    }
    eprintln!(
        "relaying commissions of publisher {publisher_id} to {target} every {} s; Ctrl-C stops",
        args.interval
    );
    let interval = Duration::from_secs(args.interval.max(1));
    let run = relay.run_until(interval, ctrl_c(), |report| {
        print_report(report, output);
        if let Some(e) = &report.fetch_error {
            eprintln!("warning: could not read from CJ: {}", crate::error_chain(e));
        }
        if let Some(why) = &report.redirected {
            eprintln!("warning: {why}; the records wait");
        }
    });
    match run.await {
        Ok(()) => {
            eprintln!("interrupted: the postback in flight was finished");
            INTERRUPTED
        }
        Err(e) => store_failed(e),
    }
}

/// A spinner on standard error during a round, only when it is a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new() -> Self {
        Progress(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("reading commissions from CJ");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        }))
    }

    fn show(&self, report: &RelayReport) {
        if let Some(bar) = &self.0 {
            bar.set_message(format!(
                "read {} page(s), {} record(s) ({} new); delivered {}, {} to retry, {} dead \
                 letter(s) (Ctrl-C stops after the postback in flight)",
                report.pages,
                report.fetched,
                report.new,
                report.delivered,
                report.retrying,
                report.dead
            ));
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn print_report(report: &RelayReport, output: Output) {
    if output == Output::Json {
        let json = serde_json::json!({
            "pages": report.pages,
            "fetched": report.fetched,
            "new": report.new,
            "delivered": report.delivered,
            "retrying": report.retrying,
            "dead": report.dead,
            "lostLeases": report.lost_leases,
            "pruned": report.pruned,
            "redirected": report.redirected,
            "stopped": report.stopped,
            "nextAttempt": report.next_attempt,
            "fetchError": report.fetch_error.as_ref().map(|e| crate::error_chain(e)),
        });
        crate::print_json(&json, false);
        return;
    }
    let mut line = format!(
        "read {} page(s), {} record(s) ({} new); delivered {}, {} to retry, {} dead letter(s)",
        report.pages, report.fetched, report.new, report.delivered, report.retrying, report.dead
    );
    if let Some(at) = report.next_attempt {
        line.push_str(&format!("; next attempt at {at}"));
    }
    if report.pruned > 0 {
        line.push_str(&format!("; {} delivered record(s) pruned", report.pruned));
    }
    outln!("{line}");
}
