//! The partner's side: one HTTP request per record, and what its answer means.
//!
//! A client of its own, never the CJ transport: it carries no credentials at all, so the CJ
//! token cannot reach the partner. Like the transport it never follows a redirect, bounds each
//! attempt with a timeout, and reads at most a few KiB of an answer (only to keep the start of a
//! refusal, redacted with the CJ transport's [`Redactor`]: a partner echoing the token's text
//! never gets it stored or printed).

use std::time::Duration;

use cj_transport::Redactor;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use serde_json::{Map, Value};

use super::template::PostbackTemplate;

/// The most of an answer read: enough for the 2 KiB kept in a dead letter.
const MAX_BODY_READ: usize = 4096;

/// How postbacks are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PostbackMethod {
    /// `GET` the template's URL, filled with the record's values (the default).
    #[default]
    Get,
    /// `POST` the record as JSON, with CJ's field names, to the template's URL (whose
    /// placeholders are filled too).
    Post,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// A 2xx.
    Delivered { status: u16 },
    /// A 408, 429 or 5xx, a timeout, a refused or broken connection: try again later.
    Failed {
        status: Option<u16>,
        reason: String,
        body: Option<String>,
        retry_after: Option<Duration>,
    },
    /// A 3xx: the postback URL is wrong (http to https, a moved endpoint), not the record.
    /// Redirects are not followed; the record waits, and those after it.
    Redirected { status: u16, reason: String },
    /// Any other answer (4xx), or a request that cannot be made: a dead letter.
    Refused {
        status: Option<u16>,
        reason: String,
        body: Option<String>,
    },
}

/// Sends postbacks to the partner.
#[derive(Debug, Clone)]
pub(crate) struct Partner {
    http: reqwest::Client,
    template: PostbackTemplate,
    method: PostbackMethod,
    timeout: Duration,
    redactor: Redactor,
}

impl Partner {
    pub fn new(
        template: PostbackTemplate,
        method: PostbackMethod,
        timeout: Duration,
        connect_timeout: Duration,
        redactor: Redactor,
    ) -> Result<Partner, String> {
        // The TLS backend the build chose for the SDK (with `rustls-ring`, reqwest alone has
        // no crypto provider).
        let http = cj_transport::tls::client_builder()?
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            // A redirect is the postback URL's problem: not followed, the line waits.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the partner's HTTP client: {e}"))?;
        Ok(Partner {
            http,
            template,
            method,
            timeout,
            redactor,
        })
    }

    /// Sends one stored record (CJ's JSON of it).
    pub async fn deliver(&self, payload: &str) -> Attempt {
        let record: Map<String, Value> = match serde_json::from_str(payload) {
            Ok(record) => record,
            Err(e) => {
                return refused(None, format!("the stored record cannot be read: {e}"), None);
            }
        };
        let url = match self.template.render(&record) {
            Ok(url) => url,
            Err(e) => return refused(None, format!("no postback URL for this record: {e}"), None),
        };
        let request = match self.method {
            PostbackMethod::Get => self.http.get(url),
            PostbackMethod::Post => self
                .http
                .post(url)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(payload.to_string()),
        }
        .header(
            USER_AGENT,
            HeaderValue::from_static(concat!("cj-rust-sdk-relay/", env!("CARGO_PKG_VERSION"))),
        );
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return self.failure(e),
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered {
                status: status.as_u16(),
            };
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| self.redactor.redact(&String::from_utf8_lossy(l.as_bytes())));
        let body = self.body(response).await;
        let mut reason = format!("the partner answered HTTP {status}");
        if status.is_redirection() {
            reason.push_str(&format!(
                ", redirecting to {}; redirects are not followed: check the postback URL",
                location.as_deref().unwrap_or("nowhere (no Location)")
            ));
        }
        let code = Some(status.as_u16());
        if status.is_redirection() {
            return Attempt::Redirected {
                status: status.as_u16(),
                reason,
            };
        }
        if retryable(status) {
            Attempt::Failed {
                status: code,
                reason,
                body,
                retry_after,
            }
        } else {
            refused(code, reason, body)
        }
    }

    /// The start of an answer, scrubbed of the CJ token and redacted as CJ's answers are;
    /// `None` when it is empty.
    async fn body(&self, mut response: reqwest::Response) -> Option<String> {
        let mut body = Vec::new();
        while body.len() < MAX_BODY_READ {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY_READ - body.len();
                    body.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
                }
                _ => break,
            }
        }
        (!body.is_empty()).then(|| self.redactor.redact_body(&self.redactor.scrub(&body)))
    }

    fn failure(&self, e: reqwest::Error) -> Attempt {
        // Never the URL: its query may hold the partner's key.
        let reason = if e.is_timeout() {
            format!("the partner did not answer within {:?}", self.timeout)
        } else if e.is_connect() {
            format!("could not connect to the partner: {}", chain(&e))
        } else if e.is_builder() {
            return refused(
                None,
                format!("cannot make the request: {}", chain(&e)),
                None,
            );
        } else {
            format!("the request to the partner failed: {}", chain(&e))
        };
        Attempt::Failed {
            status: None,
            reason,
            body: None,
            retry_after: None,
        }
    }
}

fn refused(status: Option<u16>, reason: String, body: Option<String>) -> Attempt {
    Attempt::Refused {
        status,
        reason,
        body,
    }
}

/// 408, 429 and 5xx say "not now"; other answers will not change by asking again.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429) || status.is_server_error()
}

/// A reqwest error and its causes, without the URL.
fn chain(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    if out.is_empty() {
        out = "no cause given".into();
    }
    out
}
