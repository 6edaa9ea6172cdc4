//! `cj reconcile`: which orders sent CJ recorded, and how (Commission Detail API).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;

use cj::commissions::{Stream, StreamExt};
use cj::jiff::{SignedDuration, Timestamp};
use cj::queue::reconcile::{
    QueueReconcileError, add_accepted, line_key, resend, with_verdicts_recorded,
};
use cj::queue::{SqliteStore, order_key};
use cj::reconcile::{ReconcileError, Reconciled, Reconciler, SentOrder, Verdict};
use cj::rust_decimal::Decimal;
use cj::tracking::{OrderCancelRequest, OrderCreateRequest, OrderRestateRequest};
use clap::Args;

use crate::commissions::{CommissionDetail, CommissionFilters, Format};
use crate::input::Input;
use crate::orders::for_each_order;
use crate::queue::store_failed;
use crate::{exit, outln, report_error};

/// How many unexpected records the table lists (JSON lists them all).
const TABLE_UNEXPECTED: usize = 100;

/// `cj reconcile`: the orders sent, against what CJ recorded.
#[derive(Args)]
#[command(
    after_help = "Exit status: 0 when every order is recorded, corrected, cancelled-as-sent \
                  or pending; 1 when any needs attention (missing, amount-differs, \
                  amount-unknown, items-differ, cancel-missing, other-tracker, or a record \
                  unexpected); 2 usage or unreadable input; 3 Commission Detail could not be \
                  read (no verdict is given then), or the queue's store failed."
)]
pub struct ReconcileArgs {
    /// The advertiser whose commissions are read (CID; repeatable).
    #[arg(long = "advertiser-id", value_name = "CID", required = true)]
    advertiser_ids: Vec<String>,
    /// Orders sent with createOrders: JSON Lines as for `cj orders create` (repeatable). Each
    /// was sent at its `eventTime`.
    #[arg(long, value_name = "FILE")]
    created: Vec<PathBuf>,
    /// Orders sent with restateOrders, as for `cj orders restate` (repeatable). Each was sent
    /// at its `updateTime`.
    #[arg(long, value_name = "FILE")]
    restated: Vec<PathBuf>,
    /// Orders sent with cancelOrders, as for `cj orders cancel` (repeatable). Each was sent at
    /// its `updateTime`.
    #[arg(long, value_name = "FILE")]
    cancelled: Vec<PathBuf>,
    /// The queue's SQLite file: reconcile the orders it recorded as accepted (with their
    /// restates and cancels, each sent when CJ accepted it), and record each order's verdict
    /// there (see `cj queue status`).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["created", "restated", "cancelled"])]
    store: Option<PathBuf>,
    /// How long after it was sent an order is not yet expected in CJ (`2h`, `90m`).
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = crate::shell::duration)]
    grace: std::time::Duration,
    /// Output format: `table` the counts per verdict and the orders needing attention; `json`
    /// one array, `jsonl` one object a line: each order (and each record of an order not
    /// sent) with `orderId`, `actionTrackerId`, `verdict`, `sentAmount`, `recordedAmount`,
    /// `commissionIds`, ...
    #[arg(long, value_enum, default_value_t)]
    output: Format,
    /// Send missing orders again (CJ deduplicates): with --store, put back in the queue (`cj
    /// queue run` sends them); else their creates are written to --resend-file.
    #[arg(long)]
    resend_missing: bool,
    /// With --resend-missing and files: where the missing orders' creates are written, as JSON
    /// Lines for `cj orders create --file` or `cj queue enqueue --file`.
    #[arg(
        long,
        value_name = "FILE",
        requires = "resend_missing",
        conflicts_with = "store"
    )]
    resend_file: Option<PathBuf>,
    #[command(flatten)]
    commission_detail: CommissionDetail,
    /// Commission Detail's filters, named after CJ's arguments. They narrow the records read:
    /// an order none of whose records were read then gets no verdict (never `missing`), since
    /// a filter may have left its records out.
    #[command(flatten)]
    filters: CommissionFilters,
}

pub async fn run(args: ReconcileArgs) -> u8 {
    if args.store.is_none()
        && args.created.is_empty()
        && args.restated.is_empty()
        && args.cancelled.is_empty()
    {
        eprintln!(
            "error: nothing to reconcile: give --store, or --created, --restated or --cancelled files"
        );
        return exit::USAGE;
    }
    if args.resend_missing && args.store.is_none() && args.resend_file.is_none() {
        eprintln!(
            "error: --resend-missing without --store needs --resend-file FILE for the missing \
             orders' creates"
        );
        return exit::USAGE;
    }
    let client = match args.commission_detail.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A grace beyond SignedDuration's range (centuries) is as good as forever.
    let grace = SignedDuration::try_from(args.grace).unwrap_or(SignedDuration::MAX);
    let mut reconciler = Reconciler::new().grace(grace);
    let store = match &args.store {
        // Opening would create it: a mistyped path is said, not reconciled as empty.
        Some(path) if !path.exists() => {
            eprintln!("error: {}: no such queue store", path.display());
            return exit::USAGE;
        }
        Some(path) => match SqliteStore::open(path) {
            Ok(store) => {
                if let Err(e) = add_accepted(&store, &mut reconciler).await {
                    eprintln!("error: {}", crate::error_chain(&e));
                    return exit::TRANSPORT;
                }
                Some(store)
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return exit::USAGE;
            }
        },
        None => {
            if let Err(message) = load_files(&args, &mut reconciler) {
                eprintln!("error: {message}");
                return exit::USAGE;
            }
            None
        }
    };
    if reconciler.is_empty() {
        eprintln!("note: the store holds no order CJ accepted: nothing to reconcile");
        return exit::OK;
    }
    let without_create = reconciler.without_create();
    if without_create > 0 {
        eprintln!(
            "note: {without_create} order(s) restated or cancelled without their create: they are \
             looked for from their updateTime, but CJ records an order on its event date; give \
             the creates too (--created)"
        );
    }
    if let Some((since, before)) = reconciler.window() {
        eprintln!("reading Commission Detail for events from {since} to {before}");
    }

    let mut report = Report::new(args.output);
    // The queue's keys of the missing orders (never the other-tracker ones: resending those
    // could make a second commission).
    let mut missing: HashSet<String> = HashSet::new();
    let mut code = exit::OK;
    let advertisers = args.advertiser_ids.iter().cloned();
    let api = client.commissions();
    let orders = reconciler.len();
    let filtered = args.filters != CommissionFilters::default();
    let reconciled: Pin<Box<dyn Stream<Item = _> + Send>> = if filtered {
        match args.filters.apply(api.advertiser(advertisers)) {
            Ok(request) => Box::pin(reconciler.reconcile_filtered(request)),
            Err(message) => {
                eprintln!("error: {message}");
                return exit::USAGE;
            }
        }
    } else {
        Box::pin(reconciler.reconcile(api, advertisers))
    };
    let mut lines: Pin<
        Box<dyn Stream<Item = Result<Reconciled, QueueReconcileError>> + Send + '_>,
    > = match &store {
        // Each order's verdict is recorded in the store as the lines go.
        Some(store) => Box::pin(with_verdicts_recorded(store, reconciled)),
        None => Box::pin(reconciled.map(|l| l.map_err(Into::into))),
    };
    let mut judged = 0usize;
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(line) => line,
            Err(QueueReconcileError::Reconcile(ReconcileError::Commissions(e))) => {
                // Nothing more is printed: JSON stays unclosed (a partial answer never parses
                // as a whole one), and no table is printed.
                report_error(&e, &[]);
                eprintln!("no verdict was given: every record is needed to tell what is missing");
                report.abandon();
                return exit::TRANSPORT;
            }
            Err(QueueReconcileError::Store(e)) => return store_failed(e.to_string()),
            Err(e) => {
                eprintln!("error: {}", crate::error_chain(&e));
                code = exit::CJ_ERRORS;
                continue;
            }
        };
        if line.verdict != Verdict::Unexpected {
            judged += 1;
        }
        if line.verdict.needs_attention() {
            code = exit::CJ_ERRORS;
        }
        if line.verdict == Verdict::Missing {
            missing.insert(line_key(&line));
        }
        if let Err(e) = report.line(&line) {
            eprintln!("error: cannot print a line as JSON: {e}");
            return exit::TRANSPORT;
        }
    }
    drop(lines);
    report.end();
    if filtered && judged < orders {
        eprintln!(
            "note: {} order(s) got no verdict: the filters read none of their records (CJ may \
             have them)",
            orders - judged
        );
    }
    if args.resend_missing && !missing.is_empty() {
        let resent = match (&store, &args.resend_file) {
            (Some(store), _) => resend_to_store(store, &missing).await,
            (None, Some(file)) => resend_to_file(&args.created, file, &missing),
            (None, None) => Ok(()),
        };
        if let Err(message) = resent {
            eprintln!("error: {message}");
            return exit::TRANSPORT;
        }
    }
    code
}

/// Adds the orders of the files, each sent at its `eventTime` (creates) or `updateTime`.
fn load_files(args: &ReconcileArgs, reconciler: &mut Reconciler) -> Result<(), String> {
    for path in &args.created {
        read(
            path,
            "--created",
            |o: OrderCreateRequest| {
                let sent_at = o
                    .event_time
                    .ok_or("no eventTime: the time it was sent is needed")?;
                Ok(SentOrder::create(&o, sent_at))
            },
            reconciler,
        )?;
    }
    for path in &args.restated {
        read(
            path,
            "--restated",
            |o: OrderRestateRequest| Ok(SentOrder::restate(&o, o.update_time)),
            reconciler,
        )?;
    }
    for path in &args.cancelled {
        read(
            path,
            "--cancelled",
            |o: OrderCancelRequest| Ok(SentOrder::cancel(&o, o.update_time)),
            reconciler,
        )?;
    }
    Ok(())
}

/// Adds the orders of one file, one line at a time.
fn read<I: Input>(
    path: &PathBuf,
    option: &str,
    sent: impl Fn(I) -> Result<SentOrder, &'static str>,
    reconciler: &mut Reconciler,
) -> Result<(), String> {
    for_each_order(path, "cj orders ", |order: I, line| {
        let order = sent(order).map_err(|why| format!("line {line}: {why}"))?;
        reconciler.add(order);
        Ok(())
    })
    .map_err(|e| {
        let file = path.display().to_string();
        if e.starts_with(&file) {
            format!("{option} {e}")
        } else {
            format!("{option} {file}: {e}")
        }
    })
}

/// Puts every accepted request of the missing orders (create, restates, cancels, in their
/// order) back in the queue.
async fn resend_to_store(store: &SqliteStore, missing: &HashSet<String>) -> Result<(), String> {
    let now = Timestamp::now().as_millisecond();
    let queued = resend(store, missing, now)
        .await
        .map_err(|e| format!("the queue's store failed: {e}"))?;
    eprintln!(
        "{queued} request(s) of {} missing order(s) put back in the queue: `cj queue run` sends \
         them (CJ deduplicates)",
        missing.len()
    );
    Ok(())
}

/// Writes the creates of the missing orders, as read, one a line.
fn resend_to_file(
    created: &[PathBuf],
    file: &PathBuf,
    missing: &HashSet<String>,
) -> Result<(), String> {
    let out = std::fs::File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let mut written = 0usize;
    for path in created {
        for_each_order(path, "cj orders ", |o: OrderCreateRequest, _| {
            let key = order_key(o.enterprise_id.as_str(), o.action_tracker_id, &o.order_id);
            if !missing.contains(&key) {
                return Ok(());
            }
            let json = serde_json::to_string(&o).map_err(|e| e.to_string())?;
            writeln!(out, "{json}").map_err(|e| format!("{}: {e}", file.display()))?;
            written += 1;
            Ok(())
        })?;
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    eprintln!(
        "{written} create(s) of {} missing order(s) written to {}: send them with `cj orders \
         create --file {}` (CJ deduplicates), then their restates or cancels, if any",
        missing.len(),
        file.display(),
        file.display()
    );
    Ok(())
}

/// The output as lines arrive: JSON at once, the table at the end.
struct Report {
    format: Format,
    count: usize,
    counts: BTreeMap<Verdict, usize>,
    /// The table's rows of the orders needing attention, and of the first unexpected records.
    rows: Vec<[String; 7]>,
    unexpected: usize,
}

impl Report {
    fn new(format: Format) -> Self {
        Report {
            format,
            count: 0,
            counts: BTreeMap::new(),
            rows: Vec::new(),
            unexpected: 0,
        }
    }

    fn line(&mut self, line: &Reconciled) -> Result<(), serde_json::Error> {
        *self.counts.entry(line.verdict).or_default() += 1;
        match self.format {
            Format::Json | Format::Jsonl => {
                let json = serde_json::to_string(line)?;
                // The array opens with its first line: a read that fails first prints nothing.
                let before = match (self.format, self.count) {
                    (Format::Json, 0) => "[\n",
                    (Format::Json, _) => ",",
                    _ => "",
                };
                outln!("{before}{json}");
            }
            Format::Table if line.verdict == Verdict::Unexpected => {
                self.unexpected += 1;
                if self.unexpected <= TABLE_UNEXPECTED {
                    self.rows.push(row(line));
                }
            }
            Format::Table if line.verdict.needs_attention() => self.rows.push(row(line)),
            Format::Table => {}
        }
        self.count += 1;
        Ok(())
    }

    /// Says that what was printed is not the whole answer (a JSON array left open never
    /// parses as one).
    fn abandon(&self) {
        if self.count > 0 && self.format != Format::Table {
            eprintln!(
                "the {} line(s) printed are records read before the failure, not a reconciliation",
                self.count
            );
        }
    }

    fn end(&self) {
        match self.format {
            Format::Json if self.count == 0 => outln!("[]"),
            Format::Json => outln!("]"),
            Format::Jsonl => {}
            Format::Table => {
                let header = ["VERDICT", "COUNT"].map(String::from);
                let counts: Vec<[String; 2]> = Verdict::ALL
                    .iter()
                    .map(|v| {
                        let n = self.counts.get(v).copied().unwrap_or(0);
                        [v.to_string(), n.to_string()]
                    })
                    .collect();
                crate::print_table(&header, &counts);
                if self.rows.is_empty() {
                    outln!("no order needs attention");
                    return;
                }
                outln!("");
                let header = [
                    "ACTION TRACKER",
                    "ORDER ID",
                    "VERDICT",
                    "SENT",
                    "CJ (ADVERTISER CURRENCY, USD)",
                    "COMMISSION IDS",
                    "DETAIL",
                ]
                .map(String::from);
                crate::print_table(&header, &self.rows);
                if self.unexpected > TABLE_UNEXPECTED {
                    outln!(
                        "... and {} more unexpected record(s) (--output jsonl lists them all)",
                        self.unexpected - TABLE_UNEXPECTED
                    );
                }
                outln!(
                    "CJ names no currency code: its amount is in the advertiser's functional \
                     currency, beside its USD amount; an order sent in another currency is \
                     converted"
                );
            }
        }
    }
}

fn row(line: &Reconciled) -> [String; 7] {
    let amount = |a: Option<Decimal>| a.map_or("-".into(), |a| a.to_string());
    let sent = match (&line.sent_amount, &line.sent_currency) {
        (None, _) => "-".to_string(),
        (Some(a), Some(currency)) => format!("{a} {currency}"),
        (Some(a), None) => format!("{a} (advertiser currency)"),
    };
    let recorded = match (line.recorded_amount, line.recorded_amount_usd) {
        (None, None) => "-".to_string(),
        (adv, usd) => format!("{} / {} USD", amount(adv), amount(usd)),
    };
    let ids = if line.commission_ids.is_empty() {
        "-".to_string()
    } else {
        line.commission_ids.join(" ")
    };
    let detail = match line.verdict {
        Verdict::OtherTracker => format!(
            "CJ has it under action tracker {}: not resent",
            line.other_action_tracker_ids.join(", ")
        ),
        Verdict::ItemsDiffer => format!("SKUs differ: {}", line.differing_skus.join(", ")),
        Verdict::AmountUnknown => "CJ gives no advertiser-currency sale amount".to_string(),
        _ if !line.differing_skus.is_empty() => {
            format!("SKUs differ too: {}", line.differing_skus.join(", "))
        }
        _ => String::new(),
    };
    [
        line.action_tracker_id.clone(),
        line.order_id.clone(),
        line.verdict.to_string(),
        sent,
        recorded,
        ids,
        detail,
    ]
}
