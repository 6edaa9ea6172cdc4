//! The partner's postback URL: a template with `{field}` placeholders naming CJ's record fields.

use std::fmt;

use cj_transport::Url;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// Every scalar field of CJ's `PublisherCommission`, by CJ's names: what a placeholder may name.
pub const FIELDS: &[&str] = &[
    "actionStatus",
    "actionTrackerId",
    "actionTrackerName",
    "actionType",
    "advertiserId",
    "advertiserName",
    "aid",
    "clickDate",
    "clickReferringURL",
    "commissionId",
    "concludingBrowser",
    "concludingDeviceName",
    "concludingDeviceType",
    "correctionReason",
    "country",
    "coupon",
    "eventDate",
    "initiatingBrowser",
    "initiatingDeviceName",
    "initiatingDeviceType",
    "isCrossDevice",
    "lockingDate",
    "lockingMethod",
    "orderDiscountAdvCurrency",
    "orderDiscountOrigCurrency",
    "orderDiscountPubCurrency",
    "orderDiscountUsd",
    "orderId",
    "validationStatus",
    "original",
    "originalActionId",
    "postingDate",
    "pubCommissionAmountPubCurrency",
    "pubCommissionAmountUsd",
    "publisherId",
    "publisherName",
    "reviewedStatus",
    "saleAmountPubCurrency",
    "saleAmountUsd",
    "siteToStoreOffer",
    "source",
    "websiteId",
    "websiteName",
    "shopperId",
];

/// The record's fields that are lists or objects: sent in a POST body, never in a URL.
const STRUCTURED: &[&str] = &["items", "situationDetails", "verticalAttributes"];

/// Fields CJ deprecated and this SDK does not read, with their replacement.
const DEPRECATED: &[(&str, &str)] = &[
    ("sid", "shopperId"),
    ("saleAmountAdvCurrency", "saleAmountPubCurrency"),
];

/// What is percent-encoded in a value: everything but RFC 3986's unreserved characters, so a
/// value is one opaque piece wherever it stands (path or query; a space is `%20`).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A template that is not a usable postback URL. Each names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A placeholder names no field of CJ's publisher commission record.
    #[error("unknown placeholder {{{name}}}: not a field of CJ's publisher commission record{}",
            hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownField {
        /// The name inside the braces.
        name: String,
        /// A likely intended field, if there is one.
        hint: Option<String>,
    },
    /// A placeholder names a list or object field, which has no single value for a URL.
    #[error(
        "placeholder {{{name}}} names a list or object field; only scalar fields fit in a URL (use --method post to send the whole record)"
    )]
    NotScalar {
        /// The field.
        name: String,
    },
    /// A `{` without its `}`, a `}` without its `{`, or an empty or malformed name.
    #[error("malformed placeholder at byte {at}: {message}")]
    Syntax {
        /// Where, in bytes from the start of the template.
        at: usize,
        /// What is wrong.
        message: String,
    },
    /// The template is not an absolute `http` or `https` URL, or a placeholder stands where it
    /// could change the host the postback goes to.
    #[error("not a usable postback URL: {0}")]
    Url(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(&'static str),
}

/// A partner's postback URL, such as
/// `https://partner.example/postback?tx={commissionId}&click={shopperId}&sale={saleAmountPubCurrency}`.
///
/// Each `{field}` names a scalar field of CJ's publisher commission record ([`FIELDS`], CJ's
/// names) and is replaced by the record's value, percent-encoded (every byte but letters,
/// digits and `-._~`; a missing or null value is empty). Placeholders are checked when the
/// template is parsed: an unknown one is [`TemplateError::UnknownField`], naming it. Amounts are
/// CJ's exact decimal text (a correction's are negative), times RFC 3339 in UTC, booleans
/// `true`/`false`.
///
/// `Debug` and `Display` show the URL without its query: a query string may carry the
/// partner's key.
#[derive(Clone, PartialEq, Eq)]
pub struct PostbackTemplate {
    parts: Vec<Part>,
    /// Scheme, host and path (placeholders as written), without the query: safe to print.
    shown: String,
}

impl PostbackTemplate {
    /// Parses a template; see the type's docs.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        let mut at = 0;
        while let Some(i) = rest.find(['{', '}']) {
            text.push_str(&rest[..i]);
            let start = at + i;
            if rest[i..].starts_with('}') {
                return Err(TemplateError::Syntax {
                    at: start,
                    message: "`}` without `{`".into(),
                });
            }
            let after = &rest[i + 1..];
            let Some(end) = after.find('}') else {
                return Err(TemplateError::Syntax {
                    at: start,
                    message: "`{` without `}`".into(),
                });
            };
            let name = &after[..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(TemplateError::Syntax {
                    at: start,
                    message: format!("{{{name}}} is not a field name (letters and digits)"),
                });
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Field(field(name)?));
            rest = &after[end + 1..];
            at = template.len() - rest.len();
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let shown = check_url(&parts)?;
        Ok(PostbackTemplate { parts, shown })
    }

    /// The fields the template uses, in order.
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(*f),
            Part::Text(_) => None,
        })
    }

    /// The URL for one record (a JSON object with CJ's field names).
    pub fn render(&self, record: &Map<String, Value>) -> Result<Url, TemplateError> {
        self.fill(|field| encode(record.get(field).unwrap_or(&Value::Null)))
    }

    /// The URL with each placeholder replaced by `value(field)`.
    fn fill(&self, value: impl Fn(&str) -> String) -> Result<Url, TemplateError> {
        let mut url = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => url.push_str(t),
                Part::Field(f) => url.push_str(&value(f)),
            }
        }
        Url::parse(&url).map_err(|e| TemplateError::Url(format!("{e}")))
    }
}

impl std::str::FromStr for PostbackTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PostbackTemplate::parse(s)
    }
}

impl fmt::Display for PostbackTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PostbackTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<&str> = self.fields().collect();
        f.debug_struct("PostbackTemplate")
            .field("url", &self.shown)
            .field("fields", &fields)
            .finish()
    }
}

/// The field a placeholder names, or why it names none.
fn field(name: &str) -> Result<&'static str, TemplateError> {
    if let Some(f) = FIELDS.iter().find(|f| **f == name) {
        return Ok(f);
    }
    if STRUCTURED.contains(&name) {
        return Err(TemplateError::NotScalar { name: name.into() });
    }
    let hint = DEPRECATED
        .iter()
        .find(|(old, _)| *old == name)
        .map(|(_, new)| format!("CJ deprecated it: use {{{new}}}"))
        .or_else(|| {
            FIELDS
                .iter()
                .find(|f| f.eq_ignore_ascii_case(name))
                .map(|f| format!("did you mean {{{f}}}?"))
        });
    Err(TemplateError::UnknownField {
        name: name.into(),
        hint,
    })
}

/// Checks that the template is an absolute http(s) URL whatever the values, and that no value
/// can change where it goes; returns the part that is safe to print.
fn check_url(parts: &[Part]) -> Result<String, TemplateError> {
    let template = PostbackTemplate {
        parts: parts.to_vec(),
        shown: String::new(),
    };
    let empty = template.fill(|_| String::new())?;
    let filled = template.fill(|_| "x".into())?;
    if !matches!(empty.scheme(), "http" | "https") {
        return Err(TemplateError::Url(format!(
            "the scheme is {:?}; use http or https",
            empty.scheme()
        )));
    }
    if empty.host_str().is_none_or(str::is_empty) {
        return Err(TemplateError::Url("no host".into()));
    }
    let origin = |u: &Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_string),
            u.port(),
        )
    };
    if origin(&empty) != origin(&filled) {
        return Err(TemplateError::Url(
            "a placeholder stands in the scheme, host or port".into(),
        ));
    }
    if !filled.username().is_empty() || filled.password().is_some() {
        return Err(TemplateError::Url(
            "credentials in the URL are not supported".into(),
        ));
    }
    // What is printed: scheme, host and path, placeholders as written; never the query.
    let mut shown = template.fill(|f| format!("{{{f}}}"))?;
    shown.set_query(None);
    shown.set_fragment(None);
    Ok(shown.to_string().replace("%7B", "{").replace("%7D", "}"))
}

/// A JSON value as URL text: strings as they are, numbers and booleans as JSON writes them, null
/// as nothing; percent-encoded.
fn encode(value: &Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    utf8_percent_encode(&text, VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn values_are_percent_encoded_wherever_they_stand() {
        let t = PostbackTemplate::parse(
            "https://partner.example/cb/{orderId}?tx={commissionId}&click={shopperId}&sale={saleAmountPubCurrency}&orig={original}&why={correctionReason}",
        )
        .expect("parses");
        let url = t
            .render(&record(serde_json::json!({
                "orderId": "ORD/1 2",
                "commissionId": "2768459421",
                "shopperId": "a&b=c+d?é#",
                "saleAmountPubCurrency": "-74.99",
                "original": false,
                "correctionReason": null
            })))
            .expect("renders");
        assert_eq!(
            url.as_str(),
            "https://partner.example/cb/ORD%2F1%202?tx=2768459421&click=a%26b%3Dc%2Bd%3F%C3%A9%23&sale=-74.99&orig=false&why="
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_by_name() {
        let err =
            PostbackTemplate::parse("https://p.example/?tx={transactionId}").expect_err("refused");
        assert_eq!(
            err,
            TemplateError::UnknownField {
                name: "transactionId".into(),
                hint: None
            }
        );
        assert!(err.to_string().contains("{transactionId}"), "{err}");
        let err =
            PostbackTemplate::parse("https://p.example/?tx={commissionid}").expect_err("refused");
        assert!(
            err.to_string().contains("did you mean {commissionId}?"),
            "{err}"
        );
        let err = PostbackTemplate::parse("https://p.example/?s={sid}").expect_err("refused");
        assert!(err.to_string().contains("use {shopperId}"), "{err}");
        let err = PostbackTemplate::parse("https://p.example/?i={items}").expect_err("refused");
        assert_eq!(
            err,
            TemplateError::NotScalar {
                name: "items".into()
            }
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for (template, expected) in [
            ("https://p.example/?tx={commissionId", "`{` without `}`"),
            ("https://p.example/?tx=commissionId}", "`}` without `{`"),
            ("https://p.example/?tx={}", "not a field name"),
            ("https://p.example/?tx={order id}", "not a field name"),
            ("ftp://p.example/{orderId}", "use http or https"),
            ("/relative/{orderId}", "not a usable postback URL"),
            (
                "https://{advertiserId}.example/",
                "not a usable postback URL",
            ),
            ("https://p{advertiserId}.example/", "scheme, host or port"),
            ("https://p.example:{aid}/", "not a usable postback URL"),
            ("https://user:pw@p.example/", "credentials"),
        ] {
            let err = PostbackTemplate::parse(template).expect_err("refused");
            assert!(err.to_string().contains(expected), "{template}: {err}");
        }
    }

    #[test]
    fn the_fields_are_every_scalar_field_of_the_record() {
        let record: cj_graphql::commissions::PublisherCommission =
            serde_json::from_value(serde_json::json!({
                "actionStatus": "new", "actionTrackerId": "1", "actionTrackerName": "Sale",
                "actionType": "item_sale", "advertiserId": "1", "advertiserName": "A",
                "commissionId": "1", "eventDate": "2026-01-05T10:00:00Z",
                "lockingDate": "2026-02-10T00:00:00Z", "original": true,
                "originalActionId": "1", "postingDate": "2026-01-05T11:00:00Z",
                "pubCommissionAmountPubCurrency": "1", "pubCommissionAmountUsd": "1",
                "publisherId": "2", "publisherName": "P", "items": [], "situationDetails": []
            }))
            .expect("a record");
        let written = serde_json::to_value(&record).expect("JSON");
        let mut names: Vec<&str> = written
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .filter(|k| !STRUCTURED.contains(k))
            .collect();
        let mut fields = FIELDS.to_vec();
        names.sort_unstable();
        fields.sort_unstable();
        assert_eq!(names, fields);
        assert_eq!(FIELDS.len(), 44);
    }

    #[test]
    fn display_hides_the_query_and_values() {
        let t = PostbackTemplate::parse("https://p.example/cb?key=SECRET&tx={commissionId}")
            .expect("parses");
        assert_eq!(t.to_string(), "https://p.example/cb");
        assert!(!format!("{t:?}").contains("SECRET"));
        let t = PostbackTemplate::parse("https://p.example/cb/{orderId}/x").expect("parses");
        assert_eq!(t.to_string(), "https://p.example/cb/{orderId}/x");
        assert_eq!(t.fields().collect::<Vec<_>>(), ["orderId"]);
    }
}
