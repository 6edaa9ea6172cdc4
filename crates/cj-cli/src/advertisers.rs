//! `cj advertisers lookup`.

use cj::advertiser_lookup::Advertiser;
use cj::advertiser_lookup::{AdvertiserIds, Keywords, LookupQuery, TryStreamExt};
use clap::{Args, Subcommand};

use crate::{Output, RestConnection, exit, outln, report_error};

#[derive(Subcommand)]
pub enum Action {
    /// Look advertisers up by CID, name or program URL, or keywords (Advertiser Lookup API).
    Lookup(LookupArgs),
}

#[derive(Args)]
pub struct LookupArgs {
    /// The CID of the company the request is for (required with a personal access token).
    #[arg(long)]
    requestor_cid: Option<String>,
    /// `joined`, `notjoined`, or advertiser CIDs separated by commas.
    #[arg(long, value_name = "joined|notjoined|ID,ID,...")]
    advertiser_ids: Option<String>,
    /// A program name or program URL.
    #[arg(long)]
    advertiser_name: Option<String>,
    /// Keywords: `+word` required, `-word` excluded, plain words any.
    #[arg(long, allow_hyphen_values = true)]
    keywords: Option<String>,
    /// Only advertisers (not) certified for mobile tracking.
    #[arg(long, value_name = "true|false")]
    mobile_tracking_certified: Option<bool>,
    /// Records per page, 1 to 100.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    records_per_page: Option<u32>,
    /// The page to print, from 1.
    #[arg(long, value_name = "N", conflicts_with = "all",
        value_parser = crate::shell::at_least_one::<u32>)]
    page: Option<u32>,
    /// Every page.
    #[arg(long)]
    all: bool,
    /// Advertiser Lookup base URL.
    #[arg(
        long,
        env = "CJ_ADVERTISER_LOOKUP_URL",
        hide_env_values = true,
        default_value = cj::advertiser_lookup::DEFAULT_BASE_URL
    )]
    advertiser_lookup_url: String,
    /// Output format: `json` prints a JSON array of advertisers keyed by CJ's element names.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    connection: RestConnection,
}

impl LookupArgs {
    fn query(&self) -> LookupQuery {
        let mut q = match &self.requestor_cid {
            Some(cid) => LookupQuery::new(cid.as_str()),
            None => LookupQuery::without_requestor(),
        };
        if let Some(ids) = &self.advertiser_ids {
            q = q.advertiser_ids(match ids.trim().to_ascii_lowercase().as_str() {
                "joined" => AdvertiserIds::Joined,
                "notjoined" => AdvertiserIds::NotJoined,
                _ => AdvertiserIds::Cids(ids.split(',').map(|c| c.trim().to_string()).collect()),
            });
        }
        if let Some(name) = &self.advertiser_name {
            q = q.advertiser_name(name.as_str());
        }
        if let Some(k) = &self.keywords {
            q = q.keywords(Keywords::parse(k));
        }
        if let Some(m) = self.mobile_tracking_certified {
            q = q.mobile_tracking_certified(m);
        }
        if let Some(n) = self.records_per_page {
            q = q.records_per_page(n);
        }
        if let Some(p) = self.page {
            q = q.page_number(p);
        }
        q
    }
}

pub async fn run(action: Action) -> u8 {
    let Action::Lookup(args) = action;
    let client = match args
        .connection
        .client(|b| b.advertiser_lookup_url(&args.advertiser_lookup_url))
    {
        Ok(c) => c,
        Err(code) => return code,
    };
    let lookup = client.advertiser_lookup();
    let query = args.query();
    let (advertisers, total) = if args.all {
        match lookup.stream(query).try_collect::<Vec<_>>().await {
            Ok(all) => {
                let n = all.len() as u64;
                (all, n)
            }
            Err(e) => return report_error(&e, &[]),
        }
    } else {
        match lookup.page(&query).await {
            Ok(page) => (page.advertisers, page.total_matched),
            Err(e) => return report_error(&e, &[]),
        }
    };
    match args.output {
        Output::Json => crate::print_json(&advertisers, true),
        Output::Table => {
            print_advertisers(&advertisers, total);
            exit::OK
        }
    }
}

fn print_advertisers(advertisers: &[Advertiser], total: u64) {
    let header = [
        "CID",
        "NAME",
        "STATUS",
        "RELATIONSHIP",
        "7-DAY EPC",
        "RANK",
        "DEFAULT RATES",
    ]
    .map(String::from);
    let rows: Vec<[String; 7]> = advertisers
        .iter()
        .map(|a| {
            let rates: Vec<String> = a
                .actions
                .iter()
                .filter_map(|action| {
                    // A rate written directly inside `<commission>` when there is no default.
                    let c = action.commission.as_ref()?;
                    let rate = c.default.as_ref().or(c.text.as_ref())?;
                    // `GBP 10.00/order`, `10.00%/item`: the rate with its level.
                    Some(format!("{}: {rate}", action.name.as_deref().unwrap_or("?")))
                })
                .collect();
            [
                a.advertiser_id.clone(),
                a.advertiser_name.clone().unwrap_or_default(),
                a.account_status
                    .as_ref()
                    .map_or("-".into(), |s| s.to_string()),
                a.relationship_status
                    .as_ref()
                    .map_or("-".into(), |s| s.as_str().to_string()),
                // CJ's `New` and `N/A` as written; `-` when CJ left the element out.
                a.seven_day_epc
                    .as_ref()
                    .map_or("-".into(), ToString::to_string),
                a.network_rank
                    .as_ref()
                    .map_or("-".into(), ToString::to_string),
                rates.join("; "),
            ]
        })
        .collect();
    crate::print_table(&header, &rows);
    outln!(
        "{} advertiser(s) shown of {total} matched",
        advertisers.len()
    );
}
