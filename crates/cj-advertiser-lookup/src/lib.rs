//! CJ Affiliate's Advertiser Lookup REST API (publishers): find advertisers, joined or not, by
//! CID, name, program URL or keywords, and read their account status, EPC, rank, actions with
//! their default commissions, and link types.
//!
//! This crate stands on its own (it needs only the shared transport, `cj-transport`); the `cj`
//! facade exposes it behind its `advertiser-lookup` feature.
//!
//! ```no_run
//! use cj_advertiser_lookup::{AdvertiserIds, AdvertiserLookup, Keywords, LookupQuery};
//! use cj_transport::{Credentials, Transport};
//!
//! # async fn run() -> Result<(), cj_transport::Error> {
//! let transport = Transport::builder().credentials(Credentials::token("...")).build()?;
//! let lookup = AdvertiserLookup::new(transport, cj_advertiser_lookup::DEFAULT_BASE_URL)?;
//! let query = LookupQuery::new("4567")
//!     .advertiser_ids(AdvertiserIds::Joined)
//!     .keywords(Keywords::new().required("kitchen").excluded("sink"));
//! let page = lookup.page(&query).await?;
//! println!("{} of {} advertisers", page.records_returned, page.total_matched);
//! # Ok(()) }
//! ```

mod records;

use cj_transport::{Error, InvalidInput, Method, Problem, Request, Transport, Url};
use futures_util::Stream;
use tracing::Instrument;

pub use cj_transport::RateLimit;
pub use records::{
    AccountStatus, Action, Advertiser, Commission, ItemListRate, LookupPage, ParseError,
    PrimaryCategory, Rate, RateLevel, RateValue, RelationshipStatus, Reported,
};

/// The API's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://advertiser-lookup.api.cj.com";

/// CJ's default page size.
pub const DEFAULT_RECORDS_PER_PAGE: u32 = 25;
/// CJ's largest page size.
pub const MAX_RECORDS_PER_PAGE: u32 = 100;

/// Which advertisers to look at (`advertiser-ids`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdvertiserIds {
    /// Advertisers the publisher has a relationship with (`joined`).
    Joined,
    /// Advertisers it has none with (`notjoined`).
    NotJoined,
    /// These advertisers (CIDs).
    Cids(Vec<String>),
}

impl AdvertiserIds {
    fn to_param(&self) -> String {
        match self {
            AdvertiserIds::Joined => "joined".into(),
            AdvertiserIds::NotJoined => "notjoined".into(),
            AdvertiserIds::Cids(cids) => cids.join(","),
        }
    }
}

/// A keyword search: plain terms (any may match), `+required` and `-excluded` terms.
///
/// Sent as CJ documents it: terms separated by spaces, which the URL encodes as `+`, while a
/// literal `+` (a required term's mark) is encoded `%2B`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keywords {
    terms: Vec<String>,
}

impl Keywords {
    /// No terms yet.
    pub fn new() -> Self {
        Keywords::default()
    }

    /// A term any result may match (CJ's default OR logic; it raises relevance).
    pub fn term(self, word: impl AsRef<str>) -> Self {
        self.push("", word)
    }

    /// A term every result must match (`+word`).
    pub fn required(self, word: impl AsRef<str>) -> Self {
        self.push("+", word)
    }

    /// A term no result may match (`-word`).
    pub fn excluded(self, word: impl AsRef<str>) -> Self {
        self.push("-", word)
    }

    fn push(mut self, mark: &str, word: impl AsRef<str>) -> Self {
        // One term per word: a space inside would split it into terms of CJ's default logic.
        for part in word.as_ref().split_whitespace() {
            self.terms.push(format!("{mark}{part}"));
        }
        self
    }

    /// Keywords written as CJ documents them (`+kitchen -sink`), as a user would type them.
    pub fn parse(text: &str) -> Self {
        Keywords {
            terms: text.split_whitespace().map(String::from).collect(),
        }
    }

    /// Whether there is no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The keywords as CJ reads them, before URL encoding (`+kitchen -sink`).
    pub fn as_query_text(&self) -> String {
        self.terms.join(" ")
    }
}

/// A lookup: `requestor-cid` and at least one criterion (advertiser ids, name or program URL,
/// keywords), with optional filters and paging.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupQuery {
    /// The CID of the company the request is for (required with a personal access token).
    pub requestor_cid: Option<String>,
    /// Which advertisers.
    pub advertiser_ids: Option<AdvertiserIds>,
    /// A program name or program URL.
    pub advertiser_name: Option<String>,
    /// Keywords in the advertiser's name or products.
    pub keywords: Option<Keywords>,
    /// Only advertisers (not) certified for mobile tracking.
    pub mobile_tracking_certified: Option<bool>,
    /// The page, from 1 (CJ's default 1).
    pub page_number: Option<u32>,
    /// Records per page, 1 to 100 (CJ's default 25).
    pub records_per_page: Option<u32>,
}

impl LookupQuery {
    /// A query on behalf of company `requestor_cid`.
    pub fn new(requestor_cid: impl Into<String>) -> Self {
        LookupQuery {
            requestor_cid: Some(requestor_cid.into()),
            ..LookupQuery::without_requestor()
        }
    }

    /// A query without `requestor-cid` (only a legacy developer key may omit it).
    pub fn without_requestor() -> Self {
        LookupQuery {
            requestor_cid: None,
            advertiser_ids: None,
            advertiser_name: None,
            keywords: None,
            mobile_tracking_certified: None,
            page_number: None,
            records_per_page: None,
        }
    }

    /// Which advertisers.
    pub fn advertiser_ids(mut self, ids: AdvertiserIds) -> Self {
        self.advertiser_ids = Some(ids);
        self
    }

    /// A program name or program URL.
    pub fn advertiser_name(mut self, name: impl Into<String>) -> Self {
        self.advertiser_name = Some(name.into());
        self
    }

    /// Keywords.
    pub fn keywords(mut self, keywords: Keywords) -> Self {
        self.keywords = Some(keywords);
        self
    }

    /// Only advertisers (not) certified for mobile tracking.
    pub fn mobile_tracking_certified(mut self, certified: bool) -> Self {
        self.mobile_tracking_certified = Some(certified);
        self
    }

    /// The page, from 1.
    pub fn page_number(mut self, page: u32) -> Self {
        self.page_number = Some(page);
        self
    }

    /// Records per page, 1 to 100.
    pub fn records_per_page(mut self, n: u32) -> Self {
        self.records_per_page = Some(n);
        self
    }

    /// Every problem that would make CJ refuse the query or answer it with nothing.
    fn check(&self, developer_key: bool) -> Result<(), InvalidInput> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: &str| {
            problems.push(Problem::new("query", None, None, field, message));
        };
        match &self.requestor_cid {
            None if !developer_key => problem(
                "requestor-cid",
                "is required with a personal access token: the CID of the company the request is for",
            ),
            Some(cid) if cid.trim().is_empty() => problem("requestor-cid", "is empty"),
            _ => {}
        }
        let has_name = self
            .advertiser_name
            .as_ref()
            .is_some_and(|n| !n.trim().is_empty());
        let has_keywords = self.keywords.as_ref().is_some_and(|k| !k.is_empty());
        if self.advertiser_ids.is_none() && !has_name && !has_keywords {
            problem(
                "advertiser-ids",
                "a criterion is required (advertiser-ids, advertiser-name or keywords): \
                 CJ answers a request without one with zero results",
            );
        }
        if let Some(AdvertiserIds::Cids(cids)) = &self.advertiser_ids
            && (cids.is_empty()
                || cids
                    .iter()
                    .any(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit())))
        {
            problem("advertiser-ids", "CIDs are positive numbers, at least one");
        }
        if self.page_number == Some(0) {
            problem("page-number", "counts from 1");
        }
        if let Some(n) = self.records_per_page
            && !(1..=MAX_RECORDS_PER_PAGE).contains(&n)
        {
            problem("records-per-page", "must be from 1 to 100");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidInput { problems })
        }
    }

    /// The query string's parameters, in CJ's names.
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(cid) = &self.requestor_cid {
            out.push(("requestor-cid", cid.trim().to_string()));
        }
        if let Some(ids) = &self.advertiser_ids {
            out.push(("advertiser-ids", ids.to_param()));
        }
        if let Some(name) = &self.advertiser_name {
            out.push(("advertiser-name", name.clone()));
        }
        if let Some(k) = &self.keywords {
            out.push(("keywords", k.as_query_text()));
        }
        if let Some(m) = self.mobile_tracking_certified {
            out.push(("mobile-tracking-certified", m.to_string()));
        }
        if let Some(p) = self.page_number {
            out.push(("page-number", p.to_string()));
        }
        if let Some(n) = self.records_per_page {
            out.push(("records-per-page", n.to_string()));
        }
        out
    }
}

/// CJ's limit on Advertiser Lookup calls: 25 a minute.
pub fn rate_limit() -> RateLimit {
    RateLimit::new(25, std::time::Duration::from_secs(60))
}

/// The Advertiser Lookup client. Cheap to clone; clones share one rate limit.
#[derive(Debug, Clone)]
pub struct AdvertiserLookup {
    transport: Transport,
    endpoint: Url,
    limit: RateLimit,
}

impl AdvertiserLookup {
    /// A client for the API at `base_url` (such as [`DEFAULT_BASE_URL`]; `/v2/advertiser-lookup`
    /// is appended), limited to CJ's 25 calls a minute.
    pub fn new(transport: Transport, base_url: &str) -> Result<Self, Error> {
        let endpoint =
            cj_transport::endpoint(base_url, "/v2/advertiser-lookup", "Advertiser Lookup")?;
        Ok(AdvertiserLookup {
            transport,
            endpoint,
            limit: rate_limit(),
        })
    }

    /// Uses another rate limit (CJ allows 25 calls a minute; see [`RateLimit`]).
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    /// The URL a query would be sent to, with its encoded parameters.
    pub fn url(&self, query: &LookupQuery) -> Url {
        let mut url = self.endpoint.clone();
        // application/x-www-form-urlencoded: a space becomes `+`, a literal `+` becomes `%2B`,
        // as CJ's REST APIs require.
        url.query_pairs_mut().extend_pairs(query.params());
        url
    }

    /// One page of advertisers.
    pub async fn page(&self, query: &LookupQuery) -> Result<LookupPage, Error> {
        query.check(self.transport.uses_developer_key())?;
        let url = self.url(query);
        let span = tracing::info_span!(
            "cj.advertiser_lookup",
            page = query.page_number.unwrap_or(1),
            records_per_page = query.records_per_page.unwrap_or(DEFAULT_RECORDS_PER_PAGE),
        );
        async {
            let _permit = self.limit.acquire().await;
            let response = self
                .transport
                .send(Request {
                    method: Method::GET,
                    url,
                    content_type: None,
                    accept: Some("application/xml"),
                    body: Default::default(),
                    api: "advertiser_lookup",
                    operation: "advertiser-lookup",
                })
                .await?;
            read_response(&response, self.transport.redactor())
        }
        .instrument(span)
        .await
    }

    /// Every advertiser the query matches, page after page (from the query's page, 100 per
    /// page unless the query sets a size), within the rate limit. Ends when `total-matched` is
    /// reached or a page comes back short or empty; an error ends it after being yielded.
    pub fn stream(
        &self,
        query: LookupQuery,
    ) -> impl Stream<Item = Result<Advertiser, Error>> + Send + 'static {
        struct Walk {
            lookup: AdvertiserLookup,
            query: LookupQuery,
            seen: u64,
            buffer: std::collections::VecDeque<Advertiser>,
            done: bool,
        }
        let mut query = query;
        let size = *query.records_per_page.get_or_insert(MAX_RECORDS_PER_PAGE);
        query.page_number.get_or_insert(1);
        let walk = Walk {
            lookup: self.clone(),
            query,
            seen: 0,
            buffer: Default::default(),
            done: false,
        };
        futures_util::stream::unfold(walk, move |mut walk| async move {
            loop {
                if let Some(a) = walk.buffer.pop_front() {
                    return Some((Ok(a), walk));
                }
                if walk.done {
                    return None;
                }
                let page = match walk.lookup.page(&walk.query).await {
                    Ok(p) => p,
                    Err(e) => {
                        walk.done = true;
                        return Some((Err(e), walk));
                    }
                };
                let returned = page.advertisers.len() as u64;
                let first = u64::from(walk.query.page_number.unwrap_or(1) - 1) * u64::from(size);
                walk.seen = first + returned;
                walk.done = returned < u64::from(size) || walk.seen >= page.total_matched;
                walk.query.page_number =
                    Some(walk.query.page_number.unwrap_or(1).saturating_add(1));
                walk.buffer.extend(page.advertisers);
            }
        })
    }
}

/// Reads a page of Advertiser Lookup XML (a saved response, say): the same reading as
/// [`AdvertiserLookup::page`] gives an answer. CJ's `<error-message>` envelope is an error too.
///
/// Takes any bytes (`&str`, `String`, `&[u8]`, `Vec<u8>`) and never panics: bytes that are not
/// UTF-8 read as U+FFFD, and anything else that is not a page is a [`ParseError`]. Its work is
/// linear in the input's length, and deep nesting costs no stack (unknown elements are skipped
/// in a loop; quick-xml bounds its recursion). This is the fuzzing entry point.
///
/// XML quirks it reads: a bare `&` that starts no entity or character reference (CJ's own
/// sample has `Home & Garden`) is a literal `&`; CDATA sections, comments and processing
/// instructions are left as they are (`<![CDATA[Smith & Sons]]>` reads `Smith & Sons`).
pub fn parse_page(body: impl AsRef<[u8]>) -> Result<LookupPage, ParseError> {
    match records::parse(body.as_ref())? {
        records::Body::Page(page) => Ok(page),
        records::Body::Error(message) => Err(ParseError {
            message: format!("CJ's error message: {message}"),
        }),
    }
}

/// Reads a response: a page, CJ's `<error-message>` envelope, or an error status.
fn read_response(
    response: &cj_transport::Response,
    redactor: &cj_transport::Redactor,
) -> Result<LookupPage, Error> {
    let status = response.status;
    if response.body.trim_ascii().is_empty() {
        if status.is_success() {
            return Err(Error::Decode {
                message: "an empty body".into(),
                body: String::new(),
            });
        }
        if status.as_u16() != 401 {
            // Not CJ's answer (CJ's errors have a body): most likely a wrong base URL, which
            // the error names.
            return Err(response.http_error(redactor));
        }
        let message = format!(
            "HTTP 401 with an empty body: the URL is wrong (CJ answers an unknown path this way; \
             is the base URL right?) or the credentials are; the URL was {}",
            redactor.redact(response.url.as_str())
        );
        return Err(Error::Api { status, message });
    }
    let parsed = records::parse(&response.body);
    let api_error = |message: String| Error::Api {
        status,
        message: redactor.redact(&message),
    };
    if !status.is_success() {
        return Err(match parsed {
            Ok(records::Body::Error(message)) => api_error(message),
            _ => response.http_error(redactor),
        });
    }
    match parsed {
        Ok(records::Body::Page(page)) => Ok(page),
        Ok(records::Body::Error(message)) => Err(api_error(message)),
        Err(e) => Err(Error::Decode {
            message: redactor.redact(&e.message),
            body: redactor.redact_body(&response.body),
        }),
    }
}
