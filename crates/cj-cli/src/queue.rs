//! `cj queue`: a durable queue of orders in a SQLite file, and its sender.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cj::queue::{
    Enqueued, Kind, NewEntry, QueueConfig, Retention, Sender, SqliteStore, Store, order_key,
};
use cj::tracking::{Mode, OrderCancelRequest, OrderCreateRequest, OrderKey, OrderRestateRequest};
use clap::{Args, Subcommand, ValueEnum};

use crate::checked::check_in_background;
use crate::input::Input;
use crate::orders::{Progress, report_refused};
use crate::{Connection, Output, exit, outln};

#[derive(Args)]
pub struct QueueArgs {
    /// The queue's SQLite file (created when missing).
    #[arg(
        long,
        global = true,
        env = "CJ_QUEUE_STORE",
        hide_env_values = true,
        default_value = "cj-queue.sqlite"
    )]
    store: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Store orders (JSON Lines, as for `cj orders`); returns once they are on disk. The whole
    /// file is checked first and nothing is stored unless every order is valid; then the
    /// orders are stored in transactions of 10,000, in constant memory. An order already
    /// waiting or accepted with the same kind, key and payload is not stored again (the same
    /// file enqueued twice is stored once); a changed order is.
    Enqueue {
        /// JSON Lines file, one order per line (`-` for stdin).
        #[arg(long, short)]
        file: PathBuf,
        /// Which mutation the orders go through.
        #[arg(long, value_enum, default_value = "create")]
        kind: KindArg,
        /// How far ahead of this host's clock an `eventTime` or `updateTime` may be (`30s`,
        /// `5m`, `0s`), as for `cj orders`.
        #[arg(long, value_name = "DURATION", env = "CJ_CLOCK_SKEW", hide_env_values = true,
            default_value = "5m", value_parser = cj::parse_clock_skew)]
        clock_skew: std::time::Duration,
    },
    /// Send queued orders when CJ's thresholds are met, until Ctrl-C.
    #[command(
        after_help = "Exit status with --until-empty: 0 every order sent was accepted; 1 CJ \
                  refused orders (new dead letters: `cj queue dead-letters`); 3 orders remain \
                  waiting (not sent or not confirmed: they stay queued, `cj queue run` sends them \
                  again). Without --until-empty: 0 on Ctrl-C, 3 if the store fails."
    )]
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
    /// Remove the settled orders the retention no longer keeps, and give their space back.
    /// An order's entries (create, restates, cancels) go together, and never while one of them
    /// waits or is being sent; with them, their reconciliation verdict.
    Prune {
        #[command(flatten)]
        retention: RetentionArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// What `cj queue prune` (and `cj queue run`'s pruning) keeps.
#[derive(Args, Clone, Copy)]
struct RetentionArgs {
    /// Keep every accepted order this long after CJ accepted its latest entry, whatever
    /// `cj reconcile --store` found (`90d`, `12h`, ...).
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = crate::shell::duration)]
    keep_accepted: Duration,
    /// Keep an order CJ confirmed as sent (verdict recorded, corrected or cancelled-as-sent,
    /// after its latest entry was accepted) this long after that acceptance.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = crate::shell::duration)]
    keep_reconciled: Duration,
    /// Also remove orders with a dead letter (after --keep-accepted); kept otherwise, for an
    /// operator to look at.
    #[arg(long)]
    prune_dead_letters: bool,
}

impl RetentionArgs {
    fn retention(self) -> Retention {
        let mut r = Retention::default();
        r.max_age = self.keep_accepted;
        r.reconciled_age = self.keep_reconciled;
        r.dead_letters = self.prune_dead_letters;
        r
    }
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
    #[arg(long, env = "CJ_TRACKING_URL", hide_env_values = true,
        default_value = cj::tracking::DEFAULT_BASE_URL)]
    tracking_url: String,
    /// Send to the live endpoint (/graphql). Without it, to the test endpoint (/graphqltest).
    #[arg(long)]
    live: bool,
    /// Send when this many orders wait (CJ's connector: 10,000).
    #[arg(long, default_value_t = 10_000, value_parser = crate::shell::at_least_one::<usize>)]
    max_orders: usize,
    /// Send when the oldest order has waited this many seconds (CJ's connector: 600).
    #[arg(long, default_value_t = 600)]
    max_age: u64,
    /// Send when the waiting orders reach this many bytes (CJ's connector: 100 MB).
    #[arg(long, default_value_t = 100 * 1024 * 1024,
        value_parser = crate::shell::at_least_one::<u64>)]
    max_bytes: u64,
    /// Without --until-empty: prune the store this often, as `cj queue prune` does with the
    /// options below (`0` never).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::shell::duration)]
    prune_every: Duration,
    #[command(flatten)]
    retention: RetentionArgs,
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
        Action::Enqueue {
            file,
            kind,
            clock_skew,
        } => enqueue(&store, &file, kind, clock_skew).await,
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
        Action::Prune { retention, output } => {
            let now = cj::jiff::Timestamp::now().as_millisecond();
            match store.prune(retention.retention(), now).await {
                Ok(pruned) if output == Output::Json => crate::print_json(&pruned, false),
                Ok(pruned) => {
                    outln!(
                        "pruned {} order(s): {} entries, {} verdict(s)",
                        pruned.orders,
                        pruned.entries,
                        pruned.verdicts
                    );
                    exit::OK
                }
                Err(e) => store_failed(e),
            }
        }
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

/// Orders stored per transaction: a group commit, not one per order nor one for the file.
const GROUP: usize = 10_000;

async fn enqueue(store: &SqliteStore, file: &Path, kind: KindArg, skew: Duration) -> u8 {
    match kind {
        KindArg::Create => {
            enqueue_kind::<OrderCreateRequest>(store, file, Kind::Create, skew).await
        }
        KindArg::Restate => {
            enqueue_kind::<OrderRestateRequest>(store, file, Kind::Restate, skew).await
        }
        KindArg::Cancel => {
            enqueue_kind::<OrderCancelRequest>(store, file, Kind::Cancel, skew).await
        }
    }
}

/// Checks the whole file first (nothing is stored unless every order is valid), then stores
/// the orders in groups of [`GROUP`], each group one transaction.
async fn enqueue_kind<I: Input + 'static>(
    store: &SqliteStore,
    file: &Path,
    kind: Kind,
    skew: Duration,
) -> u8 {
    let progress = Progress::new(true);
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let checked = check_in_background::<I>(
        file.to_path_buf(),
        "cj queue enqueue --kind ",
        progress,
        ctrl_c.as_mut(),
        skew,
    )
    .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(refused) => return report_refused(refused),
    };
    let at = cj::jiff::Timestamp::now().as_millisecond();
    let (mut first, mut last, mut stored, mut queued) = (None, None, 0, 0);
    let mut orders = checked.orders::<I>().peekable();
    while orders.peek().is_some() {
        let mut group = Vec::with_capacity(GROUP);
        for order in orders.by_ref().take(GROUP) {
            let order = match order {
                Ok(order) => order,
                Err(e) => return store_failed(e),
            };
            let (enterprise, tracker, order_id) = order.order_key();
            group.push(NewEntry {
                kind,
                key: order_key(enterprise, tracker, order_id),
                payload: order.json().to_string(),
                enqueued_at_ms: at,
            });
        }
        match store.enqueue(group).await {
            Ok(done) => {
                for d in done {
                    match d {
                        Enqueued::Stored(id) => {
                            stored += 1;
                            first = first.or(Some(id));
                            last = Some(id);
                        }
                        Enqueued::AlreadyQueued(_) => queued += 1,
                    }
                }
            }
            Err(e) => {
                let done = stored + queued;
                if done > 0 {
                    eprintln!(
                        "the first {done} of {} order(s) were stored or already queued (up to \
                         line {}); the rest were not",
                        checked.count,
                        checked.lines.line(done - 1)
                    );
                }
                return store_failed(e);
            }
        }
    }
    match (first, last) {
        (Some(first), Some(last)) => {
            outln!("stored {stored} order(s) on disk (ids {first}..={last})")
        }
        _ => outln!("stored 0 order(s) on disk"),
    }
    if queued > 0 {
        outln!("{queued} order(s) already queued (same order, same payload): not stored again");
    }
    exit::OK
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
    crate::shell::endpoint_notice(client.orders());
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
        // Orders left to send outrank refusals, as for `cj orders`: sending them may refuse more.
        return match store.stats().await {
            Ok(stats) if stats.waiting + stats.in_flight > 0 => {
                eprintln!(
                    "{} order(s) could not be sent; they stay queued",
                    stats.waiting + stats.in_flight
                );
                exit::TRANSPORT
            }
            Ok(_) if report.rejected > 0 => {
                eprintln!(
                    "{} order(s) refused by CJ became dead letters: `cj queue dead-letters` lists \
                     them",
                    report.rejected
                );
                exit::CJ_ERRORS
            }
            Ok(_) => exit::OK,
            Err(e) => store_failed(e),
        };
    }
    outln!(
        "sending queued orders from {} when a threshold is met; Ctrl-C stops",
        client.orders().endpoint()
    );
    let retention = args.retention.retention();
    let mut next_prune = (!args.prune_every.is_zero()).then(tokio::time::Instant::now);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return exit::OK,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if next_prune.is_some_and(|at| at <= tokio::time::Instant::now()) {
            let now = cj::jiff::Timestamp::now().as_millisecond();
            match store.prune(retention, now).await {
                Ok(p) if p.entries + p.verdicts > 0 => outln!(
                    "pruned {} order(s): {} entries, {} verdict(s)",
                    p.orders,
                    p.entries,
                    p.verdicts
                ),
                Ok(_) => {}
                // Sending goes on: what was not pruned now is pruned next time.
                Err(e) => eprintln!("warning: pruning the queue's store failed: {e}"),
            }
            next_prune = Some(tokio::time::Instant::now() + args.prune_every);
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
