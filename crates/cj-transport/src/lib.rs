//! The HTTP transport shared by every CJ Affiliate API client of this SDK.
//!
//! One [`Transport`] carries what every CJ API needs: the credential (kept secret, sent in a
//! header marked sensitive), timeouts, the user agent, bounded and jittered retries, `tracing`
//! spans, and one [`Error`] type that says whether a request was never sent, may have been sent,
//! or was answered with a refusal. Bodies kept in errors are redacted: CJ echoes the key back in
//! some 401 bodies. [`RateLimit`] keeps each API within the call limits CJ documents for it.
//!
//! The API crates (`cj-graphql`, `cj-advertiser-lookup`) build requests and read responses;
//! they never talk to `reqwest` themselves.
//!
//! TLS is a Cargo feature, named as reqwest names its own: `rustls-ring` (the default: rustls
//! with the `ring` provider), `rustls-aws-lc` (rustls with aws-lc, a C build) or `native-tls`
//! (the platform's library); see [`tls`].

#![cfg_attr(docsrs, feature(doc_cfg))]

mod enums;
mod error;
mod limit;
mod redact;
mod retry;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

pub use enums::CjEnum;
pub use error::{Cause, Delivery, Error, GraphQLError, InvalidInput, Problem};
pub use http::{Method, StatusCode};
pub use limit::{Permit, RateLimit};
pub use redact::Redactor;
pub use reqwest::Url;
pub use retry::RetryPolicy;

/// The largest answer read by default: 128 MiB, twice CJ's largest measured answers: a
/// `createOrders` answer for 10,000 orders with every field selected (3 items and 11 vertical
/// parameters each) is 31 MB of compact JSON, and a page of 10,000 Commission Detail records
/// with every field (3 items, 10 vertical attributes each) about 62 MB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;

/// The user agent sent when none is configured.
pub const DEFAULT_USER_AGENT: &str = concat!("cj-rust-sdk/", env!("CARGO_PKG_VERSION"));

/// An API's endpoint: `path` appended to `base_url` (a trailing `/` of the base is dropped).
/// A URL that does not parse is [`Error::Config`], naming the API, and so is an `https` URL in
/// a build without TLS (see [`tls`]).
pub fn endpoint(base_url: &str, path: &str, api: &str) -> Result<Url, Error> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let url =
        Url::parse(&url).map_err(|e| Error::Config(format!("bad {api} URL {base_url:?}: {e}")))?;
    tls::check_scheme(&url, api).map_err(Error::Config)?;
    Ok(url)
}

/// How requests authenticate to CJ.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A personal access token, sent as `Authorization: Bearer <token>` (every current CJ API).
    PersonalAccessToken(SecretString),
    /// A legacy developer key, sent as `Authorization: <key>` (the older REST APIs).
    DeveloperKey(SecretString),
}

impl Credentials {
    /// A personal access token.
    pub fn token(token: impl Into<String>) -> Self {
        Credentials::PersonalAccessToken(SecretString::from(token.into()))
    }

    /// A legacy developer key.
    pub fn developer_key(key: impl Into<String>) -> Self {
        Credentials::DeveloperKey(SecretString::from(key.into()))
    }

    /// Whether [`TransportBuilder::build`] will take these credentials: an error for an empty
    /// secret or one with whitespace or control characters inside (its message never quotes
    /// the secret).
    pub fn check(&self) -> Result<(), Error> {
        self.checked().map(|_| ())
    }

    fn secret(&self) -> &str {
        match self {
            Credentials::PersonalAccessToken(s) | Credentials::DeveloperKey(s) => s.expose_secret(),
        }
    }

    /// The same credentials with surrounding whitespace (a pasted secret's newline) trimmed;
    /// an error for an empty secret or one with whitespace or control characters inside.
    fn checked(&self) -> Result<Credentials, Error> {
        let what = match self {
            Credentials::PersonalAccessToken(_) => "access token",
            Credentials::DeveloperKey(_) => "developer key",
        };
        let secret = self.secret().trim();
        if secret.is_empty() {
            return Err(Error::Config(format!("the {what} is empty")));
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Config(format!(
                "the {what} contains whitespace or control characters inside it; \
                 copy it again from CJ's developer portal"
            )));
        }
        let secret = SecretString::from(secret.to_string());
        Ok(match self {
            Credentials::PersonalAccessToken(_) => Credentials::PersonalAccessToken(secret),
            Credentials::DeveloperKey(_) => Credentials::DeveloperKey(secret),
        })
    }

    fn header_value(&self) -> Result<HeaderValue, Error> {
        let text = match self {
            Credentials::PersonalAccessToken(s) => format!("Bearer {}", s.expose_secret()),
            Credentials::DeveloperKey(s) => s.expose_secret().to_string(),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            Error::Config("the access token contains characters not allowed in a header".into())
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::PersonalAccessToken(_) => f.write_str("PersonalAccessToken([REDACTED])"),
            Credentials::DeveloperKey(_) => f.write_str("DeveloperKey([REDACTED])"),
        }
    }
}

/// Settings of a [`Transport`]; see [`Transport::builder`].
#[derive(Debug, Clone)]
pub struct TransportBuilder {
    credentials: Option<Credentials>,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    max_response_bytes: usize,
}

impl Default for TransportBuilder {
    fn default() -> Self {
        TransportBuilder {
            credentials: None,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            user_agent: DEFAULT_USER_AGENT.to_string(),
            retry: RetryPolicy::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl TransportBuilder {
    /// The credentials sent with every request.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The longest one attempt may take, from connecting to the last byte of the response
    /// (default 120 s: a `createOrders` call of 10,000 orders is large).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// When and how often to retry (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The largest answer read (default [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one is
    /// [`Error::TooLarge`], and reading stops at the limit, so memory stays bounded whatever a
    /// server sends.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Builds the transport. Fails when no credentials were given, or the secret is empty or
    /// has whitespace inside it (surrounding whitespace, such as a pasted newline, is trimmed).
    pub fn build(self) -> Result<Transport, Error> {
        let credentials = self
            .credentials
            .ok_or_else(|| Error::Config("no access token was given".into()))?
            .checked()?;
        let auth_header = credentials.header_value()?;
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::Config("the user agent is not a valid header value".into()))?;
        let http = tls::client_builder()
            .map_err(Error::Config)?
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            // Never follow a redirect: a 301/302 turns a POST into a GET whose empty answer
            // could pass for success, and a 307/308 re-posts the orders and the token to
            // another origin. A 3xx is an error that names its Location.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            inner: Arc::new(Inner {
                http,
                redactor: Redactor::new(credentials.secret()),
                developer_key: matches!(credentials, Credentials::DeveloperKey(_)),
                auth_header,
                user_agent,
                retry: self.retry,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}

/// A request for [`Transport::send`].
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Full URL.
    pub url: Url,
    /// `Content-Type` of the body, if there is one.
    pub content_type: Option<&'static str>,
    /// `Accept` header.
    pub accept: Option<&'static str>,
    /// The body (cheap to clone, for retries).
    pub body: Bytes,
    /// Which API, for tracing (`"tracking"`, ...).
    pub api: &'static str,
    /// Which operation, for tracing (`"createOrders"`, ...).
    pub operation: &'static str,
}

/// A response that [`Transport::send`] got back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    /// The URL that was requested.
    pub url: Url,
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body, with the secret already scrubbed from it (see [`Redactor::scrub`]).
    pub body: Bytes,
    /// How many attempts were made (1 when the first one was answered).
    pub attempts: u32,
}

/// The shared HTTP transport: cheap to clone, one connection pool for every clone.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    developer_key: bool,
    redactor: Redactor,
    auth_header: HeaderValue,
    user_agent: HeaderValue,
    retry: RetryPolicy,
    max_response_bytes: usize,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("credentials", &"[REDACTED]")
            .field("user_agent", &self.inner.user_agent)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// What one attempt ended with.
enum Attempt {
    Answered(Response),
    Failed(Error),
}

impl Transport {
    /// Settings for a new transport.
    pub fn builder() -> TransportBuilder {
        TransportBuilder::default()
    }

    /// Whether requests authenticate with a legacy developer key (not a personal access token).
    pub fn uses_developer_key(&self) -> bool {
        self.inner.developer_key
    }

    /// The redactor holding this transport's secret, for API crates that keep text from CJ.
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// Sends a request, retrying as the [`RetryPolicy`] says on connection failures, timeouts,
    /// 429 and 5xx. Any status that is finally answered is returned as a [`Response`]: the API
    /// crates read error bodies themselves (see [`Response::error_for_status`]).
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let span = tracing::info_span!(
            "cj.http",
            api = request.api,
            operation = request.operation,
            method = %request.method,
            bytes = request.body.len(),
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        async {
            let mut delays = self.inner.retry.delays();
            let mut attempts = 0u32;
            loop {
                attempts += 1;
                let outcome = self.attempt(&request, attempts).await;
                let retry_after = match &outcome {
                    Attempt::Answered(r) if retry::is_retryable_status(r.status) => {
                        Some(retry::retry_after(r.headers.get(RETRY_AFTER)))
                    }
                    Attempt::Failed(e) if e.is_retryable() => Some(None),
                    _ => None,
                };
                if let Some(hint) = retry_after
                    && let Some(delay) = delays.next()
                {
                    let delay =
                        hint.map_or(delay, |h| h.min(self.inner.retry.max_delay).max(delay));
                    tracing::debug!(
                        attempt = attempts,
                        delay_ms = delay.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
                let span = tracing::Span::current();
                span.record("attempts", attempts);
                return match outcome {
                    Attempt::Answered(r) => {
                        span.record("status", r.status.as_u16());
                        Ok(r)
                    }
                    Attempt::Failed(e) => Err(e.with_attempts(attempts)),
                };
            }
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, request: &Request, attempt: u32) -> Attempt {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .header(AUTHORIZATION, self.inner.auth_header.clone())
            .header(USER_AGENT, self.inner.user_agent.clone())
            .body(request.body.clone());
        if let Some(ct) = request.content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        if let Some(accept) = request.accept {
            builder = builder.header(http::header::ACCEPT, accept);
        }
        let url = &request.url;
        let mut response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Failed(Error::from_reqwest(e, url, attempt)),
        };
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers().get(http::header::LOCATION).map(|l| {
                self.inner
                    .redactor
                    .redact(&String::from_utf8_lossy(l.as_bytes()))
            });
            return Attempt::Failed(Error::Redirect {
                status,
                url: url.clone(),
                location,
            });
        }
        let headers = response.headers().clone();
        let limit = self.inner.max_response_bytes;
        let too_large = || {
            Attempt::Failed(Error::TooLarge {
                url: url.clone(),
                limit,
                status,
            })
        };
        let announced = response.content_length();
        if announced.is_some_and(|n| n > limit as u64) {
            return too_large();
        }
        // Read the body chunk by chunk and stop at the limit: memory stays bounded whatever
        // the server sends. An announced length (within the limit) sizes the buffer once.
        let capacity = announced.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
        let mut body = bytes::BytesMut::with_capacity(capacity);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return too_large();
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The request was written and a status came back: the server got it.
                Err(e) => return Attempt::Failed(Error::from_reqwest(e, url, attempt)),
            }
        }
        let body = match self.inner.redactor.scrub(&body) {
            std::borrow::Cow::Borrowed(_) => body.freeze(),
            std::borrow::Cow::Owned(scrubbed) => Bytes::from(scrubbed),
        };
        Attempt::Answered(Response {
            url: url.clone(),
            status,
            headers,
            body,
            attempts: attempt,
        })
    }
}

impl Response {
    /// The body as text, redacted, cut to a size fit for an error message.
    pub fn redacted_body(&self, redactor: &Redactor) -> String {
        redactor.redact_body(&self.body)
    }

    /// [`Error::Http`] for this response, with its redacted body.
    pub fn http_error(&self, redactor: &Redactor) -> Error {
        Error::Http {
            status: self.status,
            url: self.url.clone(),
            body: self.redacted_body(redactor),
            attempts: self.attempts,
        }
    }

    /// `Ok(self)` for a 2xx status, otherwise [`Error::Http`] with the redacted body.
    pub fn error_for_status(self, redactor: &Redactor) -> Result<Response, Error> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.http_error(redactor))
        }
    }
}
