//! The one error type of every CJ API client.

use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Whether a failed request reached CJ. This is what decides whether it is safe to send again:
/// for orders it always is, since CJ deduplicates on enterprise id + action tracker + order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Nothing was sent: the input was refused, the client is misconfigured, or no connection
    /// could be made.
    NotSent,
    /// The request may have reached CJ: the connection failed or timed out after it was written.
    MaybeSent,
    /// CJ received the request and answered (a refusal, or a body that could not be read).
    Answered,
}

/// An error from any CJ API.
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
    #[error("could not connect, nothing was sent ({attempts} attempt(s)): {message}")]
    Connect {
        /// What went wrong.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// An attempt timed out; the request may have been sent.
    #[error("timed out, the request may have been sent ({attempts} attempt(s))")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed after the request was written; it may have been sent.
    #[error(
        "the connection failed, the request may have been sent ({attempts} attempt(s)): {message}"
    )]
    Interrupted {
        /// What went wrong.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// CJ answered with an HTTP error status. The body is redacted and shortened.
    #[error("HTTP {status} from CJ: {body}")]
    Http {
        /// The status.
        status: StatusCode,
        /// The body, redacted.
        body: String,
        /// Attempts made.
        attempts: u32,
    },
    /// CJ answered with GraphQL errors and no data (`Missing Token`, `Invalid Token`,
    /// `Unauthorized`, schema validation messages, ...).
    #[error("CJ refused the request: {}", join_messages(errors))]
    GraphQL {
        /// The HTTP status that came with them (CJ sends 200).
        status: StatusCode,
        /// The errors, with their messages redacted.
        errors: Vec<GraphQLError>,
    },
    /// CJ refused the request in an API's own error format (such as Advertiser Lookup's
    /// `<cj-api><error-message>`).
    #[error("CJ refused the request (HTTP {status}): {message}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// CJ's message, redacted.
        message: String,
    },
    /// CJ answered, but the body could not be read. The request was received: what CJ did
    /// with it is unknown.
    #[error("CJ's response could not be read: {message}")]
    Decode {
        /// What could not be read, and where.
        message: String,
        /// The start of the body, redacted.
        body: String,
    },
}

fn join_messages(errors: &[GraphQLError]) -> String {
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    messages.join("; ")
}

impl Error {
    /// Whether the request reached CJ.
    pub fn delivery(&self) -> Delivery {
        match self {
            Error::Invalid(_) | Error::Config(_) | Error::Connect { .. } => Delivery::NotSent,
            Error::Timeout { .. } | Error::Interrupted { .. } => Delivery::MaybeSent,
            Error::Http { .. }
            | Error::GraphQL { .. }
            | Error::Api { .. }
            | Error::Decode { .. } => Delivery::Answered,
        }
    }

    /// The HTTP status CJ answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Http { status, .. }
            | Error::GraphQL { status, .. }
            | Error::Api { status, .. } => Some(*status),
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
        | Error::Timeout { attempts }
        | Error::Interrupted { attempts, .. } = &mut self
        {
            *attempts = n;
        }
        self
    }

    pub(crate) fn from_reqwest(e: reqwest::Error, attempts: u32) -> Self {
        // reqwest's messages name the URL, never a header; the token is only ever in a header.
        let message = error_chain(&e);
        if e.is_builder() {
            Error::Config(message)
        } else if e.is_connect() {
            Error::Connect { message, attempts }
        } else if e.is_timeout() {
            Error::Timeout { attempts }
        } else {
            Error::Interrupted { message, attempts }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
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
