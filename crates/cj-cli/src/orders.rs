//! `cj orders create|restate|cancel`.

use std::io::BufRead;
use std::path::PathBuf;

use cj::Error;
use cj::tracking::{Mode, Order, OrderCancellation, Orders, SubmitError, TrackingResponse};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::input::{Input, parse_line};
use crate::{Connection, Output, exit, outln, report_error};

#[derive(Subcommand)]
pub enum Action {
    /// Send new orders (createOrders).
    Create(OrdersArgs),
    /// Restate orders: each line replaces the whole order (restateOrders).
    Restate(OrdersArgs),
    /// Cancel orders (cancelOrders).
    Cancel(OrdersArgs),
}

#[derive(Args)]
pub struct OrdersArgs {
    /// JSON Lines file, one order per line with CJ's field names (`-` for stdin).
    #[arg(long, short)]
    file: PathBuf,
    /// Tracking API base URL.
    #[arg(
        long,
        env = "CJ_TRACKING_URL",
        default_value = cj::tracking::DEFAULT_BASE_URL
    )]
    tracking_url: String,
    /// Send to the live endpoint (/graphql), posted to production reporting. Without it,
    /// orders go to the test endpoint (/graphqltest).
    #[arg(long)]
    live: bool,
    /// Print the request bodies that would be sent, and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    #[command(flatten)]
    connection: Connection,
}

pub async fn run(action: Action) -> u8 {
    match action {
        Action::Create(args) => {
            submit(
                &args,
                |o: Orders, v: Vec<_>| async move { o.create(&v).await },
                Orders::encode_create,
            )
            .await
        }
        Action::Restate(args) => {
            submit(
                &args,
                |o: Orders, v: Vec<_>| async move { o.restate(&v).await },
                Orders::encode_restate,
            )
            .await
        }
        Action::Cancel(args) => {
            submit(
                &args,
                |o: Orders, v: Vec<_>| async move { o.cancel(&v).await },
                Orders::encode_cancel,
            )
            .await
        }
    }
}

async fn submit<I, T, F, Fut>(
    args: &OrdersArgs,
    send: F,
    encode: fn(&Orders, &[I]) -> Result<Vec<bytes::Bytes>, Error>,
) -> u8
where
    I: Input,
    T: Serialize + Row,
    F: FnOnce(Orders, Vec<I>) -> Fut,
    Fut: std::future::Future<Output = Result<TrackingResponse<T>, SubmitError<T>>>,
{
    let (orders, lines) = match read_orders::<I>(&args.file, "cj orders ") {
        Ok(v) => v,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let mode = if args.live { Mode::Live } else { Mode::Test };
    let mut connection = args.connection.clone();
    if args.dry_run && connection.token.is_none() {
        // Nothing is sent in a dry run, so no real token is needed to encode the requests.
        connection.token = Some("dry-run".into());
    }
    let client = match connection.client(|b| b.mode(mode).tracking_url(&args.tracking_url)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.dry_run {
        return match encode(client.orders(), &orders) {
            Ok(bodies) => {
                for body in bodies {
                    outln!("{}", String::from_utf8_lossy(&body));
                }
                eprintln!(
                    "dry run: {} order(s) valid for {}; nothing was sent",
                    orders.len(),
                    client.orders().endpoint()
                );
                exit::OK
            }
            Err(e) => report_error(&e, &lines),
        };
    }
    let count = orders.len();
    match send(client.orders().clone(), orders).await {
        Ok(response) => {
            print_response(&response, args.output, &lines);
            outcome_status(&response)
        }
        Err(e) => {
            if e.answered_orders > 0 {
                print_response(&e.answered, args.output, &lines);
                eprintln!(
                    "the first {} of {count} orders were answered; the rest were not",
                    e.answered_orders
                );
            }
            let answered = outcome_status(&e.answered);
            let failed = report_error(&e.error, &lines);
            // Orders left to resend outrank refusals: resending shows the refusals again.
            if answered == exit::TRANSPORT {
                answered
            } else {
                failed
            }
        }
    }
}

/// Reads JSON Lines; returns the orders and the line number of each. `command` is how a person
/// picks another kind of order, completed by its name (`"cj orders "`).
pub fn read_orders<I: Input>(
    path: &PathBuf,
    command: &str,
) -> Result<(Vec<I>, Vec<usize>), String> {
    let mut orders = Vec::new();
    let mut lines = Vec::new();
    for_each_order(path, command, |order, line_no| {
        orders.push(order);
        lines.push(line_no);
        Ok(())
    })?;
    Ok((orders, lines))
}

/// Reads JSON Lines one order at a time, giving `each` the order and its line number; an
/// error of `each` stops the reading. Fails on a file without orders.
pub fn for_each_order<I: Input>(
    path: &PathBuf,
    command: &str,
    mut each: impl FnMut(I, usize) -> Result<(), String>,
) -> Result<(), String> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut any = false;
    for (n, line) in reader.lines().enumerate() {
        let line_no = n + 1;
        let line = line.map_err(|e| format!("{}: line {line_no}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let order = parse_line(&line, command).map_err(|why| format!("line {line_no}: {why}"))?;
        each(order, line_no)?;
        any = true;
    }
    if !any {
        return Err(format!("{}: no orders", path.display()));
    }
    Ok(())
}

/// One row of the readable table.
pub trait Row {
    /// Order id, submission id, status, time.
    fn row(&self) -> [String; 4];
}

impl Row for Order {
    fn row(&self) -> [String; 4] {
        [
            self.order_id.clone(),
            self.submission_id.to_string(),
            self.status.as_ref().map_or("-".into(), |s| s.to_string()),
            self.order_received_time.to_string(),
        ]
    }
}

impl Row for OrderCancellation {
    fn row(&self) -> [String; 4] {
        [
            self.order_id.clone(),
            self.submission_id.to_string(),
            self.status.as_ref().map_or("-".into(), |s| s.to_string()),
            self.update_time.to_string(),
        ]
    }
}

/// The exit status for an answer: unconfirmed orders (outcome unknown, to resend) first, then
/// refusals, else success.
fn outcome_status<T>(response: &TrackingResponse<T>) -> u8 {
    if !response.unconfirmed.is_empty() {
        eprintln!(
            "{} order(s) were neither accepted nor refused in CJ's answer: outcome unknown, \
             safe to resend (CJ deduplicates)",
            response.unconfirmed.len()
        );
        exit::TRANSPORT
    } else if response.is_success() {
        exit::OK
    } else {
        exit::CJ_ERRORS
    }
}

/// Where an input order came from: `line 12 (orderId "A-1")`.
fn input_line(lines: &[usize], index: Option<usize>, order_id: Option<&str>) -> String {
    let mut out = match index.and_then(|i| lines.get(i)) {
        Some(line) => format!("line {line}"),
        None => "no order named".to_string(),
    };
    if let Some(id) = order_id {
        out.push_str(&format!(" (orderId {id:?})"));
    }
    out
}

fn print_response<T: Serialize + Row>(
    response: &TrackingResponse<T>,
    output: Output,
    lines: &[usize],
) {
    match output {
        Output::Json => {
            crate::print_json(response, false);
        }
        Output::Table => {
            let header = ["ORDER ID", "SUBMISSION ID", "STATUS", "TIME"].map(String::from);
            let rows: Vec<[String; 4]> = response.orders.iter().map(Row::row).collect();
            crate::print_table(&header, &rows);
            outln!(
                "{} accepted, {} error(s), {} unconfirmed",
                response.orders.len(),
                response.errors.len() + response.graphql_errors.len(),
                response.unconfirmed.len()
            );
            for e in &response.errors {
                let at = input_line(lines, e.index, e.order_id.as_deref());
                if e.fields.is_empty() {
                    outln!("error: {at}: {}", e.message)
                } else {
                    outln!(
                        "error: {at}: {} (fields: {})",
                        e.message,
                        e.fields.join(", ")
                    )
                }
            }
            for e in &response.graphql_errors {
                outln!("error: {}", e.message);
            }
            for u in &response.unconfirmed {
                let at = input_line(lines, Some(u.index), Some(&u.order_id));
                outln!("unconfirmed: {at}: not in CJ's answer; safe to resend");
            }
        }
    }
}
