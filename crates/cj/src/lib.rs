//! The Rust SDK for the CJ Affiliate (Commission Junction) APIs.
//!
//! One [`Client`] holds the access token and the HTTP settings shared by every API; each API is
//! behind a Cargo feature:
//!
//! | feature | API | entry point |
//! |---|---|---|
//! | `tracking` (default) | GraphQL Tracking API: create, restate, cancel orders | [`Client::orders`] |
//! | `program-terms` (default) | GraphQL Program Terms API: contracts, rates, which rate applies | [`Client::program_terms`] |
//! | `commissions` (default) | GraphQL Commission Detail API: every commission CJ recorded, corrections folded | [`Client::commissions`] |
//! | `advertiser-lookup` (default) | Advertiser Lookup REST API: advertisers, EPC, default rates | [`Client::advertiser_lookup`] |
//! | `queue` | a durable order queue sending in CJ's batches (SQLite) | [`Client::order_queue`] |
//! | `queue-postgres` | the queue's PostgreSQL store, shared by several instances | `queue::PostgresStore` |
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
//! An order counts as accepted only when CJ's answer returns it: each input order is accepted,
//! refused (a `RequestError` names it) or unconfirmed (see
//! [`tracking::TrackingResponse`]).
//!
//! Errors are one type, [`Error`], whose [`Error::delivery`] tells whether a failed request
//! never left, was not processed (a 429, a redirect), may have been processed (a timeout, a
//! 5xx, an unreadable answer: safe to resend, CJ deduplicates orders), or was refused. The SDK
//! never follows redirects and reads at most [`DEFAULT_MAX_RESPONSE_BYTES`] of an answer. The token never appears in `Debug`,
//! `Display`, logs or errors.

use std::time::Duration;

/// The time crate used for CJ's timestamps.
pub use jiff;
/// The decimal crate used for money.
pub use rust_decimal;

pub use cj_transport::{
    Credentials, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_USER_AGENT, Delivery, Error, GraphQLError,
    InvalidInput, Problem, RateLimit, RetryPolicy, Transport,
};

/// The GraphQL Tracking API: orders (feature `tracking`).
#[cfg(feature = "tracking")]
pub mod tracking {
    pub use cj_graphql::tracking::*;
}

/// The GraphQL Program Terms API: contracts and commission rates (feature `program-terms`).
#[cfg(feature = "program-terms")]
pub mod program_terms {
    pub use cj_graphql::program_terms::*;
    /// `futures::Stream`, what [`ContractsRequest::stream`] returns, and its extension traits.
    pub use futures_util::{Stream, StreamExt, TryStreamExt};
}

/// Reconciling the orders sent with what CJ recorded in Commission Detail (feature
/// `commissions`).
#[cfg(feature = "commissions")]
pub mod reconcile {
    pub use cj_graphql::reconcile::*;
}

/// The GraphQL Commission Detail API: commissions and their corrections (feature
/// `commissions`).
#[cfg(feature = "commissions")]
pub mod commissions {
    pub use cj_graphql::commissions::*;
    /// `futures::Stream`, what [`CommissionsRequest::stream`] returns, and its extension traits.
    pub use futures_util::{Stream, StreamExt, TryStreamExt};
}

/// The Advertiser Lookup REST API (feature `advertiser-lookup`).
#[cfg(feature = "advertiser-lookup")]
pub mod advertiser_lookup {
    pub use cj_advertiser_lookup::*;
    /// `futures::Stream`, what [`AdvertiserLookup::stream`] returns, and its extension traits.
    pub use futures_util::{Stream, StreamExt, TryStreamExt};
}

/// A durable order queue that sends in CJ's batches, and ([`queue::relay`]) a durable relay of
/// a publisher's commissions to a partner's postback URL (feature `queue`).
#[cfg(feature = "queue")]
pub mod queue {
    pub use cj_queue::*;
}

/// A client for every CJ API, sharing one token, one connection pool and one set of HTTP
/// settings. Cheap to clone.
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
}

impl Client {
    /// Settings for a new client; a token is required.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The Tracking API's orders: `create`, `restate`, `cancel`.
    #[cfg(feature = "tracking")]
    pub fn orders(&self) -> &cj_graphql::tracking::Orders {
        &self.orders
    }

    /// The Program Terms API: `contracts(publisher_id)`.
    #[cfg(feature = "program-terms")]
    pub fn program_terms(&self) -> &cj_graphql::program_terms::ProgramTermsApi {
        &self.program_terms
    }

    /// The Commission Detail API: `advertiser([cids])` and `publisher([cids])`, within CJ's
    /// 200 calls in 5 minutes and 120 at once (shared by every clone of this client).
    #[cfg(feature = "commissions")]
    pub fn commissions(&self) -> &cj_graphql::commissions::CommissionsApi {
        &self.commissions
    }

    /// A queue of orders sent through this client's [`orders`](Client::orders) in CJ's
    /// batches, in `store` (a [`queue::SqliteStore`] for a durable one); see [`queue`].
    #[cfg(feature = "queue")]
    pub fn order_queue<S: cj_queue::Store>(
        &self,
        store: S,
        config: cj_queue::QueueConfig,
    ) -> cj_queue::OrderQueue<S> {
        cj_queue::OrderQueue::start(store, self.orders.clone(), config)
    }

    /// A durable queue in the SQLite file at `path` (created when missing), sending through
    /// this client's [`orders`](Client::orders); see [`queue`].
    #[cfg(feature = "queue")]
    pub fn durable_order_queue(
        &self,
        path: &std::path::Path,
        config: cj_queue::QueueConfig,
    ) -> Result<cj_queue::OrderQueue<cj_queue::SqliteStore>, cj_queue::QueueError> {
        cj_queue::OrderQueue::open(path, self.orders.clone(), config)
    }

    /// The Advertiser Lookup API: `page(&query)`, `stream(query)`, within CJ's 25 calls a
    /// minute (shared by every clone of this client).
    #[cfg(feature = "advertiser-lookup")]
    pub fn advertiser_lookup(&self) -> &cj_advertiser_lookup::AdvertiserLookup {
        &self.advertiser_lookup
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

    /// The largest answer read (default [`cj_transport::DEFAULT_MAX_RESPONSE_BYTES`], 128 MiB);
    /// a larger one is [`Error::TooLarge`] and is not read further, so memory stays bounded.
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
    pub fn mode(mut self, mode: cj_graphql::tracking::Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The Tracking API's base URL (default `https://tracking.api.cj.com`); the mode's path
    /// (`/graphql` or `/graphqltest`) is appended.
    #[cfg(feature = "tracking")]
    pub fn tracking_url(mut self, url: impl Into<String>) -> Self {
        self.tracking_url = Some(url.into());
        self
    }

    /// Whether orders are checked before they are sent (default: strict).
    #[cfg(feature = "tracking")]
    pub fn validation(mut self, validation: cj_graphql::tracking::Validation) -> Self {
        self.validation = validation;
        self
    }

    /// The Program Terms API's base URL (default `https://programs.api.cj.com`); `/query` is
    /// appended.
    #[cfg(feature = "program-terms")]
    pub fn program_terms_url(mut self, url: impl Into<String>) -> Self {
        self.program_terms_url = Some(url.into());
        self
    }

    /// The Commission Detail API's base URL (default `https://commissions.api.cj.com`); `/query`
    /// is appended.
    #[cfg(feature = "commissions")]
    pub fn commissions_url(mut self, url: impl Into<String>) -> Self {
        self.commissions_url = Some(url.into());
        self
    }

    /// The client-side limit on Commission Detail calls (default: CJ's 200 in 5 minutes, 120
    /// at once; see `commissions::rate_limit`).
    #[cfg(feature = "commissions")]
    pub fn commissions_rate_limit(mut self, limit: RateLimit) -> Self {
        self.commissions_limit = Some(limit);
        self
    }

    /// The Advertiser Lookup API's base URL (default `https://advertiser-lookup.api.cj.com`);
    /// `/v2/advertiser-lookup` is appended.
    #[cfg(feature = "advertiser-lookup")]
    pub fn advertiser_lookup_url(mut self, url: impl Into<String>) -> Self {
        self.advertiser_lookup_url = Some(url.into());
        self
    }

    /// The client-side limit on Advertiser Lookup calls (default: CJ's 25 a minute).
    #[cfg(feature = "advertiser-lookup")]
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
            Orders::new(transport.clone(), url, self.mode.unwrap_or(Mode::Test))?
                .with_validation(self.validation)
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
        #[cfg(feature = "commissions")]
        let commissions = {
            use cj_graphql::commissions::{CommissionsApi, DEFAULT_BASE_URL};
            let url = self.commissions_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
            let api = CommissionsApi::new(transport.clone(), url)?;
            match self.commissions_limit {
                Some(limit) => api.with_rate_limit(limit),
                None => api,
            }
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
        let _ = &transport;
        Ok(Client {
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
