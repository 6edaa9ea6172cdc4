//! Advertiser Lookup's XML, read into typed records.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

cj_transport::cj_enum! {
    /// An advertiser's standing with CJ (shown for joined advertisers only).
    pub enum AccountStatus {
        /// In good standing and live in the CJ network.
        Active = "Active",
        /// Temporarily deactivated.
        Deactive = "Deactive",
    }
}

/// The publisher's relationship with an advertiser, read case-insensitively (`joined`,
/// `Joined`, `notjoined`, `not-joined`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RelationshipStatus {
    /// `joined`.
    Joined,
    /// `notjoined`.
    NotJoined,
    /// Another value, kept as CJ sent it.
    Unknown(String),
}

impl RelationshipStatus {
    /// The value as CJ writes it.
    pub fn as_str(&self) -> &str {
        match self {
            RelationshipStatus::Joined => "joined",
            RelationshipStatus::NotJoined => "notjoined",
            RelationshipStatus::Unknown(s) => s,
        }
    }
}

impl From<&str> for RelationshipStatus {
    fn from(text: &str) -> Self {
        let folded: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match folded.as_str() {
            "joined" => RelationshipStatus::Joined,
            "notjoined" => RelationshipStatus::NotJoined,
            _ => RelationshipStatus::Unknown(text.to_string()),
        }
    }
}

impl Serialize for RelationshipStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Whether a default rate applies per item or per order (CJ's `type` attribute on `<default>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLevel {
    /// `item-level`.
    ItemLevel,
    /// `order-level`.
    OrderLevel,
    /// Another value, kept as CJ sent it.
    Unknown(String),
}

impl RateLevel {
    fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "item-level" => RateLevel::ItemLevel,
            "order-level" => RateLevel::OrderLevel,
            _ => RateLevel::Unknown(text.to_string()),
        }
    }

    /// The value as CJ writes it.
    pub fn as_str(&self) -> &str {
        match self {
            RateLevel::ItemLevel => "item-level",
            RateLevel::OrderLevel => "order-level",
            RateLevel::Unknown(s) => s,
        }
    }
}

/// What a commission text says: a percentage (`10.00%`) or a fixed amount with its currency
/// (`GBP 50.00`, `USD 1.00`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateValue {
    /// A percentage: `10.00` for `10.00%`.
    Percent(Decimal),
    /// A fixed amount.
    Fixed {
        /// ISO 4217 code.
        currency: String,
        /// The amount.
        amount: Decimal,
    },
    /// A text neither form fits; see [`Rate::raw`].
    Unrecognized,
}

/// A commission rate as Advertiser Lookup shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Rate {
    /// The rate read from the text.
    pub value: RateValue,
    /// Item or order level, when CJ says.
    pub level: Option<RateLevel>,
    /// CJ's text, as sent.
    pub raw: String,
}

impl Rate {
    /// Reads CJ's text (`10.00%`, `GBP 50.00`) with an optional level attribute.
    pub fn parse(text: &str, level: Option<&str>) -> Rate {
        let raw = text.trim();
        let value = if let Some(number) = raw.strip_suffix('%') {
            Decimal::from_str(number.trim()).map_or(RateValue::Unrecognized, RateValue::Percent)
        } else {
            match raw.split_once(char::is_whitespace) {
                Some((currency, amount))
                    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()) =>
                {
                    Decimal::from_str(amount.trim()).map_or(RateValue::Unrecognized, |amount| {
                        RateValue::Fixed {
                            currency: currency.to_ascii_uppercase(),
                            amount,
                        }
                    })
                }
                _ => RateValue::Unrecognized,
            }
        };
        Rate {
            value,
            level: level.map(RateLevel::parse),
            raw: raw.to_string(),
        }
    }
}

impl Serialize for Rate {
    /// `{"type": "percent", "value": "10.00"}`, `{"type": "fixed", "currency": "GBP", "value":
    /// "50.00"}` or `{"type": "unrecognized", "value": "<CJ's text>"}`, plus `"level"` when CJ
    /// gives one.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match &self.value {
            RateValue::Percent(v) => {
                m.serialize_entry("type", "percent")?;
                m.serialize_entry("value", &v.to_string())?;
            }
            RateValue::Fixed { currency, amount } => {
                m.serialize_entry("type", "fixed")?;
                m.serialize_entry("currency", currency)?;
                m.serialize_entry("value", &amount.to_string())?;
            }
            RateValue::Unrecognized => {
                m.serialize_entry("type", "unrecognized")?;
                m.serialize_entry("value", &self.raw)?;
            }
        }
        if let Some(level) = &self.level {
            m.serialize_entry("level", level.as_str())?;
        }
        m.end()
    }
}

/// The rate of one item list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ItemListRate {
    /// Item list id.
    pub id: String,
    /// Item list name.
    pub name: String,
    /// Its rate.
    #[serde(flatten)]
    pub rate: Rate,
}

/// An action's commission: the default rate and the rate of each item list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Commission {
    /// The default rate.
    pub default: Option<Rate>,
    /// Rates of item lists.
    #[serde(rename = "itemlists")]
    pub item_lists: Vec<ItemListRate>,
}

/// An action (what a publisher is paid for) and its commission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Action {
    /// The action's name.
    pub name: Option<String>,
    /// The integration type (`sale`, `advanced sale`, `lead`, ...).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// The action's id.
    pub id: Option<String>,
    /// The commission of the program term in force (joined) or the default one.
    pub commission: Option<Commission>,
}

/// An advertiser's primary category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PrimaryCategory {
    /// The parent category.
    pub parent: Option<String>,
    /// The child category.
    pub child: Option<String>,
}

/// One advertiser record. Elements CJ leaves out are `None` (or empty lists).
///
/// Serialized (for `--output json`) with CJ's element names as keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct Advertiser {
    /// The advertiser's CID.
    pub advertiser_id: String,
    /// Standing with CJ (joined advertisers only).
    pub account_status: Option<AccountStatus>,
    /// 7-day EPC (CJ: "currently defaults to USD"); `None` when absent or not a number.
    pub seven_day_epc: Option<Decimal>,
    /// 3-month EPC; `None` when absent or not a number.
    pub three_month_epc: Option<Decimal>,
    /// Primary website language.
    pub language: Option<String>,
    /// Program name.
    pub advertiser_name: Option<String>,
    /// Program website URL.
    pub program_url: Option<String>,
    /// Joined or not joined.
    pub relationship_status: Option<RelationshipStatus>,
    /// Whether the advertiser has a mobile-supported site or app.
    pub mobile_supported: Option<bool>,
    /// Whether the advertiser is certified for mobile tracking.
    pub mobile_tracking_certified: Option<bool>,
    /// Whether cookieless tracking was used properly over the previous three days.
    pub cookieless_tracking_enabled: Option<bool>,
    /// Network rank.
    pub network_rank: Option<u32>,
    /// Primary category.
    pub primary_category: Option<PrimaryCategory>,
    /// Whether the advertiser offers performance incentives.
    pub performance_incentives: Option<bool>,
    /// Actions with their commissions.
    pub actions: Vec<Action>,
    /// Link types offered.
    pub link_types: Vec<String>,
}

/// One page of results, with CJ's paging attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct LookupPage {
    /// All matching advertisers.
    pub total_matched: u64,
    /// Advertisers on this page.
    pub records_returned: u64,
    /// This page's number, from 1.
    pub page_number: u64,
    /// The advertisers.
    pub advertisers: Vec<Advertiser>,
}

/// A response body that is not Advertiser Lookup's XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong, and where (line and column for malformed XML, the element path otherwise).
    pub message: String,
}

// The wire shapes, as quick-xml's serde reads them.

#[derive(Deserialize)]
struct WireApi {
    advertisers: Option<WireAdvertisers>,
    #[serde(rename = "error-message")]
    error_message: Option<String>,
}

#[derive(Deserialize)]
struct WireAdvertisers {
    #[serde(rename = "@total-matched")]
    total_matched: Option<String>,
    #[serde(rename = "@records-returned")]
    records_returned: Option<String>,
    #[serde(rename = "@page-number")]
    page_number: Option<String>,
    #[serde(default)]
    advertiser: Vec<WireAdvertiser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireAdvertiser {
    advertiser_id: String,
    account_status: Option<String>,
    seven_day_epc: Option<String>,
    three_month_epc: Option<String>,
    language: Option<String>,
    advertiser_name: Option<String>,
    program_url: Option<String>,
    relationship_status: Option<String>,
    mobile_supported: Option<String>,
    mobile_tracking_certified: Option<String>,
    cookieless_tracking_enabled: Option<String>,
    network_rank: Option<String>,
    primary_category: Option<WireCategory>,
    performance_incentives: Option<String>,
    actions: Option<WireActions>,
    link_types: Option<WireLinkTypes>,
}

#[derive(Deserialize)]
struct WireCategory {
    parent: Option<String>,
    child: Option<String>,
}

#[derive(Deserialize)]
struct WireActions {
    #[serde(default)]
    action: Vec<WireAction>,
}

#[derive(Deserialize)]
struct WireAction {
    name: Option<String>,
    #[serde(rename = "type")]
    type_: Option<String>,
    id: Option<String>,
    commission: Option<WireCommission>,
}

#[derive(Deserialize)]
struct WireCommission {
    #[serde(default)]
    itemlist: Vec<WireItemList>,
    default: Option<WireRate>,
}

#[derive(Deserialize)]
struct WireItemList {
    #[serde(rename = "@name", default)]
    name: String,
    #[serde(rename = "@id", default)]
    id: String,
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Deserialize)]
struct WireRate {
    #[serde(rename = "@type")]
    level: Option<String>,
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Deserialize)]
struct WireLinkTypes {
    #[serde(rename = "link-type", default)]
    link_type: Vec<String>,
}

/// What a response body holds: a page, or CJ's `<error-message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Page(LookupPage),
    Error(String),
}

/// Reads a response body.
///
/// CJ's own documentation sample has a bare `&` (`Home & Garden`), which is not well-formed
/// XML. Such an `&`, one that does not start an entity (`&amp;`, `&#38;`, ...), is read as a
/// literal `&`: refusing CJ's own sample would fail real pages for one character, and no other
/// reading of a bare `&` is possible. Anything else that is not well-formed is an error with its
/// line and column.
pub(crate) fn parse(xml: &str) -> Result<Body, ParseError> {
    let xml = escape_bare_ampersands(xml);
    let wire: WireApi = match quick_xml::de::from_str(&xml) {
        Ok(w) => w,
        Err(e) => return Err(locate(&xml, e)),
    };
    if let Some(message) = wire.error_message {
        return Ok(Body::Error(message.trim().to_string()));
    }
    let Some(list) = wire.advertisers else {
        return Err(ParseError {
            message: "the response has neither <advertisers> nor <error-message>".into(),
        });
    };
    let count = |name: &str, value: Option<String>, fallback: u64| -> Result<u64, ParseError> {
        match value {
            None => Ok(fallback),
            Some(v) => v.trim().parse().map_err(|_| ParseError {
                message: format!("<advertisers {name}=\"{v}\"> is not a count"),
            }),
        }
    };
    let returned = list.advertiser.len() as u64;
    Ok(Body::Page(LookupPage {
        total_matched: count("total-matched", list.total_matched, returned)?,
        records_returned: count("records-returned", list.records_returned, returned)?,
        page_number: count("page-number", list.page_number, 1)?,
        advertisers: list.advertiser.into_iter().map(Advertiser::from).collect(),
    }))
}

impl From<WireAdvertiser> for Advertiser {
    fn from(w: WireAdvertiser) -> Self {
        Advertiser {
            advertiser_id: w.advertiser_id.trim().to_string(),
            account_status: w.account_status.map(|s| {
                let Ok(status) = s.trim().parse();
                status
            }),
            seven_day_epc: decimal(w.seven_day_epc),
            three_month_epc: decimal(w.three_month_epc),
            language: text(w.language),
            advertiser_name: text(w.advertiser_name),
            program_url: text(w.program_url),
            relationship_status: w
                .relationship_status
                .map(|s| RelationshipStatus::from(s.trim())),
            mobile_supported: boolean(w.mobile_supported),
            mobile_tracking_certified: boolean(w.mobile_tracking_certified),
            cookieless_tracking_enabled: boolean(w.cookieless_tracking_enabled),
            network_rank: w.network_rank.and_then(|r| r.trim().parse().ok()),
            primary_category: w.primary_category.map(|c| PrimaryCategory {
                parent: text(c.parent),
                child: text(c.child),
            }),
            performance_incentives: boolean(w.performance_incentives),
            actions: w
                .actions
                .map(|a| a.action)
                .unwrap_or_default()
                .into_iter()
                .map(|a| Action {
                    name: text(a.name),
                    type_: text(a.type_),
                    id: text(a.id),
                    commission: a.commission.map(|c| Commission {
                        default: c.default.map(|d| Rate::parse(&d.text, d.level.as_deref())),
                        item_lists: c
                            .itemlist
                            .into_iter()
                            .map(|l| ItemListRate {
                                id: l.id,
                                name: l.name,
                                rate: Rate::parse(&l.text, None),
                            })
                            .collect(),
                    }),
                })
                .collect(),
            link_types: w
                .link_types
                .map(|l| l.link_type)
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.trim().to_string())
                .collect(),
        }
    }
}

fn text(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn decimal(value: Option<String>) -> Option<Decimal> {
    value.and_then(|v| Decimal::from_str(v.trim()).ok())
}

fn boolean(value: Option<String>) -> Option<bool> {
    match value?.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Replaces each `&` that does not start one of XML's entity references by `&amp;`.
fn escape_bare_ampersands(xml: &str) -> Cow<'_, str> {
    let bare = |rest: &str| {
        let end = rest.find(';').filter(|&e| e <= 10);
        let Some(end) = end else { return true };
        let name = &rest[1..end];
        let valid = if let Some(hex) = name.strip_prefix("#x") {
            !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
        } else if let Some(dec) = name.strip_prefix('#') {
            !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit())
        } else {
            // XML predefines only these five; CJ's responses declare no others.
            matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
        };
        !valid
    };
    if !xml.match_indices('&').any(|(i, _)| bare(&xml[i..])) {
        return Cow::Borrowed(xml);
    }
    let mut out = String::with_capacity(xml.len() + 16);
    let mut last = 0;
    for (i, _) in xml.match_indices('&') {
        out.push_str(&xml[last..i]);
        out.push_str(if bare(&xml[i..]) { "&amp;" } else { "&" });
        last = i + 1;
    }
    out.push_str(&xml[last..]);
    Cow::Owned(out)
}

/// An error with its place: the line and column of malformed XML, found by reading the body
/// again with quick-xml's reader (only on this error path).
fn locate(xml: &str, error: quick_xml::DeError) -> ParseError {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                let offset = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
                let (line, column) = line_column(xml, offset);
                return ParseError {
                    message: format!("malformed XML at line {line}, column {column}: {e}"),
                };
            }
        }
    }
    ParseError {
        message: format!("unexpected XML: {error}"),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |n| before.len() - n - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_by_table() {
        let cases: [(&str, Option<&str>, RateValue); 8] = [
            ("10.00%", None, RateValue::Percent(Decimal::new(1000, 2))),
            (" 25% ", None, RateValue::Percent(Decimal::new(25, 0))),
            (
                "GBP 50.00",
                None,
                RateValue::Fixed {
                    currency: "GBP".into(),
                    amount: Decimal::new(5000, 2),
                },
            ),
            (
                "usd 1.00",
                Some("order-level"),
                RateValue::Fixed {
                    currency: "USD".into(),
                    amount: Decimal::new(100, 2),
                },
            ),
            ("USD", None, RateValue::Unrecognized),
            ("ten percent", None, RateValue::Unrecognized),
            ("%", None, RateValue::Unrecognized),
            ("EURO 5", None, RateValue::Unrecognized),
        ];
        for (text, level, value) in cases {
            let rate = Rate::parse(text, level);
            assert_eq!(rate.value, value, "{text}");
            assert_eq!(rate.raw, text.trim());
        }
        assert_eq!(
            Rate::parse("1%", Some("item-level")).level,
            Some(RateLevel::ItemLevel)
        );
    }

    #[test]
    fn bare_ampersands_become_literal_and_entities_stay() {
        assert_eq!(escape_bare_ampersands("Home & Garden"), "Home &amp; Garden");
        assert_eq!(
            escape_bare_ampersands("A &amp; B &#38; C &#x26;"),
            "A &amp; B &#38; C &#x26;"
        );
        assert_eq!(
            escape_bare_ampersands("AT&T;"),
            "AT&amp;T;",
            "only XML's own entities"
        );
        assert_eq!(escape_bare_ampersands("a&"), "a&amp;");
        assert!(matches!(
            escape_bare_ampersands("no ampersand"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn relationship_status_is_read_case_insensitively() {
        for (text, status) in [
            ("joined", RelationshipStatus::Joined),
            ("Joined", RelationshipStatus::Joined),
            ("notjoined", RelationshipStatus::NotJoined),
            ("not-joined", RelationshipStatus::NotJoined),
            ("NOTJOINED", RelationshipStatus::NotJoined),
            ("pending", RelationshipStatus::Unknown("pending".into())),
        ] {
            assert_eq!(RelationshipStatus::from(text), status, "{text}");
        }
    }
}
