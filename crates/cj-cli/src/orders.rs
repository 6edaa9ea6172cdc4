//! `cj orders create|restate|cancel`: the whole file checked in a first pass, then sent as a
//! stream of requests, each answer printed as it arrives.

use std::io::{BufRead, IsTerminal, Write as _};
use std::path::PathBuf;

use cj::tracking::{
    EncodedOrder, Mode, OrderCancellation, OrderError, OrderReceipt, OrderStream, StreamAnswer,
    StreamError, StreamExt, StreamOrder, UnconfirmedOrder, stream,
};
use cj::{Error, GraphQLError};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::checked::{Checked, LineMap, Refused, check_in_background};
use crate::input::{Input, JSON_LINES, parse_line};
use crate::{Connection, exit, report_error, report_orders_error};

/// What `--help` says of how orders are sent.
const GUARANTEE: &str = "Nothing half-sent: the whole file is read and every order checked \
    against CJ's rules first (required fields, formats, times, no order twice), and nothing is \
    sent unless all of them pass; standard input is kept in a temporary file for that. Then the \
    orders go in requests of 10,000, one after another (the next one encoded while the current \
    one is sent), in constant memory, and each answer is printed as it arrives. If a request \
    fails, the earlier requests' answers stand and the message names the lines that were \
    answered and those that were not (safe to send again: CJ deduplicates orders). Ctrl-C \
    stops sending: the request in flight finishes, what was answered is printed, exit 130.";

#[derive(Subcommand)]
pub enum Action {
    /// Send new orders (createOrders).
    #[command(after_help = GUARANTEE)]
    Create(OrdersArgs),
    /// Restate orders: each line replaces the whole order (restateOrders).
    #[command(after_help = GUARANTEE)]
    Restate(OrdersArgs),
    /// Cancel orders (cancelOrders).
    #[command(after_help = GUARANTEE)]
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
        hide_env_values = true,
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
    output: OrdersOutput,
    /// No progress bar and no summary on standard error.
    #[arg(long, short)]
    quiet: bool,
    /// Orders per request, from 1 to CJ's maximum (10,000, the default).
    #[arg(long, value_name = "N", default_value_t = cj::tracking::MAX_ORDERS_PER_REQUEST,
        value_parser = crate::shell::count(1..=cj::tracking::MAX_ORDERS_PER_REQUEST as u64))]
    max_orders_per_request: usize,
    /// How far ahead of this host's clock an `eventTime` or `updateTime` may be (`30s`, `5m`,
    /// `0s`); one further ahead is refused before anything is sent. CJ, by its own clock,
    /// still refuses a time in the future.
    #[arg(long, value_name = "DURATION", env = "CJ_CLOCK_SKEW", hide_env_values = true,
        default_value = "5m", value_parser = cj::parse_clock_skew)]
    clock_skew: std::time::Duration,
    #[command(flatten)]
    connection: Connection,
}

/// How `cj orders` prints CJ's answers.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OrdersOutput {
    /// A readable table, rows printed as answers arrive.
    #[default]
    Table,
    /// One JSON document: `{"orders": [...], "errors": [...], "unconfirmed": [...]}`, with
    /// `"failed": [{"fromLine", "toLine", "orders", "delivery", "message"}]` for a request
    /// that failed and `"notSent": {"fromLine", "toLine", "orders"}` for orders never sent.
    Json,
    /// One JSON object a line, for each accepted order, refusal and unconfirmed order (and
    /// any order CJ returned that no request carried), as answers arrive.
    Jsonl,
}

/// The exit status after Ctrl-C.
const INTERRUPTED: u8 = 130;

pub async fn run(action: Action) -> u8 {
    match action {
        Action::Create(args) => submit::<cj::tracking::OrderCreateRequest>(&args).await,
        Action::Restate(args) => submit::<cj::tracking::OrderRestateRequest>(&args).await,
        Action::Cancel(args) => submit::<cj::tracking::OrderCancelRequest>(&args).await,
    }
}

async fn submit<I>(args: &OrdersArgs) -> u8
where
    I: Input + 'static,
    I::Output: Serialize + Row,
    EncodedOrder<I>: StreamOrder<Output = I::Output>,
{
    let mode = if args.live { Mode::Live } else { Mode::Test };
    let mut connection = args.connection.clone();
    if args.dry_run && connection.token.is_none() {
        // Nothing is sent in a dry run, so no real token is needed to encode the requests.
        connection.token = Some("dry-run".into());
    }
    let configure = |b: cj::ClientBuilder| {
        b.mode(mode)
            .tracking_url(&args.tracking_url)
            .clock_skew(args.clock_skew)
    };
    let client = match connection.client(configure) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let progress = Progress::new(args.quiet);
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let checked = check_in_background::<I>(
        args.file.clone(),
        "cj orders ",
        progress.clone(),
        ctrl_c.as_mut(),
        args.clock_skew,
    )
    .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(refused) => {
            progress.clear();
            return report_refused(refused);
        }
    };
    if args.dry_run {
        progress.clear();
        let sender = client
            .orders()
            .clone()
            .with_max_orders_per_request(args.max_orders_per_request);
        return dry_run::<I>(&sender, &checked);
    }
    let orders = checked.orders::<I>();
    let mut failed_read = None;
    let input = orders.map_while(|r| r.map_err(|e| failed_read = Some(e)).ok());
    let sender = client
        .orders()
        .clone()
        .with_max_orders_per_request(args.max_orders_per_request);
    let mut stream = sender.stream(stream::iter(input));
    let mut printer = Printer::new(args.output, checked.lines.clone());
    progress.sending(checked.count, client.orders().endpoint().as_str());
    let mut interrupted = false;
    let mut failure = None;
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                stream.stop();
                progress.say("stopping: the request in flight finishes, nothing more is sent");
                continue;
            }
        };
        match item {
            None => break,
            Some(Ok(answer)) => {
                printer.answer(&answer);
                progress.answered(&printer.totals, &stream);
            }
            Some(Err(e)) => {
                printer.failed(&e);
                failure = Some(e);
            }
        }
    }
    drop(stream);
    // Orders no request carried: after a failed request, an unreadable spool, or Ctrl-C.
    let not_sent_from = match &failure {
        Some(e) => e.unsent.max(e.orders.end),
        None => printer.totals.answered,
    };
    printer.not_sent(not_sent_from, checked.count);
    if let Some(e) = &failed_read {
        printer.failed_read(e);
    }
    printer.finish();
    let totals = printer.totals;
    progress.clear();
    progress.summary(&totals, checked.count);
    if !args.quiet {
        crate::shell::endpoint_notice(client.orders());
    }
    let answered = totals.status();
    if let Some(e) = failed_read {
        eprintln!(
            "error: {e}; orders after line {} were not sent",
            totals.answered
        );
        return exit::TRANSPORT;
    }
    if let Some(e) = failure {
        let lines = &checked.lines;
        if e.answered > 0 {
            eprintln!(
                "the first {} of {} orders were answered (up to line {}); the rest were not \
                 (from line {})",
                e.answered,
                checked.count,
                lines.line(e.answered - 1),
                lines.line(e.answered)
            );
        }
        if !e.orders.is_empty() {
            eprintln!(
                "the request of lines {} to {} ({} order(s)) failed:",
                lines.line(e.orders.start),
                lines.line(e.orders.end - 1),
                e.orders.len()
            );
        }
        let failed = report_orders_error(&e.error, &[]);
        // Orders left to resend outrank refusals: resending shows the refusals again.
        return if answered == exit::TRANSPORT {
            answered
        } else {
            failed
        };
    }
    if interrupted {
        if totals.answered < checked.count {
            eprintln!(
                "interrupted: {} of {} orders answered; from line {} on nothing was sent",
                totals.answered,
                checked.count,
                checked.lines.line(totals.answered)
            );
        }
        return INTERRUPTED;
    }
    answered
}

/// Prints why the first pass refused the input; the exit status.
pub fn report_refused(refused: Refused) -> u8 {
    match refused {
        Refused::Unreadable(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
        Refused::Interrupted => {
            eprintln!("interrupted while checking the orders: nothing was sent or stored");
            INTERRUPTED
        }
        Refused::Invalid {
            problems,
            more,
            lines,
        } => {
            let (invalid, lines) = lines.for_report(problems);
            let code = report_error(&Error::Invalid(invalid), &lines);
            if more > 0 {
                eprintln!("  ... and {more} more problem(s)");
            }
            code
        }
    }
}

/// Prints the request bodies, one a line; sends nothing.
fn dry_run<I>(sender: &cj::tracking::Orders, checked: &Checked) -> u8
where
    I: Input,
    EncodedOrder<I>: StreamOrder,
{
    let count = checked.count;
    let mut failed_read = None;
    let orders = checked
        .orders::<I>()
        .map_while(|r| r.map_err(|e| failed_read = Some(e)).ok());
    for body in sender.encode_iter(orders) {
        match body {
            // The encoder writes JSON, UTF-8 already: written as it is, then a line break.
            Ok(body) => {
                crate::stdout::bytes(&body);
                crate::stdout::bytes(b"\n");
            }
            Err(e) => return report_orders_error(&e.error, &[]),
        }
    }
    if let Some(e) = failed_read {
        eprintln!("error: {e}");
        return exit::TRANSPORT;
    }
    eprintln!(
        "dry run: {count} order(s) valid for {}; nothing was sent",
        sender.endpoint()
    );
    exit::OK
}

/// What the answers held, over the whole submission.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Orders in answered requests.
    pub answered: usize,
    pub accepted: usize,
    /// Orders CJ returned that no request carried: never counted as accepted.
    pub unrequested: usize,
    pub refused: usize,
    pub unconfirmed: usize,
    pub graphql_errors: usize,
    pub requests: usize,
}

impl Totals {
    /// The exit status for the answers: unconfirmed orders (outcome unknown, to resend) first,
    /// then refusals, else success.
    fn status(&self) -> u8 {
        if self.unconfirmed > 0 {
            eprintln!(
                "{} order(s) were neither accepted nor refused in CJ's answer: outcome unknown, \
                 safe to resend (CJ deduplicates)",
                self.unconfirmed
            );
            exit::TRANSPORT
        } else if self.refused > 0 || self.graphql_errors > 0 {
            exit::CJ_ERRORS
        } else {
            exit::OK
        }
    }
}

/// Prints each answer as it arrives, in the chosen format.
struct Printer {
    output: OrdersOutput,
    lines: LineMap,
    totals: Totals,
    /// The table's column widths, set by the first answer.
    widths: Option<[usize; 4]>,
    /// For `json`: what follows the orders in the document.
    errors: Vec<OrderError>,
    unconfirmed: Vec<UnconfirmedOrder>,
    graphql_errors: Vec<GraphQLError>,
    /// For `json`: orders CJ returned that no request carried, as CJ wrote them.
    unrequested: Vec<String>,
    /// For `json`: accepted orders printed so far.
    printed: usize,
    /// Requests that failed (their orders unanswered), and the orders no request carried.
    failed: Vec<Failed>,
    not_sent: Option<NotSent>,
    buf: Vec<u8>,
}

/// A request that failed: its input lines, how many orders it carried, whether CJ may have
/// processed it (`notSent`, `notProcessed`, `maybeSent`, `answered`: see `Error::delivery`)
/// and why.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Failed {
    #[serde(skip_serializing_if = "Option::is_none")]
    from_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_line: Option<usize>,
    orders: usize,
    delivery: &'static str,
    message: String,
}

/// The input orders no request carried: never sent.
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct NotSent {
    from_line: usize,
    to_line: usize,
    orders: usize,
}

/// How a failure's delivery is named in the outputs.
fn delivery_name(delivery: cj::Delivery) -> &'static str {
    match delivery {
        cj::Delivery::NotSent => "notSent",
        cj::Delivery::NotProcessed => "notProcessed",
        cj::Delivery::MaybeSent => "maybeSent",
        cj::Delivery::Answered => "answered",
        _ => "unknown",
    }
}

/// A line of `jsonl`: the outcome, the input line, and what it is about.
#[derive(Serialize)]
struct Line<T> {
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(flatten)]
    what: T,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Unconfirmed<'a> {
    order_id: &'a str,
}

impl Printer {
    fn new(output: OrdersOutput, lines: LineMap) -> Self {
        Printer {
            output,
            lines,
            totals: Totals::default(),
            widths: None,
            errors: Vec::new(),
            unconfirmed: Vec::new(),
            graphql_errors: Vec::new(),
            unrequested: Vec::new(),
            printed: 0,
            failed: Vec::new(),
            not_sent: None,
            buf: Vec::new(),
        }
    }

    fn line(&self, index: Option<usize>) -> Option<usize> {
        index.map(|i| self.lines.line(i))
    }

    /// Writes one JSON object and a newline to the buffer.
    fn jsonl<T: Serialize>(&mut self, outcome: &'static str, line: Option<usize>, what: T) {
        let line = Line {
            outcome,
            line,
            what,
        };
        if serde_json::to_writer(&mut self.buf, &line).is_ok() {
            self.buf.push(b'\n');
        }
        self.flush_full();
    }

    /// A `jsonl` line for an order CJ returned (`accepted`, or `unrequested`: one no request
    /// carried), with the order as CJ wrote it (not read into a type and written again: an
    /// answer of 10,000 orders is copied, not parsed).
    fn order_line(&mut self, outcome: &str, line: Option<usize>, order: &str) {
        // Writing to a `Vec` cannot fail.
        let _ = write!(self.buf, "{{\"outcome\":\"{outcome}\"");
        if let Some(line) = line {
            let _ = write!(self.buf, ",\"line\":{line}");
        }
        self.buf.extend_from_slice(b",\"order\":");
        let start = self.buf.len();
        self.buf.extend_from_slice(order.as_bytes());
        // A pretty-printed answer keeps its line breaks in the order's text; JSON has none
        // inside strings, so a space stands for each and the line stays one JSON value.
        for b in self.buf.get_mut(start..).unwrap_or_default() {
            if matches!(*b, b'\n' | b'\r') {
                *b = b' ';
            }
        }
        self.buf.extend_from_slice(b"}\n");
        self.flush_full();
    }

    fn answer<T>(&mut self, answer: &StreamAnswer<T>)
    where
        T: serde::de::DeserializeOwned + Serialize + Row,
    {
        let t = &mut self.totals;
        t.answered = answer.orders.end;
        t.accepted += answer.accepted_count();
        t.unrequested += answer.unrequested_count();
        t.refused += answer.errors.len();
        t.unconfirmed += answer.unconfirmed.len();
        t.graphql_errors += answer.graphql_errors.len();
        t.requests += 1;
        match self.output {
            OrdersOutput::Jsonl => {
                for (index, order) in answer.accepted_json() {
                    let line = self.line(index);
                    let outcome = if index.is_some() {
                        "accepted"
                    } else {
                        "unrequested"
                    };
                    self.order_line(outcome, line, order);
                }
                for e in &answer.errors {
                    let line = self.line(e.index);
                    self.jsonl("refused", line, e);
                }
                for u in &answer.unconfirmed {
                    let line = self.line(Some(u.index));
                    let what = Unconfirmed {
                        order_id: &u.order_id,
                    };
                    self.jsonl("unconfirmed", line, what);
                }
                for e in &answer.graphql_errors {
                    self.jsonl("error", None, e);
                }
            }
            OrdersOutput::Json => {
                for (index, order) in answer.accepted_json() {
                    if index.is_none() {
                        // Kept up to a bound (the summary counts them all): none is expected.
                        if self.unrequested.len() < 1_000 {
                            self.unrequested.push(order.to_owned());
                        }
                        continue;
                    }
                    let before: &[u8] = if self.printed > 0 {
                        b","
                    } else {
                        b"{\"orders\":["
                    };
                    self.buf.extend_from_slice(before);
                    self.buf.extend_from_slice(order.as_bytes());
                    self.printed += 1;
                    self.flush_full();
                }
                self.errors.extend(answer.errors.iter().cloned());
                self.unconfirmed.extend(answer.unconfirmed.iter().cloned());
                self.graphql_errors
                    .extend(answer.graphql_errors.iter().cloned());
            }
            OrdersOutput::Table => {
                let mut rows: Vec<[String; 4]> = Vec::with_capacity(answer.accepted_count());
                // Said after the rows, below the table's header.
                let mut notes = String::new();
                for (index, order) in answer.accepted() {
                    match (index, order) {
                        (Some(_), Ok(order)) => rows.push(order.row()),
                        (Some(_), Err(e)) => notes.push_str(&format!(
                            "accepted: {}: CJ named the order, but the rest of its answer could \
                             not be read: {e}\n",
                            self.input_line(index, None)
                        )),
                        (None, Ok(order)) => notes.push_str(&format!(
                            "unrequested: CJ returned order {} that no request carried (not \
                             counted as accepted)\n",
                            order.row()[0]
                        )),
                        (None, Err(e)) => notes.push_str(&format!(
                            "unrequested: CJ returned an order that no request carried (not \
                             counted as accepted), and it could not be read: {e}\n"
                        )),
                    }
                }
                let widths = *self.widths.get_or_insert_with(|| {
                    let mut w = HEADER.map(str::len);
                    for r in &rows {
                        for (w, cell) in w.iter_mut().zip(r) {
                            *w = (*w).max(cell.chars().count());
                        }
                    }
                    self.buf
                        .extend_from_slice(table_row(&HEADER.map(String::from), &w).as_bytes());
                    w
                });
                for r in &rows {
                    self.buf.extend_from_slice(table_row(r, &widths).as_bytes());
                    self.flush_full();
                }
                self.buf.extend_from_slice(notes.as_bytes());
                for e in &answer.errors {
                    let at = self.input_line(e.index, e.order_id.as_deref());
                    let text = if e.fields.is_empty() {
                        format!("error: {at}: {}\n", e.message)
                    } else {
                        format!(
                            "error: {at}: {} (fields: {})\n",
                            e.message,
                            e.fields.join(", ")
                        )
                    };
                    self.buf.extend_from_slice(text.as_bytes());
                }
                for e in &answer.graphql_errors {
                    self.buf
                        .extend_from_slice(format!("error: {}\n", e.message).as_bytes());
                }
                for u in &answer.unconfirmed {
                    let at = self.input_line(Some(u.index), Some(&u.order_id));
                    let text = format!("unconfirmed: {at}: not in CJ's answer; safe to resend\n");
                    self.buf.extend_from_slice(text.as_bytes());
                }
            }
        }
        self.flush();
    }

    /// A request that failed: said on standard error by the caller; in the output too, so
    /// that it never reads as a success: a line for `jsonl`, a `failed` entry for `json`, a
    /// line and the summary's count for the table.
    fn failed(&mut self, e: &StreamError) {
        let (from_line, to_line) = match e.orders.is_empty() {
            true => (None, None),
            false => (
                Some(self.lines.line(e.orders.start)),
                Some(self.lines.line(e.orders.end - 1)),
            ),
        };
        self.push_failed(Failed {
            from_line,
            to_line,
            orders: e.orders.len(),
            delivery: delivery_name(e.delivery()),
            message: crate::error_chain(&e.error),
        });
    }

    /// The temporary file of checked orders could not be read further: nothing was sent of
    /// what follows (counted by [`Printer::not_sent`]).
    fn failed_read(&mut self, message: &str) {
        self.push_failed(Failed {
            from_line: None,
            to_line: None,
            orders: 0,
            delivery: delivery_name(cj::Delivery::NotSent),
            message: message.to_string(),
        });
    }

    fn push_failed(&mut self, failed: Failed) {
        match self.output {
            OrdersOutput::Jsonl => {
                self.jsonl("failed", None, &failed);
                self.flush();
            }
            OrdersOutput::Json => {}
            OrdersOutput::Table => {
                self.table_header();
                let lines = match (failed.from_line, failed.to_line) {
                    (Some(from), Some(to)) => format!("lines {from} to {to}: "),
                    _ => String::new(),
                };
                let text = format!(
                    "failed: {lines}{} order(s) not answered ({}): {}\n",
                    failed.orders, failed.delivery, failed.message
                );
                self.buf.extend_from_slice(text.as_bytes());
                self.flush();
            }
        }
        self.failed.push(failed);
    }

    /// The input orders from position `from` to `count` were never sent (nothing when none).
    fn not_sent(&mut self, from: usize, count: usize) {
        if from >= count {
            return;
        }
        let not_sent = NotSent {
            from_line: self.lines.line(from),
            to_line: self.lines.line(count - 1),
            orders: count - from,
        };
        if self.output == OrdersOutput::Jsonl {
            self.jsonl("notSent", None, not_sent);
            self.flush();
        }
        self.not_sent = Some(not_sent);
    }

    /// Closes the output: the rest of the `json` document, the table's summary.
    fn finish(&mut self) {
        match self.output {
            OrdersOutput::Jsonl => {}
            OrdersOutput::Json => {
                if self.printed == 0 {
                    self.buf.extend_from_slice(b"{\"orders\":[");
                }
                // Writing to a `Vec` fails only for values JSON cannot hold: none here.
                self.buf.extend_from_slice(b"],\"errors\":");
                let _ = serde_json::to_writer(&mut self.buf, &self.errors);
                self.buf.extend_from_slice(b",\"unconfirmed\":");
                let _ = serde_json::to_writer(&mut self.buf, &self.unconfirmed);
                if !self.graphql_errors.is_empty() {
                    self.buf.extend_from_slice(b",\"graphqlErrors\":");
                    let _ = serde_json::to_writer(&mut self.buf, &self.graphql_errors);
                }
                if !self.unrequested.is_empty() {
                    self.buf.extend_from_slice(b",\"unrequested\":[");
                    self.buf
                        .extend_from_slice(self.unrequested.join(",").as_bytes());
                    self.buf.extend_from_slice(b"]");
                }
                // A failure is part of the document: it never reads as an empty success.
                if !self.failed.is_empty() {
                    self.buf.extend_from_slice(b",\"failed\":");
                    let _ = serde_json::to_writer(&mut self.buf, &self.failed);
                }
                if let Some(not_sent) = &self.not_sent {
                    self.buf.extend_from_slice(b",\"notSent\":");
                    let _ = serde_json::to_writer(&mut self.buf, not_sent);
                }
                self.buf.extend_from_slice(b"}\n");
            }
            OrdersOutput::Table => {
                self.table_header();
                let t = self.totals;
                let mut text = format!(
                    "{} accepted, {} error(s), {} unconfirmed",
                    t.accepted,
                    t.refused + t.graphql_errors,
                    t.unconfirmed
                );
                let failed: usize = self.failed.iter().map(|f| f.orders).sum();
                if !self.failed.is_empty() {
                    text.push_str(&format!(", {failed} in a failed request"));
                }
                if let Some(n) = self.not_sent {
                    text.push_str(&format!(", {} not sent", n.orders));
                }
                text.push('\n');
                self.buf.extend_from_slice(text.as_bytes());
            }
        }
        self.flush();
    }

    /// The table's header, unless an answer printed it: columns as wide as their titles.
    fn table_header(&mut self) {
        if self.widths.is_none() {
            let w = HEADER.map(str::len);
            self.buf
                .extend_from_slice(table_row(&HEADER.map(String::from), &w).as_bytes());
            self.widths = Some(w);
        }
    }

    fn flush(&mut self) {
        crate::stdout::bytes(&self.buf);
        self.buf.clear();
    }

    /// Writes the buffer out once it holds [`OUTPUT_BUFFER`] bytes: an answer of 10,000 orders
    /// is printed as it is read, never held twice.
    fn flush_full(&mut self) {
        if self.buf.len() >= OUTPUT_BUFFER {
            self.flush();
        }
    }

    /// Where an input order came from: `line 12 (orderId "A-1")`.
    fn input_line(&self, index: Option<usize>, order_id: Option<&str>) -> String {
        let mut out = match index {
            Some(i) => format!("line {}", self.lines.line(i)),
            None => "no order named".to_string(),
        };
        if let Some(id) = order_id {
            out.push_str(&format!(" (orderId {id:?})"));
        }
        out
    }
}

const HEADER: [&str; 4] = ["ORDER ID", "SUBMISSION ID", "STATUS", "TIME"];

/// Bytes of output gathered before they are written.
const OUTPUT_BUFFER: usize = 1 << 16;

/// One row of the table, in columns of `widths`, and a newline.
fn table_row(cells: &[String; 4], widths: &[usize; 4]) -> String {
    let cells: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|(c, w)| format!("{c:<w$}"))
        .collect();
    format!("{}\n", cells.join("  ").trim_end())
}

/// The progress bar on standard error, shown only when it is a terminal (and not `--quiet`).
#[derive(Clone)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("checking orders");
            bar
        });
        Progress { bar, quiet }
    }

    /// During the first pass: `n` orders checked.
    pub fn checked(&self, n: usize) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("checked {n} order(s)"));
            bar.tick();
        }
    }

    /// The second pass starts: `total` orders to send.
    fn sending(&self, total: usize, endpoint: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(0);
            let style =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} answered {msg}");
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar.set_message(format!("(sending to {endpoint})"));
        }
    }

    fn answered<S, O: StreamOrder>(&self, t: &Totals, stream: &OrderStream<S, O>) {
        if let Some(bar) = &self.bar {
            bar.set_position(t.answered as u64);
            let total = bar.length().unwrap_or_default() as usize;
            bar.set_message(format!(
                "sent {}, accepted {}, refused {}, requests {} of {}",
                stream.sent(),
                t.accepted,
                t.refused,
                t.requests,
                total
                    .div_ceil(cj::tracking::MAX_ORDERS_PER_REQUEST)
                    .max(stream.requests())
            ));
        }
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if !self.quiet => eprintln!("{text}"),
            None => {}
        }
    }

    fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The final summary on standard error (unless `--quiet`).
    fn summary(&self, t: &Totals, total: usize) {
        if !self.quiet {
            eprintln!(
                "{} of {total} order(s) answered in {} request(s): {} accepted, {} refused, {} \
                 unconfirmed",
                t.answered, t.requests, t.accepted, t.refused, t.unconfirmed
            );
        }
        if t.unrequested > 0 {
            eprintln!(
                "warning: CJ's answers returned {} order(s) that no request carried; they are \
                 not counted as accepted",
                t.unrequested
            );
        }
    }
}

/// The longest line an order file may have: far more than any order CJ takes (100 items, every
/// vertical parameter).
pub(crate) const MAX_LINE_BYTES: usize = 16 << 20;

/// Reads JSON Lines one order at a time, giving `each` the order and its line number; an
/// error of `each` stops the reading. Fails on a file without orders.
pub fn for_each_order<I: Input>(
    path: &PathBuf,
    command: &str,
    mut each: impl FnMut(I, usize) -> Result<(), String>,
) -> Result<(), String> {
    let mut lines = Lines::open(path)?;
    // One buffer for every line: a file of a million orders is not a million allocations.
    let mut line = String::new();
    while let Some(line_no) = lines.next_into(&mut line)? {
        let order = parse_line(&line, command).map_err(|why| format!("line {line_no}: {why}"))?;
        each(order, line_no)?;
        line.clear();
    }
    Ok(())
}

/// The lines of an order file that are not blank.
pub struct Lines {
    reader: Box<dyn BufRead>,
    path: PathBuf,
    /// The number of the last line read.
    line_no: usize,
    any: bool,
}

impl Lines {
    /// `path`, or standard input for `-`.
    pub fn open(path: &PathBuf) -> Result<Lines, String> {
        // 64 KiB reads: a file of a million orders takes 10,000 system calls, not 80,000.
        const READ_BUFFER: usize = 1 << 16;
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::BufReader::with_capacity(
                READ_BUFFER,
                std::io::stdin(),
            ))
        } else {
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Box::new(std::io::BufReader::with_capacity(READ_BUFFER, file))
        };
        Ok(Lines {
            reader,
            path: path.clone(),
            line_no: 0,
            any: false,
        })
    }

    /// Appends the next line that is not blank, without its line break, to `buf`: its line
    /// number, or `None` at the end. Fails on a line longer than [`MAX_LINE_BYTES`], and at
    /// the end of a file without such lines.
    pub fn next_into(&mut self, buf: &mut String) -> Result<Option<usize>, String> {
        let start = buf.len();
        loop {
            self.line_no += 1;
            let line_no = self.line_no;
            // A line is read up to the limit, so that a file without line breaks cannot take
            // all memory.
            let limit = MAX_LINE_BYTES as u64 + 1;
            match std::io::Read::take(&mut self.reader, limit).read_line(buf) {
                Ok(0) if self.any => return Ok(None),
                Ok(0) => return Err(format!("{}: no orders", self.path.display())),
                Ok(n) if n > MAX_LINE_BYTES => {
                    return Err(format!(
                        "{}: line {line_no} is longer than {MAX_LINE_BYTES} bytes: {JSON_LINES}",
                        self.path.display()
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!("{}: line {line_no}: {e}", self.path.display()));
                }
            }
            let line = buf.get(start..).unwrap_or_default();
            if line.trim().is_empty() {
                buf.truncate(start);
                continue;
            }
            let kept = line.trim_end_matches(['\n', '\r']).len();
            buf.truncate(start + kept);
            self.any = true;
            return Ok(Some(line_no));
        }
    }
}

/// One row of the readable table.
pub trait Row {
    /// Order id, submission id, status, time.
    fn row(&self) -> [String; 4];
}

impl Row for OrderReceipt {
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
