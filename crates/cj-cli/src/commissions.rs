//! `cj commissions`: what CJ recorded (Commission Detail API).

use std::collections::HashSet;
use std::convert::Infallible;
use std::str::FromStr;

use cj::commissions::{
    ActionStatus, ActionType, Advertiser, CommissionRecord, CommissionsRequest, Instant,
    LockingMethod, Publisher, Side, StreamExt, ValidationStatus,
};
use cj::jiff::{SignedDuration, Timestamp};
use clap::builder::{PossibleValuesParser, TypedValueParser};
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

/// CJ's filters of a Commission Detail query besides the CIDs and the date ranges, each named
/// after CJ's argument (`--action-statuses` for `actionStatuses`, ...): flatten it into a
/// command's arguments and give the request to [`CommissionFilters::apply`].
///
/// Every list is repeatable and comma-separated (`--action-types sim_sale,item_sale`); an
/// empty list is not sent (CJ would read it as "none"). Values of CJ's enums are checked
/// (case aside) against the values CJ documents.
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct CommissionFilters {
    /// Only commissions after this one (`sinceCommissionId`, CJ's cursor).
    #[arg(long, value_name = "ID")]
    pub since_commission_id: Option<String>,
    /// Only these commissions (`commissionIds`).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub commission_ids: Vec<String>,
    /// Only commissions of these publishers (`publisherIds`; with --advertiser-id, the
    /// advertiser's side).
    #[arg(long = "publisher-ids", value_name = "CID", value_delimiter = ',')]
    pub partner_publisher_ids: Vec<String>,
    /// Only commissions of these advertisers (`advertiserIds`; with --publisher-id, the
    /// publisher's side).
    #[arg(long = "advertiser-ids", value_name = "CID", value_delimiter = ',')]
    pub partner_advertiser_ids: Vec<String>,
    /// Only commissions through these ads (`adIds`).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub ad_ids: Vec<String>,
    /// Only commissions through these publisher websites (`websiteIds`).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub website_ids: Vec<String>,
    /// Only commissions in these statuses (`actionStatuses`).
    #[arg(long, value_name = "STATUS", value_delimiter = ',', ignore_case = true,
        value_parser = known::<ActionStatus>(ActionStatus::KNOWN))]
    pub action_statuses: Vec<ActionStatus>,
    /// Only actions of these types (`actionTypes`).
    #[arg(long, value_name = "TYPE", value_delimiter = ',', ignore_case = true,
        value_parser = known::<ActionType>(ActionType::KNOWN))]
    pub action_types: Vec<ActionType>,
    /// Only commissions locking these ways (`lockingMethods`).
    #[arg(long, value_name = "METHOD", value_delimiter = ',', ignore_case = true,
        value_parser = known::<LockingMethod>(LockingMethod::KNOWN))]
    pub locking_methods: Vec<LockingMethod>,
    /// Only commissions in these validation statuses (`validationStatuses`).
    #[arg(long, value_name = "STATUS", value_delimiter = ',', ignore_case = true,
        value_parser = known::<ValidationStatus>(ValidationStatus::KNOWN))]
    pub validation_statuses: Vec<ValidationStatus>,
}

/// A value among CJ's `values` (case aside, written back as CJ spells it), read as `E`.
fn known<E>(values: &'static [&'static str]) -> impl TypedValueParser<Value = E>
where
    E: FromStr<Err = Infallible> + Clone + Send + Sync + 'static,
{
    // clap matches case aside but hands over the text as typed: CJ's spelling is found here.
    PossibleValuesParser::new(values).map(move |text| {
        let text = values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(&text))
            .map_or(text, |v| v.to_string());
        match text.parse::<E>() {
            Ok(value) => value,
            Err(never) => match never {},
        }
    })
}

/// The filter on the other side's CIDs, which only one side's query has: `publisherIds` of
/// `advertiserCommissions`, `advertiserIds` of `publisherCommissions`.
pub trait PartnerIds: Sized {
    /// This query's filter of the other side's CIDs and the one it does not take, each with
    /// its flag, as `filters` holds them.
    fn partner_filters(filters: &CommissionFilters) -> [(&'static str, &[String]); 2];
    /// The request with the filter.
    fn partner_ids(self, ids: Vec<String>) -> Self;
}

impl PartnerIds for CommissionsRequest<Advertiser> {
    fn partner_filters(filters: &CommissionFilters) -> [(&'static str, &[String]); 2] {
        [
            ("--publisher-ids", &filters.partner_publisher_ids),
            ("--advertiser-ids", &filters.partner_advertiser_ids),
        ]
    }
    fn partner_ids(self, ids: Vec<String>) -> Self {
        self.publisher_ids(ids)
    }
}

impl PartnerIds for CommissionsRequest<Publisher> {
    fn partner_filters(filters: &CommissionFilters) -> [(&'static str, &[String]); 2] {
        [
            ("--advertiser-ids", &filters.partner_advertiser_ids),
            ("--publisher-ids", &filters.partner_publisher_ids),
        ]
    }
    fn partner_ids(self, ids: Vec<String>) -> Self {
        self.advertiser_ids(ids)
    }
}

impl CommissionFilters {
    /// `request` with every filter given. Fails, naming the flag, on the other side's CID
    /// filter (`--advertiser-ids` on an advertiser's commissions: CJ has no such argument
    /// there): a usage error, nothing is sent.
    pub fn apply<S: Side>(
        &self,
        mut request: CommissionsRequest<S>,
    ) -> Result<CommissionsRequest<S>, String>
    where
        CommissionsRequest<S>: PartnerIds,
    {
        let [(flag, this), (other_flag, other)] =
            <CommissionsRequest<S> as PartnerIds>::partner_filters(self);
        if !other.is_empty() {
            return Err(format!(
                "{other_flag} is not a filter of this query (it reads the other side's \
                 commissions); the other side's CIDs are given with {flag}"
            ));
        }
        if !this.is_empty() {
            request = request.partner_ids(this.to_vec());
        }
        if let Some(id) = &self.since_commission_id {
            request = request.since_commission_id(id.as_str());
        }
        if !self.commission_ids.is_empty() {
            request = request.commission_ids(self.commission_ids.iter().cloned());
        }
        if !self.ad_ids.is_empty() {
            request = request.ad_ids(self.ad_ids.iter().cloned());
        }
        if !self.website_ids.is_empty() {
            request = request.website_ids(self.website_ids.iter().cloned());
        }
        if !self.action_statuses.is_empty() {
            request = request.action_statuses(self.action_statuses.iter().cloned());
        }
        if !self.action_types.is_empty() {
            request = request.action_types(self.action_types.iter().cloned());
        }
        if !self.locking_methods.is_empty() {
            request = request.locking_methods(self.locking_methods.iter().cloned());
        }
        if !self.validation_statuses.is_empty() {
            request = request.validation_statuses(self.validation_statuses.iter().cloned());
        }
        Ok(request)
    }
}

/// `cj commissions`: every commission of some advertisers or publishers.
#[derive(Args)]
#[command(group(ArgGroup::new("side").required(true).args(["advertiser_ids", "publisher_ids"])))]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(
    after_help = "Exit status: 0 every record was read; 1 CJ refused the query; 2 usage \
                        error (nothing was read); 3 Commission Detail could not be read \
                        completely (no connection, a timeout, a 429 or 5xx, an unreadable \
                        answer, pages that do not add up): safe to run again."
)]
pub struct CommissionsArgs {
    #[command(subcommand)]
    command: Option<CommissionsCommand>,
    /// Read the commissions of this advertiser (CID; repeatable): `forAdvertisers`.
    #[arg(long = "advertiser-id", value_name = "CID")]
    advertiser_ids: Vec<String>,
    /// Read the commissions of this publisher (CID; repeatable): `forPublishers`.
    #[arg(long = "publisher-id", value_name = "CID")]
    publisher_ids: Vec<String>,
    /// Actions at or after this time (RFC 3339, or a date): `sinceEventDate`.
    #[arg(long, value_name = "T", visible_alias = "since-event-date")]
    since_event: Option<Instant>,
    /// Actions before this time: `beforeEventDate`.
    #[arg(long, value_name = "T", visible_alias = "before-event-date")]
    before_event: Option<Instant>,
    /// Commissions posted at or after this time: `sincePostingDate`.
    #[arg(long, value_name = "T", visible_alias = "since-posting-date")]
    since_posting: Option<Instant>,
    /// Commissions posted before this time: `beforePostingDate`.
    #[arg(long, value_name = "T", visible_alias = "before-posting-date")]
    before_posting: Option<Instant>,
    /// Commissions locking at or after this time: `sinceLockingDate`.
    #[arg(long, value_name = "T", visible_alias = "since-locking-date")]
    since_locking: Option<Instant>,
    /// Commissions locking before this time: `beforeLockingDate`.
    #[arg(long, value_name = "T", visible_alias = "before-locking-date")]
    before_locking: Option<Instant>,
    #[command(flatten)]
    filters: CommissionFilters,
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
    /// date) asked for explicitly, and said so; and with every filter.
    fn narrow<S: Side>(
        &self,
        mut request: CommissionsRequest<S>,
    ) -> Result<CommissionsRequest<S>, String>
    where
        CommissionsRequest<S>: PartnerIds,
    {
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
                .filters
                .apply(request)
                .map(|r| r.since_posting(day_ago).before_posting(now));
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
        self.filters.apply(request)
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
        let request = match args.narrow(api.advertiser(args.advertiser_ids.iter().cloned())) {
            Ok(request) => request,
            Err(message) => return usage(&message),
        };
        print(request, &args, "PUBLISHER", |r| {
            r.publisher_id().to_string()
        })
        .await
    } else {
        let request = match args.narrow(api.publisher(args.publisher_ids.iter().cloned())) {
            Ok(request) => request,
            Err(message) => return usage(&message),
        };
        print(request, &args, "ADVERTISER", |r| {
            r.advertiser_id().to_string()
        })
        .await
    }
}

fn usage(message: &str) -> u8 {
    eprintln!("error: {message}");
    exit::USAGE
}

/// Streams the records, keeping the orders asked for, and prints them as `args.output` says.
/// The table's last column, headed `partner`, is the other party's CID.
///
/// Nothing is printed before the first record: a command that fails before reading prints no
/// partial document. After a failure, what was printed is said to be incomplete: `json`
/// leaves its array open (it never parses as a whole answer), `jsonl` keeps its whole lines,
/// the table shows the records read and says it is incomplete.
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
    let mut failure = None;
    while let Some(item) = stream.next().await {
        let record = match item {
            Ok(r) => r,
            Err(e) => {
                failure = Some(e);
                break;
            }
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
                // The array opens with its first record.
                let before = match (args.output, count) {
                    (Format::Json, 0) => "[",
                    (Format::Json, _) => ",",
                    _ => "",
                };
                outln!("{before}{json}");
            }
        }
        count += 1;
    }
    let header = || {
        [
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
        .map(String::from)
    };
    if let Some(e) = failure {
        let code = report_error(&e, &[]);
        match (args.output, count) {
            (_, 0) => eprintln!("no record was printed"),
            (Format::Json, _) => eprintln!(
                "{count} record(s) were printed before the error; the JSON array is left open: \
                 it is not the whole answer"
            ),
            (Format::Jsonl, _) => {
                eprintln!("{count} record(s) were printed before the error; the list is incomplete")
            }
            (Format::Table, _) => {
                crate::print_table(&header(), &rows);
                outln!("{count} record(s) read before the error: incomplete");
            }
        }
        return code;
    }
    match args.output {
        Format::Json if count == 0 => outln!("[]"),
        Format::Json => outln!("]"),
        Format::Jsonl => {}
        Format::Table => {
            crate::print_table(&header(), &rows);
            outln!("{count} record(s)");
        }
    }
    exit::OK
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
