//! The Advertiser Lookup REST API: XML over the seed's advertisers, CJ's query parameters,
//! its 25 calls a minute per token, and its 401 cases.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::{escape, partial_escape};

use crate::data::{AdvertiserSeed, AdvertisersSeed};

/// CJ's page sizes.
const DEFAULT_RECORDS: usize = 25;
const MAX_RECORDS: usize = 100;

/// The call log of each token, for the per-minute limit.
#[derive(Debug)]
pub(crate) struct CallLimit {
    calls: usize,
    window: Duration,
    log: Mutex<HashMap<String, VecDeque<tokio::time::Instant>>>,
}

impl CallLimit {
    pub(crate) fn new(calls: usize, window: Duration) -> Self {
        CallLimit {
            calls,
            window,
            log: Mutex::new(HashMap::new()),
        }
    }

    /// Records a call; `Err(wait)` when the token already made `calls` calls in the window.
    fn admit(&self, token: &str) -> Result<(), Duration> {
        let now = tokio::time::Instant::now();
        let Ok(mut log) = self.log.lock() else {
            return Ok(());
        };
        let calls = log.entry(token.to_string()).or_default();
        while calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            calls.pop_front();
        }
        if calls.len() >= self.calls {
            let oldest = calls.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        calls.push_back(now);
        Ok(())
    }
}

/// `<cj-api><error-message>..</error-message></cj-api>` with a status.
pub(crate) fn envelope(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cj-api><error-message>{}</error-message></cj-api>\n",
        partial_escape(message)
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// Answers `GET /v2/advertiser-lookup?...`.
pub(crate) fn answer(
    seed: &AdvertisersSeed,
    limit: &CallLimit,
    accepted_tokens: Option<&std::collections::HashSet<String>>,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    // Authentication, as CJ's REST APIs do it.
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return envelope(
            StatusCode::UNAUTHORIZED,
            "You must provide an Authorization header.",
        );
    };
    let (key, bearer) = match auth.strip_prefix("Bearer ") {
        Some(token) => (token.trim(), true),
        None => (auth.trim(), false),
    };
    if key.is_empty() {
        return envelope(
            StatusCode::UNAUTHORIZED,
            "You must specify a developer key.",
        );
    }
    if accepted_tokens.is_some_and(|t| !t.contains(key)) {
        // CJ echoes the key it refused; clients must redact it.
        return envelope(
            StatusCode::UNAUTHORIZED,
            &format!("Not Authenticated: {key}"),
        );
    }
    if let Err(wait) = limit.admit(key) {
        let mut response = envelope(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded: 25 calls per minute. Try again later.",
        );
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }

    // Names and values are case-insensitive.
    let params: HashMap<String, String> = query
        .map(|q| {
            // application/x-www-form-urlencoded: `+` is a space, `%2B` a plus.
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let get = |name: &str| params.get(name).map(|v| v.trim());
    let requestor = get("requestor-cid").filter(|v| !v.is_empty());
    if bearer && requestor.is_none() {
        return envelope(
            StatusCode::BAD_REQUEST,
            "You must specify the company making this request using the 'requestor-cid' parameter.",
        );
    }
    let page_number = match get("page-number") {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            Ok(_) => {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "Only positive value is allowed for page-number.",
                );
            }
            Err(_) => return envelope(StatusCode::BAD_REQUEST, "Invalid page-number provided."),
        },
    };
    let per_page = match get("records-per-page") {
        None => DEFAULT_RECORDS,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if (1..=MAX_RECORDS).contains(&n) => n,
            _ => {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "records-per-page must be a number from 1 to 100.",
                );
            }
        },
    };
    let mobile = match get("mobile-tracking-certified")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return envelope(
                StatusCode::BAD_REQUEST,
                "Only 'true' or 'false' is allowed.",
            );
        }
    };
    let ids = get("advertiser-ids").map(str::to_ascii_lowercase);
    let cids: Option<Vec<&str>> = match ids.as_deref() {
        Some("joined") | Some("notjoined") | Some("") | None => None,
        Some(list) => {
            let cids: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            if cids.iter().any(|c| !c.bytes().all(|b| b.is_ascii_digit())) {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    "Only numeric value is allowed for advertiser ID.",
                );
            }
            Some(cids)
        }
    };
    let name = get("advertiser-name")
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_lowercase);
    let keywords = get("keywords")
        .filter(|k| !k.is_empty())
        .map(Keywords::parse);

    let mut matched: Vec<(usize, &AdvertiserSeed)> = Vec::new();
    // An empty request returns zero results, as CJ documents.
    if ids.is_some() || name.is_some() || keywords.is_some() || mobile.is_some() {
        for a in &seed.advertisers {
            let relationship = a.relationship_status.to_ascii_lowercase();
            let ids_match = match (ids.as_deref(), &cids) {
                (Some("joined"), _) => relationship == "joined",
                (Some("notjoined") | Some(""), _) => relationship != "joined",
                (_, Some(cids)) => cids.contains(&a.advertiser_id.as_str()),
                _ => true,
            };
            let name_match = name.as_ref().is_none_or(|n| {
                a.advertiser_name.to_ascii_lowercase().contains(n.as_str())
                    || a.program_url.as_ref().is_some_and(|u| {
                        let u = u.to_ascii_lowercase();
                        let bare = |s: &str| {
                            s.trim_start_matches("https://")
                                .trim_start_matches("http://")
                                .trim_start_matches("www.")
                                .trim_end_matches('/')
                                .to_string()
                        };
                        bare(&u).contains(&bare(n))
                    })
            });
            let mobile_match =
                mobile.is_none_or(|m| a.mobile_tracking_certified.unwrap_or(false) == m);
            let relevance = match &keywords {
                None => Some(0),
                Some(k) => k.relevance(a),
            };
            if ids_match
                && name_match
                && mobile_match
                && let Some(r) = relevance
            {
                matched.push((r, a));
            }
        }
    }
    // Most relevant first; the seed's order otherwise.
    matched.sort_by_key(|(r, _)| std::cmp::Reverse(*r));
    let total = matched.len();
    let page: Vec<&AdvertiserSeed> = matched
        .into_iter()
        .skip((page_number - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(_, a)| a)
        .collect();
    let body = render(&page, total, page_number);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// A keyword search: `+required`, `-excluded`, and plain terms (any may match).
struct Keywords {
    required: Vec<String>,
    excluded: Vec<String>,
    plain: Vec<String>,
}

impl Keywords {
    fn parse(text: &str) -> Self {
        let mut k = Keywords {
            required: Vec::new(),
            excluded: Vec::new(),
            plain: Vec::new(),
        };
        for term in text.split_whitespace() {
            let lower = term.to_ascii_lowercase();
            if let Some(t) = lower.strip_prefix('+') {
                k.required.push(t.to_string());
            } else if let Some(t) = lower.strip_prefix('-') {
                k.excluded.push(t.to_string());
            } else {
                k.plain.push(lower);
            }
        }
        k
    }

    /// `None` when `a` does not match; otherwise how many plain terms it has (relevance).
    fn relevance(&self, a: &AdvertiserSeed) -> Option<usize> {
        let words: Vec<String> = a
            .advertiser_name
            .split(|c: char| !c.is_alphanumeric())
            .chain(a.keywords.iter().map(String::as_str))
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        let has = |t: &String| words.iter().any(|w| w == t);
        if !self.required.iter().all(has) || self.excluded.iter().any(has) {
            return None;
        }
        let plain = self.plain.iter().filter(|t| has(t)).count();
        if self.required.is_empty() && !self.plain.is_empty() && plain == 0 {
            return None;
        }
        Some(plain)
    }
}

/// One page as CJ's XML.
fn render(page: &[&AdvertiserSeed], total: usize, page_number: usize) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cj-api>\n  <advertisers total-matched=\"{total}\" records-returned=\"{}\" page-number=\"{page_number}\">\n",
        page.len()
    );
    let el = |xml: &mut String, indent: &str, name: &str, value: Option<&str>| {
        if let Some(v) = value {
            let _ = writeln!(xml, "{indent}<{name}>{}</{name}>", partial_escape(v));
        }
    };
    for a in page {
        let i = "      ";
        xml.push_str("    <advertiser>\n");
        el(&mut xml, i, "advertiser-id", Some(&a.advertiser_id));
        if a.relationship_status.eq_ignore_ascii_case("joined") {
            el(&mut xml, i, "account-status", a.account_status.as_deref());
        }
        el(
            &mut xml,
            i,
            "seven-day-epc",
            Some(a.seven_day_epc.as_deref().unwrap_or("N/A")),
        );
        el(
            &mut xml,
            i,
            "three-month-epc",
            Some(a.three_month_epc.as_deref().unwrap_or("N/A")),
        );
        el(&mut xml, i, "language", a.language.as_deref());
        el(&mut xml, i, "advertiser-name", Some(&a.advertiser_name));
        el(&mut xml, i, "program-url", a.program_url.as_deref());
        el(
            &mut xml,
            i,
            "relationship-status",
            Some(&a.relationship_status),
        );
        let flag = |b: Option<bool>| b.map(|b| if b { "true" } else { "false" });
        el(&mut xml, i, "mobile-supported", flag(a.mobile_supported));
        el(
            &mut xml,
            i,
            "mobile-tracking-certified",
            flag(a.mobile_tracking_certified),
        );
        el(
            &mut xml,
            i,
            "cookieless-tracking-enabled",
            flag(a.cookieless_tracking_enabled),
        );
        el(
            &mut xml,
            i,
            "network-rank",
            a.network_rank.map(|r| r.to_string()).as_deref(),
        );
        if let Some(c) = &a.primary_category {
            xml.push_str("      <primary-category>\n");
            el(&mut xml, "        ", "parent", c.parent.as_deref());
            el(&mut xml, "        ", "child", c.child.as_deref());
            xml.push_str("      </primary-category>\n");
        }
        el(
            &mut xml,
            i,
            "performance-incentives",
            flag(a.performance_incentives),
        );
        xml.push_str("      <actions>\n");
        for action in &a.actions {
            xml.push_str("        <action>\n");
            el(&mut xml, "          ", "name", Some(&action.name));
            el(&mut xml, "          ", "type", Some(&action.type_));
            el(&mut xml, "          ", "id", Some(&action.id));
            xml.push_str("          <commission>\n");
            for l in &action.commission.itemlists {
                let _ = writeln!(
                    xml,
                    "            <itemlist name=\"{}\" id=\"{}\">{}</itemlist>",
                    escape(&l.name),
                    escape(&l.id),
                    partial_escape(&l.rate)
                );
            }
            match &action.commission.level {
                Some(level) => {
                    let _ = writeln!(
                        xml,
                        "            <default type=\"{}\">{}</default>",
                        escape(level),
                        partial_escape(&action.commission.default)
                    );
                }
                None => el(
                    &mut xml,
                    "            ",
                    "default",
                    Some(&action.commission.default),
                ),
            }
            xml.push_str("          </commission>\n        </action>\n");
        }
        xml.push_str("      </actions>\n      <link-types>\n");
        for t in &a.link_types {
            el(&mut xml, "        ", "link-type", Some(t));
        }
        xml.push_str("      </link-types>\n    </advertiser>\n");
    }
    xml.push_str("  </advertisers>\n</cj-api>\n");
    xml
}
