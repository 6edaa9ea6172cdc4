//! One order per line of JSON Lines, and why a line is not one: the mistakes people make
//! (a JSON array, pretty-printed JSON, a decimal comma, an order of another kind) are named.

use cj::tracking::{
    NonNegativeDecimalNumber, OrderCancelRequest, OrderCancellationStatus, OrderCreateRequest,
    OrderRestateRequest, OrderStatus,
};
use cj::tracking::{OrderRules, StreamOrder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use serde_path_to_error::{Path, Segment};

/// Which mutation orders go through; each takes its own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `createOrders`.
    Create,
    /// `restateOrders`.
    Restate,
    /// `cancelOrders`.
    Cancel,
}

/// Which order: every kind names it.
const IDS: &[&str] = &["enterpriseId", "actionTrackerId", "orderId"];
/// What an order is: a create or a restatement (which replaces the whole order) says it.
const CONTENT: &[&str] = &[
    "cjEvent",
    "amount",
    "discount",
    "verticalParameters",
    "customParameters",
    "items",
    "coupon",
    "currency",
    "bypassChannel",
];
/// Only a new order says where and when it happened.
const EVENT: &[&str] = &["adId", "promotionalPropertyId", "sid", "eventTime", "ids"];
/// A restatement or a cancellation says when and why the order changed.
const CORRECTION: &[&str] = &["updateTime", "status", "correctionReason"];

impl Kind {
    const ALL: [Kind; 3] = [Kind::Create, Kind::Restate, Kind::Cancel];

    /// The name, as in `cj orders <name>` and `--kind <name>`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Restate => "restate",
            Kind::Cancel => "cancel",
        }
    }

    /// The groups of fields CJ's input type of this kind takes; it refuses any other field.
    fn fields(self) -> &'static [&'static [&'static str]] {
        match self {
            Kind::Create => &[IDS, CONTENT, EVENT],
            Kind::Restate => &[IDS, CONTENT, CORRECTION],
            Kind::Cancel => &[IDS, CORRECTION],
        }
    }

    /// Whether an order of this kind can have `key: value`. A `status` names a state of its
    /// own kind: `Declined` is a cancellation's, `Pending` and `Accepted` a restatement's.
    fn takes(self, key: &str, value: &Value) -> bool {
        let field = self.fields().iter().any(|group| group.contains(&key));
        let foreign: &[&str] = match self {
            Kind::Create => &[],
            Kind::Restate => OrderCancellationStatus::KNOWN,
            Kind::Cancel => OrderStatus::KNOWN,
        };
        field && !(key == "status" && value.as_str().is_some_and(|s| foreign.contains(&s)))
    }

    /// Whether `order` may be of this kind: no field it refuses, and the `updateTime` that
    /// a restatement or a cancellation needs.
    fn fits(self, order: &Map<String, Value>) -> bool {
        let update = self == Kind::Create || order.contains_key("updateTime");
        update && order.iter().all(|(k, v)| self.takes(k, v))
    }
}

/// An order read from a line: CJ's input type of one kind.
pub trait Input: DeserializeOwned + Serialize + OrderRules + StreamOrder {
    /// The kind of order this type is.
    const KIND: Kind;

    /// Whether its `status` is a state of another kind (a restatement `Declined`): the line
    /// is then read again to say which command it is for.
    fn foreign_status(&self) -> bool {
        false
    }
}

impl Input for OrderCreateRequest {
    const KIND: Kind = Kind::Create;
}

impl Input for OrderRestateRequest {
    const KIND: Kind = Kind::Restate;

    fn foreign_status(&self) -> bool {
        let status = self.status.as_ref().and_then(|s| s.unknown());
        status.is_some_and(|s| OrderCancellationStatus::KNOWN.contains(&s))
    }
}

impl Input for OrderCancelRequest {
    const KIND: Kind = Kind::Cancel;

    fn foreign_status(&self) -> bool {
        let status = self.status.as_ref().and_then(|s| s.unknown());
        status.is_some_and(|s| OrderStatus::KNOWN.contains(&s))
    }
}

/// What the reader expects, for messages about a file that is not that.
pub const JSON_LINES: &str = "`cj` reads one order per line (JSON Lines)";

/// One order from one line, or why not (without the line number). `command` is how a person
/// picks another kind, completed by its name (`"cj orders "`).
pub fn parse_line<I: Input>(line: &str, command: &str) -> Result<I, String> {
    // The common case, a valid order of the right kind, at the speed of plain serde; any other
    // line is read again below to say what is wrong with it.
    if let Ok(order) = serde_json::from_str::<I>(line)
        && !order.foreign_status()
    {
        return Ok(order);
    }
    let text = line.trim_start();
    if text.starts_with('[') {
        return Err(format!(
            "a JSON array: {JSON_LINES}; convert it with `jq -c '.[]' file.json`"
        ));
    }
    let value = serde_json::from_str::<Value>(line).ok();
    if let Some(Value::Object(order)) = &value
        && let Some(hint) = wrong_kind(I::KIND, order, command)
    {
        return Err(hint);
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let order = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // `{` alone or unclosed, `"field": ...`, `}`: pretty-printed JSON, read line by line.
        let spread = if text.starts_with('{') {
            e.inner().is_eof()
        } else {
            text.starts_with(['"', '}', ']'])
        };
        if spread {
            return format!(
                "an order spread over several lines (pretty-printed JSON): {JSON_LINES}; \
                 convert it with `jq -c . file.json`"
            );
        }
        if let Some(hint) = bare_decimal_comma(line, e.inner()) {
            return hint;
        }
        let hint = value.as_ref().and_then(|v| decimal_comma(v, e.path()));
        match (e.path().to_string(), hint) {
            (field, Some(hint)) => format!("field `{field}`: {hint}"),
            (field, None) if field == "." => e.inner().to_string(),
            (field, None) => format!("field `{field}`: {}", e.inner()),
        }
    })?;
    de.end().map_err(|e| format!("{e} (one order per line)"))?;
    Ok(order)
}

/// When `order` has a field `kind` refuses and fits another kind: which command to use.
fn wrong_kind(kind: Kind, order: &Map<String, Value>, command: &str) -> Option<String> {
    let mut refused: Vec<&str> = order
        .iter()
        .filter(|(k, v)| !kind.takes(k, v))
        .map(|(k, _)| k.as_str())
        .collect();
    refused.sort_unstable(); // the same field named, whatever order the map keeps
    // The times tell the kinds apart best: name one when it is refused.
    let field = refused
        .iter()
        .find(|k| k.ends_with("Time"))
        .or(refused.first())?;
    let fits: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.fits(order)).collect();
    if fits.is_empty() {
        return None;
    }
    let names: Vec<&str> = fits.iter().map(|k| k.name()).collect();
    let commands: Vec<String> = names.iter().map(|n| format!("`{command}{n}`")).collect();
    Some(format!(
        "field `{field}`: this looks like a {} order: use {}",
        names.join(" or "),
        commands.join(" or ")
    ))
}

/// The advice for a decimal written with a comma (`"12,50"`) where the error points.
fn decimal_comma(order: &Value, path: &Path) -> Option<String> {
    let mut value = order;
    for segment in path {
        value = match segment {
            Segment::Seq { index } => value.get(index)?,
            Segment::Map { key } => value.get(key)?,
            Segment::Enum { .. } | Segment::Unknown => return None,
        };
    }
    let text = value.as_str()?;
    let (units, decimals) = text.split_once(',')?;
    comma_advice(&format!("{text:?}"), units, decimals)
}

/// The advice for a number written with a decimal comma (`"amount": 12,50`), which breaks the
/// JSON itself: serde_json stops at the digits after the comma, taken for a key.
fn bare_decimal_comma(line: &str, e: &serde_json::Error) -> Option<String> {
    let at = e.column().checked_sub(1)?;
    let (before, after) = (line.get(..at)?, line.get(at..)?);
    let decimals_end = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    let decimals = after.get(..decimals_end)?;
    let before = before.trim_end().strip_suffix(',')?.trim_end();
    let key_end = before.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let units = before.get(key_end..)?;
    let key = before.get(..key_end)?.trim_end().strip_suffix(':')?;
    let key = key.trim_end().strip_suffix('"')?;
    let key = key.get(key.rfind('"')? + 1..)?;
    let advice = comma_advice(&format!("{units},{decimals}"), units, decimals)?;
    Some(format!("field `{key}`: {advice}"))
}

/// What to write instead of `written`, a number with a comma between `units` and `decimals`.
fn comma_advice(written: &str, units: &str, decimals: &str) -> Option<String> {
    let dotted = format!("{units}.{decimals}");
    dotted.parse::<NonNegativeDecimalNumber>().ok()?;
    Some(if decimals.len() == 3 {
        // `1,000` may be a thousand: say both.
        format!(
            "{written}: write decimals with a dot and no thousands separator \
             (`{dotted}`, or `{units}{decimals}`)"
        )
    } else {
        format!("{written} has a decimal comma: use a dot (`{dotted}`)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field lists match CJ's input types: each listed field is known to its type, and each
    /// field only other kinds take is refused.
    #[test]
    fn the_field_lists_are_those_of_the_input_types() {
        fn known<I: Input>(field: &str) -> bool {
            let line = format!(r#"{{"{field}": true}}"#);
            let e = serde_json::from_str::<I>(&line).err();
            !e.is_some_and(|e| e.to_string().contains("unknown field"))
        }
        for kind in Kind::ALL {
            for field in [IDS, CONTENT, EVENT, CORRECTION].concat() {
                let listed = kind.fields().iter().any(|group| group.contains(&field));
                let known = match kind {
                    Kind::Create => known::<OrderCreateRequest>(field),
                    Kind::Restate => known::<OrderRestateRequest>(field),
                    Kind::Cancel => known::<OrderCancelRequest>(field),
                };
                assert_eq!(listed, known, "{kind:?} {field}");
            }
        }
    }

    #[test]
    fn a_line_of_its_own_kind_gets_no_kind_hint() {
        let create = r#"{"orderId":"A","eventTime":"2024-01-15T18:08:36Z","amount":"1"}"#;
        let restate = r#"{"orderId":"A","updateTime":"2024-01-20T09:00:00Z","status":"Accepted","amount":"1"}"#;
        let cancel = r#"{"orderId":"A","updateTime":"2024-01-21T10:30:00Z","status":"Declined"}"#;
        for (kind, line) in [
            (Kind::Create, create),
            (Kind::Restate, restate),
            (Kind::Cancel, cancel),
        ] {
            let Ok(Value::Object(order)) = serde_json::from_str(line) else {
                panic!("an object")
            };
            assert_eq!(wrong_kind(kind, &order, "cj orders "), None, "{line}");
        }
    }
}
