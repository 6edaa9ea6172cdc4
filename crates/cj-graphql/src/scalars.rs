//! CJ's custom GraphQL scalars, as Rust types.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use arrayvec::ArrayString;
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
        let mut buf = [0u8; 32];
        match write_rfc3339(self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(&self.0),
        }
    }
}

/// `t` as jiff writes it (`2024-01-15T18:08:36.089Z`: UTC, the fraction only as long as
/// needed), for times from 1970 on; `None` before, left to jiff. Requests hold a time or two
/// per order, and jiff's `Display` goes through the formatting machinery: this is several
/// times faster.
fn write_rfc3339(t: jiff::Timestamp, buf: &mut [u8; 32]) -> Option<&str> {
    let seconds = u64::try_from(t.as_second()).ok()?;
    let nanos = u32::try_from(t.subsec_nanosecond()).ok()?;
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's `civil_from_days`, for days since 1970-01-01 (no negative values).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    if year > 9_999 {
        return None;
    }
    let mut put = |at: usize, value: u64, width: usize| {
        let mut v = value;
        for i in (at..at + width).rev() {
            if let Some(b) = buf.get_mut(i) {
                *b = b'0' + (v % 10) as u8;
            }
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, of_day / 3_600, 2);
    put(14, of_day / 60 % 60, 2);
    put(17, of_day % 60, 2);
    let mut len = 19;
    if nanos > 0 {
        put(20, u64::from(nanos), 9);
        len = 29;
        while buf.get(len - 1) == Some(&b'0') {
            len -= 1;
        }
    }
    for (at, b) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ] {
        buf[at] = b;
    }
    buf[len] = b'Z';
    std::str::from_utf8(buf.get(..len + 1)?).ok()
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
        let mut buf = ArrayString::new();
        match write_decimal(self.0, &mut buf) {
            Some(text) => serializer.serialize_str(text),
            // rust_decimal writes a plain JSON string (no exponent) from a stack buffer.
            None => Serialize::serialize(&self.0, serializer),
        }
    }
}

/// `d` as rust_decimal writes it (`224.97`, `0.00`: every digit of its scale), for a
/// non-negative value whose digits fit a `u64` (any amount); `None` otherwise. rust_decimal
/// divides its 96-bit mantissa digit by digit; itoa writes the `u64` two digits at a time, and
/// the dot goes in between, with no UTF-8 check of text that is ASCII by construction.
fn write_decimal(d: Decimal, out: &mut ArrayString<48>) -> Option<&str> {
    let mantissa = u64::try_from(d.mantissa()).ok()?;
    let scale = d.scale() as usize;
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(mantissa);
    if scale == 0 {
        out.try_push_str(digits).ok()?;
    } else if let Some(units_len) = digits.len().checked_sub(scale).filter(|n| *n > 0) {
        let (units, decimals) = digits.split_at_checked(units_len)?;
        out.try_push_str(units).ok()?;
        out.try_push('.').ok()?;
        out.try_push_str(decimals).ok()?;
    } else {
        // Fewer digits than the scale: `0.` and zeros before them (`0.05`).
        out.try_push_str("0.").ok()?;
        for _ in digits.len()..scale {
            out.try_push('0').ok()?;
        }
        out.try_push_str(digits).ok()?;
    }
    Some(out.as_str())
}

impl<'de> Deserialize<'de> for NonNegativeDecimalNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = exact_decimal::deserialize(deserializer)?;
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
        IdText::deserialize(deserializer).map(|id| Id(id.0.into_owned()))
    }
}

/// A GraphQL `ID` read as [`Id`] reads it, borrowed from the input when it can be (for the
/// keys of 10,000 orders in an answer, without an allocation each).
pub(crate) struct IdText<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for IdText<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(deserializer)? {
            Scalar::Text(text) => Ok(IdText(text)),
            Scalar::Number(text) if is_integer(&text) => Ok(IdText(text)),
            Scalar::Number(text) => Err(de::Error::custom(format!("{text} is not an integer ID"))),
        }
    }
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// serde_json's name for its `RawValue` newtype: a deserializer from serde_json that is asked
/// for a newtype of this name hands over the value's JSON text, so a number keeps every digit
/// without serde_json's global `arbitrary_precision` feature. Other deserializers see an
/// ordinary newtype. (serde_json keeps the name private; the tests fail if it ever changes.)
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// A string or a number, as text. From serde_json a number is its exact JSON text (never an
/// `f64`); other formats give their integers and floats.
/// Borrowed from the input when the deserializer can lend it (no allocation for a decimal).
pub(crate) enum Scalar<'de> {
    /// A string.
    Text(Cow<'de, str>),
    /// A number: `-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?` from JSON.
    Number(Cow<'de, str>),
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_VALUE, ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    /// serde_json's answer to [`RAW_VALUE`]: the value's JSON text, borrowed when serde_json
    /// reads from memory (borrowed then: a decimal is read without an allocation).
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
        let raw_key = map.next_key::<RawText<'de>>()?;
        if raw_key.as_ref().map(|k| &*k.0) != Some(RAW_VALUE) {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let raw: RawText<'de> = map.next_value()?;
        let unexpected = match raw.0.as_bytes().first() {
            // serde_json checked the string: without escapes, its text is between the quotes.
            Some(b'"') if !raw.0.contains('\\') && raw.0.len() >= 2 => {
                let end = raw.0.len() - 1;
                return Ok(Scalar::Text(match raw.0 {
                    Cow::Borrowed(text) => Cow::Borrowed(text.get(1..end).unwrap_or_default()),
                    Cow::Owned(text) => Cow::Owned(text.get(1..end).unwrap_or_default().into()),
                }));
            }
            Some(b'"') => {
                return serde_json::from_str::<String>(&raw.0)
                    .map(|text| Scalar::Text(Cow::Owned(text)))
                    .map_err(de::Error::custom);
            }
            Some(b'-' | b'0'..=b'9') => return Ok(Scalar::Number(raw.0)),
            Some(b'n') => de::Unexpected::Unit,
            Some(b't' | b'f') => de::Unexpected::Other("a boolean"),
            Some(b'[') => de::Unexpected::Seq,
            _ => de::Unexpected::Map,
        };
        Err(de::Error::invalid_type(unexpected, &self))
    }

    // Another deserializer: read what it has.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    // The format already holds an f64: its shortest exact text (Rust writes no exponent).
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }
}

/// Text a deserializer hands over, borrowed when it can.
struct RawText<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for RawText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<RawText<'de>, E> {
                Ok(RawText(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText<'de>, E> {
                Ok(RawText(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawText<'de>, E> {
                Ok(RawText(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Reads a generated field through a [`Scalar`] and `convert`.
pub(crate) fn read<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    convert: fn(Scalar<'_>) -> Result<T, String>,
) -> Result<T, D::Error> {
    convert(Scalar::deserialize(deserializer)?).map_err(de::Error::custom)
}

/// [`read`] for a nullable field.
pub(crate) fn read_option<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    convert: fn(Scalar<'_>) -> Result<T, String>,
) -> Result<Option<T>, D::Error> {
    Option::<Scalar>::deserialize(deserializer)?
        .map(convert)
        .transpose()
        .map_err(de::Error::custom)
}

/// Declares a module of `deserialize_with` functions for the generated fields of a scalar, as
/// the xtask's scalar table (`read_with`) names them: `deserialize` for `T` and `option` for
/// `Option<T>`, both reading a [`Scalar`] and converting it with `$convert`.
macro_rules! scalar_reader {
    ($(#[$doc:meta])* $name:ident: $ty:ty = $convert:path) => {
        $(#[$doc])*
        #[allow(dead_code, reason = "the xtask names `deserialize` or `option` as fields need them")]
        pub(crate) mod $name {
            use super::*;

            /// A value.
            pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<$ty, D::Error> {
                $crate::scalars::read(d, $convert)
            }

            /// A nullable value.
            pub(crate) fn option<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Option<$ty>, D::Error> {
                $crate::scalars::read_option(d, $convert)
            }
        }
    };
}
// Used by the APIs' own readers (Program Terms' `ISODateTime`).
#[cfg_attr(not(feature = "program-terms"), allow(unused_imports))]
pub(crate) use scalar_reader;

scalar_reader! {
    /// A `Decimal` read exactly from a JSON number or string (never through `f64`).
    exact_decimal: Decimal = decimal
}

/// `from_str` reads plain notation (rounding past 28 significant digits, Decimal's precision),
/// `from_scientific` what JSON numbers may also be (`1.5e3`).
fn decimal(value: Scalar<'_>) -> Result<Decimal, String> {
    let (Scalar::Text(text) | Scalar::Number(text)) = value;
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{text:?} is not a decimal number (or is out of range)"))
}

scalar_reader! {
    /// A GraphQL `Long` read from a JSON number or a string of digits (with an optional sign):
    /// some servers send 64-bit integers as strings.
    long: i64 = long_integer
}

fn long_integer(value: Scalar<'_>) -> Result<i64, String> {
    let (Scalar::Text(text) | Scalar::Number(text)) = value;
    text.parse()
        .map_err(|_| format!("{text:?} is not a 64-bit integer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fast writers of `Instant` and `NonNegativeDecimalNumber` write what jiff and
    /// rust_decimal write, over a spread of values (and leave the rest to them).
    #[test]
    fn fast_writers_write_what_jiff_and_rust_decimal_write() {
        let mut seconds: i64 = 1;
        let mut nanos: i32 = 7;
        for n in 0..20_000i64 {
            seconds = (seconds
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(n))
            .rem_euclid(253_402_300_799 + 86_400 * 400);
            nanos =
                (nanos.wrapping_mul(1_103_515_245).wrapping_add(12_345)).rem_euclid(1_000_000_000);
            let nanos = match n % 4 {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                _ => nanos,
            };
            for s in [seconds, -seconds, n, 253_402_300_799 - n] {
                let Ok(t) = jiff::Timestamp::new(s, if s < 0 { -nanos } else { nanos }) else {
                    continue;
                };
                let expected = serde_json::to_value(t.to_string()).expect("text");
                assert_eq!(serde_json::to_value(Instant(t)).expect("writes"), expected);
            }
        }
        for text in [
            "0",
            "0.00",
            "0.05",
            "1",
            "1.50",
            "224.97",
            "74.99",
            "0.000000001",
            "10",
            "100.0",
            "18446744073709551615",
            "18446744073709551616.5",
            "79228162514264337593543950335",
            "123456789.123456789123456789",
        ] {
            let d: Decimal = text.parse().expect("a decimal");
            let written = serde_json::to_value(NonNegativeDecimalNumber(d)).expect("writes");
            assert_eq!(written, json!(d.to_string()), "{text}");
            assert_eq!(written, json!(text), "{text}");
        }
        for n in 0..20_000u64 {
            let d =
                Decimal::from_i128_with_scale(i128::from(n * 7_919 % 1_000_003), (n % 12) as u32);
            let written = serde_json::to_value(NonNegativeDecimalNumber(d)).expect("writes");
            assert_eq!(written, json!(d.to_string()), "{d}");
        }
    }

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

    /// Reads `text` as serde_json does in the SDK and the CLI: through serde_path_to_error.
    fn read_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| format!("at `{}`: {}", e.path(), e.inner()))
    }

    #[test]
    fn decimals_are_read_exactly_from_strings_and_numbers() {
        for text in [r#""12.345678901234567891""#, "12.345678901234567891"] {
            let d: NonNegativeDecimalNumber = read_json(text).expect(text);
            assert_eq!(d.to_string(), "12.345678901234567891", "{text}");
            let d: NonNegativeDecimalNumber = serde_json::from_str(text).expect(text);
            assert_eq!(d.to_string(), "12.345678901234567891", "{text}");
            let d: NonNegativeDecimalNumber = serde_json::from_reader(text.as_bytes()).expect(text);
            assert_eq!(d.to_string(), "12.345678901234567891", "{text}");
        }
        let d: NonNegativeDecimalNumber = read_json("7").expect("integer");
        assert_eq!(d.to_string(), "7");
        let d: NonNegativeDecimalNumber = read_json("1.5e3").expect("exponent");
        assert_eq!(d.get(), Decimal::new(1500, 0));
        for bad in [
            "-7.5",
            r#""-7.5""#,
            "null",
            "true",
            "[1]",
            r#"{"a": 1}"#,
            r#""x""#,
        ] {
            assert!(
                read_json::<NonNegativeDecimalNumber>(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn exact_numbers_survive_nesting_and_paths_name_the_field() {
        #[derive(Deserialize)]
        struct Order {
            items: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            price: NonNegativeDecimalNumber,
            id: Id,
        }
        let order: Order = read_json(
            r#"{"items": [{"price": 0.10000000000000000001, "id": 98765432109876543210}]}"#,
        )
        .expect("parses");
        assert_eq!(order.items[0].price.to_string(), "0.10000000000000000001");
        assert_eq!(order.items[0].id.as_str(), "98765432109876543210");
        let err = read_json::<Order>(r#"{"items": [{"price": -1, "id": 1}]}"#)
            .err()
            .expect("negative");
        assert!(err.starts_with("at `items[0].price`:"), "{err}");
    }

    #[test]
    fn other_deserializers_give_strings_and_numbers_as_they_hold_them() {
        // A `serde_json::Value` holds an f64 already; an untagged enum buffers the value.
        let d: NonNegativeDecimalNumber =
            serde_json::from_value(json!(149.98)).expect("from a Value");
        assert_eq!(d.to_string(), "149.98");
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Amount(NonNegativeDecimalNumber),
        }
        for (text, expected) in [("7", "7"), (r#""12.5""#, "12.5"), ("0.25", "0.25")] {
            let Either::Amount(d) = serde_json::from_str(text).expect(text);
            assert_eq!(d.to_string(), expected);
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum AnId {
            Id(Id),
        }
        let AnId::Id(id) = serde_json::from_str("-42").expect("an integer");
        assert_eq!(id.as_str(), "-42");
    }

    #[test]
    fn ids_are_sent_as_strings_and_read_from_numbers_too() {
        let id: Id = read_json("1113122").expect("number");
        assert_eq!(id.as_str(), "1113122");
        let id: Id = read_json(r#""1234567""#).expect("string");
        assert_eq!(
            serde_json::to_string(&id).expect("serializes"),
            r#""1234567""#
        );
        for bad in ["1.5", "1e3", "null", "{}"] {
            assert!(read_json::<Id>(bad).is_err(), "{bad} should be refused");
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Generated {
        #[serde(deserialize_with = "long::deserialize")]
        rank: i64,
        #[serde(default, deserialize_with = "long::option")]
        days: Option<i64>,
        #[serde(deserialize_with = "exact_decimal::deserialize")]
        value: Decimal,
        #[serde(default, deserialize_with = "exact_decimal::option")]
        bonus: Option<Decimal>,
    }

    #[test]
    fn long_fields_read_numbers_and_strings_of_digits() {
        for (rank, expected) in [
            ("5", 5),
            (r#""5""#, 5),
            (r#""-5""#, -5),
            (r#""+5""#, 5),
            ("-9223372036854775808", i64::MIN),
        ] {
            let g: Generated =
                read_json(&format!(r#"{{"rank": {rank}, "value": 1}}"#)).expect(rank);
            assert_eq!((g.rank, g.days), (expected, None), "{rank}");
        }
        for days in ["null", r#""30""#] {
            let g: Generated =
                read_json(&format!(r#"{{"rank": 1, "days": {days}, "value": 1}}"#)).expect(days);
            assert_eq!(g.days, (days != "null").then_some(30));
        }
        for bad in [
            r#""""#,
            r#""5.0""#,
            "5.0",
            "1e3",
            r#"" 5""#,
            r#""five""#,
            "9223372036854775808",
            "true",
        ] {
            let text = format!(r#"{{"rank": {bad}, "value": 1}}"#);
            let err = read_json::<Generated>(&text).expect_err(bad);
            assert!(err.starts_with("at `rank`"), "{err}");
        }
    }

    #[test]
    fn decimal_fields_are_exact_and_nullable_ones_may_be_missing() {
        let g: Generated =
            read_json(r#"{"rank": 1, "value": 12.345678901234567891, "bonus": "0.5"}"#)
                .expect("parses");
        assert_eq!(g.value.to_string(), "12.345678901234567891");
        assert_eq!(g.bonus, Some(Decimal::new(5, 1)));
        let g: Generated =
            read_json(r#"{"rank": 1, "value": -1.25, "bonus": null}"#).expect("parses");
        assert_eq!((g.value, g.bonus), (Decimal::new(-125, 2), None));
        let g: Generated = read_json(r#"{"rank": 1, "value": 5e27}"#).expect("parses");
        assert_eq!(
            g.value,
            Decimal::from_str("5000000000000000000000000000").expect("5e27")
        );
        for bad in ["1e30", r#""abc""#, "null", "[]"] {
            let text = format!(r#"{{"rank": 1, "value": {bad}}}"#);
            let err = read_json::<Generated>(&text).expect_err(bad);
            assert!(err.starts_with("at `value`"), "{err}");
        }
    }
}
