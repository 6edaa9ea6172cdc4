//! Advertiser Lookup's XML, read into typed records.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

cj_transport::cj_enum! {
    /// An advertiser's standing with CJ (shown for joined advertisers only), read
    /// case-insensitively (`Active`, `ACTIVE`, ...).
    pub enum AccountStatus {
        /// In good standing and live in the CJ network.
        Active = "Active",
        /// Temporarily deactivated.
        Deactive = "Deactive",
    }
}

impl AccountStatus {
    /// Reads CJ's text in any case; another value is kept, trimmed, as `Unknown`.
    fn read(text: &str) -> Self {
        let text = text.trim();
        let known = AccountStatus::KNOWN.iter().find(|k| same_word(text, k));
        let Ok(status) = known.copied().unwrap_or(text).parse();
        status
    }
}

/// Whether `text` is the word `wire`, ignoring case and anything but ASCII letters and digits
/// (`Joined`, `not-joined`, ` ACTIVE `): how every status word of CJ's is matched.
fn same_word(text: &str, wire: &str) -> bool {
    fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
    }
    folded(text).eq(folded(wire))
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
        if same_word(text, "joined") {
            RelationshipStatus::Joined
        } else if same_word(text, "notjoined") {
            RelationshipStatus::NotJoined
        } else {
            RelationshipStatus::Unknown(text.to_string())
        }
    }
}

impl Serialize for RelationshipStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A figure as CJ reports it for an advertiser: an EPC, the network rank, a yes/no flag.
///
/// CJ writes a word instead of the figure for some advertisers: `New` for a program too new to
/// have EPCs or a rank, `N/A`. Such a word is kept, and kept apart from an element CJ left out
/// (which is `None` in [`Advertiser`]).
///
/// Serialized as the figure when there is one (`"12.33"` for an EPC, `4` for a rank, `true`),
/// otherwise as CJ's text (`"New"`, `"N/A"`, or the text as sent). [`Display`](fmt::Display)
/// writes the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reported<T> {
    /// The figure.
    Value(T),
    /// `New` (in any case): a new program, not measured yet.
    New,
    /// `N/A` (in any case).
    NotAvailable,
    /// Any other text, trimmed, as CJ sent it (`""` for an empty element).
    Other(String),
}

impl<T> Reported<T> {
    /// The figure, when CJ gave one.
    pub fn value(&self) -> Option<&T> {
        match self {
            Reported::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<T: fmt::Display> fmt::Display for Reported<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reported::Value(v) => v.fmt(f),
            Reported::New => f.write_str("New"),
            Reported::NotAvailable => f.write_str("N/A"),
            Reported::Other(text) => f.write_str(text),
        }
    }
}

impl<T: Serialize> Serialize for Reported<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Reported::Value(v) => v.serialize(s),
            Reported::New => s.serialize_str("New"),
            Reported::NotAvailable => s.serialize_str("N/A"),
            Reported::Other(text) => s.serialize_str(text),
        }
    }
}

/// The figures [`Reported`] reads: how each one's text is parsed.
trait Figure: Sized {
    fn read(text: &str) -> Option<Self>;
}

impl Figure for Decimal {
    fn read(text: &str) -> Option<Self> {
        Decimal::from_str(text).ok()
    }
}

impl Figure for u32 {
    fn read(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl Figure for bool {
    fn read(text: &str) -> Option<Self> {
        // CJ writes `true`, `True` and `false`, `False`.
        if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
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
        if same_word(text, "item-level") {
            RateLevel::ItemLevel
        } else if same_word(text, "order-level") {
            RateLevel::OrderLevel
        } else {
            RateLevel::Unknown(text.trim().to_string())
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
///
/// Displayed with its level: `GBP 10.00/order`, `GBP 4.00/item`, `10.00%/item`, `10.00%`.
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

impl fmt::Display for Rate {
    /// `10.00%` or `GBP 50.00` (CJ's text when it is neither), then the level when CJ gives
    /// one: `GBP 10.00/order`, `10.00%/item`, or CJ's own word in brackets for another level.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            RateValue::Percent(p) => write!(f, "{p}%")?,
            RateValue::Fixed { currency, amount } => write!(f, "{currency} {amount}")?,
            RateValue::Unrecognized => f.write_str(&self.raw)?,
        }
        match &self.level {
            None => Ok(()),
            Some(RateLevel::ItemLevel) => f.write_str("/item"),
            Some(RateLevel::OrderLevel) => f.write_str("/order"),
            Some(RateLevel::Unknown(level)) => write!(f, " ({level})"),
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

/// An action's commission: the default rate, the rate of each item list, and any text CJ wrote
/// directly inside `<commission>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Commission {
    /// The default rate (`<default>`).
    pub default: Option<Rate>,
    /// Rates of item lists (`<itemlist>`), in CJ's order.
    #[serde(rename = "itemlists")]
    pub item_lists: Vec<ItemListRate>,
    /// Text written directly inside `<commission>` rather than in a `<default>` or an
    /// `<itemlist>` (`<commission>10.00%</commission>`), read as a rate and kept with its raw
    /// text; pieces around child elements are joined with a space. `None` when there is none.
    /// Serialized as `"text"`, only when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Rate>,
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

/// One advertiser record.
///
/// An element CJ leaves out is `None` (or an empty list); an element CJ sends empty is kept as
/// such: `Some("")` for a text, `Some(Reported::Other(""))` for a figure. Texts are trimmed of
/// the whitespace around them; a CDATA section reads as its exact content, and a bare `&` as a
/// literal `&` (see [`parse_page`](crate::parse_page)).
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
    /// 7-day EPC (CJ: "currently defaults to USD"), or `New`, `N/A`, or CJ's other text.
    pub seven_day_epc: Option<Reported<Decimal>>,
    /// 3-month EPC, or `New`, `N/A`, or CJ's other text.
    pub three_month_epc: Option<Reported<Decimal>>,
    /// Primary website language.
    pub language: Option<String>,
    /// Program name.
    pub advertiser_name: Option<String>,
    /// Program website URL.
    pub program_url: Option<String>,
    /// Joined or not joined.
    pub relationship_status: Option<RelationshipStatus>,
    /// Whether the advertiser has a mobile-supported site or app.
    pub mobile_supported: Option<Reported<bool>>,
    /// Whether the advertiser is certified for mobile tracking.
    pub mobile_tracking_certified: Option<Reported<bool>>,
    /// Whether cookieless tracking was used properly over the previous three days.
    pub cookieless_tracking_enabled: Option<Reported<bool>>,
    /// Network rank (a small number), or `New` for a new program, `N/A`, or CJ's other text.
    pub network_rank: Option<Reported<u32>>,
    /// Primary category.
    pub primary_category: Option<PrimaryCategory>,
    /// Whether the advertiser offers performance incentives.
    pub performance_incentives: Option<Reported<bool>>,
    /// Actions with their commissions.
    pub actions: Vec<Action>,
    /// Link types offered, in CJ's order. Text written directly inside `<link-types>` rather
    /// than in a `<link-type>` is kept as an entry of its own, as CJ wrote it.
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

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
        }
    }
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

/// `<commission>`'s content in document order, text included, so that no text is lost and
/// item lists may come in any order.
#[derive(Deserialize)]
struct WireCommission {
    #[serde(rename = "$value", default)]
    parts: Vec<WireCommissionPart>,
}

#[derive(Deserialize)]
enum WireCommissionPart {
    #[serde(rename = "itemlist")]
    ItemList(WireItemList),
    #[serde(rename = "default")]
    Default(WireRate),
    #[serde(rename = "$text")]
    Text(String),
    #[serde(other)]
    Unknown,
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

/// `<link-types>`'s content in document order, text included.
#[derive(Deserialize)]
struct WireLinkTypes {
    #[serde(rename = "$value", default)]
    parts: Vec<WireLinkTypePart>,
}

#[derive(Deserialize)]
enum WireLinkTypePart {
    #[serde(rename = "link-type")]
    LinkType(String),
    #[serde(rename = "$text")]
    Text(String),
    #[serde(other)]
    Unknown,
}

/// What a response body holds: a page, or CJ's `<error-message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    Page(LookupPage),
    Error(String),
}

/// Reads a response body, whatever its bytes: never panics.
///
/// Bytes that are not UTF-8 read as U+FFFD. CJ's own documentation sample has a bare `&`
/// (`Home & Garden`), which is not well-formed XML: such an `&` is read as a literal `&` (see
/// [`repair_bare_ampersands`]). Anything else that is not well-formed is an error with its line
/// and column.
pub(crate) fn parse(body: &[u8]) -> Result<Body, ParseError> {
    let text = String::from_utf8_lossy(body);
    let xml = repair_bare_ampersands(&text);
    let wire: WireApi = match quick_xml::de::from_str(&xml) {
        Ok(w) => w,
        Err(e) => return Err(locate(&xml, e)),
    };
    if let Some(message) = wire.error_message {
        return Ok(Body::Error(message.trim().to_string()));
    }
    let Some(list) = wire.advertisers else {
        return Err(ParseError::new(
            "the response has neither <advertisers> nor <error-message>",
        ));
    };
    let count = |name: &str, value: Option<String>, fallback: u64| -> Result<u64, ParseError> {
        match value {
            None => Ok(fallback),
            Some(v) => v.trim().parse().map_err(|_| {
                ParseError::new(format!(
                    "<advertisers {name}=\"{}\"> is not a count",
                    excerpt(&v)
                ))
            }),
        }
    };
    let returned = list.advertiser.len() as u64;
    Ok(Body::Page(LookupPage {
        total_matched: count("total-matched", list.total_matched, returned)?,
        records_returned: count("records-returned", list.records_returned, returned)?,
        page_number: count("page-number", list.page_number, 1)?,
        advertisers: list
            .advertiser
            .into_iter()
            .map(advertiser)
            .collect::<Result<_, _>>()?,
    }))
}

fn advertiser(w: WireAdvertiser) -> Result<Advertiser, ParseError> {
    let advertiser_id = w.advertiser_id.trim().to_string();
    let actions = w
        .actions
        .map(|a| a.action)
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            Ok(Action {
                name: text(a.name),
                type_: text(a.type_),
                id: text(a.id),
                commission: a
                    .commission
                    .map(|c| {
                        commission(c).map_err(|e| {
                            ParseError::new(format!(
                                "advertiser {}: {}",
                                excerpt(&advertiser_id),
                                e.message
                            ))
                        })
                    })
                    .transpose()?,
            })
        })
        .collect::<Result<_, ParseError>>()?;
    Ok(Advertiser {
        account_status: w.account_status.as_deref().map(AccountStatus::read),
        seven_day_epc: reported(w.seven_day_epc),
        three_month_epc: reported(w.three_month_epc),
        language: text(w.language),
        advertiser_name: text(w.advertiser_name),
        program_url: text(w.program_url),
        relationship_status: w
            .relationship_status
            .map(|s| RelationshipStatus::from(s.trim())),
        mobile_supported: reported(w.mobile_supported),
        mobile_tracking_certified: reported(w.mobile_tracking_certified),
        cookieless_tracking_enabled: reported(w.cookieless_tracking_enabled),
        network_rank: reported(w.network_rank),
        primary_category: w.primary_category.map(|c| PrimaryCategory {
            parent: text(c.parent),
            child: text(c.child),
        }),
        performance_incentives: reported(w.performance_incentives),
        actions,
        link_types: w
            .link_types
            .map(|l| l.parts)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|part| match part {
                WireLinkTypePart::LinkType(t) | WireLinkTypePart::Text(t) => {
                    Some(t.trim().to_string())
                }
                WireLinkTypePart::Unknown => None,
            })
            .collect(),
        advertiser_id,
    })
}

fn commission(w: WireCommission) -> Result<Commission, ParseError> {
    let mut default = None;
    let mut item_lists = Vec::new();
    let mut texts = Vec::new();
    for part in w.parts {
        match part {
            WireCommissionPart::ItemList(l) => item_lists.push(ItemListRate {
                id: l.id,
                name: l.name,
                rate: Rate::parse(&l.text, None),
            }),
            // Which of two defaults applies is not ours to guess.
            WireCommissionPart::Default(_) if default.is_some() => {
                return Err(ParseError::new("a <commission> has two <default> rates"));
            }
            WireCommissionPart::Default(d) => {
                default = Some(Rate::parse(&d.text, d.level.as_deref()));
            }
            WireCommissionPart::Text(t) if !t.trim().is_empty() => texts.push(t.trim().to_string()),
            WireCommissionPart::Text(_) | WireCommissionPart::Unknown => {}
        }
    }
    Ok(Commission {
        default,
        item_lists,
        text: (!texts.is_empty()).then(|| Rate::parse(&texts.join(" "), None)),
    })
}

/// An element's text, trimmed; an empty element is `Some("")`.
fn text(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string())
}

fn reported<T: Figure>(value: Option<String>) -> Option<Reported<T>> {
    value.map(|v| read_figure(&v))
}

/// The figure, or the word CJ wrote instead.
fn read_figure<T: Figure>(text: &str) -> Reported<T> {
    let text = text.trim();
    if let Some(value) = T::read(text) {
        Reported::Value(value)
    } else if same_word(text, "new") {
        Reported::New
    } else if same_word(text, "n/a") {
        Reported::NotAvailable
    } else {
        Reported::Other(text.to_string())
    }
}

/// At most the first 40 characters of outside text, for an error message.
fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((end, _)) => Cow::Owned(format!("{}...", text.get(..end).unwrap_or_default())),
        None => Cow::Borrowed(text),
    }
}

/// Rewrites each `&` that starts no reference as `&amp;`, in one linear pass.
///
/// A reference is one of XML's five entities (`&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`;
/// CJ's responses declare no others) or a character reference (`&#38;`, `&#x26;`). CDATA
/// sections, comments and processing instructions are copied as they are: an `&` in them is
/// already literal. Each byte is read a bounded number of times, so a body of nothing but `&`
/// costs no more than any other.
fn repair_bare_ampersands(xml: &str) -> Cow<'_, str> {
    // Sections copied untouched: their opening and closing marks.
    const VERBATIM: [(&str, &str); 3] = [("<![CDATA[", "]]>"), ("<!--", "-->"), ("<?", "?>")];
    let mut out = String::new();
    let mut copied = 0; // `xml[..copied]` is in `out` (once anything was rewritten)
    let mut next = 0; // where to look for the next `&` or `<`
    while let Some(rest) = xml.get(next..) {
        let Some(found) = rest.find(['&', '<']) else {
            break;
        };
        let at = next + found;
        let rest = rest.get(found..).unwrap_or_default();
        if let Some(after) = rest.strip_prefix('&') {
            if !starts_reference(after) {
                out.push_str(xml.get(copied..at).unwrap_or_default());
                out.push_str("&amp;");
                copied = at + 1;
            }
            next = at + 1;
        } else {
            next = match VERBATIM.iter().find(|(open, _)| rest.starts_with(open)) {
                // An unclosed section runs to the end, where the XML reader reports it.
                Some((open, close)) => rest
                    .get(open.len()..)
                    .and_then(|inside| inside.find(close))
                    .map_or(xml.len(), |end| at + open.len() + end + close.len()),
                None => at + 1,
            };
        }
    }
    if copied == 0 {
        return Cow::Borrowed(xml);
    }
    out.push_str(xml.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

/// Whether the text after an `&` starts a reference: `amp;` and the other four, `#38;`, `#x26;`.
fn starts_reference(after: &str) -> bool {
    const ENTITIES: [&str; 5] = ["amp;", "lt;", "gt;", "quot;", "apos;"];
    if ENTITIES.iter().any(|e| after.starts_with(e)) {
        return true;
    }
    let (digits, radix) = match after.strip_prefix("#x") {
        Some(hex) => (hex, 16),
        None => match after.strip_prefix('#') {
            Some(dec) => (dec, 10),
            None => return false,
        },
    };
    // Digits are never `&` or `<`, so each is read once more at most: still linear.
    let n = digits.chars().take_while(|c| c.is_digit(radix)).count();
    n > 0 && digits.as_bytes().get(n) == Some(&b';')
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
                return ParseError::new(format!(
                    "malformed XML at line {line}, column {column}: {e}"
                ));
            }
        }
    }
    ParseError::new(format!("unexpected XML: {error}"))
}

/// The 1-based line and column (in characters) of a byte offset, which may fall inside a
/// character.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
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
    fn bare_ampersands_become_literal_and_references_stay() {
        assert_eq!(repair_bare_ampersands("Home & Garden"), "Home &amp; Garden");
        assert_eq!(
            repair_bare_ampersands("A &amp; B &#38; C &#x26; &lt;&gt;&quot;&apos;"),
            "A &amp; B &#38; C &#x26; &lt;&gt;&quot;&apos;"
        );
        assert_eq!(
            repair_bare_ampersands("AT&T; &nbsp; &#; &#x; &#12a; &#X26;"),
            "AT&amp;T; &amp;nbsp; &amp;#; &amp;#x; &amp;#12a; &amp;#X26;",
            "only XML's own entities and well-formed character references"
        );
        assert_eq!(
            repair_bare_ampersands("&#00000000038;"),
            "&#00000000038;",
            "a character reference of any length"
        );
        assert_eq!(repair_bare_ampersands("&a&"), "&amp;a&amp;");
        assert!(matches!(
            repair_bare_ampersands("no ampersand <![CDATA[&]]>"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn cdata_comments_and_processing_instructions_are_left_alone() {
        for verbatim in [
            "<n><![CDATA[Smith & Sons]]></n>",
            "<n><![CDATA[a]]b & <c> ]]></n>",
            "<n><![CDATA[&]]]]><![CDATA[>&]]></n>",
            "<!-- a & b --><n/>",
            "<?xml version=\"1.0\"?><?pi a & b?><n/>",
            "<n><![CDATA[never closed & &",
        ] {
            assert_eq!(repair_bare_ampersands(verbatim), verbatim);
        }
        assert_eq!(
            repair_bare_ampersands("<n>& <![CDATA[&]]> & <!--&--> &</n>"),
            "<n>&amp; <![CDATA[&]]> &amp; <!--&--> &amp;</n>",
            "the text around them is repaired"
        );
        assert_eq!(
            repair_bare_ampersands("<n>a < b & c</n>"),
            "<n>a < b &amp; c</n>",
            "a `<` that opens no section is passed over"
        );
    }

    #[test]
    fn an_ampersand_storm_is_repaired_whole() {
        // 2 MB took 104 s when each `&` searched ahead for a `;`: now it is one pass (see the
        // `ampersand_storm_2mb` bench).
        let storm = "&".repeat(2 << 20);
        assert_eq!(repair_bare_ampersands(&storm), "&amp;".repeat(2 << 20));
        let digits = format!("&#{}", "1".repeat(1 << 20));
        assert_eq!(
            repair_bare_ampersands(&digits.repeat(2)),
            format!("&amp;#{}", "1".repeat(1 << 20)).repeat(2)
        );
    }

    #[test]
    fn status_words_are_read_case_insensitively() {
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
        for (text, status) in [
            ("Active", AccountStatus::Active),
            ("active", AccountStatus::Active),
            (" ACTIVE ", AccountStatus::Active),
            ("deactive", AccountStatus::Deactive),
            ("DEACTIVE", AccountStatus::Deactive),
            ("Suspended", AccountStatus::Unknown("Suspended".into())),
            ("", AccountStatus::Unknown(String::new())),
        ] {
            assert_eq!(AccountStatus::read(text), status, "{text:?}");
        }
        assert_eq!(RateLevel::parse("ORDER-LEVEL"), RateLevel::OrderLevel);
        assert_eq!(
            RateLevel::parse(" per-click "),
            RateLevel::Unknown("per-click".into())
        );
    }

    #[test]
    fn figures_keep_cjs_words_apart_from_numbers() {
        let epc = read_figure::<Decimal>;
        assert_eq!(epc(" 12.33 "), Reported::Value(Decimal::new(1233, 2)));
        assert_eq!(epc("New"), Reported::New);
        assert_eq!(epc("NEW"), Reported::New);
        assert_eq!(epc("N/A"), Reported::NotAvailable);
        assert_eq!(epc("n/a"), Reported::NotAvailable);
        assert_eq!(epc("USD 1.00"), Reported::Other("USD 1.00".into()));
        assert_eq!(epc(""), Reported::Other(String::new()));
        assert_eq!(read_figure::<u32>("4"), Reported::Value(4));
        assert_eq!(read_figure::<u32>("New"), Reported::New);
        assert_eq!(read_figure::<u32>("-1"), Reported::Other("-1".into()));
        assert_eq!(read_figure::<bool>("True"), Reported::Value(true));
        assert_eq!(read_figure::<bool>("N/A"), Reported::NotAvailable);
        assert_eq!(epc("12.30").to_string(), "12.30");
        assert_eq!(epc("new").to_string(), "New");
        assert_eq!(epc("n/a").to_string(), "N/A");
        assert_eq!(epc("pending").value(), None);
    }

    #[test]
    fn a_rate_is_shown_with_its_level() {
        for (text, level, shown) in [
            ("GBP 10.00", Some("order-level"), "GBP 10.00/order"),
            ("GBP 4.00", Some("item-level"), "GBP 4.00/item"),
            ("10.00%", Some("item-level"), "10.00%/item"),
            ("10.00%", None, "10.00%"),
            ("usd 1.5", None, "USD 1.5"),
            ("5.00%", Some("per-click"), "5.00% (per-click)"),
            ("see program terms", None, "see program terms"),
        ] {
            assert_eq!(Rate::parse(text, level).to_string(), shown, "{text}");
        }
    }

    #[test]
    fn an_error_place_inside_a_character_is_found() {
        assert_eq!(line_column("é\nab", 1), (1, 1));
        assert_eq!(line_column("é\nab", 4), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
