//! Reconciliation: which of the orders sent to the Tracking API CJ recorded, and how.
//!
//! CJ accepts an order in real time and processes it later; a processing failure is never
//! reported, the order just never appears in Commission Detail. A [`Reconciler`] takes what was
//! sent ([`SentOrder`]s, built from the Tracking API's request types with the time each was
//! sent), reads the advertiser's Commission Detail records for the event dates the orders cover,
//! matches them on **action tracker id + order id**, and gives each order exactly one
//! [`Verdict`]; a record of an order that was not sent is [`Verdict::Unexpected`].
//!
//! # Which amounts are compared
//!
//! The order's `amount` as last sent (the create's, or the latest restate's: a restatement
//! replaces the whole order) is compared, as a `Decimal`, with CJ's **`saleAmountAdvCurrency`**
//! (the sale amount in the advertiser's currency) summed over the order's original record and
//! its corrections, which are changes ([`fold_actions`] groups them). `2.50` equals `2.5`. An
//! order sent in another currency than the advertiser's (CJ converts it) shows as
//! `amount-differs`, with both amounts. Records without a sale amount (leads) are not compared.
//!
//! # Which records are read
//!
//! Commission Detail is read by **event date**, from the earliest order's event minus
//! [`DEFAULT_MARGIN`] (one day) to the latest order's event or sending plus the margin. The
//! margin covers CJ keeping an event as a bare date, an `eventTime` written with a local
//! offset, and clocks that differ. An order's event is its create's `eventTime`; a restate or
//! cancel added without its create counts from its own `updateTime`, so give the creates too
//! (a restate of an order created weeks earlier is recorded on that order's event date).
//! Records without an `orderId` (bonuses, performance incentives, clicks) are not orders and
//! are skipped.
//!
//! # Memory
//!
//! The reconciler keeps, per order, its ids, the amount last sent, a few times and flags, and a
//! summary of each of CJ's records for it (ids, dates, status, amounts: not the items nor the
//! vertical attributes). Records of orders that were not sent are given back as they are read
//! (as [`Verdict::Unexpected`]) and never kept. Memory grows with the number of orders, not with
//! the number of records CJ holds.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use cj_transport::Error;
use futures_util::{Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::commissions::{
    ActionStatus, ActionType, AdvertiserCommission, CommissionRecord, CommissionsApi,
    CorrectionReason, FoldError, Instant, ValidationStatus, fold_actions,
};
use crate::tracking::{
    NonNegativeInt, OrderCancelRequest, OrderCreateRequest, OrderRestateRequest,
};

/// How long after an order was sent it is not yet expected in Commission Detail: 2 hours (CJ
/// processes orders in about an hour, "or longer").
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(2);

/// How far beyond the orders' event times Commission Detail is read: 1 day on each side.
pub const DEFAULT_MARGIN: SignedDuration = SignedDuration::from_hours(24);

/// What an order's reconciliation found. Serialized as the kebab-case names below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// `recorded`: CJ has the order, with the amount sent, and no correction.
    Recorded,
    /// `amount-differs`: CJ's sale amount (after its corrections) is not the amount last sent.
    AmountDiffers,
    /// `corrected`: CJ has correction records for the order (such as a restatement's), and its
    /// current state agrees with what was sent.
    Corrected,
    /// `cancelled-as-sent`: a cancel was sent and CJ reflects it (a sale amount of zero after
    /// its corrections, or a `DECLINED` validation).
    CancelledAsSent,
    /// `cancel-missing`: a cancel was sent more than the grace period ago, and CJ still has the
    /// order as not cancelled.
    CancelMissing,
    /// `pending`: what CJ has does not match yet, but it was sent less than the grace period
    /// ago: not yet expected.
    Pending,
    /// `missing`: sent more than the grace period ago and not in CJ at all: it failed
    /// processing (or its create was never sent). Safe to send again: CJ deduplicates.
    Missing,
    /// `unexpected`: a record CJ has for an order that was not sent (one per record).
    Unexpected,
}

impl Verdict {
    /// Every verdict, in the order reports list them.
    pub const ALL: [Verdict; 8] = [
        Verdict::Recorded,
        Verdict::Corrected,
        Verdict::CancelledAsSent,
        Verdict::Pending,
        Verdict::AmountDiffers,
        Verdict::CancelMissing,
        Verdict::Missing,
        Verdict::Unexpected,
    ];

    /// The name: `recorded`, `amount-differs`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Recorded => "recorded",
            Verdict::AmountDiffers => "amount-differs",
            Verdict::Corrected => "corrected",
            Verdict::CancelledAsSent => "cancelled-as-sent",
            Verdict::CancelMissing => "cancel-missing",
            Verdict::Pending => "pending",
            Verdict::Missing => "missing",
            Verdict::Unexpected => "unexpected",
        }
    }

    /// Whether CJ has records of the order (whatever they say).
    pub fn is_confirmed(self) -> bool {
        matches!(
            self,
            Verdict::Recorded
                | Verdict::AmountDiffers
                | Verdict::Corrected
                | Verdict::CancelledAsSent
                | Verdict::CancelMissing
        )
    }

    /// Whether a person should look at it: `amount-differs`, `cancel-missing`, `missing`,
    /// `unexpected`.
    pub fn needs_attention(self) -> bool {
        matches!(
            self,
            Verdict::AmountDiffers
                | Verdict::CancelMissing
                | Verdict::Missing
                | Verdict::Unexpected
        )
    }

    /// Whether it is a failure to report: `missing` or `amount-differs` (what `cj reconcile`
    /// exits 1 for).
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Missing | Verdict::AmountDiffers)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no [`Verdict`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a verdict")]
pub struct UnknownVerdict(String);

impl FromStr for Verdict {
    type Err = UnknownVerdict;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVerdict(s.to_string()))
    }
}

/// Which mutation a [`SentOrder`] went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SentKind {
    /// `createOrders`.
    Create,
    /// `restateOrders`.
    Restate,
    /// `cancelOrders`.
    Cancel,
}

/// One request sent for an order: a create, a restate or a cancel, with what reconciliation
/// needs of it and when it was sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SentOrder {
    /// `enterpriseId`.
    pub enterprise_id: String,
    /// `actionTrackerId`.
    pub action_tracker_id: NonNegativeInt,
    /// `orderId`.
    pub order_id: String,
    /// The mutation.
    pub kind: SentKind,
    /// `amount` (a create's or a restate's; `None` for a cancel, or when not given).
    pub amount: Option<Decimal>,
    /// A create's `eventTime`.
    pub event_time: Option<Instant>,
    /// When it was sent (or accepted by CJ).
    pub sent_at: Instant,
}

impl SentOrder {
    /// A create sent at `sent_at`.
    pub fn create(order: &OrderCreateRequest, sent_at: impl Into<Instant>) -> Self {
        SentOrder {
            enterprise_id: order.enterprise_id.to_string(),
            action_tracker_id: order.action_tracker_id,
            order_id: order.order_id.clone(),
            kind: SentKind::Create,
            amount: order.amount.map(|a| a.get()),
            event_time: order.event_time,
            sent_at: sent_at.into(),
        }
    }

    /// A restate sent at `sent_at`.
    pub fn restate(order: &OrderRestateRequest, sent_at: impl Into<Instant>) -> Self {
        SentOrder {
            enterprise_id: order.enterprise_id.to_string(),
            action_tracker_id: order.action_tracker_id,
            order_id: order.order_id.clone(),
            kind: SentKind::Restate,
            amount: order.amount.map(|a| a.get()),
            event_time: None,
            sent_at: sent_at.into(),
        }
    }

    /// A cancel sent at `sent_at`.
    pub fn cancel(order: &OrderCancelRequest, sent_at: impl Into<Instant>) -> Self {
        SentOrder {
            enterprise_id: order.enterprise_id.to_string(),
            action_tracker_id: order.action_tracker_id,
            order_id: order.order_id.clone(),
            kind: SentKind::Cancel,
            amount: None,
            event_time: None,
            sent_at: sent_at.into(),
        }
    }
}

/// One line of a reconciliation: an order and its verdict, or a record CJ has for an order
/// that was not sent. Serialized with camelCase names (`orderId`, `actionTrackerId`,
/// `verdict`, `sentAmount`, `recordedAmount`, `commissionIds`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Reconciled {
    /// `orderId`.
    pub order_id: String,
    /// `actionTrackerId`, as CJ writes it in Commission Detail.
    pub action_tracker_id: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The order's `enterpriseId` as sent, or the record's `advertiserId` for an unexpected one.
    pub enterprise_id: String,
    /// The amount last sent (the create's or the latest restate's); `None` when none was sent.
    pub sent_amount: Option<Decimal>,
    /// CJ's `saleAmountAdvCurrency`, summed over the order's records (its current sale amount);
    /// `None` when CJ has no record or no sale amount.
    pub recorded_amount: Option<Decimal>,
    /// CJ's `commissionId` of each record: the original first, then the corrections.
    pub commission_ids: Vec<String>,
    /// The latest record's `actionStatus` (by posting date).
    pub action_status: Option<ActionStatus>,
    /// Every correction's `correctionReason`, oldest first.
    pub correction_reasons: Vec<CorrectionReason>,
    /// Whether CJ's original record was read (`false`: only corrections were, whose amounts are
    /// changes, so none is compared).
    pub original_read: bool,
    /// Whether a restate was sent.
    pub restated: bool,
    /// Whether a cancel was sent.
    pub cancelled: bool,
    /// When the last request for the order was sent.
    pub last_sent: Option<Instant>,
}

/// Why a reconciliation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// Commission Detail could not be read: no verdict is given, since a record not read would
    /// make its order look missing.
    #[error("reading Commission Detail failed")]
    Commissions(#[source] Error),
    /// An order's records could not be folded (two originals of one action, or sums out of
    /// range).
    #[error(
        "order {order_id:?} (action tracker {action_tracker_id}): CJ's records cannot be folded"
    )]
    Fold {
        /// The order.
        order_id: String,
        /// Its action tracker.
        action_tracker_id: NonNegativeInt,
        /// Why.
        #[source]
        source: FoldError,
    },
}

/// Reconciles orders that were sent with what CJ recorded in Commission Detail.
///
/// [`add`](Self::add) what was sent, then either [`reconcile`](Self::reconcile) against CJ, or
/// [`push`](Self::push) records you read yourself and [`finish`](Self::finish). Each order
/// gets exactly one [`Verdict`], decided at the end:
///
/// | CJ has | the order | verdict |
/// |---|---|---|
/// | nothing | its latest create (without one, its latest request) sent less than `grace` ago | `pending` |
/// | nothing | sent earlier | `missing` |
/// | only corrections (its original is outside the dates read) | | `corrected` |
/// | records | cancelled: sale amount now zero, or `DECLINED` | `cancelled-as-sent` |
/// | records | cancelled: otherwise | `pending` if the cancel is recent, else `cancel-missing` |
/// | records | sale amount is not the amount last sent | `pending` if that request is recent, else `amount-differs` |
/// | records | the amounts agree (or one is missing) | `corrected` if CJ has corrections, else `recorded` |
///
/// See the [module documentation](self) for the amounts compared and the dates read.
///
/// ```no_run
/// use cj_graphql::commissions::{CommissionsApi, DEFAULT_BASE_URL};
/// use cj_graphql::reconcile::{Reconciler, SentOrder, Verdict};
/// use cj_graphql::tracking::OrderCreateRequest;
/// use cj_graphql::transport::{Credentials, Transport};
/// use futures_util::TryStreamExt;
///
/// # async fn run(sent: Vec<(OrderCreateRequest, jiff::Timestamp)>) -> Result<(), Box<dyn std::error::Error>> {
/// let transport = Transport::builder().credentials(Credentials::token("...")).build()?;
/// let api = CommissionsApi::new(transport, DEFAULT_BASE_URL)?;
///
/// let mut reconciler = Reconciler::new().grace(jiff::SignedDuration::from_mins(90));
/// for (order, sent_at) in &sent {
///     reconciler.add(SentOrder::create(order, *sent_at));
/// }
/// let mut lines = std::pin::pin!(reconciler.reconcile(&api, ["1234567"]));
/// while let Some(line) = lines.try_next().await? {
///     if line.verdict.needs_attention() {
///         println!("{} {}: {} (sent {:?}, CJ {:?}, commissions {:?})", line.action_tracker_id,
///                  line.order_id, line.verdict, line.sent_amount, line.recorded_amount,
///                  line.commission_ids);
///     }
/// }
/// # Ok(()) }
/// ```
///
/// Without HTTP, from records read elsewhere (a saved page, a test):
///
/// ```
/// use cj_graphql::commissions::parse_advertiser_page;
/// use cj_graphql::reconcile::{Reconciler, SentOrder, Verdict};
/// use cj_graphql::tracking::OrderCreateRequest;
///
/// let order = OrderCreateRequest::builder()
///     .enterprise_id("1234567")
///     .action_tracker_id(123456)
///     .order_id("ORD-1")
///     .event_time("2026-01-05T10:00:00Z".parse::<jiff::Timestamp>()?)
///     .amount("149.98".parse()?)
///     .build();
/// let now: jiff::Timestamp = "2026-01-06T00:00:00Z".parse()?;
/// let mut reconciler = Reconciler::new().now(now);
/// let sent_at: jiff::Timestamp = "2026-01-05T10:00:01Z".parse()?;
/// reconciler.add(SentOrder::create(&order, sent_at));
///
/// let page = parse_advertiser_page(br#"{"data": {"advertiserCommissions": {
///     "count": 1, "limit": 10000, "maxCommissionId": "1", "payloadComplete": true,
///     "records": [{"actionStatus": "new", "actionTrackerId": "123456",
///       "actionTrackerName": "Sale", "actionType": "sim_sale", "advertiserId": "1234567",
///       "advertiserName": "Acme", "commissionId": "1", "eventDate": "2026-01-05T10:00:00Z",
///       "lockingDate": "2026-02-10T00:00:00Z", "original": true, "originalActionId": "9",
///       "orderId": "ORD-1", "postingDate": "2026-01-05T11:00:00Z",
///       "pubCommissionAmountPubCurrency": "15.00", "pubCommissionAmountUsd": "15.00",
///       "publisherId": "7654321", "publisherName": "Blog", "saleAmountAdvCurrency": "149.98",
///       "items": [], "situations": [], "situationDetails": []}]}}}"#)?;
/// for record in &page.records {
///     assert!(reconciler.push(record).is_none(), "a record of an order sent");
/// }
/// let lines: Vec<_> = reconciler.finish().collect::<Result<_, _>>()?;
/// assert_eq!(lines[0].verdict, Verdict::Recorded);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reconciler {
    /// The orders, in the order they were first added.
    orders: Vec<Expected>,
    /// Action tracker, then order id: the order's index in `orders`.
    index: HashMap<NonNegativeInt, HashMap<Arc<str>, usize>>,
    grace: SignedDuration,
    margin: SignedDuration,
    now: Timestamp,
    /// The earliest event (or sending, without a create) and the latest time of any order.
    earliest: Option<Timestamp>,
    latest: Option<Timestamp>,
}

/// What was sent for one order, folded over its requests.
#[derive(Debug, Clone)]
struct Expected {
    enterprise_id: Box<str>,
    action_tracker_id: NonNegativeInt,
    order_id: Arc<str>,
    /// When the latest create was sent (an order sent again has a later one).
    create_sent: Option<Timestamp>,
    restated: bool,
    /// When the cancel was sent, if one was.
    cancel_sent: Option<Timestamp>,
    /// The amount last sent, and when the request that carried it was sent.
    amount: Option<Decimal>,
    amount_sent: Option<(SentKind, Timestamp)>,
    last_sent: Timestamp,
    /// CJ's records of the order, summarized.
    records: Vec<Seen>,
}

impl Default for Reconciler {
    fn default() -> Self {
        Reconciler::new()
    }
}

impl Reconciler {
    /// An empty reconciler, judging against the current time with [`DEFAULT_GRACE`] and
    /// [`DEFAULT_MARGIN`].
    pub fn new() -> Self {
        Reconciler {
            orders: Vec::new(),
            index: HashMap::new(),
            grace: DEFAULT_GRACE,
            margin: DEFAULT_MARGIN,
            now: Timestamp::now(),
            earliest: None,
            latest: None,
        }
    }

    /// How long after its last request an order is not yet expected to show in CJ (default
    /// [`DEFAULT_GRACE`], 2 hours).
    pub fn grace(mut self, grace: SignedDuration) -> Self {
        self.grace = grace;
        self
    }

    /// How far beyond the orders' event times Commission Detail is read (default
    /// [`DEFAULT_MARGIN`], 1 day).
    pub fn margin(mut self, margin: SignedDuration) -> Self {
        self.margin = margin;
        self
    }

    /// The time the grace period counts back from (default: when the reconciler was made).
    pub fn now(mut self, now: impl Into<Instant>) -> Self {
        self.now = now.into().timestamp();
        self
    }

    /// Adds a request sent for an order. An order's requests may come in any order: its amount
    /// is the latest restate's (by sending time) if it was restated, else its create's.
    pub fn add(&mut self, sent: SentOrder) {
        let at = sent.sent_at.timestamp();
        let event = sent.event_time.map(Instant::timestamp);
        let early = event.map_or(at, |e| e.min(at));
        let late = event.map_or(at, |e| e.max(at));
        self.earliest = Some(self.earliest.map_or(early, |t| t.min(early)));
        self.latest = Some(self.latest.map_or(late, |t| t.max(late)));

        let orders = self.index.entry(sent.action_tracker_id).or_default();
        let position = match orders.get(sent.order_id.as_str()) {
            Some(&i) => i,
            None => {
                let order_id: Arc<str> = Arc::from(sent.order_id.as_str());
                orders.insert(order_id.clone(), self.orders.len());
                self.orders.push(Expected {
                    enterprise_id: sent.enterprise_id.as_str().into(),
                    action_tracker_id: sent.action_tracker_id,
                    order_id,
                    create_sent: None,
                    restated: false,
                    cancel_sent: None,
                    amount: None,
                    amount_sent: None,
                    last_sent: at,
                    records: Vec::new(),
                });
                self.orders.len() - 1
            }
        };
        let Some(order) = self.orders.get_mut(position) else {
            return;
        };
        order.last_sent = order.last_sent.max(at);
        match sent.kind {
            SentKind::Create => {
                order.create_sent = Some(order.create_sent.map_or(at, |t| t.max(at)));
            }
            SentKind::Restate => order.restated = true,
            SentKind::Cancel => {
                order.cancel_sent = Some(order.cancel_sent.map_or(at, |t| t.max(at)));
            }
        }
        if sent.kind != SentKind::Cancel {
            // A restate replaces the whole order: the latest one's amount stands, over the
            // create's, whatever order they were added in.
            let newer = match order.amount_sent {
                None => true,
                Some((SentKind::Create, _)) => sent.kind == SentKind::Restate,
                Some((_, then)) => sent.kind == SentKind::Restate && at >= then,
            };
            if newer {
                order.amount = sent.amount;
                order.amount_sent = Some((sent.kind, at));
            }
        }
    }

    /// How many orders were added.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether no order was added.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// How many orders were added with a restate or cancel but no create: their event date is
    /// not known, and they are looked for from their `updateTime`.
    pub fn without_create(&self) -> usize {
        self.orders
            .iter()
            .filter(|o| o.create_sent.is_none())
            .count()
    }

    /// The event dates to read: `(since, before)`, from the earliest event (or sending) minus
    /// the margin to the latest event or sending plus the margin; `None` without orders.
    pub fn window(&self) -> Option<(Instant, Instant)> {
        let (earliest, latest) = (self.earliest?, self.latest?);
        let since = earliest.checked_sub(self.margin).unwrap_or(earliest);
        let before = latest.checked_add(self.margin).unwrap_or(latest);
        Some((since.into(), before.into()))
    }

    /// Takes one of CJ's records: kept (summarized) when it is of an order that was added, and
    /// given back as an [`Verdict::Unexpected`] line when it is of another order. A record
    /// without an `orderId` is not an order: it is skipped (`None`).
    pub fn push(&mut self, record: &AdvertiserCommission) -> Option<Reconciled> {
        let order_id = record.order_id.as_deref()?;
        let found = record
            .action_tracker_id
            .trim()
            .parse::<NonNegativeInt>()
            .ok()
            .and_then(|tracker| self.index.get(&tracker))
            .and_then(|orders| orders.get(order_id))
            .and_then(|&i| self.orders.get_mut(i));
        match found {
            Some(order) => {
                order
                    .records
                    .push(Seen::new(record, order.order_id.clone()));
                None
            }
            None => Some(Reconciled {
                order_id: order_id.to_string(),
                action_tracker_id: record.action_tracker_id.clone(),
                verdict: Verdict::Unexpected,
                enterprise_id: record.advertiser_id.clone(),
                sent_amount: None,
                recorded_amount: record.sale_amount_adv_currency,
                commission_ids: vec![record.commission_id.clone()],
                action_status: Some(record.action_status.clone()),
                correction_reasons: record.correction_reason.iter().cloned().collect(),
                original_read: record.original,
                restated: false,
                cancelled: false,
                last_sent: None,
            }),
        }
    }

    /// Every order's verdict, in the order the orders were first added.
    pub fn finish(self) -> Verdicts {
        Verdicts {
            orders: self.orders.into_iter(),
            now: self.now,
            grace: self.grace,
        }
    }

    /// Reads the advertisers' Commission Detail for the [`window`](Self::window) and yields a
    /// line per record of an order that was not sent as it is read, then every order's verdict
    /// ([`finish`](Self::finish)). If reading fails, the error is the last item and no verdict
    /// is given (a record not read would make its order look missing). Without orders, nothing
    /// is read.
    pub fn reconcile<I>(
        self,
        api: &CommissionsApi,
        advertiser_ids: I,
    ) -> impl Stream<Item = Result<Reconciled, ReconcileError>> + Send + 'static
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let records = self.window().map(|(since, before)| {
            api.advertiser(advertiser_ids)
                .since_event(since)
                .before_event(before)
                .stream()
                .boxed()
        });
        enum Phase<R> {
            Reading(R, Box<Reconciler>),
            Judging(Verdicts),
            Done,
        }
        let start = match records {
            Some(records) => Phase::Reading(records, Box::new(self)),
            None => Phase::Done,
        };
        futures_util::stream::unfold(start, |phase| async move {
            match phase {
                Phase::Reading(mut records, mut reconciler) => loop {
                    match records.next().await {
                        Some(Ok(record)) => {
                            if let Some(line) = reconciler.push(&record) {
                                return Some((Ok(line), Phase::Reading(records, reconciler)));
                            }
                        }
                        Some(Err(e)) => {
                            return Some((Err(ReconcileError::Commissions(e)), Phase::Done));
                        }
                        None => {
                            let mut verdicts = reconciler.finish();
                            let first = verdicts.next()?;
                            return Some((first, Phase::Judging(verdicts)));
                        }
                    }
                },
                Phase::Judging(mut verdicts) => {
                    let next = verdicts.next()?;
                    Some((next, Phase::Judging(verdicts)))
                }
                Phase::Done => None,
            }
        })
    }
}

/// Every order's verdict, from [`Reconciler::finish`], in the order the orders were added.
#[derive(Debug)]
pub struct Verdicts {
    orders: std::vec::IntoIter<Expected>,
    now: Timestamp,
    grace: SignedDuration,
}

impl Iterator for Verdicts {
    type Item = Result<Reconciled, ReconcileError>;

    fn next(&mut self) -> Option<Self::Item> {
        let order = self.orders.next()?;
        Some(judge(order, self.now, self.grace))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.orders.size_hint()
    }
}

/// An order's verdict from what was sent and CJ's records.
fn judge(
    order: Expected,
    now: Timestamp,
    grace: SignedDuration,
) -> Result<Reconciled, ReconcileError> {
    let recent = |t: Timestamp| now.duration_since(t) < grace;
    let Expected {
        enterprise_id,
        action_tracker_id,
        order_id,
        create_sent,
        restated,
        cancel_sent,
        amount,
        amount_sent,
        last_sent,
        records,
    } = order;
    let fold_error = |source| ReconcileError::Fold {
        order_id: order_id.to_string(),
        action_tracker_id,
        source,
    };
    let cj = if records.is_empty() {
        None
    } else {
        Some(Folded::new(records).map_err(fold_error)?)
    };
    let verdict = match &cj {
        // Not yet expected while its latest create (or, without one, its latest request) is
        // recent: an order sent again gets a new grace period.
        None if recent(create_sent.unwrap_or(last_sent)) => Verdict::Pending,
        None => Verdict::Missing,
        Some(cj) if !cj.original_read => Verdict::Corrected,
        Some(cj) => match cancel_sent {
            Some(_) if cj.reflects_cancel() => Verdict::CancelledAsSent,
            Some(at) if recent(at) => Verdict::Pending,
            Some(_) => Verdict::CancelMissing,
            None => match (amount, cj.sale_amount) {
                (Some(sent), Some(recorded)) if sent != recorded => match amount_sent {
                    Some((_, at)) if recent(at) => Verdict::Pending,
                    _ => Verdict::AmountDiffers,
                },
                _ if cj.corrected => Verdict::Corrected,
                _ => Verdict::Recorded,
            },
        },
    };
    let cj = cj.unwrap_or_default();
    Ok(Reconciled {
        order_id: order_id.to_string(),
        action_tracker_id: action_tracker_id.to_string(),
        verdict,
        enterprise_id: enterprise_id.into(),
        sent_amount: amount,
        recorded_amount: cj.sale_amount,
        commission_ids: cj.commission_ids,
        action_status: cj.status,
        correction_reasons: cj.correction_reasons,
        original_read: cj.original_read,
        restated,
        cancelled: cancel_sent.is_some(),
        last_sent: Some(last_sent.into()),
    })
}

/// An order's current state in CJ: its records folded by action ([`fold_actions`]), and summed
/// over actions (an order CJ recorded twice counts twice).
#[derive(Debug, Default)]
struct Folded {
    sale_amount: Option<Decimal>,
    commission_usd: Decimal,
    status: Option<ActionStatus>,
    validation: Option<ValidationStatus>,
    correction_reasons: Vec<CorrectionReason>,
    commission_ids: Vec<String>,
    original_read: bool,
    corrected: bool,
}

impl Folded {
    fn new(records: Vec<Seen>) -> Result<Folded, FoldError> {
        let mut folded = Folded {
            original_read: true,
            ..Folded::default()
        };
        let mut latest: Option<(Instant, &Seen)> = None;
        let states = fold_actions(records)?;
        for state in &states {
            let overflow = || FoldError::Overflow {
                action: state.original_action_id.clone(),
                field: "sale amount (advertiser's currency)",
            };
            folded.original_read &= state.has_original;
            folded.corrected |= state.is_corrected();
            folded
                .correction_reasons
                .extend(state.correction_reasons.iter().cloned());
            folded.commission_usd = folded
                .commission_usd
                .checked_add(state.commission_usd)
                .ok_or_else(overflow)?;
            for record in &state.history {
                folded.commission_ids.push(record.commission_id.to_string());
                if let Some(amount) = record.sale_amount_adv_currency {
                    let sum = folded.sale_amount.unwrap_or(Decimal::ZERO);
                    folded.sale_amount = Some(sum.checked_add(amount).ok_or_else(overflow)?);
                }
                if latest.is_none_or(|(at, _)| record.posting_date >= at) {
                    latest = Some((record.posting_date, record));
                }
            }
        }
        if let Some((_, record)) = latest {
            folded.status = Some(record.action_status.clone());
            folded.validation = record.validation_status.clone();
        }
        Ok(folded)
    }

    /// Whether CJ reflects a cancel: nothing left to pay (the sale amount, or for an action
    /// without one, the commission, folded to zero), or the order `DECLINED`.
    fn reflects_cancel(&self) -> bool {
        let zero = match self.sale_amount {
            Some(amount) => amount.is_zero(),
            None => self.commission_usd.is_zero(),
        };
        zero || self.validation == Some(ValidationStatus::Declined)
    }
}

/// What reconciliation keeps of one of CJ's records: what [`fold_actions`] reads, the
/// advertiser's sale amount and the validation status.
#[derive(Debug, Clone)]
struct Seen {
    commission_id: Box<str>,
    order_id: Arc<str>,
    original: bool,
    original_action_id: Box<str>,
    action_status: ActionStatus,
    action_type: ActionType,
    correction_reason: Option<CorrectionReason>,
    validation_status: Option<ValidationStatus>,
    advertiser_id: Box<str>,
    publisher_id: Box<str>,
    posting_date: Instant,
    event_date: Instant,
    locking_date: Instant,
    sale_amount_adv_currency: Option<Decimal>,
    sale_amount_usd: Option<Decimal>,
    sale_amount_pub_currency: Option<Decimal>,
    pub_commission_amount_usd: Decimal,
    pub_commission_amount_pub_currency: Decimal,
}

impl Seen {
    /// The summary of `r`, a record of order `order_id`.
    fn new(r: &AdvertiserCommission, order_id: Arc<str>) -> Self {
        Seen {
            commission_id: r.commission_id.as_str().into(),
            order_id,
            original: r.original,
            original_action_id: r.original_action_id.as_str().into(),
            action_status: r.action_status.clone(),
            action_type: r.action_type.clone(),
            correction_reason: r.correction_reason.clone(),
            validation_status: r.validation_status.clone(),
            advertiser_id: r.advertiser_id.as_str().into(),
            publisher_id: r.publisher_id.as_str().into(),
            posting_date: r.posting_date,
            event_date: r.event_date,
            locking_date: r.locking_date,
            sale_amount_adv_currency: r.sale_amount_adv_currency,
            sale_amount_usd: r.sale_amount_usd,
            sale_amount_pub_currency: r.sale_amount_pub_currency,
            pub_commission_amount_usd: r.pub_commission_amount_usd,
            pub_commission_amount_pub_currency: r.pub_commission_amount_pub_currency,
        }
    }
}

impl CommissionRecord for Seen {
    fn commission_id(&self) -> &str {
        &self.commission_id
    }
    fn order_id(&self) -> Option<&str> {
        Some(&self.order_id)
    }
    fn original(&self) -> bool {
        self.original
    }
    fn original_action_id(&self) -> &str {
        &self.original_action_id
    }
    fn action_status(&self) -> &ActionStatus {
        &self.action_status
    }
    fn action_type(&self) -> &ActionType {
        &self.action_type
    }
    fn correction_reason(&self) -> Option<&CorrectionReason> {
        self.correction_reason.as_ref()
    }
    fn advertiser_id(&self) -> &str {
        &self.advertiser_id
    }
    fn publisher_id(&self) -> &str {
        &self.publisher_id
    }
    fn posting_date(&self) -> Instant {
        self.posting_date
    }
    fn event_date(&self) -> Instant {
        self.event_date
    }
    fn locking_date(&self) -> Instant {
        self.locking_date
    }
    fn sale_amount_usd(&self) -> Option<Decimal> {
        self.sale_amount_usd
    }
    fn sale_amount_pub_currency(&self) -> Option<Decimal> {
        self.sale_amount_pub_currency
    }
    fn pub_commission_amount_usd(&self) -> Decimal {
        self.pub_commission_amount_usd
    }
    fn pub_commission_amount_pub_currency(&self) -> Decimal {
        self.pub_commission_amount_pub_currency
    }
}
