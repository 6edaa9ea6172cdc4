//! Client-side call limits: CJ documents one per API (Advertiser Lookup: 25 calls a minute;
//! Commission Detail: 200 calls in 5 minutes, 120 at once). One type serves them all.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// At most `calls` calls in any `window`, and optionally at most some calls at once; shared by
/// every clone.
///
/// The rate is a sliding log of the last calls' times: a call waits until the oldest of the last
/// `calls` is a whole window old. Unlike a token bucket (governor's GCRA), which refills while a
/// burst is spent and so lets 26 calls through within a minute after a burst of 25, this never
/// exceeds the limit in any window, and still lets a short walk of pages go at full speed. It
/// runs on tokio's clock, so tests can pause time.
///
/// Each API client makes its own limit from CJ's documented numbers; CJ counts per token, so
/// clients sharing a token should share one limit (clone it, or pass it to each client).
#[derive(Debug, Clone)]
pub struct RateLimit {
    calls: usize,
    window: Duration,
    log: Arc<Mutex<VecDeque<Instant>>>,
    concurrent: Option<Arc<Semaphore>>,
}

/// Leave to make one call, from [`RateLimit::acquire`]: hold it until the call is answered (it
/// counts against the limit on calls at once until dropped).
#[derive(Debug)]
#[must_use = "the call counts as running only while the permit is held"]
pub struct Permit {
    _running: Option<OwnedSemaphorePermit>,
}

impl RateLimit {
    /// At most `calls` calls (at least 1) in any `window`, with no limit on calls at once.
    pub fn new(calls: usize, window: Duration) -> Self {
        let calls = calls.max(1);
        RateLimit {
            calls,
            window,
            log: Arc::new(Mutex::new(VecDeque::with_capacity(calls))),
            concurrent: None,
        }
    }

    /// The same limit, with at most `calls` calls (at least 1) running at once.
    pub fn max_concurrent(mut self, calls: usize) -> Self {
        self.concurrent = Some(Arc::new(Semaphore::new(calls.max(1))));
        self
    }

    /// The most calls in any window.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Waits until one more call fits in the limits, and records it.
    pub async fn acquire(&self) -> Permit {
        // A place among the running calls first: the call is logged when it really starts, so
        // a call waiting for a place cannot make a later window hold more than `calls`.
        let running = match &self.concurrent {
            // The semaphore is never closed, so this never fails.
            Some(semaphore) => semaphore.clone().acquire_owned().await.ok(),
            None => None,
        };
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
        Permit { _running: running }
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
            let _permit = clones[i % 3].acquire().await;
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
            let _permit = limit.acquire().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        assert_eq!(Instant::now() - start, Duration::from_secs(25));
    }

    /// Commission Detail's limits: 200 calls in 5 minutes, at most 120 at once.
    #[tokio::test(start_paused = true)]
    async fn never_more_calls_at_once_than_allowed() {
        let limit = RateLimit::new(200, Duration::from_secs(300)).max_concurrent(120);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..300 {
            let (limit, running, most) = (limit.clone(), running.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await;
                let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                Instant::now() - start
            }));
        }
        let mut ends = Vec::new();
        for task in tasks {
            ends.push(task.await.expect("the task ran"));
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 120);
        // 200 calls start within the first window (in two waves of 120 and 80); the other 100
        // wait for the window to pass.
        ends.sort();
        assert_eq!(ends[199], Duration::from_secs(2));
        assert_eq!(ends[200], Duration::from_secs(301));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_permit_frees_its_place() {
        let limit = RateLimit::new(100, Duration::from_secs(1)).max_concurrent(1);
        let first = limit.acquire().await;
        let waiting = tokio::time::timeout(Duration::from_secs(5), limit.acquire()).await;
        assert!(waiting.is_err(), "a second call waits while the first runs");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), limit.acquire()).await;
        assert!(second.is_ok(), "a dropped permit lets the next call run");
    }
}
