//! Date ranges: CJ answers at most 31 days at once, so a longer range is read as consecutive
//! windows.

use cj_transport::{Error, InvalidInput, Problem};
use jiff::SignedDuration;

use super::Instant;

/// The longest date range CJ answers in one query: 31 days.
pub const MAX_RANGE: SignedDuration = SignedDuration::from_hours(31 * 24);

/// Which date a range filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DateField {
    /// When CJ posted the commission (`sincePostingDate`, `beforePostingDate`).
    Posting,
    /// When the action happened (`sinceEventDate`, `beforeEventDate`).
    Event,
    /// When the commission locks (`sinceLockingDate`, `beforeLockingDate`).
    Locking,
}

impl DateField {
    /// Every field, in CJ's argument order.
    pub const ALL: [DateField; 3] = [DateField::Posting, DateField::Event, DateField::Locking];

    /// The GraphQL arguments of the field's range: `(since, before)`.
    pub fn arguments(self) -> (&'static str, &'static str) {
        match self {
            DateField::Posting => ("sincePostingDate", "beforePostingDate"),
            DateField::Event => ("sinceEventDate", "beforeEventDate"),
            DateField::Locking => ("sinceLockingDate", "beforeLockingDate"),
        }
    }
}

/// A range of times: `since` inclusive, `before` exclusive, as CJ reads them. Either bound may
/// be missing (CJ then applies its own 24-hour default to the other).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// The first time in the range.
    pub since: Option<Instant>,
    /// The first time after the range.
    pub before: Option<Instant>,
}

impl Range {
    /// The range's length when both bounds are given.
    fn length(&self) -> Option<SignedDuration> {
        let (since, before) = (self.since?, self.before?);
        Some(before.timestamp().duration_since(since.timestamp()))
    }
}

/// A range longer than [`MAX_RANGE`], read window after window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub field: DateField,
    /// The start of the next window.
    pub next: Instant,
    /// The end of the whole range.
    pub end: Instant,
}

impl Split {
    /// The next window, and the split that remains after it (`None` once the range is read).
    pub fn window(self) -> (Range, Option<Split>) {
        let end = self
            .next
            .timestamp()
            .checked_add(MAX_RANGE)
            .ok()
            .map(Instant::from)
            .filter(|e| *e < self.end)
            .unwrap_or(self.end);
        let range = Range {
            since: Some(self.next),
            before: Some(end),
        };
        let rest = (end < self.end).then_some(Split { next: end, ..self });
        (range, rest)
    }
}

fn invalid(field: &str, message: String) -> Error {
    Error::Invalid(InvalidInput {
        problems: vec![Problem::new("request", None, None, field, message)],
    })
}

/// Checks the three ranges: each `since` before its `before`. Returns the one range to split
/// when it is longer than [`MAX_RANGE`] and `split` is asked for; a long range is an error
/// otherwise, and so are two long ranges (CJ would refuse either).
pub(crate) fn check(ranges: &[(DateField, Range)], split: bool) -> Result<Option<Split>, Error> {
    let mut long = None;
    for &(field, range) in ranges {
        let (since_arg, before_arg) = field.arguments();
        let Some(length) = range.length() else {
            continue;
        };
        if length <= SignedDuration::ZERO {
            return Err(invalid(
                since_arg,
                format!(
                    "{since_arg} must be before {before_arg} (since is inclusive, before exclusive)"
                ),
            ));
        }
        if length <= MAX_RANGE {
            continue;
        }
        if !split {
            return Err(invalid(
                since_arg,
                format!(
                    "{since_arg} to {before_arg} spans more than CJ's 31 days; \
                     `stream` reads a longer range in windows"
                ),
            ));
        }
        if let Some((other, _)) = long {
            let (other_arg, _) = DateField::arguments(other);
            return Err(invalid(
                since_arg,
                format!(
                    "both {other_arg} and {since_arg} ranges span more than CJ's 31 days; \
                     only one range can be read in windows"
                ),
            ));
        }
        long = Some((field, range));
    }
    Ok(long.and_then(|(field, range)| {
        Some(Split {
            field,
            next: range.since?,
            end: range.before?,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Instant {
        text.parse().expect("a time")
    }

    fn range(since: &str, before: &str) -> Range {
        Range {
            since: Some(at(since)),
            before: Some(at(before)),
        }
    }

    #[test]
    fn a_long_range_splits_into_consecutive_windows_of_31_days() {
        let split = check(
            &[(DateField::Event, range("2026-01-01", "2026-07-01"))],
            true,
        )
        .expect("valid")
        .expect("long");
        let mut windows = Vec::new();
        let mut next = Some(split);
        while let Some(split) = next {
            let (window, rest) = split.window();
            windows.push(window);
            next = rest;
        }
        assert_eq!(windows.len(), 6, "181 days in windows of 31");
        assert_eq!(windows[0], range("2026-01-01", "2026-02-01"));
        assert_eq!(windows[1], range("2026-02-01", "2026-03-04"));
        assert_eq!(windows[5], range("2026-06-05", "2026-07-01"));
        for pair in windows.windows(2) {
            assert_eq!(pair[0].before, pair[1].since, "no gap and no overlap");
        }
    }

    #[test]
    fn ranges_of_31_days_or_less_are_not_split() {
        let ranges = [
            (DateField::Posting, range("2026-01-01", "2026-02-01")),
            (DateField::Event, Range::default()),
            (
                DateField::Locking,
                Range {
                    since: Some(at("2020-01-01")),
                    before: None,
                },
            ),
        ];
        assert_eq!(check(&ranges, true).expect("valid"), None);
        assert_eq!(check(&ranges, false).expect("valid"), None);
    }

    #[test]
    fn empty_reversed_and_doubly_long_ranges_are_refused() {
        for r in [
            range("2026-01-02", "2026-01-01"),
            range("2026-01-01", "2026-01-01"),
        ] {
            let err = check(&[(DateField::Posting, r)], true).expect_err("refused");
            assert!(
                err.to_string().contains("sincePostingDate must be before"),
                "{err}"
            );
        }
        let long = range("2026-01-01", "2026-03-01");
        let err = check(&[(DateField::Posting, long)], false).expect_err("one call");
        assert!(err.to_string().contains("more than CJ's 31 days"), "{err}");
        let err = check(
            &[(DateField::Posting, long), (DateField::Locking, long)],
            true,
        )
        .expect_err("two long ranges");
        assert!(err.to_string().contains("only one range"), "{err}");
    }
}
