//! CJ's call limit: 25 calls a minute for each REST API.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// At most `calls` calls in any `window`, shared by every clone.
///
/// A sliding log of the last calls' times: a call waits until the oldest of the last `calls`
/// is a whole window old. Unlike a token bucket (governor's GCRA), which refills while a burst
/// is spent and so lets 26 calls through within a minute after a burst of 25, this never
/// exceeds the limit in any window, and still lets a short walk of pages go at full speed. It
/// runs on tokio's clock, so tests can pause time.
#[derive(Debug, Clone)]
pub struct RateLimit {
    calls: usize,
    window: Duration,
    log: Arc<Mutex<VecDeque<Instant>>>,
}

impl RateLimit {
    /// At most `calls` calls (at least 1) in any `window`.
    pub fn new(calls: usize, window: Duration) -> Self {
        let calls = calls.max(1);
        RateLimit {
            calls,
            window,
            log: Arc::new(Mutex::new(VecDeque::with_capacity(calls))),
        }
    }

    /// CJ's limit: 25 calls a minute.
    pub fn cj_default() -> Self {
        RateLimit::new(25, Duration::from_secs(60))
    }

    /// Waits until one more call fits in the limit, and records it.
    pub async fn acquire(&self) {
        // The lock is held while waiting: callers queue in order and none can overtake.
        let mut log = self.log.lock().await;
        if log.len() >= self.calls
            && let Some(&oldest) = log.front()
        {
            let free_at = oldest + self.window;
            if free_at > Instant::now() {
                tracing::debug!(
                    wait_ms = (free_at - Instant::now()).as_millis() as u64,
                    "waiting for the rate limit"
                );
                tokio::time::sleep_until(free_at).await;
            }
            log.pop_front();
        }
        log.push_back(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_window() {
        let limit = RateLimit::new(25, Duration::from_secs(60));
        let start = Instant::now();
        let mut times = Vec::new();
        let clones: Vec<RateLimit> = (0..3).map(|_| limit.clone()).collect();
        for i in 0..80 {
            clones[i % 3].acquire().await;
            times.push(Instant::now() - start);
        }
        // The first 25 go at once; then each waits for the call 25 before it to age a minute.
        assert!(times[..25].iter().all(|t| *t == Duration::ZERO));
        assert_eq!(times[25], Duration::from_secs(60));
        assert_eq!(times[79], Duration::from_secs(180));
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 25,
                "{in_window} calls in the minute from call {i}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn spaced_calls_do_not_wait() {
        let limit = RateLimit::new(2, Duration::from_secs(10));
        let start = Instant::now();
        for _ in 0..5 {
            limit.acquire().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        assert_eq!(Instant::now() - start, Duration::from_secs(25));
    }
}
