//! An offline CJ: the Tracking, Program Terms, Advertiser Lookup and Commission Detail APIs on
//! one local port, for integration tests, CI and demos (what stripe-mock is to Stripe).
//!
//! ```no_run
//! # async fn run() -> Result<(), cj_sandbox::SandboxError> {
//! let sandbox = cj_sandbox::Sandbox::start().await?;
//! // Point a client at it:
//! //   tracking:          sandbox.tracking_url()          ({root}/tracking)
//! //   program terms:     sandbox.program_terms_url()     ({root}/programs)
//! //   advertiser lookup: sandbox.advertiser_lookup_url() ({root}/advertiser-lookup)
//! //   commission detail: sandbox.commissions_url()       ({root}/commissions)
//! // and read what the live endpoint recorded with `sandbox.ledger()` or
//! // `GET {root}/sandbox/ledger`. It stops when dropped.
//! # Ok(()) }
//! ```
//!
//! The GraphQL APIs are served from the same `schema/*.graphql` files the SDK is generated
//! from, by a real GraphQL engine (async-graphql): any document is parsed and validated, with
//! variables, fragments, aliases and introspection. Errors come back in CJ's shapes.
//!
//! Commission Detail records are built from the ledger: each order, restate and cancel the
//! live Tracking endpoint records becomes a record (a correction for a restate or cancel) once
//! it is processed, after [`SandboxConfig::processing_delay`]; some orders silently never do
//! ([`SandboxConfig::unprocessed_share`]), as on CJ.

mod commissions;
mod data;
mod faults;
mod graphql;
mod limits;
mod lookup;
mod programs;
mod tracking;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

pub use commissions::{COMMISSION_PAGE_LIMIT, CommissionRules, SANDBOX_PUBLISHER_ID};
pub use data::{
    ActionSeed, AdvertiserSeed, AdvertisersSeed, CategorySeed, CommissionSeed, CommissionsSeed,
    ItemListSeed, ProgramTermsSeed, SeedData, TrackingSeed,
};
pub use faults::{FAULT_HEADER, FaultSpecError, Faults};
pub use limits::Limits;
pub use tracking::{
    LEDGER_PAGE_LIMIT, Ledger, LedgerCounts, LedgerEntry, LedgerError, LedgerEvent, LedgerPage,
    LedgerQuery,
};

/// The Tracking SDL the SDK is generated from.
pub const TRACKING_SDL: &str = include_str!("../../../schema/tracking.graphql");
/// The Program Terms SDL the SDK is generated from.
pub const PROGRAM_TERMS_SDL: &str = include_str!("../../../schema/program_terms.graphql");
/// The Commission Detail SDL the SDK is generated from.
pub const COMMISSION_DETAIL_SDL: &str = include_str!("../../../schema/commission_detail.graphql");

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A seed file could not be read.
    #[error("seed data: {0}")]
    Seed(String),
    /// A schema could not be built.
    #[error("schema: {0}")]
    Schema(String),
    /// The ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// How a sandbox runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// The address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// The port (default 0: any free port).
    pub port: u16,
    /// The data it serves (default: the bundled seed).
    pub data: SeedData,
    /// Tokens it accepts (default: any).
    pub accepted_tokens: Option<HashSet<String>>,
    /// Advertiser Lookup calls per token per minute (default CJ's 25).
    pub lookup_calls_per_minute: usize,
    /// The largest request body (default 110 MB, above CJ's 100 MB batches).
    pub body_limit: usize,
    /// What keeps the sandbox bounded under abuse (see [`Limits`]).
    pub limits: Limits,
    /// The file of the ledger (default none: SQLite's private temporary database, deleted
    /// when the sandbox stops; see [`Ledger`]).
    pub ledger_path: Option<PathBuf>,
    /// The faults the Tracking endpoints play (default none; see [`Faults`]).
    pub faults: Faults,
    /// How live orders become Commission Detail records (see [`CommissionRules`]).
    pub commissions: CommissionRules,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            data: SeedData::bundled(),
            accepted_tokens: None,
            lookup_calls_per_minute: 25,
            body_limit: 110 * 1024 * 1024,
            limits: Limits::default(),
            ledger_path: None,
            faults: Faults::default(),
            commissions: CommissionRules::default(),
        }
    }
}

impl SandboxConfig {
    /// The default configuration.
    pub fn new() -> Self {
        SandboxConfig::default()
    }

    /// Listens on this address.
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Listens on this port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves this data.
    pub fn data(mut self, data: SeedData) -> Self {
        self.data = data;
        self
    }

    /// Serves the seed in `dir` (see [`SeedData::load`]).
    pub fn data_dir(mut self, dir: &Path) -> Result<Self, SandboxError> {
        self.data = SeedData::load(dir)?;
        Ok(self)
    }

    /// Accepts only these tokens; others get `Invalid Token` (GraphQL) or a 401 (REST).
    pub fn accepted_tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.accepted_tokens = Some(tokens.into_iter().map(Into::into).collect());
        self
    }

    /// Advertiser Lookup calls allowed per token per minute.
    pub fn lookup_calls_per_minute(mut self, calls: usize) -> Self {
        self.lookup_calls_per_minute = calls.max(1);
        self
    }

    /// The largest request body, in bytes.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Keeps the ledger in this SQLite file (created if missing; the orders it holds are kept,
    /// so a restarted sandbox still knows them).
    pub fn ledger_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ledger_path = Some(path.into());
        self
    }

    /// Plays these faults on every Tracking request (a request's `X-Sandbox-Fault` header
    /// replaces them for that request).
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

struct App {
    tracking: graphql::Api,
    programs: graphql::Api,
    commissions: graphql::Api,
    ledger: Arc<Ledger>,
    advertisers: data::AdvertisersSeed,
    lookup_limit: lookup::CallLimit,
    tokens: Option<HashSet<String>>,
    faults: faults::FaultState,
}

/// A running sandbox. It stops when dropped.
pub struct Sandbox {
    addr: SocketAddr,
    ledger: Arc<Ledger>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("addr", &self.addr).finish()
    }
}

impl Sandbox {
    /// Starts a sandbox with the default configuration on a free loopback port.
    pub async fn start() -> Result<Sandbox, SandboxError> {
        Sandbox::start_with(SandboxConfig::default()).await
    }

    /// Starts a sandbox.
    pub async fn start_with(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let ledger = Arc::new(Ledger::open(config.ledger_path.as_deref())?);
        let rules = Arc::new(tracking::TrackingRules {
            open_ended: config
                .data
                .tracking
                .open_ended_action_trackers
                .iter()
                .cloned()
                .collect(),
            enterprises: config
                .data
                .tracking
                .enterprises
                .as_ref()
                .map(|e| e.iter().cloned().collect()),
        });
        let tracking = graphql::build(
            TRACKING_SDL,
            &tracking::resolvers(ledger.clone(), rules.clone()),
            &tracking::scalar_checks(),
            &config.limits,
        )
        .map_err(SandboxError::Schema)?
        .stashing(&tracking::ORDER_INPUTS);
        let mut program_scalars: HashMap<&'static str, graphql::ScalarCheck> = HashMap::new();
        program_scalars.insert(
            "ISODateTime",
            |v| matches!(v, async_graphql::Value::String(s) if tracking::parse_time(s).is_some()),
        );
        let programs = graphql::build(
            PROGRAM_TERMS_SDL,
            &programs::resolvers(Arc::new(config.data.program_terms.clone())),
            &program_scalars,
            &config.limits,
        )
        .map_err(SandboxError::Schema)?;
        let commissions = graphql::build(
            COMMISSION_DETAIL_SDL,
            &commissions::resolvers(ledger.clone(), rules, &config, COMMISSION_DETAIL_SDL)?,
            &HashMap::new(),
            &config.limits,
        )
        .map_err(SandboxError::Schema)?;
        let app = Arc::new(App {
            tracking,
            programs,
            commissions,
            ledger: ledger.clone(),
            advertisers: config.data.advertisers.clone(),
            lookup_limit: lookup::CallLimit::new(
                config.lookup_calls_per_minute,
                Duration::from_secs(60),
            ),
            tokens: config.accepted_tokens.clone(),
            faults: faults::FaultState::new(config.faults.clone()),
        });
        let in_flight = Arc::new(limits::InFlight::new(
            config.limits.max_body_bytes_in_flight,
            config.body_limit,
        ));
        let router = router(app, config.body_limit, in_flight);
        let addr = SocketAddr::new(config.bind, config.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(limits::serve(listener, router, config.limits.clone(), rx));
        tracing::info!(%addr, faults = %config.faults, "sandbox listening");
        Ok(Sandbox {
            addr,
            ledger,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Tracking API's base URL (`/graphql` and `/graphqltest` below it).
    pub fn tracking_url(&self) -> String {
        format!("{}/tracking", self.root_url())
    }

    /// The Program Terms API's base URL (`/query` below it).
    pub fn program_terms_url(&self) -> String {
        format!("{}/programs", self.root_url())
    }

    /// The Advertiser Lookup API's base URL (`/v2/advertiser-lookup` below it).
    pub fn advertiser_lookup_url(&self) -> String {
        format!("{}/advertiser-lookup", self.root_url())
    }

    /// The Commission Detail API's base URL (`/query` below it, as `CommissionsApi::new`
    /// appends it).
    pub fn commissions_url(&self) -> String {
        format!("{}/commissions", self.root_url())
    }

    /// What the live Tracking endpoint recorded.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

fn router(app: Arc<App>, body_limit: usize, in_flight: Arc<limits::InFlight>) -> Router {
    // The GraphQL endpoints, where large bodies and answers go, within a budget.
    let graphql = Router::new()
        .route(
            "/tracking/graphql",
            post(tracking_live).fallback(method_not_allowed),
        )
        .route(
            "/tracking/graphqltest",
            post(tracking_test).fallback(method_not_allowed),
        )
        .route(
            "/programs/query",
            post(programs).fallback(method_not_allowed),
        )
        .route(
            "/commissions/query",
            post(commissions).fallback(method_not_allowed),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            in_flight,
            limits::in_flight,
        ));
    Router::new()
        .merge(graphql)
        .route(
            "/advertiser-lookup/v2/advertiser-lookup",
            get(advertiser_lookup).fallback(lookup_method_not_allowed),
        )
        .route("/advertiser-lookup/{*rest}", any(lookup_unknown_path))
        .route("/sandbox/ledger", get(ledger).fallback(method_not_allowed))
        .route("/sandbox/health", get(health).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

async fn tracking_live(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    tracking_request(&app, &headers, body, true).await
}

async fn tracking_test(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    tracking_request(&app, &headers, body, false).await
}

/// Checks the token as CJ does (before anything else), then the body. A refusal is the status
/// and message of a CJ-shaped GraphQL error.
fn authorized_request(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<async_graphql::Request, (StatusCode, String)> {
    match graphql::bearer(headers) {
        Ok(None) => return Err((StatusCode::OK, "Missing Token".into())),
        Err(()) => return Err((StatusCode::OK, "Invalid Token".into())),
        Ok(Some(token)) if app.tokens.as_ref().is_some_and(|t| !t.contains(&token)) => {
            return Err((StatusCode::OK, "Invalid Token".into()));
        }
        Ok(Some(_)) => {}
    }
    let body = body.map_err(|e| (e.status(), e.body_text()))?;
    graphql::parse_request(body).map_err(|m| (StatusCode::BAD_REQUEST, m))
}

/// Answers a Tracking request, with the faults it or the sandbox asks for played around it.
async fn tracking_request(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    live: bool,
) -> Response {
    match app.faults.for_request(headers) {
        Ok(faults) => {
            faults::play(faults, |refusals| {
                tracking_answer(app, headers, body, live, refusals)
            })
            .await
        }
        Err(message) => graphql::error_response(StatusCode::BAD_REQUEST, &message),
    }
}

async fn tracking_answer(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    live: bool,
    refusals: faults::Refusals,
) -> Response {
    let request = match authorized_request(app, headers, body) {
        Ok(r) => r.data(tracking::Live(live)).data(refusals),
        Err((status, message)) => return graphql::error_response(status, &message),
    };
    let (response, http) = graphql::run(&app.tracking, request).await;
    let oversize = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|c| *c == async_graphql::Value::from(tracking::GATEWAY_TIMEOUT))
    });
    if oversize {
        // CJ answers an oversize batch with a gateway timeout, not a GraphQL error.
        return (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout").into_response();
    }
    http
}

async fn programs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    query_answer(&app, &app.programs, &headers, body).await
}

async fn commissions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    query_answer(&app, &app.commissions, &headers, body).await
}

/// Answers a request to a query API, once its token is accepted.
async fn query_answer(
    app: &App,
    api: &graphql::Api,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match authorized_request(app, headers, body) {
        Ok(request) => graphql::run(api, request).await.1,
        Err((status, message)) => graphql::error_response(status, &message),
    }
}

async fn advertiser_lookup(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    lookup::answer(
        &app.advertisers,
        &app.lookup_limit,
        app.tokens.as_ref(),
        &headers,
        query.as_deref(),
    )
}

/// CJ answers an unknown REST path with a 401 and an empty body.
async fn lookup_unknown_path() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

async fn lookup_method_not_allowed() -> Response {
    lookup::envelope(StatusCode::METHOD_NOT_ALLOWED, "Only GET is allowed.")
}

async fn ledger(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    tracking::ledger_page(&app.ledger, query.as_deref())
}

/// Answers as long as the sandbox serves requests (cheaply, unlike the ledger).
async fn health() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn method_not_allowed() -> Response {
    graphql::error_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

async fn not_found() -> Response {
    graphql::error_response(StatusCode::NOT_FOUND, "Not Found")
}
