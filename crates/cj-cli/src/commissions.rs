//! `cj commissions`: what CJ recorded (Commission Detail API).

use std::collections::HashSet;

use cj::Error;
use cj::commissions::Instant;
use cj::commissions::{CommissionRecord, CommissionsRequest, Side, StreamExt};
use cj::jiff::{SignedDuration, Timestamp};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};

use crate::{Connection, exit, outln, report_error};

/// Where Commission Detail is, and the token: what `cj commissions`, its relay and
/// `cj reconcile` connect with.
#[derive(Args, Debug, Clone)]
pub struct CommissionDetail {
    /// Commission Detail base URL.
    #[arg(
        long,
        env = "CJ_COMMISSIONS_URL",
        hide_env_values = true,
        default_value = cj::commissions::DEFAULT_BASE_URL
    )]
    commissions_url: String,
    #[command(flatten)]
    connection: Connection,
}

impl CommissionDetail {
    /// A client for Commission Detail; on failure the error is printed and the exit status
    /// returned.
    pub fn client(&self) -> Result<cj::Client, u8> {
        self.connection
            .client(|b| b.commissions_url(&self.commissions_url))
    }
}

/// How records are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// A readable table.
    #[default]
    Table,
    /// One JSON array of records with CJ's field names.
    Json,
    /// One record a line, with CJ's field names, as they arrive.
    Jsonl,
}

/// `cj commissions`: every commission of some advertisers or publishers.
#[derive(Args)]
#[command(group(ArgGroup::new("side").required(true).args(["advertiser_ids", "publisher_ids"])))]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CommissionsArgs {
    #[command(subcommand)]
    command: Option<CommissionsCommand>,
    /// Read the commissions of this advertiser (CID; repeatable).
    #[arg(long = "advertiser-id", value_name = "CID")]
    advertiser_ids: Vec<String>,
    /// Read the commissions of this publisher (CID; repeatable).
    #[arg(long = "publisher-id", value_name = "CID")]
    publisher_ids: Vec<String>,
    /// Actions at or after this time (RFC 3339, or a date).
    #[arg(long, value_name = "T")]
    since_event: Option<Instant>,
    /// Actions before this time.
    #[arg(long, value_name = "T")]
    before_event: Option<Instant>,
    /// Commissions posted at or after this time.
    #[arg(long, value_name = "T")]
    since_posting: Option<Instant>,
    /// Commissions posted before this time.
    #[arg(long, value_name = "T")]
    before_posting: Option<Instant>,
    /// Commissions locking at or after this time.
    #[arg(long, value_name = "T")]
    since_locking: Option<Instant>,
    /// Commissions locking before this time.
    #[arg(long, value_name = "T")]
    before_locking: Option<Instant>,
    /// Only commissions after this one (CJ's cursor).
    #[arg(long, value_name = "ID")]
    since_commission_id: Option<String>,
    /// Only the records of this order (repeatable; CJ has no such filter: the range is read
    /// and the records kept here).
    #[arg(long = "order-id", value_name = "ID")]
    order_ids: Vec<String>,
    /// Output format: `json` a JSON array, `jsonl` one record a line, both with CJ's field
    /// names.
    #[arg(long, value_enum, default_value_t)]
    output: Format,
    #[command(flatten)]
    commission_detail: CommissionDetail,
}

/// `cj commissions <command>`.
#[derive(Subcommand)]
pub enum CommissionsCommand {
    /// Push every new or corrected commission of a publisher to a partner's postback URL,
    /// once each, from a durable store; `dead-letters`, `retry`, `status`.
    Relay(Box<crate::relay::RelayArgs>),
}

impl CommissionsArgs {
    /// The request with every range given, or CJ's default (the last 24 hours by posting
    /// date) asked for explicitly, and said so.
    fn narrow<S: Side>(&self, mut request: CommissionsRequest<S>) -> CommissionsRequest<S> {
        let ranges = [
            ("event", self.since_event, self.before_event),
            ("posting", self.since_posting, self.before_posting),
            ("locking", self.since_locking, self.before_locking),
        ];
        if ranges
            .iter()
            .all(|(_, since, before)| since.is_none() && before.is_none())
        {
            let now = Timestamp::now();
            let day_ago = now
                .checked_sub(SignedDuration::from_hours(24))
                .unwrap_or(now);
            eprintln!(
                "note: no date given: reading commissions posted in the last 24 hours \
                 ({day_ago} to {now}), CJ's default; use --since-event/--before-event \
                 (or posting, locking) for another range"
            );
            return self
                .filters(request)
                .since_posting(day_ago)
                .before_posting(now);
        }
        for (name, since, before) in ranges {
            match (since, before) {
                (Some(_), None) => eprintln!(
                    "note: --since-{name} without --before-{name}: CJ reads the 24 hours from it"
                ),
                (None, Some(_)) => eprintln!(
                    "note: --before-{name} without --since-{name}: CJ reads the 24 hours up to it"
                ),
                _ => {}
            }
        }
        if let Some(t) = self.since_event {
            request = request.since_event(t);
        }
        if let Some(t) = self.before_event {
            request = request.before_event(t);
        }
        if let Some(t) = self.since_posting {
            request = request.since_posting(t);
        }
        if let Some(t) = self.before_posting {
            request = request.before_posting(t);
        }
        if let Some(t) = self.since_locking {
            request = request.since_locking(t);
        }
        if let Some(t) = self.before_locking {
            request = request.before_locking(t);
        }
        self.filters(request)
    }

    fn filters<S: Side>(&self, request: CommissionsRequest<S>) -> CommissionsRequest<S> {
        match &self.since_commission_id {
            Some(id) => request.since_commission_id(id.as_str()),
            None => request,
        }
    }
}

pub async fn run(args: CommissionsArgs) -> u8 {
    if let Some(CommissionsCommand::Relay(relay)) = args.command {
        return crate::relay::run(*relay).await;
    }
    let client = match args.commission_detail.client() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let api = client.commissions();
    if args.publisher_ids.is_empty() {
        let request = args.narrow(api.advertiser(args.advertiser_ids.iter().cloned()));
        print(request, &args, "PUBLISHER", |r| {
            r.publisher_id().to_string()
        })
        .await
    } else {
        let request = args.narrow(api.publisher(args.publisher_ids.iter().cloned()));
        print(request, &args, "ADVERTISER", |r| {
            r.advertiser_id().to_string()
        })
        .await
    }
}

/// Streams the records, keeping the orders asked for, and prints them as `args.output` says.
/// The table's last column, headed `partner`, is the other party's CID.
async fn print<S: Side>(
    request: CommissionsRequest<S>,
    args: &CommissionsArgs,
    partner: &str,
    partner_id: fn(&S::Record) -> String,
) -> u8 {
    let orders: HashSet<&str> = args.order_ids.iter().map(String::as_str).collect();
    let mut stream = std::pin::pin!(request.stream());
    let mut rows = Vec::new();
    let mut count = 0usize;
    if args.output == Format::Json {
        outln!("[");
    }
    while let Some(item) = stream.next().await {
        let record = match item {
            Ok(r) => r,
            // In JSON the array stays open: a partial answer never parses as a whole one.
            Err(e) => return failed(&e, count),
        };
        if !orders.is_empty() && !record.order_id().is_some_and(|o| orders.contains(o)) {
            continue;
        }
        match args.output {
            Format::Table => rows.push(row(&record, partner_id)),
            Format::Json | Format::Jsonl => {
                let json = match serde_json::to_string(&record) {
                    Ok(json) => json,
                    Err(e) => {
                        eprintln!("error: cannot print a record as JSON: {e}");
                        return exit::TRANSPORT;
                    }
                };
                let comma = if args.output == Format::Json && count > 0 {
                    ","
                } else {
                    ""
                };
                outln!("{comma}{json}");
            }
        }
        count += 1;
    }
    match args.output {
        Format::Json => outln!("]"),
        Format::Jsonl => {}
        Format::Table => {
            let header = [
                "COMMISSION",
                "ORDER",
                "KIND",
                "STATUS",
                "TYPE",
                "EVENT",
                "POSTED",
                "SALE USD",
                "COMMISSION USD",
                partner,
            ]
            .map(String::from);
            crate::print_table(&header, &rows);
            outln!("{count} record(s)");
        }
    }
    exit::OK
}

fn failed(error: &Error, count: usize) -> u8 {
    if count > 0 {
        eprintln!("{count} record(s) were printed before the error");
    }
    report_error(error, &[])
}

fn row<R: CommissionRecord>(r: &R, partner_id: fn(&R) -> String) -> [String; 10] {
    let kind = match r.correction_reason() {
        _ if r.original() => "original".to_string(),
        Some(reason) => format!("correction ({reason})"),
        None => "correction".to_string(),
    };
    [
        r.commission_id().to_string(),
        r.order_id().unwrap_or("-").to_string(),
        kind,
        r.action_status().to_string(),
        r.action_type().to_string(),
        r.event_date().to_string(),
        r.posting_date().to_string(),
        r.sale_amount_usd().map_or("-".into(), |d| d.to_string()),
        r.pub_commission_amount_usd().to_string(),
        partner_id(r),
    ]
}
