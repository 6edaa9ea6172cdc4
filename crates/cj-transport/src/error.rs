//! The one error type of every CJ API client.

use std::fmt;

use http::StatusCode;
use reqwest::Url;
use serde::{Deserialize, Serialize};

/// Whether a failed request reached CJ, and so whether CJ may have acted on it. This is what
/// decides whether it is safe to send again: for orders it always is, since CJ deduplicates on
/// enterprise id + action tracker + order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Nothing was sent: the input was refused, the client is misconfigured, or no connection
    /// could be made.
    NotSent,
    /// A server answered without processing the request: CJ's rate limit (HTTP 429), or a
    /// redirect. Safe to send again.
    NotProcessed,
    /// The outcome is unknown: CJ may have processed the request (a timeout or lost connection
    /// after it was written, a 5xx such as a gateway's 504, an answer that could not be read).
    /// Safe to send again for orders: CJ deduplicates.
    MaybeSent,
    /// CJ received the request and answered with a refusal (a 4xx, GraphQL errors, an API
    /// error message) or with data that did not add up.
    Answered,
}

/// What caused a transport failure, kept as the error's `source()`.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from any CJ API.
///
/// Its `Display` says what failed at this layer; the cause, when there is one, is its
/// `source()` (print the chain, as `anyhow`'s `{:#}` does, for the whole story).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was refused before anything was sent.
    #[error("invalid input, nothing was sent: {0}")]
    Invalid(InvalidInput),
    /// The client is misconfigured (no token, a bad URL, ...); nothing was sent.
    #[error("configuration error: {0}")]
    Config(String),
    /// No connection could be made; nothing was sent.
    #[error("could not connect to {url}, nothing was sent ({attempts} attempt(s))")]
    Connect {
        /// The URL requested.
        url: Url,
        /// Attempts made.
        attempts: u32,
        /// Why.
        #[source]
        source: Cause,
    },
    /// An attempt timed out; the request may have been sent.
    #[error(
        "timed out waiting for {url}; the outcome is unknown, the request may have been \
         processed ({attempts} attempt(s))"
    )]
    Timeout {
        /// The URL requested.
        url: Url,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed after the request was written; it may have been processed.
    #[error(
        "the connection to {url} failed; the outcome is unknown, the request may have been \
         processed ({attempts} attempt(s))"
    )]
    Interrupted {
        /// The URL requested.
        url: Url,
        /// Attempts made.
        attempts: u32,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A server answered with a redirect. The SDK never follows one: a redirected POST would
    /// either lose its body (301/302) or carry the orders and the token to another origin
    /// (307/308). A redirect means the base URL is wrong (or CJ moved); nothing was processed.
    #[error("HTTP {status} from {url}: redirected to {}; the SDK does not follow redirects, \
             check the base URL", .location.as_deref().unwrap_or("nowhere (no Location header)"))]
    Redirect {
        /// The status (301, 302, 303, 307, 308, ...).
        status: StatusCode,
        /// The URL requested.
        url: Url,
        /// Where the server said to go, if it said.
        location: Option<String>,
    },
    /// The answer was larger than the transport's limit
    /// (`TransportBuilder::max_response_bytes`); it was not read further. The request was
    /// received: what CJ did with it is unknown.
    #[error(
        "the answer from {url} is larger than the limit of {limit} bytes; it was not read, \
         the outcome is unknown"
    )]
    TooLarge {
        /// The URL requested.
        url: Url,
        /// The limit, in bytes.
        limit: usize,
        /// The HTTP status that came with it.
        status: StatusCode,
    },
    /// CJ answered with an HTTP error status. The body is redacted and shortened.
    #[error("HTTP {status} from {url}{}{}", status_hint(*.status), body_part(.body))]
    Http {
        /// The status.
        status: StatusCode,
        /// The URL requested.
        url: Url,
        /// The body, redacted.
        body: String,
        /// Attempts made.
        attempts: u32,
    },
    /// CJ answered with GraphQL errors and no data (`Missing Token`, `Invalid Token`,
    /// `Unauthorized`, schema validation messages, ...).
    #[error("{}: {}", answered(*status), join_messages(errors))]
    GraphQL {
        /// The HTTP status that came with them (CJ sends 200).
        status: StatusCode,
        /// The errors, with their messages redacted.
        errors: Vec<GraphQLError>,
    },
    /// CJ refused the request in an API's own error format (such as Advertiser Lookup's
    /// `<cj-api><error-message>`).
    #[error("{}: {message}", api_answered(*status))]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// CJ's message, redacted.
        message: String,
    },
    /// CJ's pages did not add up: a walk over pages ended with another count than the total CJ
    /// announced, or a cursor did not advance. What was yielded before it is valid.
    #[error("CJ's pages did not add up: {0}")]
    Paging(String),
    /// CJ answered, but the body could not be read. The request was received: what CJ did
    /// with it is unknown.
    #[error("CJ's answer could not be read ({message}); the outcome is unknown")]
    Decode {
        /// What could not be read, and where.
        message: String,
        /// The start of the body, redacted.
        body: String,
    },
}

/// How an answer with CJ's error messages reads: a refusal, unless its status says CJ did not
/// process the request (429) or may have (5xx), which is no refusal.
fn answered(status: StatusCode) -> String {
    if status == StatusCode::TOO_MANY_REQUESTS {
        "CJ did not process the request (HTTP 429: its rate limit)".to_string()
    } else if status.is_server_error() {
        format!("CJ failed to answer the request (HTTP {status})")
    } else {
        "CJ refused the request".to_string()
    }
}

/// [`answered`], with the status of a refusal too (an API's own error format comes with one).
fn api_answered(status: StatusCode) -> String {
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        answered(status)
    } else {
        format!("CJ refused the request (HTTP {status})")
    }
}

fn join_messages(errors: &[GraphQLError]) -> String {
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    messages.join("; ")
}

/// `: body`, or nothing for an empty body.
fn body_part(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 | 405 => " (is the base URL right?)",
        _ => "",
    }
}

impl Error {
    /// Whether the request reached CJ, and whether CJ may have acted on it.
    pub fn delivery(&self) -> Delivery {
        match self {
            Error::Invalid(_) | Error::Config(_) | Error::Connect { .. } => Delivery::NotSent,
            Error::Redirect { .. } => Delivery::NotProcessed,
            Error::Timeout { .. }
            | Error::Interrupted { .. }
            | Error::TooLarge { .. }
            | Error::Decode { .. } => Delivery::MaybeSent,
            // The status decides, whatever the body: a 429 or a 5xx that carries GraphQL
            // errors or an API's error envelope is no refusal.
            Error::Http { status, .. }
            | Error::GraphQL { status, .. }
            | Error::Api { status, .. } => {
                if *status == StatusCode::TOO_MANY_REQUESTS {
                    Delivery::NotProcessed
                } else if status.is_server_error() {
                    Delivery::MaybeSent
                } else {
                    Delivery::Answered
                }
            }
            Error::Paging(_) => Delivery::Answered,
        }
    }

    /// Whether CJ refused the request itself (a 4xx other than 429, GraphQL errors, an API
    /// error message): sending it again unchanged will not help. Everything else (not sent,
    /// not processed, outcome unknown) may be sent again.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Error::Http { .. } | Error::GraphQL { .. } | Error::Api { .. }
        ) && self.delivery() == Delivery::Answered
    }

    /// The HTTP status CJ answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Http { status, .. }
            | Error::GraphQL { status, .. }
            | Error::Api { status, .. }
            | Error::Redirect { status, .. }
            | Error::TooLarge { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the transport retries this failure (connection failures and timeouts).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Timeout { .. } | Error::Interrupted { .. }
        )
    }

    pub(crate) fn with_attempts(mut self, n: u32) -> Self {
        if let Error::Connect { attempts, .. }
        | Error::Timeout { attempts, .. }
        | Error::Interrupted { attempts, .. } = &mut self
        {
            *attempts = n;
        }
        self
    }

    pub(crate) fn from_reqwest(e: reqwest::Error, url: &Url, attempts: u32) -> Self {
        // reqwest's messages name the URL, never a header; the token is only ever in a header.
        let url = url.clone();
        if e.is_builder() {
            Error::Config(format!("cannot build the request: {e}"))
        } else if e.is_connect() {
            Error::Connect {
                url,
                attempts,
                source: Box::new(e),
            }
        } else if e.is_timeout() {
            Error::Timeout { url, attempts }
        } else {
            Error::Interrupted {
                url,
                attempts,
                source: Box::new(e),
            }
        }
    }
}

/// One GraphQL error, as in the `errors` array of a GraphQL response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GraphQLError {
    /// The message (redacted).
    pub message: String,
    /// Where in the response the error happened, if the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<serde_json::Value>>,
    /// Server-specific details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<serde_json::Value>,
}

impl GraphQLError {
    /// A GraphQL error with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        GraphQLError {
            message: message.into(),
            path: None,
            extensions: None,
        }
    }
}

/// Input refused before anything was sent: every problem found, each naming its record and
/// field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    /// Every problem, in input order.
    pub problems: Vec<Problem>,
}

/// One problem with one field of one input record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// What the record is (`"order"`, `"request"`, ...).
    pub kind: &'static str,
    /// The record's position in the input, from 0, when the input is a list.
    pub index: Option<usize>,
    /// The record's own identifier (an `orderId`), when it has one.
    pub id: Option<String>,
    /// The field, with CJ's name and a path into nested lists (`items[2].unitPrice`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// A problem with a field of record `index` of a list.
    pub fn new(
        kind: &'static str,
        index: Option<usize>,
        id: Option<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            kind,
            index,
            id,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        if let Some(i) = self.index {
            write!(f, " {i}")?;
        }
        if let Some(id) = &self.id {
            write!(f, " ({id:?})")?;
        }
        write!(f, ", field `{}`: {}", self.field, self.message)
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidInput {}

impl From<InvalidInput> for Error {
    fn from(e: InvalidInput) -> Self {
        Error::Invalid(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_decides_the_delivery_whatever_the_body() {
        let graphql = |code: u16| Error::GraphQL {
            status: StatusCode::from_u16(code).expect("a status"),
            errors: vec![GraphQLError::new("Service Unavailable")],
        };
        let api = |code: u16| Error::Api {
            status: StatusCode::from_u16(code).expect("a status"),
            message: "Too Many Requests".into(),
        };
        for error in [graphql(503), graphql(504), api(500)] {
            assert_eq!(error.delivery(), Delivery::MaybeSent, "{error:?}");
            assert!(!error.is_refusal(), "{error:?}");
        }
        for error in [graphql(429), api(429)] {
            assert_eq!(error.delivery(), Delivery::NotProcessed, "{error:?}");
            assert!(!error.is_refusal(), "{error:?}");
        }
        for error in [graphql(200), graphql(400), api(401)] {
            assert_eq!(error.delivery(), Delivery::Answered, "{error:?}");
            assert!(error.is_refusal(), "{error:?}");
        }
    }

    /// A 429 or 5xx that carries CJ's messages never reads "CJ refused the request".
    #[test]
    fn the_message_says_what_the_status_means() {
        let graphql = |code: u16, message: &str| Error::GraphQL {
            status: StatusCode::from_u16(code).expect("a status"),
            errors: vec![GraphQLError::new(message)],
        };
        let api = |code: u16| Error::Api {
            status: StatusCode::from_u16(code).expect("a status"),
            message: "a message".into(),
        };
        let texts: Vec<String> = [
            graphql(200, "Invalid Token"),
            graphql(504, "Gateway Timeout"),
            graphql(429, "Too Many Requests"),
            api(401),
            api(503),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            texts,
            [
                "CJ refused the request: Invalid Token",
                "CJ failed to answer the request (HTTP 504 Gateway Timeout): Gateway Timeout",
                "CJ did not process the request (HTTP 429: its rate limit): Too Many Requests",
                "CJ refused the request (HTTP 401 Unauthorized): a message",
                "CJ failed to answer the request (HTTP 503 Service Unavailable): a message",
            ]
        );
    }
}
