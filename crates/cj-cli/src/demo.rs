//! `cj sandbox` (an offline CJ in the foreground) and `cj demo` (the whole product against an
//! in-process sandbox).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use cj::advertiser_lookup::{AdvertiserIds, LookupQuery};
use cj::program_terms::{OrderContext, TryStreamExt, estimate};
use cj::tracking::{
    Mode, NameValuePairInput, OrderCancelRequest, OrderCancellationStatus, OrderCreateRequest,
    OrderItemInput, OrderRestateRequest, OrderStatus,
};
use cj_sandbox::{Limits, Sandbox, SandboxConfig};
use clap::Args;

use crate::{exit, outln};

#[derive(Args)]
pub struct SandboxArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The port (0: any free port).
    #[arg(long, default_value_t = 8400)]
    port: u16,
    /// A directory with program_terms.json, advertisers.json and/or tracking.json to serve
    /// instead of the bundled seed.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Accept only this token (repeatable); any token is accepted by default.
    #[arg(long = "accept-token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// Keep the ledger (every live order, and the Commission Detail records made from them)
    /// in this SQLite file, created if missing, so that a restarted sandbox still knows them.
    /// By default it lives in a private temporary file deleted when the sandbox stops.
    #[arg(long, value_name = "PATH")]
    ledger: Option<PathBuf>,
    /// Faults the Tracking endpoints play, parts joined by `;` (`request-error=REGEX`,
    /// `status=503`, `status=504-after-record`, `reset-after-record`, `delay=MS`, ...; see
    /// `cj_sandbox::Faults`). A request's `X-Sandbox-Fault` header replaces them.
    #[arg(long, value_name = "SPEC", default_value_t)]
    faults: cj_sandbox::Faults,
    /// Seconds before a live order, restate or cancel becomes a Commission Detail record.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    processing_delay: u64,
    /// The share of live orders (0 to 1) that silently fail processing and never become
    /// commission records (picked by seed 0: the same orders on every run).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = share)]
    unprocessed_share: f64,
    /// The most records one Commission Detail answer holds.
    #[arg(long, value_name = "RECORDS", default_value_t = cj_sandbox::COMMISSION_PAGE_LIMIT,
        value_parser = crate::shell::at_least_one::<usize>)]
    commission_page_limit: usize,
    /// The longest GraphQL document (`query`), in bytes.
    #[arg(long, value_name = "BYTES", help_heading = "Limits",
        default_value_t = Limits::default().max_query_bytes,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_query_bytes: usize,
    /// The deepest selection a GraphQL document may make.
    #[arg(long, value_name = "LEVELS", help_heading = "Limits",
        default_value_t = Limits::default().max_depth,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_depth: usize,
    /// The most fields a GraphQL document may select, fragments counted where spread.
    #[arg(long, value_name = "FIELDS", help_heading = "Limits",
        default_value_t = Limits::default().max_complexity,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_complexity: usize,
    /// The most directives on one field of a GraphQL document.
    #[arg(long, value_name = "N", help_heading = "Limits",
        default_value_t = Limits::default().max_directives,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_directives: usize,
    /// The largest GraphQL answer, in bytes, on top of twice its request's body.
    #[arg(long, value_name = "BYTES", help_heading = "Limits",
        default_value_t = Limits::default().max_answer_bytes,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_answer_bytes: usize,
    /// The most bytes of request bodies the GraphQL endpoints handle at once; a request over
    /// it waits its turn (one larger than all of it runs alone).
    #[arg(long, value_name = "BYTES", help_heading = "Limits",
        default_value_t = Limits::default().max_body_bytes_in_flight,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_body_bytes_in_flight: usize,
    /// The most connections open at once (a new one closes the one idle the longest).
    #[arg(long, value_name = "N", help_heading = "Limits",
        default_value_t = Limits::default().max_connections,
        value_parser = crate::shell::at_least_one::<usize>)]
    max_connections: usize,
    /// Seconds a request's headers may take to arrive, from their first byte.
    #[arg(long, value_name = "SECONDS", help_heading = "Limits",
        default_value_t = Limits::default().header_read_timeout.as_secs(),
        value_parser = crate::shell::at_least_one::<u64>)]
    header_read_timeout: u64,
    /// Seconds a connection may stay open without a request.
    #[arg(long, value_name = "SECONDS", help_heading = "Limits",
        default_value_t = Limits::default().idle_timeout.as_secs(),
        value_parser = crate::shell::at_least_one::<u64>)]
    idle_timeout: u64,
    /// Seconds a request may take from the end of its headers to the end of its answer.
    #[arg(long, value_name = "SECONDS", help_heading = "Limits",
        default_value_t = Limits::default().request_timeout.as_secs(),
        value_parser = crate::shell::at_least_one::<u64>)]
    request_timeout: u64,
}

/// A share from 0 to 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        Ok(_) => Err("a share is from 0 to 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn sandbox(args: SandboxArgs) -> u8 {
    let mut config = SandboxConfig::new()
        .bind(args.bind)
        .port(args.port)
        .faults(args.faults)
        .processing_delay(Duration::from_secs(args.processing_delay))
        .unprocessed_share(args.unprocessed_share, 0)
        .commission_page_limit(args.commission_page_limit)
        .max_query_bytes(args.max_query_bytes)
        .max_depth(args.max_depth)
        .max_complexity(args.max_complexity)
        .max_directives(args.max_directives)
        .max_answer_bytes(args.max_answer_bytes)
        .max_body_bytes_in_flight(args.max_body_bytes_in_flight)
        .max_connections(args.max_connections)
        .header_read_timeout(Duration::from_secs(args.header_read_timeout))
        .idle_timeout(Duration::from_secs(args.idle_timeout))
        .request_timeout(Duration::from_secs(args.request_timeout));
    if let Some(dir) = &args.data {
        config = match config.data_dir(dir) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
    }
    if !args.tokens.is_empty() {
        config = config.accepted_tokens(args.tokens.iter().cloned());
    }
    if let Some(path) = &args.ledger {
        config = config.ledger_path(path);
    }
    let sandbox = match Sandbox::start_with(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    outln!("CJ sandbox listening; point the SDK or the cj command at:");
    outln!("  CJ_TRACKING_URL={}", sandbox.tracking_url());
    outln!("  CJ_PROGRAM_TERMS_URL={}", sandbox.program_terms_url());
    outln!(
        "  CJ_ADVERTISER_LOOKUP_URL={}",
        sandbox.advertiser_lookup_url()
    );
    outln!("  CJ_COMMISSIONS_URL={}", sandbox.commissions_url());
    outln!("  ledger: {}/sandbox/ledger", sandbox.root_url());
    outln!("Ctrl-C stops it.");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    sandbox.stop().await;
    exit::OK
}

/// Runs the demo; any failure is reported with the step it happened in.
pub async fn demo() -> u8 {
    match run_demo().await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("demo failed: {e}");
            exit::TRANSPORT
        }
    }
}

fn at(text: &str) -> Result<cj::tracking::Instant, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn money(text: &str) -> Result<cj::tracking::NonNegativeDecimalNumber, String> {
    text.parse().map_err(|e| format!("{e}"))
}

async fn run_demo() -> Result<(), String> {
    let sandbox = Sandbox::start().await.map_err(|e| e.to_string())?;
    outln!(
        "CJ SDK demo, against an offline CJ sandbox at {}\n",
        sandbox.root_url()
    );
    let client = cj::Client::builder()
        .token("demo-token")
        .mode(Mode::Live) // the sandbox's live endpoint records orders in its ledger
        .tracking_url(sandbox.tracking_url())
        .program_terms_url(sandbox.program_terms_url())
        .advertiser_lookup_url(sandbox.advertiser_lookup_url())
        .build()
        .map_err(|e| e.to_string())?;

    outln!("1. Orders (Tracking API)");
    let tent_order = OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id("ORD-DEMO-1")
        .event_time(at("2024-03-01T12:00:00Z")?)
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .currency("USD")
        .amount(money("219.97")?)
        .items(vec![
            OrderItemInput::builder()
                .sku("TENT-2P")
                .unit_price(money("199.99")?)
                .quantity(1)
                .build(),
            OrderItemInput::builder()
                .sku("MUG")
                .unit_price(money("9.99")?)
                .quantity(2)
                .build(),
        ])
        .custom_parameters(vec![
            NameValuePairInput::builder()
                .name("mkt_channel")
                .value("affiliate")
                .build(),
        ])
        .build();
    let stay = |id: &str, amount: &str| -> Result<OrderCreateRequest, String> {
        Ok(OrderCreateRequest::builder()
            .enterprise_id("3456789")
            .action_tracker_id(334455)
            .order_id(id)
            .event_time(at("2024-03-02T09:30:00Z")?)
            .cj_event("5d21a0c4b35b11eb834200a10a1eb972")
            .currency("SEK")
            .amount(money(amount)?)
            .build())
    };
    let orders = [
        tent_order.clone(),
        stay("STAY-DEMO-1", "2400.00")?,
        stay("STAY-DEMO-2", "1800.00")?,
    ];
    let created = client
        .orders()
        .create(&orders)
        .await
        .map_err(|e| e.to_string())?;
    for o in &created.orders {
        outln!(
            "   created {} (submission {}, status {})",
            o.order_id,
            o.submission_id,
            o.status.as_ref().map_or("-".into(), |s| s.to_string())
        );
    }
    let restate = OrderRestateRequest::builder()
        .enterprise_id("3456789")
        .action_tracker_id(334455)
        .order_id("STAY-DEMO-1")
        .update_time(at("2024-03-20T10:00:00Z")?)
        .currency("SEK")
        .amount(money("2150.00")?)
        .status(OrderStatus::Accepted)
        .build();
    let restated = client
        .orders()
        .restate(&[restate])
        .await
        .map_err(|e| e.to_string())?;
    outln!(
        "   restated STAY-DEMO-1: guest stayed, amount 2150.00, status {}",
        restated.orders[0]
            .status
            .as_ref()
            .map_or("-".into(), |s| s.to_string())
    );
    let cancel = OrderCancelRequest::builder()
        .enterprise_id("3456789")
        .action_tracker_id(334455)
        .order_id("STAY-DEMO-2")
        .update_time(at("2024-03-05T08:00:00Z")?)
        .correction_reason(cj::tracking::CorrectionReason::BookingCanceled)
        .status(OrderCancellationStatus::Declined)
        .build();
    client
        .orders()
        .cancel(&[cancel])
        .await
        .map_err(|e| e.to_string())?;
    outln!("   cancelled STAY-DEMO-2: booking canceled, declined");

    outln!("\n2. The sandbox's ledger (what CJ recorded)");
    let ledger = sandbox.ledger().to_json();
    let rows: Vec<[String; 4]> = ledger["orders"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|o| {
            let history: Vec<&str> = o["history"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|h| h["action"].as_str())
                .collect();
            [
                o["orderId"].as_str().unwrap_or_default().to_string(),
                o["state"].as_str().unwrap_or_default().to_string(),
                o["order"]["amount"].as_str().unwrap_or("-").to_string(),
                history.join(" -> "),
            ]
        })
        .collect();
    let header = ["ORDER ID", "STATE", "AMOUNT", "HISTORY"].map(String::from);
    for line in crate::table_lines(&header, &rows) {
        outln!("   {line}");
    }

    outln!("\n3. Program terms (publisher 7654321)");
    let contracts: Vec<_> = client
        .program_terms()
        .contracts("7654321")
        .stream()
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    for c in &contracts {
        let commissions: usize = c
            .program_terms
            .action_terms
            .iter()
            .map(|t| t.commissions.len())
            .sum();
        outln!(
            "   {} {:<16} {:<42} {} commission rate(s)",
            c.advertiser_id,
            c.status.to_string(),
            c.program_terms.name,
            commissions
        );
    }
    let acme = contracts
        .iter()
        .find(|c| c.advertiser_id.as_str() == "1234567")
        .ok_or("the seed has no Acme contract")?;
    let context = OrderContext::new().item_list("777", ["TENT-2P"]);
    let e = estimate(&acme.program_terms, &tent_order, &context).map_err(|e| e.to_string())?;
    outln!("   estimate for ORD-DEMO-1 (the tent is in item list 777, \"Tents\"):");
    for item in &e.items {
        let c = item.commission.as_ref().map(|c| &c.commission);
        outln!(
            "     {:<8} base {:>7}  {} {}  -> {}",
            item.sku,
            item.base.to_string(),
            c.map_or("-".into(), |c| c.rate.type_.to_string()),
            c.map_or("-".into(), |c| c.rate.value.to_string()),
            item.amount.as_ref().map_or("-".into(), |m| format!(
                "{} {}",
                m.amount,
                m.currency.as_deref().unwrap_or("")
            ))
        );
    }
    let total: Vec<String> = e
        .total
        .iter()
        .map(|m| format!("{} {}", m.amount, m.currency.as_deref().unwrap_or("")))
        .collect();
    outln!("     estimated commission: {}", total.join(" + "));
    for p in &e.performance_incentives {
        outln!(
            "     incentive (not included): {} {} once {} passes {} {}",
            p.reward.type_,
            p.reward.value,
            p.threshold.type_,
            p.threshold.value,
            p.currency
        );
    }

    outln!("\n4. Advertiser Lookup (joined advertisers)");
    let joined: Vec<_> = client
        .advertiser_lookup()
        .stream(LookupQuery::new("7654321").advertiser_ids(AdvertiserIds::Joined))
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    for a in &joined {
        outln!(
            "   {} {:<16} {:<9} 7-day EPC {}",
            a.advertiser_id,
            a.advertiser_name.as_deref().unwrap_or("-"),
            a.account_status
                .as_ref()
                .map_or("-".into(), |s| s.to_string()),
            a.seven_day_epc
                .as_ref()
                .map_or("-".into(), |e| e.to_string())
        );
    }
    outln!("\nDone: every API answered, offline. See the README for using the SDK against CJ.");
    sandbox.stop().await;
    Ok(())
}
