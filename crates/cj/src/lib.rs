//! The Rust SDK for the CJ Affiliate (Commission Junction) APIs.
//!
//! One [`Client`] holds the access token and the HTTP settings shared by every API; each API is
//! behind a Cargo feature, and a build compiles only the APIs its features name:
//!
//! | feature | API | entry point |
//! |---|---|---|
//! | `tracking` (default) | GraphQL Tracking API: create, restate, cancel orders | [`Client::orders`] |
//! | `program-terms` (default) | GraphQL Program Terms API: contracts, rates; with `tracking`, which rate applies | [`Client::program_terms`] |
//! | `commissions` (default) | GraphQL Commission Detail API: every commission CJ recorded, corrections folded | [`Client::commissions`] |
//! | `reconcile` (default) | which orders sent CJ recorded, and how (needs `tracking` and `commissions`) | `reconcile::Reconciler` |
//! | `advertiser-lookup` (default) | Advertiser Lookup REST API: advertisers, EPC, default rates | [`Client::advertiser_lookup`] |
//! | `queue` | a durable order queue sending in CJ's batches (SQLite); a postback relay of a publisher's commissions to a partner | `Client::order_queue`, `queue::relay::Relay` |
//! | `queue-postgres` | the queue's PostgreSQL store, shared by several instances | `queue::PostgresStore` |
//! | `rustls-ring` (default) | TLS by rustls with the `ring` provider | |
//! | `rustls-aws-lc` | TLS by rustls with aws-lc-rs (a C build), reqwest's default | |
//! | `native-tls` | TLS by the platform's library (OpenSSL on Linux) | |
//!
//! A service that only sends orders compiles none of the other APIs' code:
//!
//! ```toml
//! [dependencies]
//! cj = { version = "0.1", default-features = false, features = ["tracking", "rustls-ring"] }
//! ```
//!
//! Without a TLS feature only `http://` URLs work (the offline sandbox, `cj-sandbox`); an
//! `https://` base URL is then refused when the client is built.
//!
//! ```no_run
//! use cj::tracking::{Mode, OrderCreateRequest, OrderItemInput, NonNegativeDecimalNumber};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = cj::Client::builder()
//!     .token(std::env::var("CJ_TOKEN")?)
//!     .mode(Mode::Test) // `/graphqltest`; Mode::Live posts to production reporting
//!     .build()?;
//!
//! let order = OrderCreateRequest::builder()
//!     .enterprise_id("1234567")
//!     .action_tracker_id(123456)
//!     .order_id("ORD-2024-001234")
//!     .event_time(cj::jiff::Timestamp::now())
//!     .cj_event("7166ddf3b35b11eb834200a10a1eb972")
//!     .currency("USD")
//!     .amount("149.98".parse::<NonNegativeDecimalNumber>()?)
//!     .items(vec![OrderItemInput::builder()
//!         .sku("SKU-BLK-LG")
//!         .unit_price("74.99".parse()?)
//!         .quantity(2)
//!         .build()])
//!     .build();
//!
//! let response = client.orders().create(&[order]).await?;
//! for error in &response.errors {
//!     eprintln!("CJ refused order {:?}: {} ({:?})", error.order_id, error.message, error.fields);
//! }
//! for order in &response.unconfirmed {
//!     eprintln!("not confirmed, safe to resend: {}", order.order_id);
//! }
//! # Ok(()) }
//! ```
//!
//! Every entry point's documentation has an example that runs against `cj-sandbox`, an offline
//! CJ on loopback; against CJ, drop the sandbox and its URL.
//!
//! An order counts as accepted only when CJ's answer returns it: each input order is accepted,
//! refused (a `RequestError` names it) or unconfirmed (see `tracking::TrackingResponse`).
//!
//! Errors are one type, [`Error`], whose [`Error::delivery`] tells whether a failed request
//! never left, was not processed (a 429, a redirect), may have been processed (a timeout, a
//! 5xx, an unreadable answer: safe to resend, CJ deduplicates orders), or was refused. The SDK
//! never follows redirects and reads at most [`DEFAULT_MAX_RESPONSE_BYTES`] of an answer. The
//! token never appears in `Debug`, `Display`, logs or errors.
//!
//! For a field or a query the SDK does not model, [`Client::graphql`] sends a GraphQL document
//! of your own through the same transport.

#![cfg_attr(docsrs, feature(doc_cfg))]
// Links to the APIs a build leaves out cannot resolve: the default build (and docs.rs, with
// every feature) checks them.
#![cfg_attr(
    not(all(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions",
        feature = "advertiser-lookup"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

mod env;

use std::time::Duration;

/// The time crate used for CJ's timestamps.
pub use jiff;
/// The decimal crate used for money.
pub use rust_decimal;

pub use cj_transport::{
    Cause, Credentials, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_USER_AGENT, Delivery, Error,
    GraphQLError, InvalidInput, Problem, RateLimit, RetryPolicy, StatusCode, Transport, Url,
};
pub use env::{EnvError, parse_clock_skew, vars};

/// The GraphQL Tracking API: orders (feature `tracking`).
#[cfg(feature = "tracking")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
pub mod tracking {
    pub use cj_graphql::tracking::*;
}

/// The GraphQL Program Terms API: contracts and commission rates (feature `program-terms`).
#[cfg(feature = "program-terms")]
#[cfg_attr(docsrs, doc(cfg(feature = "program-terms")))]
pub mod program_terms {
    pub use cj_graphql::program_terms::*;
    /// `futures::Stream`, what [`ContractsRequest::stream`] returns, and its extension traits.
    pub use futures_util::{Stream, StreamExt, TryStreamExt};
}

/// The GraphQL Commission Detail API: commissions and their corrections (feature
/// `commissions`).
#[cfg(feature = "commissions")]
#[cfg_attr(docsrs, doc(cfg(feature = "commissions")))]
pub mod commissions {
    pub use cj_graphql::commissions::*;
    /// `futures::Stream`, what [`CommissionsRequest::stream`] returns, and its extension traits.
    pub use futures_util::{Stream, StreamExt, TryStreamExt};
}

/// Reconciling the orders sent with what CJ recorded in Commission Detail (feature
/// `reconcile`).
#[cfg(feature = "reconcile")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconcile")))]
pub mod reconcile {
    pub use cj_graphql::reconcile::*;
}

/// CJ's custom GraphQL scalars (`Instant`, `NonNegativeDecimalNumber`, `Id`, ...) and their
/// parse errors.
#[cfg(any(
    feature = "tracking",
    feature = "program-terms",
    feature = "commissions"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions"
    )))
)]
pub mod scalars {
    pub use cj_graphql::scalars::*;
}

/// The Advertiser Lookup REST API (feature `advertiser-lookup`).
#[cfg(feature = "advertiser-lookup")]
#[cfg_attr(docsrs, doc(cfg(feature = "advertiser-lookup")))]
pub mod advertiser_lookup {
    pub use cj_advertiser_lookup::*;
    /// `futures::Stream`, what [`AdvertiserLookup::stream`] returns, and its extension traits.
    pub use futures_util::{Stream, StreamExt, TryStreamExt};
}

/// A durable order queue that sends in CJ's batches, and ([`queue::relay`]) a durable relay of
/// a publisher's commissions to a partner's postback URL (feature `queue`).
#[cfg(feature = "queue")]
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub mod queue {
    pub use cj_queue::*;
}

/// Which GraphQL API a document of your own goes to, with [`Client::graphql`].
#[cfg(any(
    feature = "tracking",
    feature = "program-terms",
    feature = "commissions"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions"
    )))
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphQLApi {
    /// The Tracking API, at the client's mode's endpoint (`/graphqltest` in test mode,
    /// `/graphql` live).
    #[cfg(feature = "tracking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
    Tracking,
    /// The Program Terms API (`{base}/query`).
    #[cfg(feature = "program-terms")]
    #[cfg_attr(docsrs, doc(cfg(feature = "program-terms")))]
    ProgramTerms,
    /// The Commission Detail API (`{base}/query`), within the client's Commission Detail limit
    /// (shared with [`Client::commissions`]).
    #[cfg(feature = "commissions")]
    #[cfg_attr(docsrs, doc(cfg(feature = "commissions")))]
    Commissions,
}

/// A client for every CJ API, sharing one token, one connection pool and one set of HTTP
/// settings. Cheap to clone.
///
/// Build one with [`Client::builder`], or [`Client::from_env`] for the token and base URLs the
/// `cj` command reads. Against the offline sandbox (`cj-sandbox`, a dev-dependency):
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sandbox = cj_sandbox::Sandbox::start().await?; // CJ's APIs on 127.0.0.1
/// let client = cj::Client::builder()
///     .token("sandbox-token")                          // your personal access token
///     .timeout(std::time::Duration::from_secs(30))
///     .retry(cj::RetryPolicy::none())
///     .tracking_url(sandbox.tracking_url())            // each API's base URL: for tests only
///     .program_terms_url(sandbox.program_terms_url())
///     .commissions_url(sandbox.commissions_url())
///     .advertiser_lookup_url(sandbox.advertiser_lookup_url())
///     .build()?;
/// assert_eq!(client.orders().endpoint().path(), "/tracking/graphqltest"); // test mode
/// println!("{client:?}"); // the token is never printed
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    #[cfg(feature = "tracking")]
    orders: cj_graphql::tracking::Orders,
    #[cfg(feature = "program-terms")]
    program_terms: cj_graphql::program_terms::ProgramTermsApi,
    #[cfg(feature = "commissions")]
    commissions: cj_graphql::commissions::CommissionsApi,
    #[cfg(feature = "advertiser-lookup")]
    advertiser_lookup: cj_advertiser_lookup::AdvertiserLookup,
    #[cfg(feature = "tracking")]
    raw_tracking: cj_graphql::raw::RawGraphQL,
    #[cfg(feature = "program-terms")]
    raw_program_terms: cj_graphql::raw::RawGraphQL,
    #[cfg(feature = "commissions")]
    raw_commissions: cj_graphql::raw::RawGraphQL,
}

impl Client {
    /// Settings for a new client; a token is required.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with the token and the base URLs of the environment, as the `cj` command reads
    /// them: `CJ_TOKEN` (required), and when set `CJ_TRACKING_URL`, `CJ_PROGRAM_TERMS_URL`,
    /// `CJ_COMMISSIONS_URL`, `CJ_ADVERTISER_LOOKUP_URL` and `CJ_CLOCK_SKEW` (`30s`, `5m`; see
    /// [`ClientBuilder::clock_skew`]) (see [`vars`]). Everything else is
    /// the builder's default, test mode included: for more, start from
    /// [`ClientBuilder::with_env`].
    ///
    /// The error names the variable that is missing or invalid, never the token's value.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = cj::Client::from_env()?;
    /// // or, live:
    /// let client = cj::Client::builder()
    ///     .with_env()?
    ///     .mode(cj::tracking::Mode::Live)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Client, EnvError> {
        Client::builder()
            .with_env()?
            .build()
            .map_err(EnvError::Client)
    }

    /// The Tracking API's orders: `create`, `restate`, `cancel`.
    ///
    /// ```
    /// use cj::tracking::{Mode, OrderCreateRequest, OrderItemInput};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = cj_sandbox::Sandbox::start().await?;
    /// let client = cj::Client::builder()
    ///     .token("sandbox-token")
    ///     .mode(Mode::Live) // the sandbox's ledger records live orders only
    ///     .tracking_url(sandbox.tracking_url())
    ///     .build()?;
    ///
    /// let order = OrderCreateRequest::builder()
    ///     .enterprise_id("1234567")
    ///     .action_tracker_id(123456)
    ///     .order_id("ORD-DOC-1")
    ///     .event_time(cj::jiff::Timestamp::now())
    ///     .cj_event("7166ddf3b35b11eb834200a10a1eb972")
    ///     .currency("USD")
    ///     .amount("149.98".parse()?)
    ///     .items(vec![OrderItemInput::builder()
    ///         .sku("SKU-BLK-LG")
    ///         .unit_price("74.99".parse()?)
    ///         .quantity(2)
    ///         .build()])
    ///     .build();
    ///
    /// let response = client.orders().create(&[order]).await?;
    /// assert!(response.is_success());
    /// assert_eq!(response.orders[0].order_id, "ORD-DOC-1");
    /// assert!(sandbox.ledger().order("1234567", 123456, "ORD-DOC-1")?.is_some());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tracking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
    pub fn orders(&self) -> &cj_graphql::tracking::Orders {
        &self.orders
    }

    /// The Program Terms API: `contracts(publisher_id)`.
    ///
    /// ```
    /// use cj::program_terms::TryStreamExt;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = cj_sandbox::Sandbox::start().await?;
    /// let client = cj::Client::builder()
    ///     .token("sandbox-token")
    ///     .program_terms_url(sandbox.program_terms_url())
    ///     .build()?;
    ///
    /// // Every contract of the publisher, 100 a page (CJ's maximum).
    /// let contracts: Vec<_> = client
    ///     .program_terms()
    ///     .contracts("7654321") // the publisher's CID
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// for contract in &contracts {
    ///     println!("{} {} {}", contract.advertiser_id, contract.status, contract.program_terms.name);
    /// }
    /// assert!(!contracts.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// `program_terms::estimate` (with the `tracking` feature) says which of a contract's rates
    /// applies to an order, and how much it pays.
    #[cfg(feature = "program-terms")]
    #[cfg_attr(docsrs, doc(cfg(feature = "program-terms")))]
    pub fn program_terms(&self) -> &cj_graphql::program_terms::ProgramTermsApi {
        &self.program_terms
    }

    /// The Commission Detail API: `advertiser([cids])` and `publisher([cids])`, within CJ's
    /// 200 calls in 5 minutes and 120 at once (shared by every clone of this client).
    ///
    /// ```
    /// use cj::commissions::{Instant, TryStreamExt, fold_actions};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = cj_sandbox::Sandbox::start().await?;
    /// let client = cj::Client::builder()
    ///     .token("sandbox-token")
    ///     .commissions_url(sandbox.commissions_url())
    ///     .build()?;
    ///
    /// // Every record posted in March 2026, through CJ's cursor and 31-day windows.
    /// let records: Vec<_> = client
    ///     .commissions()
    ///     .publisher(["7654321"])
    ///     .since_posting("2026-03-01".parse::<Instant>()?)
    ///     .before_posting("2026-04-01".parse::<Instant>()?)
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// // Each order's current state: its original record with its corrections folded in.
    /// let actions = fold_actions(records)?;
    /// for action in &actions {
    ///     println!("{:?}: {} USD, {}", action.order_id, action.commission_usd, action.status);
    /// }
    /// assert!(!actions.is_empty());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "commissions")]
    #[cfg_attr(docsrs, doc(cfg(feature = "commissions")))]
    pub fn commissions(&self) -> &cj_graphql::commissions::CommissionsApi {
        &self.commissions
    }

    /// A queue of orders sent through this client's [`orders`](Client::orders) in CJ's
    /// batches, in `store` (a [`queue::SqliteStore`] for a durable one); see [`queue`].
    ///
    /// ```
    /// use cj::queue::{MemoryStore, QueueConfig};
    /// use cj::tracking::{Mode, OrderCreateRequest};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = cj_sandbox::Sandbox::start().await?;
    /// let client = cj::Client::builder()
    ///     .token("sandbox-token")
    ///     .mode(Mode::Live)
    ///     .tracking_url(sandbox.tracking_url())
    ///     .build()?;
    /// // In memory here; `client.durable_order_queue(path, config)` keeps orders on disk.
    /// let queue = client.order_queue(MemoryStore::new(), QueueConfig::default());
    ///
    /// let order = OrderCreateRequest::builder()
    ///     .enterprise_id("1234567")
    ///     .action_tracker_id(123456)
    ///     .order_id("ORD-QUEUED-1")
    ///     .event_time(cj::jiff::Timestamp::now())
    ///     .cj_event("7166ddf3b35b11eb834200a10a1eb972")
    ///     .currency("USD")
    ///     .amount("20.00".parse()?)
    ///     .build();
    /// queue.enqueue(order).await?;       // stored; sent at CJ's thresholds...
    /// let report = queue.flush().await?; // ...or now
    /// assert_eq!(report.accepted, 1);
    /// assert!(queue.dead_letters().await?.is_empty());
    /// queue.shutdown(std::time::Duration::from_secs(5)).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "queue")]
    #[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
    pub fn order_queue<S: cj_queue::Store>(
        &self,
        store: S,
        config: cj_queue::QueueConfig,
    ) -> cj_queue::OrderQueue<S> {
        cj_queue::OrderQueue::start(store, self.orders.clone(), config)
    }

    /// A durable queue in the SQLite file at `path` (created when missing), sending through
    /// this client's [`orders`](Client::orders); see [`queue`] and [`Client::order_queue`].
    #[cfg(feature = "queue")]
    #[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
    pub fn durable_order_queue(
        &self,
        path: &std::path::Path,
        config: cj_queue::QueueConfig,
    ) -> Result<cj_queue::OrderQueue<cj_queue::SqliteStore>, cj_queue::QueueError> {
        cj_queue::OrderQueue::open(path, self.orders.clone(), config)
    }

    /// The Advertiser Lookup API: `page(&query)`, `stream(query)`, within CJ's 25 calls a
    /// minute (shared by every clone of this client).
    ///
    /// ```
    /// use cj::advertiser_lookup::{AdvertiserIds, LookupQuery, TryStreamExt};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = cj_sandbox::Sandbox::start().await?;
    /// let client = cj::Client::builder()
    ///     .token("sandbox-token")
    ///     .advertiser_lookup_url(sandbox.advertiser_lookup_url())
    ///     .build()?;
    ///
    /// // The advertisers the publisher (requestor-cid 7654321) has joined, every page.
    /// let query = LookupQuery::new("7654321").advertiser_ids(AdvertiserIds::Joined);
    /// let joined: Vec<_> = client.advertiser_lookup().stream(query).try_collect().await?;
    /// for advertiser in &joined {
    ///     println!("{} {:?}", advertiser.advertiser_id, advertiser.advertiser_name);
    /// }
    /// assert!(!joined.is_empty());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "advertiser-lookup")]
    #[cfg_attr(docsrs, doc(cfg(feature = "advertiser-lookup")))]
    pub fn advertiser_lookup(&self) -> &cj_advertiser_lookup::AdvertiserLookup {
        &self.advertiser_lookup
    }

    /// Sends a GraphQL document of your own to one of CJ's GraphQL APIs, for a field or a query
    /// the SDK does not model, and reads the answer's `data` as `T`: a `serde_json::Value`, or
    /// a type of your own. `variables` is anything `Serialize` (`serde_json::json!({..})`, a
    /// struct, `()` for none).
    ///
    /// It goes through the same transport as every typed call: the same token, timeouts,
    /// retries, limits (Commission Detail's is shared with [`Client::commissions`]) and
    /// redaction, and fails with the same [`Error`]s: [`Error::GraphQL`] when CJ answers with
    /// GraphQL errors (also beside data), [`Error::Http`] for another error status,
    /// [`Error::Decode`] when `data` does not read as `T`.
    ///
    /// ```
    /// use cj::GraphQLApi;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = cj_sandbox::Sandbox::start().await?;
    /// let client = cj::Client::builder()
    ///     .token("sandbox-token")
    ///     .program_terms_url(sandbox.program_terms_url())
    ///     .build()?;
    ///
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Data { publisher: Publisher }
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Publisher { contracts: Contracts }
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Contracts { total_count: u32 }
    ///
    /// let data: Data = client
    ///     .graphql(
    ///         GraphQLApi::ProgramTerms,
    ///         "query($pid: ID!) { publisher { contracts(publisherId: $pid) { totalCount } } }",
    ///         serde_json::json!({ "pid": "7654321" }),
    ///     )
    ///     .await?;
    /// assert!(data.publisher.contracts.total_count > 0);
    ///
    /// // Or untyped:
    /// let value: serde_json::Value = client
    ///     .graphql(GraphQLApi::ProgramTerms, "{ __schema { queryType { name } } }", ())
    ///     .await?;
    /// assert_eq!(value["__schema"]["queryType"]["name"], "Query");
    /// # Ok(()) }
    /// ```
    #[cfg(any(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions"
    ))]
    #[cfg_attr(
        docsrs,
        doc(cfg(any(
            feature = "tracking",
            feature = "program-terms",
            feature = "commissions"
        )))
    )]
    pub async fn graphql<T: serde::de::DeserializeOwned>(
        &self,
        api: GraphQLApi,
        document: &str,
        variables: impl serde::Serialize,
    ) -> Result<T, Error> {
        let raw = match api {
            #[cfg(feature = "tracking")]
            GraphQLApi::Tracking => &self.raw_tracking,
            #[cfg(feature = "program-terms")]
            GraphQLApi::ProgramTerms => &self.raw_program_terms,
            #[cfg(feature = "commissions")]
            GraphQLApi::Commissions => &self.raw_commissions,
        };
        raw.execute(document, &variables).await
    }
}

/// Settings for a [`Client`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    transport: cj_transport::TransportBuilder,
    #[cfg(feature = "tracking")]
    mode: Option<cj_graphql::tracking::Mode>,
    #[cfg(feature = "tracking")]
    tracking_url: Option<String>,
    #[cfg(feature = "tracking")]
    validation: cj_graphql::tracking::Validation,
    #[cfg(feature = "tracking")]
    clock_skew: Option<Duration>,
    #[cfg(feature = "program-terms")]
    program_terms_url: Option<String>,
    #[cfg(feature = "commissions")]
    commissions_url: Option<String>,
    #[cfg(feature = "commissions")]
    commissions_limit: Option<RateLimit>,
    #[cfg(feature = "advertiser-lookup")]
    advertiser_lookup_url: Option<String>,
    #[cfg(feature = "advertiser-lookup")]
    advertiser_lookup_limit: Option<cj_advertiser_lookup::RateLimit>,
}

impl ClientBuilder {
    /// The personal access token (from CJ's developer portal) sent as a Bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.transport = self.transport.credentials(Credentials::token(token));
        self
    }

    /// Other credentials, such as a legacy developer key.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.transport = self.transport.credentials(credentials);
        self
    }

    /// The token and base URLs of the environment (see [`Client::from_env`] and [`vars`]);
    /// a base URL that is not set keeps what the builder has.
    pub fn with_env(self) -> Result<Self, EnvError> {
        env::apply(self, std::env::var)
    }

    /// The longest one attempt may take (default 120 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.timeout(timeout);
        self
    }

    /// The longest connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.transport = self.transport.connect_timeout(timeout);
        self
    }

    /// The `User-Agent` header (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.transport = self.transport.user_agent(user_agent);
        self
    }

    /// The largest answer read (default [`DEFAULT_MAX_RESPONSE_BYTES`], 128 MiB); a larger one
    /// is [`Error::TooLarge`] and is not read further, so memory stays bounded.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.transport = self.transport.max_response_bytes(limit);
        self
    }

    /// When and how often to retry (default: 3 retries, jittered, from 500 ms to 10 s;
    /// [`RetryPolicy::none`] turns it off).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.transport = self.transport.retry(retry);
        self
    }

    /// Test or live mode for orders. Test (`/graphqltest`) is the default: live is never
    /// chosen unless asked for.
    #[cfg(feature = "tracking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
    pub fn mode(mut self, mode: cj_graphql::tracking::Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The Tracking API's base URL (default `https://tracking.api.cj.com`); the mode's path
    /// (`/graphql` or `/graphqltest`) is appended.
    #[cfg(feature = "tracking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
    pub fn tracking_url(mut self, url: impl Into<String>) -> Self {
        self.tracking_url = Some(url.into());
        self
    }

    /// Whether orders are checked before they are sent (default: strict).
    #[cfg(feature = "tracking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
    pub fn validation(mut self, validation: cj_graphql::tracking::Validation) -> Self {
        self.validation = validation;
        self
    }

    /// How far ahead of this host's clock an order's `eventTime` or `updateTime` may be and
    /// still pass validation (default `tracking::DEFAULT_CLOCK_SKEW`, 5 minutes): a host whose
    /// clock runs a little ahead, or an order stamped with `Timestamp::now()` after validation
    /// took its "now", is not refused. CJ still refuses a time in the future by its own clock.
    #[cfg(feature = "tracking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = Some(skew);
        self
    }

    /// The Program Terms API's base URL (default `https://programs.api.cj.com`); `/query` is
    /// appended.
    #[cfg(feature = "program-terms")]
    #[cfg_attr(docsrs, doc(cfg(feature = "program-terms")))]
    pub fn program_terms_url(mut self, url: impl Into<String>) -> Self {
        self.program_terms_url = Some(url.into());
        self
    }

    /// The Commission Detail API's base URL (default `https://commissions.api.cj.com`); `/query`
    /// is appended.
    #[cfg(feature = "commissions")]
    #[cfg_attr(docsrs, doc(cfg(feature = "commissions")))]
    pub fn commissions_url(mut self, url: impl Into<String>) -> Self {
        self.commissions_url = Some(url.into());
        self
    }

    /// The client-side limit on Commission Detail calls (default: CJ's 200 in 5 minutes, 120
    /// at once; see `commissions::rate_limit`).
    #[cfg(feature = "commissions")]
    #[cfg_attr(docsrs, doc(cfg(feature = "commissions")))]
    pub fn commissions_rate_limit(mut self, limit: RateLimit) -> Self {
        self.commissions_limit = Some(limit);
        self
    }

    /// The Advertiser Lookup API's base URL (default `https://advertiser-lookup.api.cj.com`);
    /// `/v2/advertiser-lookup` is appended.
    #[cfg(feature = "advertiser-lookup")]
    #[cfg_attr(docsrs, doc(cfg(feature = "advertiser-lookup")))]
    pub fn advertiser_lookup_url(mut self, url: impl Into<String>) -> Self {
        self.advertiser_lookup_url = Some(url.into());
        self
    }

    /// The client-side limit on Advertiser Lookup calls (default: CJ's 25 a minute).
    #[cfg(feature = "advertiser-lookup")]
    #[cfg_attr(docsrs, doc(cfg(feature = "advertiser-lookup")))]
    pub fn advertiser_lookup_rate_limit(mut self, limit: cj_advertiser_lookup::RateLimit) -> Self {
        self.advertiser_lookup_limit = Some(limit);
        self
    }

    /// Builds the client. Fails, sending nothing, without a token or with a bad URL.
    pub fn build(self) -> Result<Client, Error> {
        let transport = self.transport.build()?;
        #[cfg(feature = "tracking")]
        let orders = {
            use cj_graphql::tracking::{DEFAULT_BASE_URL, Mode, Orders};
            let url = self.tracking_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
            let skew = self
                .clock_skew
                .unwrap_or(cj_graphql::tracking::DEFAULT_CLOCK_SKEW);
            Orders::new(transport.clone(), url, self.mode.unwrap_or(Mode::Test))?
                .with_validation(self.validation)
                .with_clock_skew(skew)
        };
        #[cfg(feature = "program-terms")]
        let program_terms = {
            use cj_graphql::program_terms::{DEFAULT_BASE_URL, ProgramTermsApi};
            let url = self
                .program_terms_url
                .as_deref()
                .unwrap_or(DEFAULT_BASE_URL);
            ProgramTermsApi::new(transport.clone(), url)?
        };
        // One limit for the typed calls and the raw ones: CJ counts calls per token.
        #[cfg(feature = "commissions")]
        let commissions_limit = self
            .commissions_limit
            .unwrap_or_else(cj_graphql::commissions::rate_limit);
        #[cfg(feature = "commissions")]
        let commissions = {
            use cj_graphql::commissions::{CommissionsApi, DEFAULT_BASE_URL};
            let url = self.commissions_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
            CommissionsApi::new(transport.clone(), url)?.with_rate_limit(commissions_limit.clone())
        };
        #[cfg(feature = "advertiser-lookup")]
        let advertiser_lookup = {
            use cj_advertiser_lookup::{AdvertiserLookup, DEFAULT_BASE_URL};
            let url = self
                .advertiser_lookup_url
                .as_deref()
                .unwrap_or(DEFAULT_BASE_URL);
            let lookup = AdvertiserLookup::new(transport.clone(), url)?;
            match self.advertiser_lookup_limit {
                Some(limit) => lookup.with_rate_limit(limit),
                None => lookup,
            }
        };
        #[cfg(any(
            feature = "tracking",
            feature = "program-terms",
            feature = "commissions"
        ))]
        let raw = |endpoint: &Url, api| {
            cj_graphql::raw::RawGraphQL::new(transport.clone(), endpoint.clone(), api)
        };
        let _ = &transport;
        Ok(Client {
            #[cfg(feature = "tracking")]
            raw_tracking: raw(orders.endpoint(), "tracking"),
            #[cfg(feature = "program-terms")]
            raw_program_terms: raw(program_terms.endpoint(), "program-terms"),
            #[cfg(feature = "commissions")]
            raw_commissions: raw(commissions.endpoint(), "commissions")
                .with_rate_limit(commissions_limit),
            #[cfg(feature = "tracking")]
            orders,
            #[cfg(feature = "program-terms")]
            program_terms,
            #[cfg(feature = "commissions")]
            commissions,
            #[cfg(feature = "advertiser-lookup")]
            advertiser_lookup,
        })
    }
}
