//! When to send a request again, and how long to wait first.

use std::time::Duration;

use backon::BackoffBuilder;
use http::{HeaderValue, StatusCode};

/// How the transport retries: connection failures, timeouts, HTTP 429 and 5xx (504 included) are
/// retried up to `max_retries` times, with exponential backoff and full jitter.
///
/// Retrying is safe for every CJ API this SDK covers: the reads have no effect, and CJ
/// deduplicates orders on enterprise id + action tracker id + order id, so an order sent twice
/// (because an answer was lost) is recorded once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retrying off).
    pub max_retries: u32,
    /// The first delay.
    pub min_delay: Duration,
    /// No delay is longer (a `Retry-After` from CJ is honoured up to this).
    pub max_delay: Duration,
    /// Whether delays are jittered (on by default, so that many clients do not retry together).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 3 retries, from 500 ms up to 10 s, jittered.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Up to `max_retries` retries with delays from `min_delay` to `max_delay`, jittered.
    pub fn new(max_retries: u32, min_delay: Duration, max_delay: Duration) -> Self {
        RetryPolicy {
            max_retries,
            min_delay,
            max_delay,
            jitter: true,
        }
    }

    /// The same policy without jitter (for reproducible tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut builder = backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries as usize);
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build()
    }
}

pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// A `Retry-After` given in seconds (CJ's form; HTTP dates are ignored).
pub(crate) fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let secs: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_bounded_in_count_and_length() {
        let policy = RetryPolicy::new(4, Duration::from_millis(100), Duration::from_millis(300));
        let delays: Vec<_> = policy.delays().collect();
        assert_eq!(delays.len(), 4);
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(600)));
        assert_eq!(RetryPolicy::none().delays().count(), 0);
    }

    #[test]
    fn reads_retry_after_seconds() {
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("7"))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(Some(&HeaderValue::from_static("soon"))), None);
        assert_eq!(retry_after(None), None);
    }
}
