//! `cj queue`: a durable queue of orders in a SQLite file, and its sender.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cj::queue::{QueueConfig, QueuedOrder, Sender, SqliteStore, Store};
use cj::tracking::{
    Mode, OrderCancelRequest, OrderCreateRequest, OrderRestateRequest, validate_cancel,
    validate_create, validate_restate,
};
use clap::{Args, Subcommand, ValueEnum};

use crate::input::Input;
use crate::orders::read_orders;
use crate::{Connection, Output, exit, outln, report_error};

#[derive(Args)]
pub struct QueueArgs {
    /// The queue's SQLite file (created when missing).
    #[arg(
        long,
        global = true,
        env = "CJ_QUEUE_STORE",
        default_value = "cj-queue.sqlite"
    )]
    store: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Store orders (JSON Lines, as for `cj orders`); returns once they are on disk.
    Enqueue {
        /// JSON Lines file, one order per line (`-` for stdin).
        #[arg(long, short)]
        file: PathBuf,
        /// Which mutation the orders go through.
        #[arg(long, value_enum, default_value = "create")]
        kind: KindArg,
    },
    /// Send queued orders when CJ's thresholds are met, until Ctrl-C.
    Run(RunArgs),
    /// What the queue holds.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Orders CJ refused.
    DeadLetters {
        /// Output format (`json`: an array with each order in CJ's field names).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Put refused orders back in the queue (all, or those given).
    Retry {
        /// A dead letter's id (repeatable); all when none is given.
        #[arg(long = "id")]
        ids: Vec<i64>,
    },
}

#[derive(ValueEnum, Clone, Copy)]
enum KindArg {
    Create,
    Restate,
    Cancel,
}

#[derive(Args)]
struct RunArgs {
    /// Send everything now, whatever the thresholds, and exit.
    #[arg(long)]
    until_empty: bool,
    /// Tracking API base URL.
    #[arg(long, env = "CJ_TRACKING_URL", default_value = cj::tracking::DEFAULT_BASE_URL)]
    tracking_url: String,
    /// Send to the live endpoint (/graphql). Without it, to the test endpoint (/graphqltest).
    #[arg(long)]
    live: bool,
    /// Send when this many orders wait (CJ's connector: 10,000).
    #[arg(long, default_value_t = 10_000)]
    max_orders: usize,
    /// Send when the oldest order has waited this many seconds (CJ's connector: 600).
    #[arg(long, default_value_t = 600)]
    max_age: u64,
    /// Send when the waiting orders reach this many bytes (CJ's connector: 100 MB).
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    max_bytes: u64,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(args: QueueArgs) -> u8 {
    let store = match SqliteStore::open(&args.store) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", args.store.display());
            return exit::USAGE;
        }
    };
    match args.action {
        Action::Enqueue { file, kind } => enqueue(&store, &file, kind).await,
        Action::Run(run) => send(store, run).await,
        Action::Status { output } => status(&store, output).await,
        Action::DeadLetters { output } => match store.dead_letters().await {
            Ok(dead) if output == Output::Json => crate::print_json(&dead, true),
            Ok(dead) => {
                let header = ["ID", "KIND", "ORDER ID", "MESSAGE"].map(String::from);
                let rows: Vec<[String; 4]> = dead
                    .iter()
                    .map(|d| {
                        [
                            d.id.to_string(),
                            d.kind.as_str().to_string(),
                            d.order["orderId"].as_str().unwrap_or("-").to_string(),
                            d.message.clone(),
                        ]
                    })
                    .collect();
                crate::print_table(&header, &rows);
                outln!("{} dead letter(s)", dead.len());
                exit::OK
            }
            Err(e) => store_failed(e),
        },
        Action::Retry { ids } => {
            let ids = (!ids.is_empty()).then_some(ids);
            match store.requeue(ids).await {
                Ok(n) => {
                    outln!("{n} order(s) put back in the queue");
                    exit::OK
                }
                Err(e) => store_failed(e),
            }
        }
    }
}

/// What the queue holds, and what `cj reconcile --store` last found of the accepted orders.
async fn status(store: &SqliteStore, output: Output) -> u8 {
    let (stats, reconciled) = match (store.stats().await, store.reconciliation().await) {
        (Ok(stats), Ok(reconciled)) => (stats, reconciled),
        (Err(e), _) | (_, Err(e)) => return store_failed(e),
    };
    if output == Output::Json {
        // The counts, and `reconciliation`: verdicts per name, `confirmed` and `missing`.
        let mut json = serde_json::to_value(&stats).unwrap_or_default();
        if let (Some(object), Ok(mut verdicts)) =
            (json.as_object_mut(), serde_json::to_value(&reconciled))
        {
            verdicts["confirmed"] = reconciled.confirmed().into();
            verdicts["missing"] = reconciled.missing().into();
            object.insert("reconciliation".into(), verdicts);
        }
        return crate::print_json(&json, false);
    }
    outln!(
        "waiting {} ({} bytes), in flight {}, accepted {}, dead letters {}",
        stats.waiting,
        stats.waiting_bytes,
        stats.in_flight,
        stats.accepted,
        stats.dead
    );
    if let Some(oldest) = stats.oldest_waiting_ms
        && let Ok(t) = cj::jiff::Timestamp::from_millisecond(oldest)
    {
        outln!("oldest waiting since {t}");
    }
    match reconciled
        .checked_at_ms
        .and_then(|at| cj::jiff::Timestamp::from_millisecond(at).ok())
    {
        Some(at) => {
            let others: Vec<String> = reconciled
                .verdicts
                .iter()
                .map(|(verdict, n)| format!("{verdict} {n}"))
                .collect();
            outln!(
                "reconciled with CJ ({at}): {} order(s) confirmed by CJ, {} missing ({})",
                reconciled.confirmed(),
                reconciled.missing(),
                others.join(", ")
            );
        }
        None if stats.accepted > 0 => {
            outln!("not reconciled with CJ yet: `cj reconcile --store` checks the accepted orders")
        }
        None => {}
    }
    exit::OK
}

pub(crate) fn store_failed(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: the queue's store failed: {e}");
    exit::TRANSPORT
}

/// Reads and validates orders of one kind; on failure, the exit status (the error printed).
fn load<I>(
    file: &PathBuf,
    validate: fn(&[I], cj::tracking::Instant) -> Result<(), cj::InvalidInput>,
) -> Result<Vec<QueuedOrder>, u8>
where
    I: Input,
    QueuedOrder: From<I>,
{
    let (orders, lines) =
        read_orders::<I>(file, "cj queue enqueue --kind ").map_err(|message| {
            eprintln!("error: {message}");
            exit::USAGE
        })?;
    if let Err(invalid) = validate(&orders, cj::tracking::Instant::now()) {
        return Err(report_error(&cj::Error::Invalid(invalid), &lines));
    }
    Ok(orders.into_iter().map(QueuedOrder::from).collect())
}

async fn enqueue(store: &SqliteStore, file: &PathBuf, kind: KindArg) -> u8 {
    let loaded = match kind {
        KindArg::Create => load::<OrderCreateRequest>(file, validate_create),
        KindArg::Restate => load::<OrderRestateRequest>(file, validate_restate),
        KindArg::Cancel => load::<OrderCancelRequest>(file, validate_cancel),
    };
    let orders = match loaded {
        Ok(orders) => orders,
        Err(code) => return code,
    };
    let at = cj::jiff::Timestamp::now().as_millisecond();
    let entries: Result<Vec<_>, _> = orders.iter().map(|o| o.to_entry(at)).collect();
    let entries = match entries {
        Ok(e) => e,
        Err(e) => return store_failed(e),
    };
    match store.append(entries).await {
        Ok(ids) => {
            outln!(
                "stored {} order(s) on disk (ids {}..={})",
                ids.len(),
                ids.first().copied().unwrap_or_default(),
                ids.last().copied().unwrap_or_default()
            );
            exit::OK
        }
        Err(e) => store_failed(e),
    }
}

async fn send(store: SqliteStore, args: RunArgs) -> u8 {
    let mode = if args.live { Mode::Live } else { Mode::Test };
    let client = match args
        .connection
        .client(|b| b.mode(mode).tracking_url(&args.tracking_url))
    {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut config = QueueConfig::default();
    config.max_orders = args.max_orders;
    config.max_age = Duration::from_secs(args.max_age);
    config.max_bytes = args.max_bytes;
    let store = Arc::new(store);
    let sender = Sender::new(store.clone(), client.orders().clone(), config);
    if args.until_empty {
        let report = match sender.send_all().await {
            Ok(r) => r,
            Err(e) => return store_failed(e),
        };
        outln!(
            "sent {} batch(es): {} accepted, {} refused (dead letters), {} waiting to retry",
            report.batches,
            report.accepted,
            report.rejected,
            report.retrying
        );
        return match store.stats().await {
            Ok(stats) if stats.waiting == 0 => exit::OK,
            Ok(stats) => {
                eprintln!(
                    "{} order(s) could not be sent; they stay queued",
                    stats.waiting
                );
                exit::TRANSPORT
            }
            Err(e) => store_failed(e),
        };
    }
    outln!(
        "sending queued orders from {} when a threshold is met; Ctrl-C stops",
        client.orders().endpoint()
    );
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return exit::OK,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        match sender.due().await {
            Ok(true) => match sender.send_all().await {
                Ok(r) => outln!(
                    "sent {} batch(es): {} accepted, {} refused, {} waiting to retry",
                    r.batches,
                    r.accepted,
                    r.rejected,
                    r.retrying
                ),
                Err(e) => return store_failed(e),
            },
            Ok(false) => {}
            Err(e) => return store_failed(e),
        }
    }
}
