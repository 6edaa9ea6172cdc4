//! A GraphQL document of your own, for a field or a query the SDK does not model, sent through
//! the same transport as the typed operations: the same token, retries, limits, redaction and
//! [`Error`]s.

use bytes::Bytes;
use cj_transport::{Error, InvalidInput, Problem, RateLimit, Transport, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// The body `{"query": document, "variables": variables}`, without `variables` when they are
/// `null` (as `()` and `None` write): servers need not take a `null` there.
#[derive(Serialize)]
struct Body<'a> {
    query: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variables: Option<&'a RawValue>,
}

/// One GraphQL endpoint, for documents written by hand. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RawGraphQL {
    transport: Transport,
    endpoint: Url,
    api: &'static str,
    limit: Option<RateLimit>,
}

impl RawGraphQL {
    /// Documents posted to `endpoint` (the API's full URL: `https://commissions.api.cj.com/query`)
    /// through `transport`; `api` names the API in `tracing` spans.
    pub fn new(transport: Transport, endpoint: Url, api: &'static str) -> Self {
        RawGraphQL {
            transport,
            endpoint,
            api,
            limit: None,
        }
    }

    /// Every call waits for `limit` first (share the one of the typed client of the same API:
    /// CJ counts calls per token).
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The URL documents are posted to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Posts `document` with `variables` (any `Serialize`: a `serde_json::json!({..})`, a
    /// struct, or `()` for none) and reads the answer's `data` as `T` (a `serde_json::Value`, or
    /// a type of your own).
    ///
    /// Errors are those of the typed operations: [`Error::GraphQL`] when CJ answers with GraphQL
    /// errors, also beside data (their messages redacted), [`Error::Http`] for another error
    /// status, [`Error::Decode`] when `data` does not read as `T` (with the path of the field),
    /// [`Error::Invalid`] (nothing sent) for variables that cannot be written as JSON, and the
    /// transport's errors after its retries. The token is never in any of them.
    pub async fn execute<T, V>(&self, document: &str, variables: &V) -> Result<T, Error>
    where
        T: DeserializeOwned,
        V: Serialize + ?Sized,
    {
        let invalid = |e: serde_json::Error| {
            let problem = Problem::new("request", None, None, "variables", e.to_string());
            Error::Invalid(InvalidInput {
                problems: vec![problem],
            })
        };
        let variables = serde_json::value::to_raw_value(variables).map_err(invalid)?;
        let body = serde_json::to_vec(&Body {
            query: document,
            variables: Some(&*variables).filter(|v| v.get() != "null"),
        })
        .map_err(invalid)?;
        let _permit = match &self.limit {
            Some(limit) => Some(limit.acquire().await),
            None => None,
        };
        let answer = crate::graphql::post::<T>(
            &self.transport,
            &self.endpoint,
            self.api,
            "graphql",
            Bytes::from(body),
        )
        .await?;
        if !answer.errors.is_empty() {
            return Err(Error::GraphQL {
                status: cj_transport::StatusCode::OK,
                errors: answer.errors,
            });
        }
        Ok(answer.data)
    }
}
