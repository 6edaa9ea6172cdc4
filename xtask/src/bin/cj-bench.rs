//! The release-built half of `cargo xtask bench orders`:
//!
//! - `cj-bench generate N FILE`: N `createOrders` orders as JSON Lines (3 items and 10 vertical
//!   parameters each, as in the criterion bench `encode_create`).
//! - `cj-bench serve`: a loopback HTTP server that answers `createOrders` as CJ does: each order
//!   accepted and returned with the fields the request selects, either the SDK's receipt
//!   (`...OrderReceipt`, what a streaming submission selects) or every field of `...Order` (the
//!   115 vertical parameters included, null where not sent). Prints its port, then serves until
//!   its standard input closes; then prints the requests, orders and seconds it spent answering.
//! - `cj-bench baseline FILE`: the plain typed serde baseline: each line parsed into plain
//!   structs of strings and integers, encoded into request bodies of 10,000 orders, dropped.
//! - `cj-bench send BODIES URL`: "send everything": each line of BODIES (request bodies, as
//!   `cj orders create --dry-run` prints them) posted in turn to URL over one keep-alive
//!   connection, each answer read whole; prints the seconds from the first request to the last
//!   answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["generate", n, file] => n
            .parse()
            .map_err(Into::into)
            .and_then(|n| generate(n, file)),
        ["serve"] => serve(),
        ["baseline", file] => baseline(file),
        ["send", bodies, url] => send(bodies, url),
        _ => {
            Err("usage: cj-bench generate N FILE | serve | baseline FILE | send BODIES URL".into())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

const VERTICAL: [(&str, &str); 10] = [
    ("advertiserVertical", "Retail"),
    ("brand", "Acme"),
    ("businessUnit", "Outdoor"),
    ("campaignId", "C-42"),
    ("category", "tents"),
    ("countryCode", "US"),
    ("customerStatus", "New"),
    ("customerType", "individual"),
    ("platformId", "mobile"),
    ("promotion", "summer sale"),
];

fn generate(n: usize, file: &str) -> Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(file)?);
    let vertical: Map<String, Value> = VERTICAL
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    for i in 0..n {
        let order = json!({
            "enterpriseId": "1234567",
            "actionTrackerId": 123456,
            "orderId": format!("ORD-{i:08}"),
            "eventTime": "2024-01-15T18:08:36.089Z",
            "cjEvent": "7166ddf3b35b11eb834200a10a1eb972",
            "currency": "USD",
            "amount": "224.97",
            "discount": "0.00",
            "items": (0..3).map(|n| json!({
                "sku": format!("SKU-{n}"), "unitPrice": "74.99", "quantity": 1, "discount": "0.00"
            })).collect::<Vec<_>>(),
            "verticalParameters": vertical,
        });
        serde_json::to_writer(&mut out, &order)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlainItem {
    sku: String,
    unit_price: String,
    quantity: u32,
    discount: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlainVertical {
    advertiser_vertical: Option<String>,
    brand: Option<String>,
    business_unit: Option<String>,
    campaign_id: Option<String>,
    category: Option<String>,
    country_code: Option<String>,
    customer_status: Option<String>,
    customer_type: Option<String>,
    platform_id: Option<String>,
    promotion: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlainOrder {
    enterprise_id: String,
    action_tracker_id: u32,
    order_id: String,
    event_time: String,
    cj_event: String,
    currency: String,
    amount: String,
    discount: String,
    items: Vec<PlainItem>,
    vertical_parameters: PlainVertical,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainBody<'a> {
    query: &'static str,
    operation_name: &'static str,
    variables: PlainVariables<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlainVariables<'a> {
    new_orders: &'a [PlainOrder],
}

fn baseline(file: &str) -> Result<()> {
    let reader = BufReader::new(std::fs::File::open(file)?);
    let mut chunk = Vec::with_capacity(10_000);
    let (mut orders, mut bytes) = (0usize, 0usize);
    let mut flush = |chunk: &mut Vec<PlainOrder>| -> Result<()> {
        let body = PlainBody {
            query: "mutation CreateOrders(...)",
            operation_name: "CreateOrders",
            variables: PlainVariables { new_orders: chunk },
        };
        bytes += std::hint::black_box(serde_json::to_vec(&body)?).len();
        chunk.clear();
        Ok(())
    };
    for line in reader.lines() {
        let line = line?;
        chunk.push(serde_json::from_str(&line)?);
        orders += 1;
        if chunk.len() == 10_000 {
            flush(&mut chunk)?;
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk)?;
    }
    eprintln!("baseline: {orders} orders parsed and encoded into {bytes} bytes of requests");
    Ok(())
}

/// Posts each line of `bodies` to `url` (`http://host:port/path`), one request at a time, and
/// reads each answer whole: the least a client can do to send these bodies.
fn send(bodies: &str, url: &str) -> Result<()> {
    let rest = url.strip_prefix("http://").ok_or("send: an http:// URL")?;
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let stream = TcpStream::connect(host)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut lines = BufReader::new(std::fs::File::open(bodies)?);
    let (mut body, mut line, mut answer) = (String::new(), String::new(), Vec::new());
    let mut requests = 0;
    let started = Instant::now();
    while lines.read_line(&mut body)? > 0 {
        let text = body.trim_end();
        if !text.is_empty() {
            write!(
                writer,
                "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
                 authorization: Bearer bench\r\ncontent-length: {}\r\n\r\n",
                text.len()
            )?;
            writer.write_all(text.as_bytes())?;
            writer.flush()?;
            line.clear();
            reader.read_line(&mut line)?;
            if !line.starts_with("HTTP/1.1 200") {
                return Err(format!("send: the server answered {}", line.trim_end()).into());
            }
            answer.resize(content_length(&mut reader, &mut line)?, 0);
            reader.read_exact(&mut answer)?;
            requests += 1;
        }
        body.clear();
    }
    println!(
        "sent {requests} request(s) in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The fields of CJ's `VerticalParameters`, from the schema.
fn vertical_fields() -> Result<Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/tracking.graphql");
    let text = std::fs::read_to_string(path)?;
    let doc = graphql_parser::schema::parse_schema::<String>(&text)?;
    for def in doc.definitions {
        if let graphql_parser::schema::Definition::TypeDefinition(
            graphql_parser::schema::TypeDefinition::Object(o),
        ) = def
            && o.name == "VerticalParameters"
        {
            return Ok(o.fields.into_iter().map(|f| f.name).collect());
        }
    }
    Err("VerticalParameters is not in schema/tracking.graphql".into())
}

struct Server {
    vertical: Vec<String>,
    requests: AtomicU64,
    orders: AtomicU64,
    busy_micros: AtomicU64,
}

fn serve() -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let server = Arc::new(Server {
        vertical: vertical_fields()?,
        requests: AtomicU64::new(0),
        orders: AtomicU64::new(0),
        busy_micros: AtomicU64::new(0),
    });
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    let accepting = server.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let server = accepting.clone();
            std::thread::spawn(move || {
                let _ = connection(&server, stream);
            });
        }
    });
    // Serve until the parent closes standard input.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    eprintln!(
        "server: {} request(s), {} order(s), {:.2} s answering",
        server.requests.load(Ordering::Relaxed),
        server.orders.load(Ordering::Relaxed),
        server.busy_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    Ok(())
}

/// Reads the headers after a request or status line, up to the blank line: the
/// `Content-Length` (0 without one). `line` is a buffer.
fn content_length(reader: &mut impl BufRead, line: &mut String) -> Result<usize> {
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(line)?;
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(length);
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
}

/// HTTP/1.1 with keep-alive, `Content-Length` bodies only (what reqwest sends).
fn connection(server: &Server, stream: TcpStream) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut body = vec![0; content_length(&mut reader, &mut line)?];
        reader.read_exact(&mut body)?;
        let started = Instant::now();
        let answer = answer(server, &body)?;
        drop(body);
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        )?;
        writer.write_all(&answer)?;
        writer.flush()?;
        server.requests.fetch_add(1, Ordering::Relaxed);
        let micros = started.elapsed().as_micros() as u64;
        server.busy_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

#[derive(Deserialize)]
struct Request {
    query: String,
    variables: BTreeMap<String, Vec<Map<String, Value>>>,
}

/// CJ's answer: every order accepted, returned with the request's selection (`...OrderReceipt`
/// or `...Order`), written straight out (the server is not what is measured).
fn answer(server: &Server, body: &[u8]) -> Result<Vec<u8>> {
    let request: Request = serde_json::from_slice(body)?;
    let full = request.query.contains("fragment Order on Order");
    let orders = request.variables.into_values().next().unwrap_or_default();
    server
        .orders
        .fetch_add(orders.len() as u64, Ordering::Relaxed);
    let per_order = if full { 3_300 } else { 300 };
    let mut out = Vec::with_capacity(orders.len() * per_order + 64);
    out.extend_from_slice(b"{\"data\":{\"createOrders\":{\"orders\":[");
    for (i, o) in orders.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(
            out,
            "{{\"submissionId\":\"sub-{i}\",\"batchId\":\"batch-1\",\
             \"orderReceivedTime\":\"2024-01-15T18:08:37Z\",\"advertiser\":{{\"enterpriseId\":"
        )?;
        serde_json::to_writer(&mut out, o.get("enterpriseId").unwrap_or(&Value::Null))?;
        out.extend_from_slice(b"},\"actionTracker\":{\"id\":");
        serde_json::to_writer(&mut out, o.get("actionTrackerId").unwrap_or(&Value::Null))?;
        out.extend_from_slice(b"}");
        field(&mut out, "orderId", o.get("orderId"))?;
        field(&mut out, "status", None)?;
        field(&mut out, "correctionReason", None)?;
        if !full {
            out.push(b'}');
            continue;
        }
        out.extend_from_slice(b",\"customParameters\":[]");
        for name in [
            "eventTime",
            "cjEvent",
            "amount",
            "discount",
            "currency",
            "items",
        ] {
            field(&mut out, name, o.get(name))?;
        }
        for name in ["updateTime", "ad", "promotionalProperty", "sid", "coupon"] {
            field(&mut out, name, None)?;
        }
        for name in ["bypassChannel", "ids"] {
            field(&mut out, name, None)?;
        }
        out.extend_from_slice(b",\"verticalParameters\":{");
        let sent = o.get("verticalParameters").and_then(Value::as_object);
        for (n, name) in server.vertical.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, name)?;
            out.push(b':');
            let value = sent.and_then(|s| s.get(name)).unwrap_or(&Value::Null);
            serde_json::to_writer(&mut out, value)?;
        }
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"],\"errors\":[]}}}");
    Ok(out)
}

/// `,"name":value` (`null` for none).
fn field(out: &mut Vec<u8>, name: &str, value: Option<&Value>) -> Result<()> {
    out.push(b',');
    serde_json::to_writer(&mut *out, name)?;
    out.push(b':');
    serde_json::to_writer(&mut *out, value.unwrap_or(&Value::Null))?;
    Ok(())
}
