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
//! (the sale amount in the advertiser's functional currency) summed over the order's original
//! record and its corrections, which are changes ([`fold_actions`] groups them). `2.50` equals
//! `2.5`. CJ's record names no currency code: an order sent in another `currency` than the
//! advertiser's (CJ converts it) shows as `amount-differs`, and each line carries the order's
//! [`sent_currency`](Reconciled::sent_currency) and CJ's USD amount
//! ([`recorded_amount_usd`](Reconciled::recorded_amount_usd)) beside CJ's amount, so a
//! conversion can be told from a wrong amount. An order sent with an amount whose records carry
//! no advertiser-currency amount is `amount-unknown` (nothing was compared), never `recorded`.
//! Orders sent without an amount (leads) are not compared.
//!
//! # Which items are compared
//!
//! When the order as last sent carried `items`, CJ's item records are compared with them by
//! SKU: the quantity of each SKU (an order may list a SKU more than once: the quantities add
//! up), and the unit price of an item sent without a discount when the amounts are evidently in
//! one currency (the order named no `currency`, or its amount agrees with CJ's). CJ's current
//! items are those of its latest record that lists items; if a correction lists a negative
//! quantity, CJ's item records are changes and are summed instead. A SKU that differs is named
//! in [`differing_skus`](Reconciled::differing_skus) and the verdict is `items-differ`. Records
//! that list no items at all (a simple action) are not compared item by item.
//!
//! # Another action tracker
//!
//! CJ's unique order is enterprise id + action tracker id + order id. A record of the same
//! enterprise (`advertiserId`) and `orderId` under another action tracker is not the order:
//! when CJ has only such records, the order is `other-tracker`, naming the tracker CJ used
//! ([`other_action_tracker_ids`](Reconciled::other_action_tracker_ids)); it is not `missing`
//! (sending it again could make a second commission) and its records are not also listed as
//! `unexpected`. When CJ also has the order under its own tracker, the other tracker's records
//! are another order, listed as `unexpected` after the order's verdict.
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
//! The reconciler keeps, per order, its ids, the amount and currency last sent (and the items,
//! when it sent items), a few times and flags, and a summary of each of CJ's records for it
//! (ids, dates, status, amounts, and the items only for an order that sent items; never the
//! vertical attributes). Records of orders that were not sent are given back as they are read
//! (as [`Verdict::Unexpected`]) and never kept, except those of a sent order id under another
//! action tracker, kept until the end to tell `other-tracker` from `unexpected`. Memory grows
//! with the number of orders, not with the number of records CJ holds.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use cj_transport::Error;
use futures_util::{Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::commissions::{
    ActionStatus, ActionType, Advertiser, AdvertiserCommission, CommissionRecord, CommissionsApi,
    CommissionsRequest, CorrectionReason, FoldError, Instant, ValidationStatus, fold_actions,
    id_order,
};
use crate::tracking::{
    NonNegativeInt, OrderCancelRequest, OrderCreateRequest, OrderItemInput, OrderRestateRequest,
};

/// How long after an order was sent it is not yet expected in Commission Detail: 2 hours (CJ
/// processes orders in about an hour, "or longer").
pub const DEFAULT_GRACE: SignedDuration = SignedDuration::from_hours(2);

/// How far beyond the orders' event times Commission Detail is read: 1 day on each side.
pub const DEFAULT_MARGIN: SignedDuration = SignedDuration::from_hours(24);

/// What an order's reconciliation found. Serialized as the kebab-case names below.
///
/// `cj reconcile` exits 0 only when every verdict is `recorded`, `corrected`,
/// `cancelled-as-sent` or `pending` ([`needs_attention`](Self::needs_attention) is false), and
/// 1 otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// `recorded`: CJ has the order, with the amount (and items) sent, and no correction.
    Recorded,
    /// `amount-differs`: CJ's sale amount (after its corrections) is not the amount last sent.
    AmountDiffers,
    /// `amount-unknown`: CJ has the order, but its records carry no sale amount in the
    /// advertiser's currency, so the amount sent could not be compared (the line carries what
    /// CJ did give, such as the USD amount).
    AmountUnknown,
    /// `items-differ`: CJ has the order with the amount sent, but its item records differ from
    /// the items last sent (the line names the SKUs).
    ItemsDiffer,
    /// `corrected`: CJ has correction records for the order (such as a restatement's), and its
    /// current state agrees with what was sent.
    Corrected,
    /// `cancelled-as-sent`: a cancel was sent and CJ reflects it (a sale amount of zero after
    /// its corrections, or a `DECLINED` validation).
    CancelledAsSent,
    /// `cancel-missing`: a cancel was sent more than the grace period ago, and CJ still has the
    /// order as not cancelled: CJ keeps paying commission on it.
    CancelMissing,
    /// `pending`: what CJ has does not match yet, but it was sent less than the grace period
    /// ago: not yet expected.
    Pending,
    /// `other-tracker`: CJ has no record of the order under its action tracker, but has the
    /// same enterprise id and order id under another one (the line names it). Not `missing`:
    /// sending it again could make a second commission.
    OtherTracker,
    /// `missing`: sent more than the grace period ago and not in CJ at all: it failed
    /// processing (or its create was never sent). Safe to send again: CJ deduplicates.
    Missing,
    /// `unexpected`: a record CJ has for an order that was not sent (one per record).
    Unexpected,
}

impl Verdict {
    /// Every verdict, in the order reports list them.
    pub const ALL: [Verdict; 11] = [
        Verdict::Recorded,
        Verdict::Corrected,
        Verdict::CancelledAsSent,
        Verdict::Pending,
        Verdict::AmountDiffers,
        Verdict::AmountUnknown,
        Verdict::ItemsDiffer,
        Verdict::CancelMissing,
        Verdict::OtherTracker,
        Verdict::Missing,
        Verdict::Unexpected,
    ];

    /// The name: `recorded`, `amount-differs`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Recorded => "recorded",
            Verdict::AmountDiffers => "amount-differs",
            Verdict::AmountUnknown => "amount-unknown",
            Verdict::ItemsDiffer => "items-differ",
            Verdict::Corrected => "corrected",
            Verdict::CancelledAsSent => "cancelled-as-sent",
            Verdict::CancelMissing => "cancel-missing",
            Verdict::Pending => "pending",
            Verdict::OtherTracker => "other-tracker",
            Verdict::Missing => "missing",
            Verdict::Unexpected => "unexpected",
        }
    }

    /// Whether CJ has records of the order as sent (under its action tracker, whatever they
    /// say).
    pub fn is_confirmed(self) -> bool {
        matches!(
            self,
            Verdict::Recorded
                | Verdict::AmountDiffers
                | Verdict::AmountUnknown
                | Verdict::ItemsDiffer
                | Verdict::Corrected
                | Verdict::CancelledAsSent
                | Verdict::CancelMissing
        )
    }

    /// Whether a person should look at it: every verdict but `recorded`, `corrected`,
    /// `cancelled-as-sent` and `pending`. `cj reconcile` exits 1 when any line has one.
    pub fn needs_attention(self) -> bool {
        !matches!(
            self,
            Verdict::Recorded | Verdict::Corrected | Verdict::CancelledAsSent | Verdict::Pending
        )
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
    /// `currency` (a create's or a restate's; `None`: CJ takes the advertiser's functional
    /// currency).
    pub currency: Option<String>,
    /// `items` (a create's or a restate's; `None` when the request carried none).
    pub items: Option<Vec<SentItem>>,
    /// A create's `eventTime`.
    pub event_time: Option<Instant>,
    /// When it was sent (or accepted by CJ).
    pub sent_at: Instant,
}

/// An item of an order as sent: what reconciliation compares with CJ's item records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentItem {
    /// `sku`.
    pub sku: String,
    /// `quantity`.
    pub quantity: NonNegativeInt,
    /// `unitPrice`, in the order's currency.
    pub unit_price: Decimal,
    /// `discount` on the unit price.
    pub discount: Option<Decimal>,
}

impl SentItem {
    /// An item as the Tracking API's request carries it.
    pub fn new(item: &OrderItemInput) -> Self {
        SentItem {
            sku: item.sku.clone(),
            quantity: item.quantity,
            unit_price: item.unit_price.get(),
            discount: item.discount.map(|d| d.get()),
        }
    }
}

fn sent_items(items: Option<&Vec<OrderItemInput>>) -> Option<Vec<SentItem>> {
    items.map(|items| items.iter().map(SentItem::new).collect())
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
            currency: order.currency.clone(),
            items: sent_items(order.items.as_ref()),
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
            currency: order.currency.clone(),
            items: sent_items(order.items.as_ref()),
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
            currency: None,
            items: None,
            event_time: None,
            sent_at: sent_at.into(),
        }
    }
}

/// One line of a reconciliation: an order and its verdict, or a record CJ has for an order
/// that was not sent. Serialized with camelCase names (`orderId`, `actionTrackerId`,
/// `verdict`, `sentAmount`, `sentCurrency`, `recordedAmount`, `recordedAmountUsd`,
/// `commissionIds`, ...).
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
    /// The `currency` the amount was sent in; `None` when the order named none (CJ then takes
    /// the advertiser's functional currency).
    pub sent_currency: Option<String>,
    /// CJ's `saleAmountAdvCurrency`, summed over the order's records (its current sale amount),
    /// **in the advertiser's functional currency** (CJ's record names no currency code); `None`
    /// when CJ has no record or no such amount.
    pub recorded_amount: Option<Decimal>,
    /// CJ's `saleAmountUsd`, summed over the order's records; `None` when CJ gives none.
    pub recorded_amount_usd: Option<Decimal>,
    /// CJ's `commissionId` of each record: the original first, then the corrections.
    pub commission_ids: Vec<String>,
    /// The latest record's `actionStatus` (by posting date).
    pub action_status: Option<ActionStatus>,
    /// Every correction's `correctionReason`, oldest first.
    pub correction_reasons: Vec<CorrectionReason>,
    /// Whether CJ's original record was read (`false`: only corrections were, whose amounts are
    /// changes, so none is compared).
    pub original_read: bool,
    /// The SKUs whose quantity or unit price in CJ's item records differs from the items last
    /// sent (see the [module documentation](self)), in SKU order; empty when they agree or were
    /// not compared.
    pub differing_skus: Vec<String>,
    /// For `other-tracker`: the action trackers CJ recorded the enterprise id and order id
    /// under instead.
    pub other_action_tracker_ids: Vec<String>,
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
/// | only records of its enterprise and order id under another action tracker | | `other-tracker` |
/// | nothing | its latest create (without one, its latest request) sent less than `grace` ago | `pending` |
/// | nothing | sent earlier | `missing` |
/// | only corrections (its original is outside the dates read) | | `corrected` |
/// | records | cancelled: sale amount now zero, or `DECLINED` | `cancelled-as-sent` |
/// | records | cancelled: otherwise | `pending` if the cancel is recent, else `cancel-missing` |
/// | records | sale amount is not the amount last sent | `pending` if that request is recent, else `amount-differs` |
/// | records without an advertiser-currency sale amount | sent with an amount | `amount-unknown` |
/// | records | items differ from the items last sent | `pending` if that request is recent, else `items-differ` |
/// | records | the amounts and items agree (or it sent none) | `corrected` if CJ has corrections, else `recorded` |
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
    /// Order id: the first order with it in `orders` (the others, under other action trackers
    /// or enterprises, follow through [`Expected::next`]).
    index: HashMap<Arc<str>, usize>,
    grace: SignedDuration,
    margin: SignedDuration,
    now: Timestamp,
    /// The earliest event (or sending, without a create) and the latest time of any order.
    earliest: Option<Timestamp>,
    latest: Option<Timestamp>,
    /// Whether an order none of whose records were read is judged (`missing`, `pending`);
    /// not when a filter may have left its records out.
    judge_unread: bool,
}

/// What was sent for one order, folded over its requests.
#[derive(Debug, Clone)]
struct Expected {
    enterprise_id: Box<str>,
    action_tracker_id: NonNegativeInt,
    order_id: Arc<str>,
    /// The next order with the same order id (another action tracker or enterprise).
    next: Option<usize>,
    /// When the latest create was sent (an order sent again has a later one).
    create_sent: Option<Timestamp>,
    restated: bool,
    /// When the cancel was sent, if one was.
    cancel_sent: Option<Timestamp>,
    /// The amount, currency and items last sent, and when the request that carried them was
    /// sent.
    amount: Option<Decimal>,
    currency: Option<Box<str>>,
    items: Option<Box<[SentItem]>>,
    amount_sent: Option<(SentKind, Timestamp)>,
    last_sent: Timestamp,
    /// CJ's records of the order, summarized.
    records: Vec<Seen>,
    /// CJ's records of its enterprise id and order id under another action tracker.
    elsewhere: Vec<Seen>,
}

impl Expected {
    /// Whether CJ's item records are worth keeping: the order sent items.
    fn sent_items(&self) -> bool {
        self.items.as_ref().is_some_and(|items| !items.is_empty())
    }
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
            judge_unread: true,
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

    /// The orders with `order_id`, by their position in `orders`.
    fn same_id(&self, order_id: &str) -> impl Iterator<Item = (usize, &Expected)> {
        let mut at = self.index.get(order_id).copied();
        std::iter::from_fn(move || {
            let i = at?;
            let order = self.orders.get(i)?;
            at = order.next;
            Some((i, order))
        })
    }

    /// Adds a request sent for an order. An order's requests may come in any order: its amount
    /// (and currency and items) is the latest restate's (by sending time) if it was restated,
    /// else its create's.
    pub fn add(&mut self, sent: SentOrder) {
        let at = sent.sent_at.timestamp();
        let event = sent.event_time.map(Instant::timestamp);
        let early = event.map_or(at, |e| e.min(at));
        let late = event.map_or(at, |e| e.max(at));
        self.earliest = Some(self.earliest.map_or(early, |t| t.min(early)));
        self.latest = Some(self.latest.map_or(late, |t| t.max(late)));

        let mut last_same_id = None;
        let mut found = None;
        for (i, order) in self.same_id(&sent.order_id) {
            if order.action_tracker_id == sent.action_tracker_id
                && *order.enterprise_id == *sent.enterprise_id
            {
                found = Some(i);
                break;
            }
            last_same_id = Some(i);
        }
        let position = match found {
            Some(i) => i,
            None => {
                let position = self.orders.len();
                let order_id = match last_same_id.and_then(|i| self.orders.get_mut(i)) {
                    Some(previous) => {
                        previous.next = Some(position);
                        previous.order_id.clone()
                    }
                    None => {
                        let order_id: Arc<str> = Arc::from(sent.order_id.as_str());
                        self.index.insert(order_id.clone(), position);
                        order_id
                    }
                };
                self.orders.push(Expected {
                    enterprise_id: sent.enterprise_id.as_str().into(),
                    action_tracker_id: sent.action_tracker_id,
                    order_id,
                    next: None,
                    create_sent: None,
                    restated: false,
                    cancel_sent: None,
                    amount: None,
                    currency: None,
                    items: None,
                    amount_sent: None,
                    last_sent: at,
                    records: Vec::new(),
                    elsewhere: Vec::new(),
                });
                position
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
            // A restate replaces the whole order: the latest one's amount, currency and items
            // stand, over the create's, whatever order they were added in.
            let newer = match order.amount_sent {
                None => true,
                Some((SentKind::Create, _)) => sent.kind == SentKind::Restate,
                Some((_, then)) => sent.kind == SentKind::Restate && at >= then,
            };
            if newer {
                order.amount = sent.amount;
                order.currency = sent.currency.map(String::into_boxed_str);
                order.items = sent.items.map(Vec::into_boxed_slice);
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

    /// Takes one of CJ's records: kept (summarized) when it is of an order that was added, or
    /// of an added order's enterprise and order id under another action tracker (judged at
    /// the end: `other-tracker`, or `unexpected` after the order's verdict), and given back as
    /// an [`Verdict::Unexpected`] line when it is of another order. A record without an
    /// `orderId` is not an order: it is skipped (`None`).
    pub fn push(&mut self, record: &AdvertiserCommission) -> Option<Reconciled> {
        let order_id = record.order_id.as_deref()?;
        let tracker = record
            .action_tracker_id
            .trim()
            .parse::<NonNegativeInt>()
            .ok();
        let mut exact = None;
        let mut elsewhere = None;
        for (i, order) in self.same_id(order_id) {
            if Some(order.action_tracker_id) == tracker {
                exact = Some(i);
                break;
            }
            if elsewhere.is_none() && order.enterprise_id.trim() == record.advertiser_id.trim() {
                elsewhere = Some(i);
            }
        }
        match exact.or(elsewhere).and_then(|i| self.orders.get_mut(i)) {
            Some(order) => {
                let seen = Seen::new(record, order.order_id.clone(), order.sent_items());
                if exact.is_some() {
                    order.records.push(seen);
                } else {
                    order.elsewhere.push(seen);
                }
                None
            }
            None => Some(Seen::new(record, Arc::from(order_id), false).unexpected()),
        }
    }

    /// Every order's verdict, in the order the orders were first added; after an order's line,
    /// the records of its order id under another action tracker, as `unexpected`, when CJ also
    /// has the order under its own.
    pub fn finish(self) -> Verdicts {
        Verdicts {
            orders: self.orders.into_iter(),
            now: self.now,
            grace: self.grace,
            judge_unread: self.judge_unread,
            unexpected: Vec::new().into_iter(),
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
        self.read(api.advertiser(advertiser_ids))
    }

    /// [`reconcile`](Self::reconcile), reading only the records `request` selects: its
    /// filters (`websiteIds`, `actionTypes`, `publisherIds`, ...; the event dates are set from
    /// the [`window`](Self::window), any other date range is kept). Since a filter may leave an
    /// order's records out, **an order none of whose records were read gets no verdict**
    /// (never `missing` nor `pending`: CJ may well have it): the lines are the orders with
    /// records read, and the unexpected records among those read. [`len`](Self::len) minus the
    /// orders judged is how many were left unjudged.
    pub fn reconcile_filtered(
        mut self,
        request: CommissionsRequest<Advertiser>,
    ) -> impl Stream<Item = Result<Reconciled, ReconcileError>> + Send + 'static {
        self.judge_unread = false;
        self.read(request)
    }

    /// Reads `request`'s records in the window, then judges.
    fn read(
        self,
        request: CommissionsRequest<Advertiser>,
    ) -> impl Stream<Item = Result<Reconciled, ReconcileError>> + Send + 'static {
        let records = self.window().map(|(since, before)| {
            request
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
    judge_unread: bool,
    /// The `unexpected` lines that follow the last order's verdict.
    unexpected: std::vec::IntoIter<Reconciled>,
}

impl Iterator for Verdicts {
    type Item = Result<Reconciled, ReconcileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(line) = self.unexpected.next() {
            return Some(Ok(line));
        }
        let mut order = self.orders.next()?;
        while !self.judge_unread && order.records.is_empty() && order.elsewhere.is_empty() {
            order = self.orders.next()?;
        }
        Some(
            judge(order, self.now, self.grace).map(|(line, unexpected)| {
                self.unexpected = unexpected.into_iter();
                line
            }),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.orders.len() + self.unexpected.len(), None)
    }
}

/// An order's verdict from what was sent and CJ's records, and the `unexpected` lines of the
/// records of its order id under another action tracker when CJ has it under its own.
fn judge(
    order: Expected,
    now: Timestamp,
    grace: SignedDuration,
) -> Result<(Reconciled, Vec<Reconciled>), ReconcileError> {
    let recent = |t: Timestamp| now.duration_since(t) < grace;
    let Expected {
        enterprise_id,
        action_tracker_id,
        order_id,
        next: _,
        create_sent,
        restated,
        cancel_sent,
        amount,
        currency,
        items,
        amount_sent,
        last_sent,
        records,
        elsewhere,
    } = order;
    let fold_error = |source| ReconcileError::Fold {
        order_id: order_id.to_string(),
        action_tracker_id,
        source,
    };
    // The items compared are those of CJ's current state, known before the records are folded.
    let cj_items = items
        .as_deref()
        .filter(|sent| !sent.is_empty())
        .and_then(|_| current_items(&records));
    let cj = if records.is_empty() {
        None
    } else {
        Some(Folded::new(records).map_err(fold_error)?)
    };
    let mut other_action_tracker_ids: Vec<String> = Vec::new();
    let mut unexpected = Vec::new();
    let other = match &cj {
        None if !elsewhere.is_empty() => {
            for seen in &elsewhere {
                if !other_action_tracker_ids
                    .iter()
                    .any(|id| *id == *seen.action_tracker_id)
                {
                    other_action_tracker_ids.push(seen.action_tracker_id.to_string());
                }
            }
            Some(Folded::new(elsewhere).map_err(fold_error)?)
        }
        _ => {
            unexpected = elsewhere.into_iter().map(Seen::unexpected).collect();
            None
        }
    };
    // The amounts are evidently in one currency: CJ took the advertiser's, or they agree.
    let one_currency = currency.is_none()
        || matches!((amount, cj.as_ref().and_then(|cj| cj.sale_amount)), (Some(a), Some(b)) if a == b);
    let differing_skus = match (items.as_deref(), &cj_items) {
        (Some(sent), Some(cj_items)) => differing_skus(sent, cj_items, one_currency),
        _ => Vec::new(),
    };
    let amount_recent = matches!(amount_sent, Some((_, at)) if recent(at));
    let verdict = match &cj {
        None if other.is_some() => Verdict::OtherTracker,
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
                (Some(sent), Some(recorded)) if sent != recorded && amount_recent => {
                    Verdict::Pending
                }
                (Some(sent), Some(recorded)) if sent != recorded => Verdict::AmountDiffers,
                (Some(_), None) => Verdict::AmountUnknown,
                _ if !differing_skus.is_empty() && amount_recent => Verdict::Pending,
                _ if !differing_skus.is_empty() => Verdict::ItemsDiffer,
                _ if cj.corrected => Verdict::Corrected,
                _ => Verdict::Recorded,
            },
        },
    };
    let cj = cj.or(other).unwrap_or_default();
    let line = Reconciled {
        order_id: order_id.to_string(),
        action_tracker_id: action_tracker_id.to_string(),
        verdict,
        enterprise_id: enterprise_id.into(),
        sent_amount: amount,
        sent_currency: currency.map(String::from),
        recorded_amount: cj.sale_amount,
        recorded_amount_usd: cj.sale_amount_usd,
        commission_ids: cj.commission_ids,
        action_status: cj.status,
        correction_reasons: cj.correction_reasons,
        original_read: cj.original_read,
        differing_skus,
        other_action_tracker_ids,
        restated,
        cancelled: cancel_sent.is_some(),
        last_sent: Some(last_sent.into()),
    };
    Ok((line, unexpected))
}

/// Quantity and unit price per SKU; a price is `None` where it cannot be compared (an item
/// with a discount, a SKU listed at two prices, or CJ's items summed as changes).
type ItemsBySku<'a> = BTreeMap<&'a str, (i128, Option<Decimal>)>;

/// CJ's current items, by SKU: [`ItemsBySku`] kept beyond the records they were read from.
type CjItems = BTreeMap<Box<str>, (i128, Option<Decimal>)>;

/// Adds an item to `items`: quantities add up, two prices for one SKU compare as none.
fn add_item<'a>(items: &mut ItemsBySku<'a>, sku: &'a str, quantity: i128, price: Option<Decimal>) {
    let entry = items.entry(sku.trim()).or_insert((0, price));
    entry.0 = entry.0.saturating_add(quantity);
    if entry.1 != price {
        entry.1 = None;
    }
}

/// CJ's current items: those of its latest record that lists items, or, if a correction lists
/// a negative quantity (its items are changes), the sum over every record. `None` when no
/// record lists items.
fn current_items(records: &[Seen]) -> Option<CjItems> {
    let listing: Vec<&Seen> = records.iter().filter(|r| !r.items.is_empty()).collect();
    let changes = listing
        .iter()
        .any(|r| r.items.iter().any(|item| item.quantity < 0));
    let chosen: Vec<&Seen> = if changes {
        listing
    } else {
        let latest = listing.into_iter().max_by(|a, b| {
            a.posting_date
                .cmp(&b.posting_date)
                .then_with(|| id_order(&a.commission_id, &b.commission_id))
        })?;
        vec![latest]
    };
    let mut items = ItemsBySku::new();
    for record in &chosen {
        for item in &record.items {
            let price = (!changes).then_some(item.per_item_sale_amount_adv_currency);
            add_item(&mut items, &item.sku, i128::from(item.quantity), price);
        }
    }
    Some(
        items
            .into_iter()
            .map(|(sku, value)| (Box::from(sku), value))
            .collect(),
    )
    .filter(|items: &CjItems| !items.is_empty())
}

/// The SKUs whose quantity differs between the items sent and CJ's, or whose unit price does
/// where both can be compared (`one_currency`, no discount).
fn differing_skus(sent: &[SentItem], cj: &CjItems, one_currency: bool) -> Vec<String> {
    let mut expected = ItemsBySku::new();
    for item in sent {
        let undiscounted = item.discount.is_none_or(|d| d.is_zero());
        let price = (one_currency && undiscounted).then_some(item.unit_price);
        add_item(&mut expected, &item.sku, i128::from(item.quantity), price);
    }
    let mut differing: Vec<String> = Vec::new();
    for (sku, (quantity, price)) in &expected {
        let differs = match cj.get(*sku) {
            None => true,
            Some((cj_quantity, cj_price)) => {
                cj_quantity != quantity || matches!((price, cj_price), (Some(a), Some(b)) if a != b)
            }
        };
        if differs {
            differing.push((*sku).to_string());
        }
    }
    for sku in cj.keys() {
        if !expected.contains_key(&**sku) {
            differing.push(sku.to_string());
        }
    }
    differing.sort();
    differing
}

/// An order's current state in CJ: its records folded by action ([`fold_actions`]), and summed
/// over actions (an order CJ recorded twice counts twice).
#[derive(Debug, Default)]
struct Folded {
    sale_amount: Option<Decimal>,
    sale_amount_usd: Option<Decimal>,
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
            let overflow = |field| FoldError::Overflow {
                action: state.original_action_id.clone(),
                field,
            };
            let add = |sum: Option<Decimal>, value: Option<Decimal>, field| match (sum, value) {
                (sum, Some(value)) => sum
                    .unwrap_or(Decimal::ZERO)
                    .checked_add(value)
                    .map(Some)
                    .ok_or_else(|| overflow(field)),
                (sum, None) => Ok(sum),
            };
            folded.original_read &= state.has_original;
            folded.corrected |= state.is_corrected();
            folded
                .correction_reasons
                .extend(state.correction_reasons.iter().cloned());
            folded.commission_usd = folded
                .commission_usd
                .checked_add(state.commission_usd)
                .ok_or_else(|| overflow("commission (USD)"))?;
            folded.sale_amount_usd = add(
                folded.sale_amount_usd,
                state.sale_amount_usd,
                "sale amount (USD)",
            )?;
            for record in &state.history {
                folded.commission_ids.push(record.commission_id.to_string());
                folded.sale_amount = add(
                    folded.sale_amount,
                    record.sale_amount_adv_currency,
                    "sale amount (advertiser's currency)",
                )?;
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
/// advertiser's sale amount, the validation status, and the items of an order that sent items.
#[derive(Debug, Clone)]
struct Seen {
    commission_id: Box<str>,
    order_id: Arc<str>,
    action_tracker_id: Box<str>,
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
    items: Box<[SeenItem]>,
}

/// What reconciliation compares of one of CJ's item records.
#[derive(Debug, Clone)]
struct SeenItem {
    sku: Box<str>,
    quantity: i64,
    per_item_sale_amount_adv_currency: Decimal,
}

impl Seen {
    /// The summary of `r`, a record of order `order_id`, with its items if `with_items`.
    fn new(r: &AdvertiserCommission, order_id: Arc<str>, with_items: bool) -> Self {
        let items = if with_items {
            r.items
                .iter()
                .map(|item| SeenItem {
                    sku: item.sku.as_str().into(),
                    quantity: item.quantity,
                    per_item_sale_amount_adv_currency: item.per_item_sale_amount_adv_currency,
                })
                .collect()
        } else {
            Box::default()
        };
        Seen {
            commission_id: r.commission_id.as_str().into(),
            order_id,
            action_tracker_id: r.action_tracker_id.as_str().into(),
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
            items,
        }
    }

    /// The line of a record of an order that was not sent.
    fn unexpected(self) -> Reconciled {
        Reconciled {
            order_id: self.order_id.to_string(),
            action_tracker_id: self.action_tracker_id.into(),
            verdict: Verdict::Unexpected,
            enterprise_id: self.advertiser_id.into(),
            sent_amount: None,
            sent_currency: None,
            recorded_amount: self.sale_amount_adv_currency,
            recorded_amount_usd: self.sale_amount_usd,
            commission_ids: vec![self.commission_id.into()],
            action_status: Some(self.action_status),
            correction_reasons: self.correction_reason.into_iter().collect(),
            original_read: self.original,
            differing_skus: Vec::new(),
            other_action_tracker_ids: Vec::new(),
            restated: false,
            cancelled: false,
            last_sent: None,
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
