//! CJ's custom GraphQL scalars, as Rust types.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// CJ's `Instant`: a point in time in UTC.
///
/// Written as RFC 3339 with `Z` (`2024-01-15T18:08:36.089Z`). Read from every form CJ documents:
/// with `Z`, with an offset (`1970-03-27T12:13:14-05:00`, converted to UTC) or a bare date
/// (`1970-03-27`, taken as midnight UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(jiff::Timestamp);

impl Instant {
    /// The current time.
    pub fn now() -> Self {
        Instant(jiff::Timestamp::now())
    }

    /// The time as a `jiff::Timestamp`.
    pub fn timestamp(self) -> jiff::Timestamp {
        self.0
    }
}

impl From<jiff::Timestamp> for Instant {
    fn from(t: jiff::Timestamp) -> Self {
        Instant(t)
    }
}

impl From<Instant> for jiff::Timestamp {
    fn from(i: Instant) -> Self {
        i.0
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // jiff writes timestamps in UTC with `Z`, with only the fraction digits needed.
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({})", self.0)
    }
}

/// A text that is not one of the `Instant` forms CJ documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time with `Z` or an offset, nor a date (YYYY-MM-DD)")]
pub struct InvalidInstant(String);

impl FromStr for Instant {
    type Err = InvalidInstant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(t) = s.parse::<jiff::Timestamp>() {
            return Ok(Instant(t));
        }
        if s.len() == 10
            && let Ok(d) = s.parse::<jiff::civil::Date>()
            && let Ok(z) = d.to_zoned(jiff::tz::TimeZone::UTC)
        {
            return Ok(Instant(z.timestamp()));
        }
        Err(InvalidInstant(s.to_string()))
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Instant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 time with `Z` or an offset, or a date")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Instant, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// CJ's `NonNegativeDecimalNumber`: a `Decimal` that is never negative, sent as a JSON string
/// matching `[0-9]+(\.[0-9]+)?` (`"149.98"`).
///
/// A negative value is refused when one is made. Read from a JSON string or a JSON number,
/// exactly (never through `f64`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NonNegativeDecimalNumber(Decimal);

/// A negative amount, refused as a `NonNegativeDecimalNumber`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is negative; CJ takes amounts of zero or more")]
pub struct NegativeDecimal(pub Decimal);

/// A text that is not a non-negative decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a non-negative decimal number (digits, optionally a dot and more digits)")]
pub struct InvalidDecimal(String);

impl NonNegativeDecimalNumber {
    /// Zero.
    pub const ZERO: NonNegativeDecimalNumber = NonNegativeDecimalNumber(Decimal::ZERO);

    /// The value, or an error if it is negative.
    pub fn new(value: Decimal) -> Result<Self, NegativeDecimal> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(NegativeDecimal(value));
        }
        let mut value = value;
        value.set_sign_positive(true); // `-0.00` is written `0.00`
        Ok(NonNegativeDecimalNumber(value))
    }

    /// The value.
    pub fn get(self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for NonNegativeDecimalNumber {
    type Error = NegativeDecimal;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        NonNegativeDecimalNumber::new(value)
    }
}

impl From<u32> for NonNegativeDecimalNumber {
    fn from(value: u32) -> Self {
        NonNegativeDecimalNumber(Decimal::from(value))
    }
}

impl From<u64> for NonNegativeDecimalNumber {
    fn from(value: u64) -> Self {
        NonNegativeDecimalNumber(Decimal::from(value))
    }
}

impl From<NonNegativeDecimalNumber> for Decimal {
    fn from(value: NonNegativeDecimalNumber) -> Self {
        value.0
    }
}

impl FromStr for NonNegativeDecimalNumber {
    type Err = InvalidDecimal;

    /// Parses CJ's form, `[0-9]+(\.[0-9]+)?`, exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (int, frac) = s.split_once('.').unwrap_or((s, "1"));
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || !digits(frac) {
            return Err(InvalidDecimal(s.to_string()));
        }
        Decimal::from_str_exact(s)
            .map(NonNegativeDecimalNumber)
            .map_err(|_| InvalidDecimal(s.to_string()))
    }
}

impl fmt::Display for NonNegativeDecimalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for NonNegativeDecimalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for NonNegativeDecimalNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // rust_decimal writes a plain JSON string (no exponent) from a stack buffer.
        Serialize::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for NonNegativeDecimalNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A string or a number; with serde_json's `arbitrary_precision`, numbers arrive as their
        // exact text, so nothing passes through f64.
        let value = rust_decimal::serde::arbitrary_precision::deserialize(deserializer)?;
        NonNegativeDecimalNumber::new(value).map_err(de::Error::custom)
    }
}

/// CJ's `NonNegativeInt`: an integer of zero or more.
pub type NonNegativeInt = u32;

/// A GraphQL `ID`: sent as a string; read from a string or a number (CJ's own examples send
/// `enterpriseId` both ways).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Id(String);

impl Id {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id(s)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id(s.to_string())
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id(n.to_string())
    }
}

impl From<u32> for Id {
    fn from(n: u32) -> Self {
        Id(n.to_string())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ID (a string or an integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Id, E> {
                Ok(Id(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            // serde_json's `arbitrary_precision` hands numbers over as a one-entry map.
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Id, A::Error> {
                let Some((_, text)) = map.next_entry::<String, String>()? else {
                    return Err(de::Error::custom("expected an ID"));
                };
                if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
                    Ok(Id(text))
                } else {
                    Err(de::Error::custom(format!("{text} is not an integer ID")))
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instant_reads_every_documented_form_and_writes_utc_with_z() {
        let cases = [
            ("1970-03-27T12:13:14-05:00", "1970-03-27T17:13:14Z"),
            ("1970-03-27T12:18:14Z", "1970-03-27T12:18:14Z"),
            ("1970-03-27", "1970-03-27T00:00:00Z"),
            ("2024-01-15T18:08:36.089Z", "2024-01-15T18:08:36.089Z"),
            ("2020-10-10T01:01:01.0-07:00", "2020-10-10T08:01:01Z"),
        ];
        for (input, written) in cases {
            let i: Instant = serde_json::from_value(json!(input)).expect(input);
            assert_eq!(
                serde_json::to_value(i).expect("serializes"),
                json!(written),
                "{input}"
            );
        }
        for bad in [
            "",
            "yesterday",
            "2024-01-15T18:08:36",
            "2024-13-01",
            "1970-03-27 12:00",
        ] {
            assert!(bad.parse::<Instant>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn decimals_are_written_as_strings_of_cj_form() {
        let cases = [
            ("149.98", "149.98"),
            ("0.00", "0.00"),
            ("0", "0"),
            ("12.345678901234567891", "12.345678901234567891"),
            ("1000000", "1000000"),
        ];
        for (input, written) in cases {
            let d: NonNegativeDecimalNumber = input.parse().expect(input);
            assert_eq!(serde_json::to_value(d).expect("serializes"), json!(written));
        }
        for bad in [
            "-1", "-0.01", "1.", ".5", "1e3", "", "1,5", " 1", "+1", "NaN",
        ] {
            assert!(
                bad.parse::<NonNegativeDecimalNumber>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn negative_decimals_are_refused_when_made() {
        let negative = Decimal::new(-1, 2);
        assert_eq!(
            NonNegativeDecimalNumber::new(negative),
            Err(NegativeDecimal(negative))
        );
        let minus_zero = Decimal::new(-0, 2);
        assert_eq!(
            NonNegativeDecimalNumber::new(-Decimal::ZERO)
                .map(|d| d.to_string())
                .expect("zero is fine"),
            "0"
        );
        assert!(NonNegativeDecimalNumber::new(minus_zero).is_ok());
    }

    #[test]
    fn decimals_are_read_exactly_from_strings_and_numbers() {
        for text in [r#""12.345678901234567891""#, "12.345678901234567891"] {
            let d: NonNegativeDecimalNumber = serde_json::from_str(text).expect(text);
            assert_eq!(d.to_string(), "12.345678901234567891", "{text}");
        }
        let d: NonNegativeDecimalNumber = serde_json::from_str("7").expect("integer");
        assert_eq!(d.to_string(), "7");
        assert!(serde_json::from_str::<NonNegativeDecimalNumber>("-7.5").is_err());
        assert!(serde_json::from_str::<NonNegativeDecimalNumber>(r#""-7.5""#).is_err());
    }

    #[test]
    fn ids_are_sent_as_strings_and_read_from_numbers_too() {
        let id: Id = serde_json::from_str("1113122").expect("number");
        assert_eq!(id.as_str(), "1113122");
        let id: Id = serde_json::from_str(r#""1234567""#).expect("string");
        assert_eq!(
            serde_json::to_string(&id).expect("serializes"),
            r#""1234567""#
        );
        assert!(serde_json::from_str::<Id>("1.5").is_err());
    }
}
