//! Fault injection: the Tracking endpoints give, on demand, the answers CJ (or the network in
//! between) can give, so that a test can check how its code handles each of them.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde_json::{Value, json};

/// The request header that sets the faults of one request: the same spec as
/// [`Faults`]'s, and it replaces the sandbox-wide faults for that request (`none` turns them
/// off). A malformed value is answered with HTTP 400 naming the part.
pub const FAULT_HEADER: &str = "x-sandbox-fault";

/// The longest `delay` a spec may ask for, in milliseconds (10 minutes).
const MAX_DELAY_MS: u64 = 600_000;

/// The parts a spec may have, for error messages.
const KNOWN: &str = "request-error=REGEX, request-error-rate=RATE, seed=N, status=CODE, \
                     status=CODE-after-record, reset-after-record, truncate-after-record, \
                     delay=MILLISECONDS, retry-after=SECONDS, times=N";

/// Faults the Tracking endpoints (`/graphql` and `/graphqltest`) play, parsed from a spec of
/// parts joined by `;` (the spec of `--faults`, [`crate::SandboxConfig::faults`] and the
/// `X-Sandbox-Fault` header):
///
/// | part | what the sandbox does |
/// |---|---|
/// | `request-error=REGEX` | refuses each order whose whole `orderId` matches REGEX with a `RequestError` naming it (`newOrders[3]`, `restatedOrders[i]`, `cancelledOrders[i]`); the others are accepted and recorded: a partial success |
/// | `request-error-rate=RATE` | refuses that share of orders (0 to 1), chosen by a hash of the seed and the `orderId`: the same orders every time for one seed |
/// | `seed=N` | the seed of `request-error-rate` (without it, a random one) |
/// | `status=CODE` | answers HTTP CODE (400 to 599) in CJ's error shape, recording nothing |
/// | `status=CODE-after-record` | records the orders, then answers HTTP CODE (`status=504-after-record`: the outcome a client cannot know) |
/// | `reset-after-record` | records the orders, then closes the connection without an answer |
/// | `truncate-after-record` | records the orders, then answers 200 with the first half of the body |
/// | `delay=MILLISECONDS` | sends the answer that late (the orders are recorded before the wait) |
/// | `retry-after=SECONDS` | adds `Retry-After` to a `status` answer (`status=429;retry-after=2`) |
/// | `times=N` | plays the faults on the first N requests only, then answers normally (CJ throttles once, then accepts) |
///
/// `none` (or an empty spec) is no fault. A REGEX cannot contain `;`.
///
/// ```
/// let faults: cj_sandbox::Faults = "request-error=ORD-1[0-9];delay=200".parse()?;
/// let config = cj_sandbox::SandboxConfig::new().faults(faults);
/// # Ok::<(), cj_sandbox::FaultSpecError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Faults {
    refusals: Refusals,
    answer: Answer,
    delay: Option<u64>,
    retry_after: Option<u64>,
    times: Option<u64>,
}

/// A fault spec that could not be read: the part, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault `{part}`: {reason}")]
#[non_exhaustive]
pub struct FaultSpecError {
    /// The part of the spec, as written.
    pub part: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What the answer is, besides the delay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Answer {
    /// The endpoint's own answer.
    #[default]
    Normal,
    /// This status, nothing processed.
    Status(StatusCode),
    /// This status, after processing.
    StatusAfterRecord(StatusCode),
    /// No answer at all, after processing.
    ResetAfterRecord,
    /// Half the endpoint's answer, after processing.
    TruncateAfterRecord,
}

/// Which orders a request refuses with a `RequestError`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Refusals {
    ids: Option<Regex>,
    /// The share refused, and the seed that picks them.
    rate: Option<(f64, u64)>,
}

impl Refusals {
    /// Whether the order with this id is refused.
    pub(crate) fn refuses(&self, order_id: &str) -> bool {
        self.ids.as_ref().is_some_and(|r| r.is_match(order_id))
            || self
                .rate
                .is_some_and(|(rate, seed)| draw(seed, order_id) < rate)
    }
}

/// The `RequestError` that refuses order `index` of the mutation's `argument`
/// (`newOrders`, `restatedOrders` or `cancelledOrders`).
pub(crate) fn request_error(argument: &str, index: usize, order_id: &str) -> Value {
    json!({
        "message": format!("Order {order_id} refused (sandbox fault request-error)"),
        "fields": [format!("{argument}[{index}]")],
    })
}

/// A number in [0, 1) that depends only on the seed and the order id: FNV-1a, then
/// splitmix64's finaliser to spread it (std's hashers may change between Rust versions).
pub(crate) fn draw(seed: u64, order_id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(order_id.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Faults {
    /// Whether the spec plays no fault.
    pub fn is_none(&self) -> bool {
        self.refusals.ids.is_none()
            && self.refusals.rate.is_none()
            && self.answer == Answer::Normal
            && self.delay.is_none()
    }
}

impl FromStr for Faults {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Faults, FaultSpecError> {
        let mut faults = Faults::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut seed = None;
        let mut rate = None;
        for part in spec.split(';').map(str::trim) {
            if part.is_empty() || part == "none" {
                continue;
            }
            let fail = |reason: &str| FaultSpecError {
                part: part.to_string(),
                reason: reason.to_string(),
            };
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (part, None),
            };
            // `status` and the two `*-after-record` parts each set the answer: one of them.
            let sets_answer =
                |k: &str| matches!(k, "status" | "reset-after-record" | "truncate-after-record");
            if let Some(earlier) = seen
                .iter()
                .find(|k| **k == key || (sets_answer(k) && sets_answer(key)))
            {
                return Err(fail(&format!("conflicts with `{earlier}`, given before")));
            }
            seen.push(key);
            let number = |v: &str| -> Result<u64, FaultSpecError> {
                v.parse().map_err(|_| fail("needs a whole number"))
            };
            match (key, value) {
                ("request-error", Some(v)) => {
                    let anchored = format!("^(?:{v})$");
                    let regex = Regex::new(&anchored)
                        .map_err(|e| fail(&format!("not a regular expression: {e}")))?;
                    faults.refusals.ids = Some(regex);
                }
                ("request-error-rate", Some(v)) => {
                    let r: f64 = v.parse().map_err(|_| fail("needs a number from 0 to 1"))?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(fail("needs a number from 0 to 1"));
                    }
                    rate = Some(r);
                }
                ("seed", Some(v)) => seed = Some(number(v)?),
                ("status", Some(v)) => {
                    let (code, after) = match v.strip_suffix("-after-record") {
                        Some(code) => (code, true),
                        None => (v, false),
                    };
                    let status = code
                        .parse::<u16>()
                        .ok()
                        .filter(|c| (400..=599).contains(c))
                        .and_then(|c| StatusCode::from_u16(c).ok())
                        .ok_or_else(|| {
                            fail("needs an HTTP status from 400 to 599, or CODE-after-record")
                        })?;
                    faults.answer = if after {
                        Answer::StatusAfterRecord(status)
                    } else {
                        Answer::Status(status)
                    };
                }
                ("reset-after-record", None) => faults.answer = Answer::ResetAfterRecord,
                ("truncate-after-record", None) => faults.answer = Answer::TruncateAfterRecord,
                ("delay", Some(v)) => {
                    let ms = number(v)?;
                    if ms > MAX_DELAY_MS {
                        return Err(fail("is longer than the most, 600000 ms"));
                    }
                    faults.delay = Some(ms);
                }
                ("retry-after", Some(v)) => faults.retry_after = Some(number(v)?),
                ("times", Some(v)) => faults.times = Some(number(v)?),
                ("reset-after-record" | "truncate-after-record", Some(_)) => {
                    return Err(fail("takes no value"));
                }
                (
                    "request-error" | "request-error-rate" | "seed" | "status" | "delay"
                    | "retry-after" | "times",
                    None,
                ) => return Err(fail("needs a value (`name=value`)")),
                _ => return Err(fail(&format!("unknown fault; the faults are {KNOWN}"))),
            }
        }
        let whole = |reason: &str| FaultSpecError {
            part: spec.trim().to_string(),
            reason: reason.to_string(),
        };
        if faults.retry_after.is_some()
            && !matches!(
                faults.answer,
                Answer::Status(_) | Answer::StatusAfterRecord(_)
            )
        {
            return Err(whole(
                "retry-after needs a status (`status=429;retry-after=2`)",
            ));
        }
        if seed.is_some() && rate.is_none() {
            return Err(whole("seed needs request-error-rate"));
        }
        if matches!(faults.answer, Answer::Status(_))
            && (faults.refusals.ids.is_some() || rate.is_some())
        {
            return Err(whole(
                "request-error never plays with status=CODE, which processes nothing \
                 (status=CODE-after-record does)",
            ));
        }
        faults.refusals.rate = rate.map(|r| (r, seed.unwrap_or_else(random_seed)));
        Ok(faults)
    }
}

/// A seed for a spec that gives none.
fn random_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs() ^ u64::from(now.subsec_nanos()).rotate_left(32)
}

/// The spec, with the seed a `request-error-rate` was given or drawn (so that a run can be
/// repeated), or `none`.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(ids) = &self.refusals.ids {
            let pattern = ids.as_str();
            let inner = pattern
                .strip_prefix("^(?:")
                .and_then(|p| p.strip_suffix(")$"))
                .unwrap_or(pattern);
            parts.push(format!("request-error={inner}"));
        }
        if let Some((rate, seed)) = self.refusals.rate {
            parts.push(format!("request-error-rate={rate};seed={seed}"));
        }
        match self.answer {
            Answer::Normal => {}
            Answer::Status(s) => parts.push(format!("status={}", s.as_u16())),
            Answer::StatusAfterRecord(s) => {
                parts.push(format!("status={}-after-record", s.as_u16()))
            }
            Answer::ResetAfterRecord => parts.push("reset-after-record".into()),
            Answer::TruncateAfterRecord => parts.push("truncate-after-record".into()),
        }
        let numbers = [
            ("delay", self.delay),
            ("retry-after", self.retry_after),
            ("times", self.times),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                parts.push(format!("{name}={v}"));
            }
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(";"))
        }
    }
}

/// The sandbox-wide faults, and how many requests they have played on (for `times`).
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    faults: Faults,
    played: AtomicU64,
}

impl FaultState {
    pub(crate) fn new(faults: Faults) -> Self {
        FaultState {
            faults,
            played: AtomicU64::new(0),
        }
    }

    /// The faults of one request: its `X-Sandbox-Fault` header's when it has one, else the
    /// sandbox's; `None` when none play. `Err` is the message of a malformed header.
    pub(crate) fn for_request(&self, headers: &HeaderMap) -> Result<Option<Faults>, String> {
        let (faults, played) = match headers.get(FAULT_HEADER) {
            Some(value) => {
                let spec = value
                    .to_str()
                    .map_err(|_| "X-Sandbox-Fault: the header is not text".to_string())?;
                let faults: Faults = spec.parse().map_err(|e| format!("X-Sandbox-Fault: {e}"))?;
                (faults, 0)
            }
            None if self.faults.is_none() => return Ok(None),
            None => (
                self.faults.clone(),
                self.played.fetch_add(1, Ordering::Relaxed),
            ),
        };
        let plays = !faults.is_none() && faults.times.is_none_or(|n| played < n);
        Ok(plays.then_some(faults))
    }
}

/// Answers a request with `faults` played around `handle`, the endpoint's own handling (given
/// the orders to refuse).
pub(crate) async fn play<F>(faults: Option<Faults>, handle: impl FnOnce(Refusals) -> F) -> Response
where
    F: Future<Output = Response>,
{
    let Some(faults) = faults else {
        return handle(Refusals::default()).await;
    };
    let answer = match faults.answer {
        Answer::Status(status) => status_answer(status, faults.retry_after),
        after => {
            let answer = handle(faults.refusals.clone()).await;
            match after {
                Answer::StatusAfterRecord(status) => status_answer(status, faults.retry_after),
                Answer::ResetAfterRecord => reset(),
                Answer::TruncateAfterRecord => truncate(answer).await,
                Answer::Normal | Answer::Status(_) => answer,
            }
        }
    };
    if let Some(ms) = faults.delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    answer
}

/// An HTTP error in CJ's GraphQL error shape, with `Retry-After` when asked.
fn status_answer(status: StatusCode, retry_after: Option<u64>) -> Response {
    let message = status.canonical_reason().unwrap_or("Error");
    let mut response = crate::graphql::error_response(status, message);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A response that never reaches the client: its body fails before the first byte, so hyper
/// drops the connection without writing the head it had buffered.
fn reset() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault reset-after-record",
        ))
    });
    Body::from_stream(failing).into_response()
}

/// The answer with its status and headers, and the first half of its body.
async fn truncate(answer: Response) -> Response {
    let (mut parts, body) = answer.into_parts();
    // The length of the half that is sent: the whole answer's would make the HTTP server
    // refuse to send it at all.
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2))),
        Err(_) => reset(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP client for the tests, with the SDK's TLS setup (see the dev-dependency on cj-transport).
    fn http() -> reqwest::Client {
        cj_transport::tls::client_builder()
            .expect("a TLS setup")
            .build()
            .expect("an HTTP client")
    }

    fn parse(spec: &str) -> Result<Faults, FaultSpecError> {
        spec.parse()
    }

    #[test]
    fn reads_every_part_and_writes_it_back() {
        let spec = "request-error=ORD-(1|2);request-error-rate=0.25;seed=7;\
                    status=429-after-record;delay=20;retry-after=3;times=2";
        let faults = parse(spec).expect("a valid spec");
        assert_eq!(faults.to_string(), spec);
        assert_eq!(parse(&faults.to_string()).expect("again").to_string(), spec);
        for spec in [
            "status=504-after-record",
            "reset-after-record",
            "truncate-after-record;delay=5",
            "status=503",
        ] {
            assert_eq!(parse(spec).expect(spec).to_string(), spec);
        }
        assert_eq!(parse(" none ").expect("none").to_string(), "none");
        assert!(parse("").expect("empty").is_none());
    }

    #[test]
    fn a_rate_without_a_seed_shows_the_seed_it_drew() {
        let shown = parse("request-error-rate=0.5").expect("valid").to_string();
        let seed = shown.strip_prefix("request-error-rate=0.5;seed=");
        assert!(seed.is_some_and(|s| s.parse::<u64>().is_ok()), "{shown}");
    }

    #[test]
    fn a_malformed_spec_names_its_part() {
        for (spec, reason) in [
            ("status=200", "from 400 to 599"),
            ("status=abc-after-record", "400 to 599"),
            ("delay=soon", "whole number"),
            ("delay=600001", "600000"),
            ("request-error=(", "regular expression"),
            ("request-error-rate=1.5", "from 0 to 1"),
            ("explode", "unknown fault"),
            ("status", "needs a value"),
            ("reset-after-record=1", "no value"),
            ("delay=1;delay=2", "conflicts with `delay`"),
            ("status=500;reset-after-record", "`status`"),
            ("retry-after=2", "needs a status"),
            ("seed=3", "needs request-error-rate"),
            ("status=503;request-error=A", "processes nothing"),
        ] {
            let error = parse(spec).expect_err(spec);
            // The part at fault is the last one read (or the whole spec, for a combination).
            assert!(
                !error.part.is_empty() && spec.ends_with(&error.part),
                "{error}"
            );
            assert!(error.reason.contains(reason), "{spec}: {error}");
            assert!(error.to_string().contains(&error.part), "{error}");
        }
    }

    #[test]
    fn request_error_matches_the_whole_order_id() {
        let faults = parse("request-error=ORD-1").expect("valid");
        assert!(faults.refusals.refuses("ORD-1"));
        assert!(!faults.refusals.refuses("ORD-10"));
        assert!(!faults.refusals.refuses("XORD-1"));
    }

    #[test]
    fn a_rate_refuses_about_its_share_and_the_same_orders_for_one_seed() {
        let ids: Vec<String> = (0..2000).map(|i| format!("ORD-{i}")).collect();
        let refused = |spec: &str| -> Vec<&String> {
            let faults = parse(spec).expect("valid");
            ids.iter()
                .filter(|id| faults.refusals.refuses(id))
                .collect()
        };
        let first = refused("request-error-rate=0.1;seed=42");
        assert!((150..250).contains(&first.len()), "{}", first.len());
        assert_eq!(first, refused("request-error-rate=0.1;seed=42"));
        assert_ne!(first, refused("request-error-rate=0.1;seed=43"));
        assert!(refused("request-error-rate=0;seed=1").is_empty());
        assert_eq!(refused("request-error-rate=1;seed=1").len(), ids.len());
    }

    #[test]
    fn times_limits_the_sandbox_wide_faults_and_the_header_wins() {
        let state = FaultState::new(parse("status=503;times=2").expect("valid"));
        let none = HeaderMap::new();
        let plays = |h: &HeaderMap| state.for_request(h).expect("valid").is_some();
        assert!(plays(&none));
        let mut header = HeaderMap::new();
        header.insert(FAULT_HEADER, HeaderValue::from_static("none"));
        assert!(!plays(&header), "the header turns the faults off");
        assert!(plays(&none));
        assert!(!plays(&none), "only the first two requests");
        header.insert(FAULT_HEADER, HeaderValue::from_static("delay=1"));
        assert!(plays(&header));
        header.insert(FAULT_HEADER, HeaderValue::from_static("delay=x"));
        let error = state.for_request(&header).expect_err("malformed");
        assert!(
            error.starts_with("X-Sandbox-Fault: fault `delay=x`"),
            "{error}"
        );
    }

    /// Posts a create of `ids` to the live endpoint with `header` as `X-Sandbox-Fault`.
    async fn create(sandbox: &crate::Sandbox, ids: &[&str], header: &str) -> (u16, Value) {
        let orders: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({"enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": id,
                       "eventTime": "2024-01-15T18:08:36Z", "cjEvent": "abc"})
            })
            .collect();
        let body = json!({
            "query": "mutation($o:[OrderCreateRequest!]!){createOrders(newOrders:$o)\
                      {orders{orderId} errors{message fields}}}",
            "variables": {"o": orders},
        });
        let response = http()
            .post(format!("{}/graphql", sandbox.tracking_url()))
            .bearer_auth("token")
            .header(FAULT_HEADER, header)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn ledger_ids(sandbox: &crate::Sandbox) -> Vec<Value> {
        let ledger = sandbox.ledger().to_json();
        let orders = ledger["orders"].as_array().cloned().unwrap_or_default();
        orders.iter().map(|o| o["orderId"].clone()).collect()
    }

    #[tokio::test]
    async fn the_header_replaces_the_sandbox_faults_for_its_request() {
        let config = crate::SandboxConfig::new().faults(parse("status=503").expect("valid"));
        let sandbox = crate::Sandbox::start_with(config).await.expect("starts");

        let response = http()
            .post(format!("{}/graphql", sandbox.tracking_url()))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 503, "the sandbox's faults");

        let (status, body) = create(&sandbox, &["ORD-0"], "").await;
        assert_eq!(status, 200, "an empty header is no fault: {body}");

        let (status, body) = create(&sandbox, &["ORD-1", "ORD-2"], "request-error=ORD-2").await;
        assert_eq!(status, 200);
        let answer = &body["data"]["createOrders"];
        assert_eq!(answer["orders"], json!([{"orderId": "ORD-1"}]));
        assert_eq!(answer["errors"][0]["fields"], json!(["newOrders[1]"]));

        let (status, _) = create(&sandbox, &["ORD-3"], "status=504-after-record").await;
        assert_eq!(status, 504);
        assert_eq!(ledger_ids(&sandbox), ["ORD-0", "ORD-1", "ORD-3"]);

        let (status, body) = create(&sandbox, &["ORD-4"], "status=429;retry-after=x").await;
        assert_eq!(status, 400);
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("`retry-after=x`"), "{body}");
        assert_eq!(body["data"], Value::Null);

        let (status, body) = create(&sandbox, &["ORD-5"], "none").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ledger_ids(&sandbox), ["ORD-0", "ORD-1", "ORD-3", "ORD-5"]);
    }

    #[tokio::test]
    async fn a_status_answer_carries_retry_after_in_cjs_error_shape() {
        let config = crate::SandboxConfig::new();
        let sandbox = crate::Sandbox::start_with(config).await.expect("starts");
        let response = http()
            .post(format!("{}/graphqltest", sandbox.tracking_url()))
            .header(FAULT_HEADER, "status=429; retry-after=7")
            .body("not even JSON")
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"7"[..])
        );
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"data": null, "errors": [{"message": "Too Many Requests"}]})
        );
    }
}
