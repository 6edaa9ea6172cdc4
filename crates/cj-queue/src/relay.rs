//! A postback relay: every new or corrected commission of a publisher, pushed to a partner's
//! system once, reliably, even while that system is down for a while.
//!
//! A publisher platform (such as Aspire, which takes a transaction id, a sale amount and a
//! payout per CJ transaction by server postback, and passes its own click id to CJ as the
//! shopper id) runs a [`Relay`]: it polls CJ's `publisherCommissions` with CJ's watermark cursor
//! and sends one postback per commission record to the partner, built from a
//! [`PostbackTemplate`] (`GET`) or as the record's JSON (`POST`). Corrections are records of
//! their own, with negative amounts: the partner sees each one.
//!
//! ```no_run
//! use std::sync::Arc;
//! use cj_queue::SqliteStore;
//! use cj_queue::relay::{PostbackTemplate, Relay, RelayConfig};
//! # async fn run(commissions: cj_graphql::commissions::CommissionsApi) -> Result<(), Box<dyn std::error::Error>> {
//! let template: PostbackTemplate =
//!     "https://partner.example/postback?tx={commissionId}&click={shopperId}&sale={saleAmountPubCurrency}&payout={pubCommissionAmountPubCurrency}"
//!         .parse()?;
//! let store = Arc::new(SqliteStore::open("relay.sqlite".as_ref())?);
//! let relay = Relay::new(store, commissions, "7654321", template, RelayConfig::default())?;
//! let report = relay.run_once().await?; // or relay.run(interval, |report| ...) forever
//! println!("{} delivered, {} dead letters", report.delivered, report.dead);
//! # Ok(()) }
//! ```
//!
//! Delivery is exactly once towards the partner as far as its 2xx allows:
//! - Pages are read with [`CommissionsRequest::pages`](cj_graphql::commissions::CommissionsRequest::pages),
//!   the walk `cj commissions` uses: a page whose cursor does not add up is refused before
//!   anything of it is stored. Each page is stored with the cursor that follows it in one
//!   transaction, and what is due is delivered before the next page is read; a record already
//!   stored (read again) keeps its state.
//! - Stored records are delivered one at a time in commission id order; a record is marked
//!   delivered once the partner answered 2xx. A crash (`kill -9`) at any moment loses nothing,
//!   and at most re-delivers the record that was in flight.
//! - A 5xx, 408 or 429, a timeout or a refused connection is retried with exponential backoff
//!   (bounded: [`RelayConfig::max_attempts`]); records after it wait, so a correction never
//!   overtakes its original. A 3xx (a postback URL to fix, such as http to https: redirects
//!   are not followed) stops the round at the head of the line, which waits, retried with the
//!   same backoff but never made a dead letter ([`RelayReport::redirected`]). Any other answer
//!   (4xx) makes the record a dead letter, with the status and the start of the answer
//!   (scrubbed of the CJ token and redacted as CJ's answers are); [`Relay::dead_letters`]
//!   lists them and [`Relay::retry_dead_letters`] puts them back in line.
//! - The partner's HTTP client is not the CJ transport and sends no credentials: the CJ token
//!   never reaches the partner (and the transport scrubs it from CJ's answers, records included).
//!
//! Stores: [`SqliteStore`](crate::SqliteStore) (one relay process per file) and `PostgresStore`
//! (feature `postgres`: several instances share the work; a claimed record is leased, so no two
//! deliver it at once).
//!
//! Which records are read: on the first run, those posted since
//! [`RelayConfig::since_posting`] (default: the last 24 hours, CJ's own default); then those
//! after the stored cursor (`sinceCommissionId`), posted within the last
//! [`RelayConfig::lookback`], in windows of at most 31 days (CJ's limit).

mod partner;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;
mod store;
mod template;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cj_graphql::commissions::{CommissionsApi, Instant, MAX_RANGE, PublisherCommission};
use cj_transport::Error;
use futures_util::{FutureExt, TryStreamExt};
use jiff::{SignedDuration, Timestamp};
use tracing::Instrument;

use crate::StoreError;
pub use partner::PostbackMethod;
use partner::{Attempt, Partner};
pub use store::{
    ClaimedRecord, NewRecord, Next, RelayCursor, RelayDeadLetter, RelayStats, RelayStore, Settle,
};
pub use template::{FIELDS, PostbackTemplate, TemplateError};

/// Errors of a relay. What CJ or the partner answer is not one: it is in the [`RelayReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The relay's settings cannot work.
    #[error("relay configuration: {0}")]
    Config(String),
    /// The store failed: nothing after the failure was done.
    #[error("relay store: {0}")]
    Store(#[from] StoreError),
}

/// How a relay reads, sends and retries. The defaults suit a relay polling every few minutes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RelayConfig {
    /// The relay's name in the store (default: the publisher's CID). Relays of the same
    /// publisher to different partners need different names.
    pub name: Option<String>,
    /// `GET` the filled template, or `POST` the record's JSON (default `GET`).
    pub method: PostbackMethod,
    /// On the first run (no cursor stored yet), read records posted since this time (default:
    /// 24 hours before the first run). Ignored once the store has a cursor.
    pub since_posting: Option<Instant>,
    /// How far back in posting time each poll looks for records after the cursor (default 7
    /// days; CJ reads at most 31 days at once, a longer lookback costs a call per 31 days).
    pub lookback: Duration,
    /// The longest one postback may take (default 30 s).
    pub timeout: Duration,
    /// The longest connecting to the partner may take (default 10 s).
    pub connect_timeout: Duration,
    /// The first delay before a failed postback is sent again; it doubles each time (default
    /// 2 s).
    pub retry_delay: Duration,
    /// The longest delay between retries (default 5 minutes; a partner's `Retry-After` is
    /// honoured up to it).
    pub max_retry_delay: Duration,
    /// Deliveries tried before a record that keeps failing becomes a dead letter (default 30:
    /// about two hours with the default delays).
    pub max_attempts: u32,
    /// The most pages a round reads in one 31-day window (default 100: a million records at
    /// CJ's 10,000 a page, half CJ's calls of 5 minutes). A window still not complete then
    /// ends the round's read with [`Error::Paging`] (in [`RelayReport::fetch_error`]) after
    /// what was read is stored and delivered; the next round goes on from the cursor. It
    /// bounds a round against a server that never says `payloadComplete: true`.
    pub max_pages: usize,
    /// How long a claimed record is reserved for its worker (default 2 minutes; longer than
    /// [`timeout`](Self::timeout)). In a shared store, a worker that died leaves its record to
    /// others after this.
    pub lease: Duration,
    /// This worker's name in a shared store (default: the process id and start time).
    pub worker: String,
    /// Delivered records settled longer ago than this are pruned by [`Relay::run`] (when it
    /// starts, then once a day); `None` keeps them. Default 30 days. A pruned record is never
    /// delivered again (see [`Relay::prune`]).
    pub retention: Option<Duration>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            name: None,
            method: PostbackMethod::Get,
            since_posting: None,
            lookback: Duration::from_secs(7 * 24 * 3600),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry_delay: Duration::from_secs(2),
            max_retry_delay: Duration::from_secs(300),
            max_attempts: 30,
            max_pages: 100,
            lease: Duration::from_secs(120),
            worker: format!(
                "pid-{}-{}",
                std::process::id(),
                Timestamp::now().as_millisecond()
            ),
            retention: Some(Duration::from_secs(30 * 24 * 3600)),
        }
    }
}

/// How often [`Relay::run`] prunes, with a [`RelayConfig::retention`].
pub const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// What one round of a relay did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RelayReport {
    /// Pages read from CJ.
    pub pages: u64,
    /// Records CJ returned.
    pub fetched: u64,
    /// Of those, records not stored before.
    pub new: u64,
    /// Records the partner accepted (2xx).
    pub delivered: u64,
    /// Deliveries that failed and will be tried again.
    pub retrying: u64,
    /// Records that became dead letters.
    pub dead: u64,
    /// Outcomes not recorded because another worker had taken the record over (its lease ran
    /// out): that worker's outcome stands.
    pub lost_leases: u64,
    /// When the next record in line is due again, if it waits for a retry.
    pub next_attempt: Option<Instant>,
    /// Whether another worker was delivering the next record.
    pub busy: bool,
    /// Why reading from CJ stopped early, if it did: what was read before it is stored, and
    /// what the store held was delivered all the same.
    pub fetch_error: Option<Error>,
    /// Why the partner redirected the head of the line, if it did (a 3xx: the postback URL
    /// needs fixing, e.g. http to https). The record and those after it wait.
    pub redirected: Option<String>,
    /// The round was stopped before its end ([`Relay::run_once_until`]): the postback in
    /// flight was finished and recorded, nothing after it was started.
    pub stopped: bool,
    /// Delivered records pruned before this round ([`Relay::run`]'s schedule).
    pub pruned: u64,
}

/// One round's state: its report, what stops it, and who watches its progress.
struct Round<'a> {
    report: RelayReport,
    stop: Pin<&'a mut (dyn Future<Output = ()> + Send + 'a)>,
    progress: &'a mut (dyn FnMut(&RelayReport) + Send + 'a),
}

impl Round<'_> {
    /// Whether the round is asked to stop (checked between postbacks and pages).
    fn stopping(&mut self) -> bool {
        if !self.report.stopped && self.stop.as_mut().now_or_never().is_some() {
            self.report.stopped = true;
        }
        self.report.stopped
    }

    fn progress(&mut self) {
        (self.progress)(&self.report);
    }
}

/// Relays a publisher's commissions to a partner; see the [module docs](self).
#[derive(Debug)]
pub struct Relay<S: RelayStore> {
    store: Arc<S>,
    commissions: CommissionsApi,
    publisher_id: String,
    name: String,
    partner: Partner,
    config: RelayConfig,
    started: tokio::sync::OnceCell<()>,
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// `t` to the millisecond, as the stores keep times: a cursor reads the same before and after
/// it is stored.
fn whole_ms(t: Timestamp) -> Instant {
    Timestamp::from_millisecond(t.as_millisecond())
        .unwrap_or(t)
        .into()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<S: RelayStore> Relay<S> {
    /// A relay of `publisher_id`'s commissions, read through `commissions`, to the partner at
    /// `template`, keeping its state in `store`.
    pub fn new(
        store: Arc<S>,
        commissions: CommissionsApi,
        publisher_id: impl Into<String>,
        template: PostbackTemplate,
        config: RelayConfig,
    ) -> Result<Self, RelayError> {
        let publisher_id = publisher_id.into();
        if publisher_id.trim().is_empty() {
            return Err(RelayError::Config("the publisher's CID is empty".into()));
        }
        if config.lease <= config.timeout {
            return Err(RelayError::Config(format!(
                "the lease ({:?}) must be longer than the partner's timeout ({:?})",
                config.lease, config.timeout
            )));
        }
        if config.max_attempts == 0 {
            return Err(RelayError::Config("max_attempts must be at least 1".into()));
        }
        let partner = Partner::new(
            template,
            config.method,
            config.timeout,
            config.connect_timeout,
            commissions.transport().redactor().clone(),
        )
        .map_err(RelayError::Config)?;
        let name = config.name.clone().unwrap_or_else(|| publisher_id.clone());
        Ok(Relay {
            store,
            commissions,
            publisher_id,
            name,
            partner,
            config,
            started: tokio::sync::OnceCell::new(),
        })
    }

    /// The relay's name in the store.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// One round: reads what CJ has after the cursor, page by page (each checked by the
    /// walk, then stored with its cursor in one transaction), delivering the stored records in
    /// commission id order after each page, until the line is empty, or its first record waits
    /// for a retry or is another worker's.
    ///
    /// A failure to read from CJ does not stop the round: it is in
    /// [`RelayReport::fetch_error`], and the records already stored are delivered. Only a
    /// store failure is an error.
    pub async fn run_once(&self) -> Result<RelayReport, RelayError> {
        self.run_once_until(std::future::pending(), |_| {}).await
    }

    /// [`run_once`](Self::run_once), stopped early when `stop` completes (such as Ctrl-C):
    /// the postback in flight is finished and recorded, a read from CJ in flight is dropped
    /// (nothing of it was stored), and the report says [`stopped`](RelayReport::stopped).
    /// `on_progress` sees the report after each page stored and each postback settled.
    pub async fn run_once_until(
        &self,
        stop: impl Future<Output = ()> + Send,
        mut on_progress: impl FnMut(&RelayReport) + Send,
    ) -> Result<RelayReport, RelayError> {
        let stop = std::pin::pin!(stop);
        let mut round = Round {
            report: RelayReport::default(),
            stop,
            progress: &mut on_progress,
        };
        let span = tracing::info_span!("cj.relay", relay = %self.name);
        async {
            self.start().await?;
            self.fetch(&mut round).await?;
            self.deliver(&mut round).await?;
            let report = &round.report;
            tracing::info!(
                pages = report.pages,
                new = report.new,
                delivered = report.delivered,
                retrying = report.retrying,
                dead = report.dead,
                stopped = report.stopped,
                "relay round done"
            );
            Ok::<_, RelayError>(())
        }
        .instrument(span)
        .await?;
        Ok(round.report)
    }

    /// Runs rounds forever: one every `interval`, or sooner when a record is due for a retry;
    /// `on_report` sees each round's report. Prunes by [`RelayConfig::retention`] when it
    /// starts, then every [`PRUNE_EVERY`]. Returns only when the store fails. Dropping the
    /// future stops it; a delivery cut short is made again (its record stays in flight until
    /// the relay starts again, or its lease runs out): [`run_until`](Self::run_until) stops
    /// without cutting one short.
    pub async fn run(
        &self,
        interval: Duration,
        on_report: impl FnMut(&RelayReport) + Send,
    ) -> Result<std::convert::Infallible, RelayError> {
        self.run_until(interval, std::future::pending(), on_report)
            .await?;
        // Only a store failure ends a run that is never stopped.
        std::future::pending().await
    }

    /// [`run`](Self::run) until `stop` completes (such as Ctrl-C): the round in progress
    /// finishes its postback in flight and ends ([`RelayReport::stopped`]); its report is
    /// the last `on_report` sees.
    pub async fn run_until(
        &self,
        interval: Duration,
        stop: impl Future<Output = ()> + Send,
        mut on_report: impl FnMut(&RelayReport) + Send,
    ) -> Result<(), RelayError> {
        let mut stop = std::pin::pin!(stop);
        let mut prune_at = tokio::time::Instant::now();
        loop {
            let mut pruned = 0;
            if let Some(retention) = self.config.retention
                && tokio::time::Instant::now() >= prune_at
            {
                pruned = self.prune(retention).await?;
                prune_at = tokio::time::Instant::now() + PRUNE_EVERY;
            }
            let mut report = self.run_once_until(stop.as_mut(), |_| {}).await?;
            report.pruned = pruned;
            on_report(&report);
            if report.stopped {
                return Ok(());
            }
            let mut wait = interval;
            if let Some(at) = report.next_attempt {
                let until = at.timestamp().as_millisecond().saturating_sub(now_ms());
                wait = wait.min(Duration::from_millis(u64::try_from(until).unwrap_or(0)));
            }
            tokio::select! {
                () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                () = stop.as_mut() => return Ok(()),
            }
        }
    }

    /// Deletes the delivered records settled more than `older_than` ago (records waiting, in
    /// flight or dead stay), giving SQLite's space back; returns how many. The cursor and the
    /// furthest commission id pruned stay, so a pruned record read again is never delivered
    /// again.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, RelayError> {
        self.store.prepare_relay().await?;
        let before = now_ms().saturating_sub(millis(older_than));
        let pruned = self.store.prune_relay(&self.name, before).await?;
        if pruned > 0 {
            tracing::info!(pruned, "delivered records pruned");
        }
        Ok(pruned)
    }

    /// The dead letters: records the partner refused, or that failed `max_attempts` times.
    pub async fn dead_letters(&self) -> Result<Vec<RelayDeadLetter>, RelayError> {
        self.store.prepare_relay().await?;
        Ok(self.store.relay_dead_letters(&self.name).await?)
    }

    /// Puts dead letters back in line (all when `ids` is `None`; by commission id), to be
    /// delivered in the next round; returns how many.
    pub async fn retry_dead_letters(&self, ids: Option<Vec<String>>) -> Result<u64, RelayError> {
        self.store.prepare_relay().await?;
        Ok(self.store.retry_dead_letters(&self.name, ids).await?)
    }

    /// What the store holds for this relay.
    pub async fn stats(&self) -> Result<RelayStats, RelayError> {
        self.store.prepare_relay().await?;
        Ok(self.store.relay_stats(&self.name).await?)
    }

    /// Once per relay: the tables, and what a previous process left in flight.
    async fn start(&self) -> Result<(), RelayError> {
        self.started
            .get_or_try_init(|| async {
                self.store.prepare_relay().await?;
                let recovered = self.store.recover_relay(&self.name).await?;
                if recovered > 0 {
                    tracing::warn!(
                        recovered,
                        "records left in flight by a previous run will be delivered again"
                    );
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        Ok(())
    }

    /// The stored cursor, or the first run's, stored at once so that a failing first read does
    /// not move the start.
    async fn cursor(&self) -> Result<RelayCursor, RelayError> {
        if let Some(cursor) = self.store.cursor(&self.name).await? {
            return Ok(cursor);
        }
        let now = Timestamp::now();
        let since_posting = whole_ms(self.config.since_posting.map_or_else(
            || {
                now.checked_sub(SignedDuration::from_hours(24))
                    .unwrap_or(now)
            },
            Instant::timestamp,
        ));
        let cursor = RelayCursor {
            since_posting,
            since_commission_id: None,
        };
        self.store
            .store_page(&self.name, Vec::new(), cursor.clone(), now_ms())
            .await?;
        Ok(cursor)
    }

    /// Reads every page after the cursor, window after window, storing each page with the
    /// cursor that follows it and delivering what is due after each.
    async fn fetch(&self, round: &mut Round<'_>) -> Result<(), RelayError> {
        let mut cursor = self.cursor().await?;
        loop {
            let now = Timestamp::now();
            let since = cursor.since_posting.timestamp();
            if since >= now {
                return Ok(());
            }
            let before = since.checked_add(MAX_RANGE).map_or(now, |b| b.min(now));
            let last_window = before >= now;
            let mut request = self
                .commissions
                .publisher([self.publisher_id.as_str()])
                .since_posting(since)
                .before_posting(before)
                .max_pages(self.config.max_pages);
            if let Some(id) = &cursor.since_commission_id {
                request = request.since_commission_id(id.as_str());
            }
            // The walk checks each page before it is yielded: one that does not add up ends
            // it with an error, and nothing of it is stored.
            let mut pages = std::pin::pin!(request.pages());
            loop {
                if round.stopping() {
                    return Ok(());
                }
                let next = tokio::select! {
                    next = pages.try_next() => next,
                    () = round.stop.as_mut() => {
                        round.report.stopped = true;
                        return Ok(());
                    }
                };
                let page = match next {
                    Ok(Some(page)) => page,
                    // The walk ends after a complete page, which breaks below.
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read commissions from CJ");
                        round.report.fetch_error = Some(e);
                        return Ok(());
                    }
                };
                round.report.pages += 1;
                round.report.fetched += page.returned as u64;
                let mut next = cursor.clone();
                if let Some(id) = &page.cursor {
                    next = next.furthest(RelayCursor {
                        since_posting: cursor.since_posting,
                        since_commission_id: Some(id.clone()),
                    });
                }
                if page.window_complete {
                    // A past window is done; the present one is read again next time, from the
                    // lookback on, after the watermark.
                    next.since_posting = if last_window {
                        let lookback = SignedDuration::try_from(self.config.lookback)
                            .unwrap_or(MAX_RANGE)
                            .min(SignedDuration::from_hours(24 * 365));
                        whole_ms(now.checked_sub(lookback).unwrap_or(now).max(since))
                    } else {
                        whole_ms(before)
                    };
                }
                let records = page
                    .records
                    .iter()
                    .map(new_record)
                    .collect::<Result<Vec<_>, _>>()?;
                round.report.new += self
                    .store
                    .store_page(&self.name, records, next.clone(), now_ms())
                    .await?;
                round.progress();
                cursor = next;
                // Between pages: a long read is not a long wait for the partner.
                self.deliver(round).await?;
                if page.window_complete {
                    break;
                }
            }
            if last_window {
                return Ok(());
            }
        }
    }

    /// Delivers the line's records, in order, until it is empty or its head cannot go now.
    async fn deliver(&self, round: &mut Round<'_>) -> Result<(), RelayError> {
        let lease = millis(self.config.lease);
        loop {
            if round.stopping() {
                return Ok(());
            }
            let report = &mut round.report;
            let next = self
                .store
                .claim_record(&self.name, &self.config.worker, now_ms(), lease)
                .await?;
            let record = match next {
                Next::Record(record) => record,
                Next::Waiting { at_ms } => {
                    report.next_attempt = Timestamp::from_millisecond(at_ms).ok().map(Into::into);
                    return Ok(());
                }
                Next::Busy => {
                    report.busy = true;
                    return Ok(());
                }
                _ => return Ok(()),
            };
            let outcome = self.settlement(&record, self.partner.deliver(&record.payload).await);
            match &outcome {
                Settle::Delivered { .. } => report.delivered += 1,
                Settle::Retry { reason, status, .. }
                    if status.is_some_and(|s| (300..400).contains(&s)) =>
                {
                    tracing::warn!(commission_id = %record.commission_id, %reason, "the partner redirects postbacks; the line waits");
                    report.retrying += 1;
                    report.redirected = Some(reason.clone());
                }
                Settle::Retry { reason, .. } => {
                    tracing::warn!(commission_id = %record.commission_id, attempts = record.attempts, %reason, "postback failed; it will be sent again");
                    report.retrying += 1;
                }
                Settle::Dead { reason, .. } => {
                    tracing::warn!(commission_id = %record.commission_id, %reason, "postback refused: now a dead letter");
                    report.dead += 1;
                }
            }
            let held = self
                .store
                .settle_record(&self.name, &self.config.worker, &record, outcome, now_ms())
                .await?;
            if !held {
                tracing::warn!(commission_id = %record.commission_id, "outcome not recorded: another worker took this record over");
                report.lost_leases += 1;
            }
            round.progress();
        }
    }

    /// How an attempt settles its record: a failure is retried after a backoff until
    /// `max_attempts`, then it is a dead letter.
    fn settlement(&self, record: &ClaimedRecord, attempt: Attempt) -> Settle {
        match attempt {
            Attempt::Delivered { status } => Settle::Delivered { status },
            Attempt::Refused {
                status,
                reason,
                body,
            } => Settle::Dead {
                status,
                reason,
                body,
            },
            Attempt::Failed {
                status,
                reason,
                body,
                ..
            } if record.attempts >= self.config.max_attempts => Settle::Dead {
                status,
                reason: format!("gave up after {} attempts: {reason}", record.attempts),
                body,
            },
            Attempt::Failed {
                status,
                reason,
                retry_after,
                ..
            } => self.retry(record, status, reason, retry_after),
            // Not the record's fault: it never becomes a dead letter for it, and it waits at
            // the head of the line (the records after it too) until the URL is fixed.
            Attempt::Redirected { status, reason } => {
                self.retry(record, Some(status), reason, None)
            }
        }
    }

    /// Deliver again after an exponential backoff (a partner's `Retry-After` honoured up to
    /// the longest delay).
    fn retry(
        &self,
        record: &ClaimedRecord,
        status: Option<u16>,
        reason: String,
        retry_after: Option<Duration>,
    ) -> Settle {
        let factor = 2u32.saturating_pow(record.attempts.saturating_sub(1).min(20));
        let mut delay = self
            .config
            .retry_delay
            .saturating_mul(factor)
            .min(self.config.max_retry_delay);
        if let Some(hint) = retry_after {
            delay = delay.max(hint.min(self.config.max_retry_delay));
        }
        Settle::Retry {
            at_ms: now_ms().saturating_add(millis(delay)),
            status,
            reason,
        }
    }
}

/// A record as the store keeps it: CJ's JSON, with CJ's field names.
fn new_record(record: &PublisherCommission) -> Result<NewRecord, StoreError> {
    let payload = serde_json::to_string(record).map_err(|e| {
        StoreError::Other(format!(
            "cannot encode commission {}: {e}",
            record.commission_id
        ))
    })?;
    Ok(NewRecord {
        commission_id: record.commission_id.clone(),
        payload,
    })
}
