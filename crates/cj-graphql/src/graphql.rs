//! Posting a GraphQL document through the shared transport and reading both of its error
//! channels' outer layer: HTTP status and the GraphQL `errors` array.

use bytes::Bytes;
use cj_transport::{Error, GraphQLError, Method, Redactor, Request, Transport, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

/// The GraphQL request body `{"query", "operationName", "variables": {name: value}}`, serialized
/// straight from borrowed input (no copy of 10,000 orders into a generated `Variables`).
#[cfg_attr(
    not(feature = "tracking"),
    allow(dead_code, reason = "Tracking's mutations use it")
)]
pub(crate) struct Body<'a, V: Serialize> {
    pub query: &'static str,
    pub operation_name: &'static str,
    pub variable: &'static str,
    pub value: &'a V,
}

impl<V: Serialize> Serialize for Body<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Vars<'b, V: Serialize>(&'static str, &'b V);
        impl<V: Serialize> Serialize for Vars<'_, V> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(self.0, self.1)?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("query", self.query)?;
        m.serialize_entry("operationName", self.operation_name)?;
        m.serialize_entry("variables", &Vars(self.variable, self.value))?;
        m.end()
    }
}

#[derive(Deserialize)]
struct Envelope<D> {
    data: Option<D>,
    #[serde(default)]
    errors: Option<Vec<GraphQLError>>,
}

/// Data from a GraphQL response, with any GraphQL errors that came beside it.
pub(crate) struct Answer<D> {
    pub data: D,
    pub errors: Vec<GraphQLError>,
}

/// Posts `body` to `url` and reads the response as GraphQL.
///
/// Errors: [`Error::GraphQL`] when CJ sends errors and no data (at any HTTP status),
/// [`Error::Http`] for another error status, [`Error::Decode`] for a body that is not the
/// expected JSON (with the path of the first field that failed).
pub(crate) async fn post<D: DeserializeOwned>(
    transport: &Transport,
    url: &Url,
    api: &'static str,
    operation: &'static str,
    body: Bytes,
) -> Result<Answer<D>, Error> {
    let body = post_raw(transport, url, api, operation, body).await?;
    decode(&body, transport.redactor())
}

/// Posts `body` to `url` and returns the body of a 2xx answer, for the caller to [`decode`];
/// the errors of [`post`] for any other status.
pub(crate) async fn post_raw(
    transport: &Transport,
    url: &Url,
    api: &'static str,
    operation: &'static str,
    body: Bytes,
) -> Result<Bytes, Error> {
    let response = transport
        .send(Request {
            method: Method::POST,
            url: url.clone(),
            content_type: Some("application/json"),
            accept: Some("application/json"),
            body,
            api,
            operation,
        })
        .await?;
    let redactor = transport.redactor();
    // A 404 or 405 is a wrong URL far more often than CJ's refusal: say which URL it was.
    let wrong_url = matches!(response.status.as_u16(), 404 | 405);
    if !response.status.is_success() {
        if !wrong_url
            && let Ok(Envelope::<serde::de::IgnoredAny> {
                errors: Some(errors),
                ..
            }) = serde_json::from_slice(&response.body)
            && !errors.is_empty()
        {
            return Err(Error::GraphQL {
                status: response.status,
                errors: redact_errors(redactor, errors),
            });
        }
        return Err(response.http_error(redactor));
    }
    Ok(response.body)
}

/// Reads the body of a 2xx answer: data with any GraphQL errors beside it, [`Error::GraphQL`]
/// for errors without data, [`Error::Decode`] for anything else.
pub(crate) fn decode<'de, D: Deserialize<'de>>(
    body: &'de [u8],
    redactor: &Redactor,
) -> Result<Answer<D>, Error> {
    let unreadable = |message: String| Error::Decode {
        message: redactor.redact(&message),
        body: redactor.redact_body(body),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let envelope = match Envelope::<D>::deserialize(&mut de) {
        Ok(envelope) => envelope,
        // Read again, tracking the path, only to say where it failed: tracking costs on
        // every field of a large answer.
        Err(plain) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let message = match serde_path_to_error::deserialize::<_, Envelope<D>>(&mut de) {
                Err(e) => format!("at `{}`: {}", e.path(), e.inner()),
                Ok(_) => plain.to_string(),
            };
            return Err(unreadable(message));
        }
    };
    // Text after the JSON value (a second document, garbage) means the answer is not what it
    // seems.
    de.end()
        .map_err(|e| unreadable(format!("after the answer: {e}")))?;
    let errors = redact_errors(redactor, envelope.errors.unwrap_or_default());
    match envelope.data {
        Some(data) => Ok(Answer { data, errors }),
        None if !errors.is_empty() => Err(Error::GraphQL {
            status: cj_transport::StatusCode::OK,
            errors,
        }),
        None => Err(Error::Decode {
            message: "the response has neither data nor errors".into(),
            body: redactor.redact_body(body),
        }),
    }
}

/// GraphQL errors with every string in them redacted (CJ may echo the key in any of them).
pub(crate) fn redact_errors(redactor: &Redactor, errors: Vec<GraphQLError>) -> Vec<GraphQLError> {
    errors
        .into_iter()
        .map(|mut e| {
            e.message = redactor.redact(&e.message);
            if let Some(extensions) = &mut e.extensions {
                redactor.redact_json(extensions);
            }
            for segment in e.path.iter_mut().flatten() {
                redactor.redact_json(segment);
            }
            e
        })
        .collect()
}
