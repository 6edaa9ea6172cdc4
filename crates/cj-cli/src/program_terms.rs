//! `cj program-terms` and `cj program-terms estimate` (also spelled `cj commission estimate`).

use std::path::PathBuf;

use cj::program_terms::{
    AppliedCommission, Contract, ContractStatus, ContractsError, Estimate, Money, OrderContext,
    StreamExt, estimate,
};
use cj::tracking::{Id, Instant, OrderCreateRequest};
use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;

use crate::{Connection, Output, exit, outln, report_error};

/// `cj program-terms`: every contract of a publisher, or `estimate`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProgramTermsArgs {
    #[command(subcommand)]
    action: Option<ProgramTermsAction>,
    #[command(flatten)]
    list: ListArgs,
}

/// `cj program-terms ...`.
#[derive(Subcommand)]
pub enum ProgramTermsAction {
    /// Which commission applies to an order, per item and for the order, and how much
    /// (offline, from what `cj program-terms --output json` printed).
    Estimate(EstimateArgs),
}

/// Listing contracts.
#[derive(Args)]
pub struct ListArgs {
    /// The publisher's company ID (CID).
    // Required unless a subcommand is given (`subcommand_negates_reqs`): an `Option` so that
    // `estimate` parses without it.
    #[arg(long, required = true)]
    publisher_id: Option<String>,
    /// Only contracts with this advertiser (CID).
    #[arg(long)]
    advertiser_id: Option<String>,
    /// Only contracts active after this time (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    active_after: Option<Instant>,
    /// Only contracts active before this time (RFC 3339, or a date).
    #[arg(long, value_name = "TIME")]
    active_before: Option<Instant>,
    /// Program Terms API base URL.
    #[arg(
        long,
        env = "CJ_PROGRAM_TERMS_URL",
        hide_env_values = true,
        default_value = cj::program_terms::DEFAULT_BASE_URL
    )]
    program_terms_url: String,
    /// Output format: `json` prints a JSON array of contracts with CJ's field names.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(args: ProgramTermsArgs) -> u8 {
    match args.action {
        Some(ProgramTermsAction::Estimate(estimate)) => estimate_command(estimate),
        None => list(args.list).await,
    }
}

async fn list(args: ListArgs) -> u8 {
    let client = match args
        .connection
        .client(|b| b.program_terms_url(&args.program_terms_url))
    {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(publisher_id) = &args.publisher_id else {
        eprintln!("error: --publisher-id is required");
        return exit::USAGE;
    };
    let mut request = client.program_terms().contracts(publisher_id.as_str());
    if let Some(id) = &args.advertiser_id {
        request = request.advertiser(id.as_str());
    }
    if let Some(t) = args.active_after {
        request = request.active_after(t);
    }
    if let Some(t) = args.active_before {
        request = request.active_before(t);
    }
    // Every contract that reads is printed; one that does not is named on stderr, and the
    // walk goes on (it ends by itself after a failure).
    let mut contracts: Vec<Contract> = Vec::new();
    let mut unreadable = 0usize;
    let mut failed = None;
    let mut stream = std::pin::pin!(request.stream());
    while let Some(item) = stream.next().await {
        match item {
            Ok(contract) => contracts.push(contract),
            Err(ContractsError::Unreadable(u)) => {
                eprintln!("error: {u}");
                unreadable += 1;
            }
            Err(ContractsError::Failed(e)) => failed = Some(e),
            Err(other) => {
                eprintln!("error: {other}");
                unreadable += 1;
            }
        }
    }
    if let Some(e) = failed {
        return report_error(&e, &[]);
    }
    let code = match args.output {
        Output::Json => crate::print_json(&contracts, true),
        Output::Table => {
            print_contracts(&contracts);
            exit::OK
        }
    };
    if unreadable > 0 && code == exit::OK {
        eprintln!(
            "{unreadable} contract(s) could not be read; the {} others are printed",
            contracts.len()
        );
        return exit::CJ_ERRORS;
    }
    code
}

fn print_contracts(contracts: &[Contract]) {
    let rows: Vec<[String; 7]> = contracts
        .iter()
        .map(|c| {
            let terms = &c.program_terms;
            let commissions: usize = terms.action_terms.iter().map(|t| t.commissions.len()).sum();
            [
                c.advertiser_id.to_string(),
                c.status.to_string(),
                c.start_time.map_or("-".into(), |t| t.to_string()),
                c.end_time.map_or("-".into(), |t| t.to_string()),
                terms.name.clone(),
                terms.action_terms.len().to_string(),
                commissions.to_string(),
            ]
        })
        .collect();
    let header = [
        "ADVERTISER",
        "STATUS",
        "START",
        "END",
        "PROGRAM TERMS",
        "ACTION TERMS",
        "COMMISSIONS",
    ]
    .map(String::from);
    crate::print_table(&header, &rows);
    outln!("{} contract(s)", contracts.len());
}

/// `cj commission ...`: the old spelling of `cj program-terms estimate`.
#[derive(Subcommand)]
pub enum CommissionAction {
    /// Which commission applies to an order, per item and for the order, and how much.
    Estimate(EstimateArgs),
}

#[derive(Args)]
pub struct EstimateArgs {
    /// The contracts, as `cj program-terms --output json` prints them.
    #[arg(long, value_name = "FILE")]
    terms: PathBuf,
    /// One createOrders order, in JSON with CJ's field names.
    #[arg(long, value_name = "FILE")]
    order: PathBuf,
    /// The promotional property (PID) the order came through.
    #[arg(long, value_name = "N")]
    promotional_property_id: Option<String>,
    /// A situation that holds (repeatable).
    #[arg(long = "situation", value_name = "ID")]
    situations: Vec<String>,
    /// An item list and its SKUs, as ID=SKU,SKU... (repeatable).
    #[arg(long = "item-list", value_name = "ID=SKU,SKU...", value_parser = parse_item_list)]
    item_lists: Vec<(String, Vec<String>)>,
    /// The order was attributed to an ad view, not a click.
    #[arg(long)]
    view_through: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

fn parse_item_list(text: &str) -> Result<(String, Vec<String>), String> {
    let (id, skus) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ID=SKU,SKU..."))?;
    let skus: Vec<String> = skus
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if id.trim().is_empty() {
        return Err(format!("{text:?} has no item list id before `=`"));
    }
    Ok((id.trim().to_string(), skus))
}

fn read_json<T: DeserializeOwned>(path: &PathBuf, what: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        format!(
            "{} ({what}): field `{}`: {}",
            path.display(),
            e.path(),
            e.inner()
        )
    })
}

pub fn estimate_command(args: EstimateArgs) -> u8 {
    let loaded = read_json::<Vec<Contract>>(&args.terms, "contracts")
        .and_then(|c| read_json::<OrderCreateRequest>(&args.order, "order").map(|o| (c, o)));
    let (contracts, order) = match loaded {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let mut context = OrderContext::new().view_through(args.view_through);
    if let Some(pid) = &args.promotional_property_id {
        context = context.promotional_property(pid.as_str());
    }
    for s in &args.situations {
        context = context.situation(s.as_str());
    }
    for (id, skus) in &args.item_lists {
        context = context.item_list(id.as_str(), skus.iter().cloned());
    }
    let Some(contract) = pick_contract(&contracts, &order) else {
        eprintln!(
            "no contract with advertiser {} has an action term for action tracker {}",
            order.enterprise_id, order.action_tracker_id
        );
        return exit::CJ_ERRORS;
    };
    match estimate(&contract.program_terms, &order, &context) {
        Ok(e) => match args.output {
            Output::Json => crate::print_json(&e, true),
            Output::Table => {
                print_estimate(contract, &e);
                exit::OK
            }
        },
        Err(e) => {
            eprintln!("{e}");
            exit::CJ_ERRORS
        }
    }
}

/// The contract for the order: with the order's advertiser when any is, having an action term
/// for its action tracker, active ones first.
fn pick_contract<'a>(
    contracts: &'a [Contract],
    order: &OrderCreateRequest,
) -> Option<&'a Contract> {
    let tracker = Id::from(order.action_tracker_id);
    let mut candidates: Vec<&Contract> = contracts
        .iter()
        .filter(|c| {
            c.program_terms
                .action_terms
                .iter()
                .any(|t| t.action_tracker.id == tracker)
        })
        .collect();
    if candidates
        .iter()
        .any(|c| c.advertiser_id == order.enterprise_id)
    {
        candidates.retain(|c| c.advertiser_id == order.enterprise_id);
    }
    candidates.sort_by_key(|c| c.status != ContractStatus::Active);
    candidates.first().copied()
}

fn describe(applied: &AppliedCommission) -> String {
    let c = &applied.commission;
    let mut text = format!("rank {} {} {}", c.rank, c.rate.type_, c.rate.value);
    if let Some(currency) = &c.rate.currency {
        text.push(' ');
        text.push_str(currency);
    }
    if let Some(list) = &c.item_list {
        match &list.name {
            Some(name) => text.push_str(&format!(" [item list {name}]")),
            None => text.push_str(&format!(" [item list {}]", list.id)),
        }
    }
    if let Some(s) = &c.situation {
        text.push_str(&format!(" [situation {}]", s.name));
    }
    if !c.promotional_properties.is_empty() {
        let pids: Vec<String> = c
            .promotional_properties
            .iter()
            .map(|p| p.id.to_string())
            .collect();
        text.push_str(&format!(" [PID {}]", pids.join(",")));
    }
    if c.is_view_through {
        text.push_str(" [view-through]");
    }
    if !applied.tied_with.is_empty() {
        text.push_str(&format!(" (tied with {} other)", applied.tied_with.len()));
    }
    text
}

fn money(m: &Money) -> String {
    match &m.currency {
        Some(c) => format!("{} {c}", m.amount),
        None => m.amount.to_string(),
    }
}

fn print_estimate(contract: &Contract, e: &Estimate) {
    outln!(
        "contract: advertiser {}, program terms {:?} ({}), action term {}",
        contract.advertiser_id,
        contract.program_terms.name,
        contract.status,
        e.action_term_id
    );
    match &e.order_commission {
        Some(c) => outln!("order: {}", describe(c)),
        None => outln!("order: no order-level commission matches"),
    }
    if !e.items.is_empty() {
        let header = ["ITEM", "SKU", "BASE", "COMMISSION", "AMOUNT"].map(String::from);
        let rows: Vec<[String; 5]> = e
            .items
            .iter()
            .map(|i| {
                [
                    i.index.to_string(),
                    i.sku.clone(),
                    i.base.to_string(),
                    i.commission
                        .as_ref()
                        .map_or("none matches".into(), describe),
                    i.amount.as_ref().map_or("-".into(), money),
                ]
            })
            .collect();
        crate::print_table(&header, &rows);
    }
    let total: Vec<String> = e.total.iter().map(money).collect();
    outln!(
        "estimated commission: {}",
        if total.is_empty() {
            "unknown".to_string()
        } else {
            total.join(" + ")
        }
    );
    for p in &e.performance_incentives {
        outln!(
            "performance incentive (not included): {} {} above {} {} ({} {})",
            p.reward.type_,
            p.reward.value,
            p.threshold.type_,
            p.threshold.value,
            p.reward.commission_type,
            p.currency
        );
    }
}
