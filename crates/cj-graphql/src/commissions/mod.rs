//! CJ's Commission Detail API (advertisers and publishers): every commission CJ recorded, with
//! its sale amount, payout, status, items and corrections.
//!
//! CJ accepts an order in real time and processes it later, and never reports a processing
//! failure: about an hour later the order either appears here or it does not. This API is also
//! how a publisher learns each transaction's sale amount and commission.
//!
//! ```no_run
//! use cj_graphql::commissions::{ActionStatus, CommissionsApi, DEFAULT_BASE_URL, Instant};
//! use cj_graphql::transport::{Credentials, Transport};
//! use futures_util::TryStreamExt;
//!
//! # async fn run() -> Result<(), cj_graphql::transport::Error> {
//! let transport = Transport::builder().credentials(Credentials::token("...")).build()?;
//! let api = CommissionsApi::new(transport, DEFAULT_BASE_URL)?;
//! let records = api
//!     .publisher(["7654321"])
//!     .since_event("2026-01-01".parse::<Instant>().expect("a date"))
//!     .before_event("2026-07-01".parse::<Instant>().expect("a date")) // six months, in 31-day windows
//!     .action_statuses([ActionStatus::Locked])
//!     .stream();
//! let mut records = std::pin::pin!(records);
//! while let Some(record) = records.try_next().await? {
//!     println!("{} {:?} {}", record.commission_id, record.order_id, record.pub_commission_amount_usd);
//! }
//! # Ok(()) }
//! ```
//!
//! - [`CommissionsRequest::page`] makes one call with the arguments as given.
//! - [`CommissionsRequest::stream`] yields every record: it follows CJ's watermark cursor
//!   (`sinceCommissionId = maxCommissionId` while `payloadComplete` is false), never yields a
//!   record twice, and reads a date range longer than CJ's 31 days ([`MAX_RANGE`]) as
//!   consecutive windows. It holds one page in memory at a time. A page whose cursor does not
//!   add up, or a window still not complete after [`DEFAULT_MAX_PAGES`] pages, ends it with
//!   [`Error::Paging`]; [`CommissionsRequest::pages`] is the same walk a checked page at a
//!   time.
//! - Every call waits for CJ's limits: 200 calls in any 5 minutes and at most 120 at once
//!   ([`rate_limit`]), shared by every clone of the [`CommissionsApi`].
//! - [`fold_actions`] turns an order's original record and its corrections into its current
//!   state.
//!
//! Amounts are exact `Decimal`s (corrections are negative); `actionStatus`, `actionType` and
//! every enum keep a value this SDK does not know as `Unknown(text)`.

#[allow(clippy::all)]
#[rustfmt::skip]
#[path = "../generated/commission_detail.rs"]
mod generated;
mod fold;
mod ranges;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;
use cj_transport::{Error, InvalidInput, Problem, RateLimit, Transport, Url};
use futures_util::Stream;
use graphql_client::GraphQLQuery;
use rust_decimal::Decimal;
use tracing::Instrument;

pub use crate::scalars::Instant;
pub use fold::{ActionState, FoldError, fold_action, fold_actions};
pub use generated::{
    AdvertiserCommission, AdvertiserCommissions, AdvertiserVerticalAttributes, Item,
    PublisherCommission, PublisherCommissions, PublisherVerticalAttributes, Situation,
};
pub use ranges::MAX_RANGE;
use ranges::{DateField, Range};

cj_transport::cj_enum! {
    /// Where a commission is in CJ's payment cycle (CJ's `ActionStatus`).
    pub enum ActionStatus {
        /// Recent: stays new until corrected, extended or locked (normally 2am PST on the 11th
        /// of the month).
        New = "new",
        /// Extended by the advertiser to the next payment cycle (once).
        Extended = "extended",
        /// Locked: can no longer be corrected or extended; in the payout cycle.
        Locked = "locked",
        /// Prepared for payment.
        Closed = "closed",
    }
}

cj_transport::cj_enum! {
    /// The kind of action (CJ's `ActionType`).
    pub enum ActionType {
        /// A one-time amount the advertiser pays a publisher.
        Bonus = "bonus",
        /// Paid per click.
        Click = "click",
        /// Paid per impression.
        Imp = "imp",
        /// A lead with item details.
        ItemLead = "item_lead",
        /// A sale with item details (quantity, SKU, ...).
        ItemSale = "item_sale",
        /// A performance incentive paid when a threshold is met.
        PerfInc = "perf_inc",
        /// A lead without item details.
        SimLead = "sim_lead",
        /// A sale without item details.
        SimSale = "sim_sale",
    }
}

cj_transport::cj_enum! {
    /// Why a transaction was corrected (Commission Detail's `CorrectionReason`; the Tracking
    /// API's has other names).
    pub enum CorrectionReason {
        InvalidCreditCard = "INVALID_CREDIT_CARD",
        ReturnedMerchandise = "RETURNED_MERCHANDISE",
        DuplicatedOrder = "DUPLICATED_ORDER",
        CantShipOrSoldOut = "CANT_SHIP_OR_SOLD_OUT",
        UnqualifiedLead = "UNQUALIFIED_LEAD",
        QualifiedLead = "QUALIFIED_LEAD",
        BadDebt = "BAD_DEBT",
        Bankruptcy = "BANKRUPTCY",
        Compliance = "COMPLIANCE",
        BookingCanceled = "BOOKING_CANCELED",
        OtherReason = "OTHER_REASON",
    }
}

cj_transport::cj_enum! {
    /// How commissions lock (CJ's `LockingMethod`).
    pub enum LockingMethod {
        /// Locked as soon as they are posted (or as CJ determines).
        Immediate = "IMMEDIATE",
        /// Locked after the 10th of the month.
        FixedDate = "FIXED_DATE",
        /// Locked by the advertiser.
        OpenEnded = "OPEN_ENDED",
        /// Locked a given number of days after the event date.
        FixedDuration = "FIXED_DURATION",
    }
}

cj_transport::cj_enum! {
    /// Whether the advertiser has validated an order (CJ's `ValidationStatus`).
    pub enum ValidationStatus {
        /// Pending validation to release payment.
        Pending = "PENDING",
        /// The order value is correct and may be locked.
        Accepted = "ACCEPTED",
        /// The order has been fully corrected.
        Declined = "DECLINED",
        /// Not an open-ended locking method.
        Automated = "AUTOMATED",
    }
}

/// The Commission Detail API's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://commissions.api.cj.com";

/// CJ's limits on Commission Detail calls, per token: 200 calls in any 5 minutes, and at most
/// 120 at once.
pub fn rate_limit() -> RateLimit {
    RateLimit::new(200, Duration::from_secs(5 * 60)).max_concurrent(120)
}

/// Reads commissions from CJ's Commission Detail API. Cheap to clone; clones share one
/// [`RateLimit`].
#[derive(Debug, Clone)]
pub struct CommissionsApi {
    transport: Transport,
    endpoint: Url,
    limit: RateLimit,
}

impl CommissionsApi {
    /// A client for the API at `base_url` (such as [`DEFAULT_BASE_URL`]; `/query` is
    /// appended), within CJ's limits ([`rate_limit`]).
    pub fn new(transport: Transport, base_url: &str) -> Result<Self, Error> {
        let endpoint = cj_transport::endpoint(base_url, "/query", "Commission Detail")?;
        Ok(CommissionsApi {
            transport,
            endpoint,
            limit: rate_limit(),
        })
    }

    /// Uses another limit (share one between clients of the same token: CJ counts per token).
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        self.limit = limit;
        self
    }

    /// The URL queries are posted to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The transport calls go through (its [`redactor`](Transport::redactor) holds the token,
    /// for anything that keeps text from elsewhere).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The commissions of these advertisers (CIDs): `advertiserCommissions`.
    pub fn advertiser<I>(&self, cids: I) -> CommissionsRequest<Advertiser>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        CommissionsRequest::new(self.clone(), cids)
    }

    /// The commissions of these publishers (CIDs): `publisherCommissions`.
    pub fn publisher<I>(&self, cids: I) -> CommissionsRequest<Publisher>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        CommissionsRequest::new(self.clone(), cids)
    }
}

/// The advertiser's side: `advertiserCommissions` (marker for [`CommissionsRequest`]).
#[derive(Debug, Clone, Copy)]
pub struct Advertiser;

/// The publisher's side: `publisherCommissions` (marker for [`CommissionsRequest`]).
#[derive(Debug, Clone, Copy)]
pub struct Publisher;

/// Which side a [`CommissionsRequest`] reads: [`Advertiser`] or [`Publisher`].
pub trait Side: sealed::Side {}
impl Side for Advertiser {}
impl Side for Publisher {}

/// What the fold and the stream read from a record of either side.
pub trait CommissionRecord {
    /// `commissionId`.
    fn commission_id(&self) -> &str;
    /// `orderId`.
    fn order_id(&self) -> Option<&str>;
    /// `original`: `false` for a correction.
    fn original(&self) -> bool;
    /// `originalActionId`: the action a correction corrects.
    fn original_action_id(&self) -> &str;
    /// `actionStatus`.
    fn action_status(&self) -> &ActionStatus;
    /// `actionType`.
    fn action_type(&self) -> &ActionType;
    /// `correctionReason`.
    fn correction_reason(&self) -> Option<&CorrectionReason>;
    /// `advertiserId`.
    fn advertiser_id(&self) -> &str;
    /// `publisherId`.
    fn publisher_id(&self) -> &str;
    /// `postingDate`.
    fn posting_date(&self) -> Instant;
    /// `eventDate`.
    fn event_date(&self) -> Instant;
    /// `lockingDate`.
    fn locking_date(&self) -> Instant;
    /// `saleAmountUsd`.
    fn sale_amount_usd(&self) -> Option<Decimal>;
    /// `saleAmountPubCurrency`.
    fn sale_amount_pub_currency(&self) -> Option<Decimal>;
    /// `pubCommissionAmountUsd`.
    fn pub_commission_amount_usd(&self) -> Decimal;
    /// `pubCommissionAmountPubCurrency`.
    fn pub_commission_amount_pub_currency(&self) -> Decimal;
}

macro_rules! commission_record {
    ($($record:ty),*) => {$(
        impl CommissionRecord for $record {
            fn commission_id(&self) -> &str { &self.commission_id }
            fn order_id(&self) -> Option<&str> { self.order_id.as_deref() }
            fn original(&self) -> bool { self.original }
            fn original_action_id(&self) -> &str { &self.original_action_id }
            fn action_status(&self) -> &ActionStatus { &self.action_status }
            fn action_type(&self) -> &ActionType { &self.action_type }
            fn correction_reason(&self) -> Option<&CorrectionReason> {
                self.correction_reason.as_ref()
            }
            fn advertiser_id(&self) -> &str { &self.advertiser_id }
            fn publisher_id(&self) -> &str { &self.publisher_id }
            fn posting_date(&self) -> Instant { self.posting_date }
            fn event_date(&self) -> Instant { self.event_date }
            fn locking_date(&self) -> Instant { self.locking_date }
            fn sale_amount_usd(&self) -> Option<Decimal> { self.sale_amount_usd }
            fn sale_amount_pub_currency(&self) -> Option<Decimal> {
                self.sale_amount_pub_currency
            }
            fn pub_commission_amount_usd(&self) -> Decimal { self.pub_commission_amount_usd }
            fn pub_commission_amount_pub_currency(&self) -> Decimal {
                self.pub_commission_amount_pub_currency
            }
        }
    )*};
}
commission_record!(AdvertiserCommission, PublisherCommission);

mod sealed {
    use super::*;

    /// The arguments of a query other than the CIDs, for either side.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Filters {
        pub posting: Range,
        pub event: Range,
        pub locking: Range,
        pub since_commission_id: Option<String>,
        pub commission_ids: Option<Vec<String>>,
        /// `publisherIds` for an advertiser, `advertiserIds` for a publisher.
        pub partner_ids: Option<Vec<String>>,
        pub ad_ids: Option<Vec<String>>,
        pub website_ids: Option<Vec<String>>,
        pub action_statuses: Option<Vec<ActionStatus>>,
        pub action_types: Option<Vec<ActionType>>,
        pub locking_methods: Option<Vec<LockingMethod>>,
        pub validation_statuses: Option<Vec<ValidationStatus>>,
    }

    impl Filters {
        pub fn ranges(&self) -> [(DateField, Range); 3] {
            DateField::ALL.map(|field| (field, self.range(field)))
        }

        pub fn range(&self, field: DateField) -> Range {
            match field {
                DateField::Posting => self.posting,
                DateField::Event => self.event,
                DateField::Locking => self.locking,
            }
        }

        pub fn range_mut(&mut self, field: DateField) -> &mut Range {
            match field {
                DateField::Posting => &mut self.posting,
                DateField::Event => &mut self.event,
                DateField::Locking => &mut self.locking,
            }
        }
    }

    /// A page, as the stream reads it.
    pub struct Parts<R> {
        pub records: Vec<R>,
        pub payload_complete: bool,
        pub max_commission_id: Option<String>,
    }

    /// What differs between the two sides.
    pub trait Side: Clone + Send + Sync + std::fmt::Debug + 'static {
        /// One commission.
        type Record: super::CommissionRecord
            + serde::Serialize
            + std::fmt::Debug
            + Clone
            + PartialEq
            + Send
            + 'static;
        /// The answer to one call.
        type Page: serde::Serialize + std::fmt::Debug + Clone + PartialEq + Send + 'static;
        /// The operation's `ResponseData`.
        type Response: serde::de::DeserializeOwned;
        /// The operation name, for tracing.
        const OPERATION: &'static str;
        /// The argument that takes the CIDs.
        const CIDS: &'static str;
        /// The request body.
        fn encode(cids: &[String], filters: &Filters) -> serde_json::Result<Vec<u8>>;
        /// The page of an answer.
        fn page(response: Self::Response) -> Self::Page;
        /// The page's parts.
        fn parts(page: Self::Page) -> Parts<Self::Record>;
    }
}

use sealed::Filters;

fn text(time: Option<Instant>) -> Option<String> {
    // `Instant` writes UTC with `Z`, as CJ reads dates.
    time.map(|t| t.to_string())
}

/// CJ's text of each value: `actionStatuses` and `actionTypes` are lists of strings.
fn texts<T>(values: &Option<Vec<T>>, text: fn(&T) -> &str) -> Option<Vec<String>> {
    values
        .as_ref()
        .map(|v| v.iter().map(|value| text(value).to_string()).collect())
}

/// Implements [`sealed::Side`] for a side: its operation, the name of its CID argument and of
/// its partner filter, its page and record types. The variables are the same otherwise.
macro_rules! side {
    ($side:ty, $query:ident, $module:ident, $cids:ident = $cids_argument:literal,
     $partners:ident, $answer:ident, $page:ty, $record:ty) => {
        impl sealed::Side for $side {
            type Record = $record;
            type Page = $page;
            type Response = generated::$module::ResponseData;
            const OPERATION: &'static str = generated::$module::OPERATION_NAME;
            const CIDS: &'static str = $cids_argument;

            fn encode(cids: &[String], f: &Filters) -> serde_json::Result<Vec<u8>> {
                serde_json::to_vec(&generated::$query::build_query(
                    generated::$module::Variables {
                        $cids: cids.to_vec(),
                        since_posting_date: text(f.posting.since),
                        before_posting_date: text(f.posting.before),
                        since_event_date: text(f.event.since),
                        before_event_date: text(f.event.before),
                        since_locking_date: text(f.locking.since),
                        before_locking_date: text(f.locking.before),
                        since_commission_id: f.since_commission_id.clone(),
                        commission_ids: f.commission_ids.clone(),
                        $partners: f.partner_ids.clone(),
                        ad_ids: f.ad_ids.clone(),
                        website_ids: f.website_ids.clone(),
                        action_statuses: texts(&f.action_statuses, ActionStatus::as_str),
                        action_types: texts(&f.action_types, ActionType::as_str),
                        locking_methods: f.locking_methods.clone(),
                        validation_statuses: f.validation_statuses.clone(),
                    },
                ))
            }

            fn page(response: Self::Response) -> $page {
                response.$answer
            }

            fn parts(page: $page) -> sealed::Parts<$record> {
                sealed::Parts {
                    records: page.records,
                    payload_complete: page.payload_complete,
                    max_commission_id: page.max_commission_id,
                }
            }
        }
    };
}
side!(
    Advertiser,
    AdvertiserCommissionsQuery,
    advertiser_commissions_query,
    for_advertisers = "forAdvertisers",
    publisher_ids,
    advertiser_commissions,
    AdvertiserCommissions,
    AdvertiserCommission
);
side!(
    Publisher,
    PublisherCommissionsQuery,
    publisher_commissions_query,
    for_publishers = "forPublishers",
    advertiser_ids,
    publisher_commissions,
    PublisherCommissions,
    PublisherCommission
);

/// A Commission Detail query, from [`CommissionsApi::advertiser`] or
/// [`CommissionsApi::publisher`]: narrow it with its methods, then read one
/// [`page`](Self::page) or [`stream`](Self::stream) every record.
///
/// Times are sent as UTC `...Z` strings; `since` is inclusive and `before` exclusive, as CJ
/// reads them. With no date at all CJ answers the last 24 hours by posting date; with one bound
/// of a range, 24 hours from (or up to) it.
#[derive(Debug, Clone)]
pub struct CommissionsRequest<S: Side> {
    api: CommissionsApi,
    cids: Vec<String>,
    filters: Filters,
    max_pages: usize,
    side: PhantomData<S>,
}

/// The most pages [`CommissionsRequest::stream`] and [`CommissionsRequest::pages`] read in one
/// date window by default (10 million records at CJ's 10,000 a page; 25 minutes at CJ's call
/// limit): [`CommissionsRequest::max_pages`].
pub const DEFAULT_MAX_PAGES: usize = 1_000;

/// One page of a walk ([`CommissionsRequest::pages`]), checked before it is yielded: a page
/// whose cursor does not add up is never yielded (the walk ends with [`Error::Paging`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommissionPage<R> {
    /// The page's records not read before in this walk, in CJ's order.
    pub records: Vec<R>,
    /// How many records CJ returned, those already read included.
    pub returned: usize,
    /// The watermark after this page: the furthest of the cursor the page was asked with, CJ's
    /// `maxCommissionId` and the page's record ids. While the window is not complete it is
    /// CJ's `maxCommissionId`, the `sinceCommissionId` of the next call. It holds within its
    /// date window only: the next window starts again from the request's own
    /// `sinceCommissionId`, so a caller resuming later keeps it with [`window_complete`](Self::window_complete).
    pub cursor: Option<String>,
    /// CJ said `payloadComplete: true`: the page's date window is read (the walk moves on to
    /// the next window, if any).
    pub window_complete: bool,
}

fn strings<I>(values: I) -> Option<Vec<String>>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    Some(values.into_iter().map(Into::into).collect())
}

impl<S: Side> CommissionsRequest<S> {
    fn new<I>(api: CommissionsApi, cids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        CommissionsRequest {
            api,
            cids: cids.into_iter().map(Into::into).collect(),
            filters: Filters::default(),
            max_pages: DEFAULT_MAX_PAGES,
            side: PhantomData,
        }
    }

    fn since(mut self, field: DateField, time: impl Into<Instant>) -> Self {
        self.filters.range_mut(field).since = Some(time.into());
        self
    }

    fn before(mut self, field: DateField, time: impl Into<Instant>) -> Self {
        self.filters.range_mut(field).before = Some(time.into());
        self
    }

    /// Only commissions posted at or after this time (`sincePostingDate`).
    pub fn since_posting(self, time: impl Into<Instant>) -> Self {
        self.since(DateField::Posting, time)
    }

    /// Only commissions posted before this time (`beforePostingDate`).
    pub fn before_posting(self, time: impl Into<Instant>) -> Self {
        self.before(DateField::Posting, time)
    }

    /// Only actions that happened at or after this time (`sinceEventDate`).
    pub fn since_event(self, time: impl Into<Instant>) -> Self {
        self.since(DateField::Event, time)
    }

    /// Only actions that happened before this time (`beforeEventDate`).
    pub fn before_event(self, time: impl Into<Instant>) -> Self {
        self.before(DateField::Event, time)
    }

    /// Only commissions locking at or after this time (`sinceLockingDate`).
    pub fn since_locking(self, time: impl Into<Instant>) -> Self {
        self.since(DateField::Locking, time)
    }

    /// Only commissions locking before this time (`beforeLockingDate`).
    pub fn before_locking(self, time: impl Into<Instant>) -> Self {
        self.before(DateField::Locking, time)
    }

    /// The most pages [`stream`](Self::stream) and [`pages`](Self::pages) read in one date
    /// window before they end with [`Error::Paging`] ([`DEFAULT_MAX_PAGES`] by default; at
    /// least 1): a server that never says `payloadComplete: true` cannot make a walk endless.
    pub fn max_pages(mut self, max: usize) -> Self {
        self.max_pages = max.max(1);
        self
    }

    /// Only commissions after this one (`sinceCommissionId`, CJ's cursor).
    pub fn since_commission_id(mut self, id: impl Into<String>) -> Self {
        self.filters.since_commission_id = Some(id.into());
        self
    }

    /// Only these commissions (`commissionIds`).
    pub fn commission_ids<I>(mut self, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.filters.commission_ids = strings(ids);
        self
    }

    /// Only commissions through these ads (`adIds`).
    pub fn ad_ids<I>(mut self, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.filters.ad_ids = strings(ids);
        self
    }

    /// Only commissions through these publisher websites (`websiteIds`).
    pub fn website_ids<I>(mut self, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.filters.website_ids = strings(ids);
        self
    }

    /// Only commissions in these statuses (`actionStatuses`).
    pub fn action_statuses(mut self, statuses: impl IntoIterator<Item = ActionStatus>) -> Self {
        self.filters.action_statuses = Some(statuses.into_iter().collect());
        self
    }

    /// Only actions of these types (`actionTypes`).
    pub fn action_types(mut self, types: impl IntoIterator<Item = ActionType>) -> Self {
        self.filters.action_types = Some(types.into_iter().collect());
        self
    }

    /// Only commissions locking these ways (`lockingMethods`).
    pub fn locking_methods(mut self, methods: impl IntoIterator<Item = LockingMethod>) -> Self {
        self.filters.locking_methods = Some(methods.into_iter().collect());
        self
    }

    /// Only commissions in these validation statuses (`validationStatuses`).
    pub fn validation_statuses(
        mut self,
        statuses: impl IntoIterator<Item = ValidationStatus>,
    ) -> Self {
        self.filters.validation_statuses = Some(statuses.into_iter().collect());
        self
    }

    /// Refuses what CJ would: no CID, an empty or reversed date range.
    fn check(&self, split: bool) -> Result<Option<ranges::Split>, Error> {
        if self.cids.is_empty() {
            return Err(Error::Invalid(InvalidInput {
                problems: vec![Problem::new(
                    "request",
                    None,
                    None,
                    S::CIDS,
                    "at least one CID is needed",
                )],
            }));
        }
        ranges::check(&self.filters.ranges(), split)
    }

    /// One call, with the arguments as given: a date range longer than 31 days is refused
    /// before sending (CJ would refuse it; [`stream`](Self::stream) splits it).
    ///
    /// Errors: every [`Error`] of the transport; [`Error::GraphQL`] with CJ's messages when
    /// it refuses the query, also when it answers data with errors beside it (a page with
    /// holes would silently drop commissions).
    pub async fn page(&self) -> Result<S::Page, Error> {
        self.check(false)?;
        fetch::<S>(&self.api, &self.cids, &self.filters).await
    }

    /// Every record, call after call: the records of [`pages`](Self::pages), one at a time.
    ///
    /// While CJ says `payloadComplete: false` the next call asks for `sinceCommissionId =
    /// maxCommissionId`. A page whose cursor does not add up (no `maxCommissionId`, one not
    /// after the cursor, a record after it, or no record at all) is not yielded: the stream
    /// ends with [`Error::Paging`] after the records of the pages before, so it never loops;
    /// so does a window that is not complete after [`max_pages`](Self::max_pages) pages. A
    /// record already read (in the page before, or at or before the cursor) is skipped, so
    /// none is yielded twice. A date range longer than [`MAX_RANGE`] is read in consecutive
    /// windows of 31 days (each `before` the next `since`); only one of the three ranges may
    /// be that long. One page is held in memory at a time. Another error ends the stream
    /// after being yielded.
    pub fn stream(self) -> impl Stream<Item = Result<S::Record, Error>> + Send + 'static {
        use futures_util::TryStreamExt;
        self.pages()
            .map_ok(|page| futures_util::stream::iter(page.records.into_iter().map(Ok)))
            .try_flatten()
    }

    /// Every page, call after call, each checked before it is yielded (the walk of
    /// [`stream`](Self::stream), for a caller that keeps the cursor: each page says the
    /// watermark after it and whether its window is complete). The first error ends it.
    pub fn pages(
        self,
    ) -> impl Stream<Item = Result<CommissionPage<S::Record>, Error>> + Send + 'static {
        let (split, end) = match self.check(true) {
            Ok(split) => (split, None),
            Err(e) => (None, Some(Some(e))),
        };
        let mut walk = Walk {
            cursor: self.filters.since_commission_id.clone(),
            request: self,
            split: None,
            pages: 0,
            previous: HashSet::new(),
            end,
        };
        if walk.end.is_none() {
            walk.next_window(split);
        }
        futures_util::stream::unfold(walk, |mut walk| async move {
            let item = walk.next_page().await?;
            Some((item, walk))
        })
    }
}

impl CommissionsRequest<Advertiser> {
    /// Only commissions of these publishers (`publisherIds`).
    pub fn publisher_ids<I>(mut self, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.filters.partner_ids = strings(ids);
        self
    }
}

impl CommissionsRequest<Publisher> {
    /// Only commissions of these advertisers (`advertiserIds`).
    pub fn advertiser_ids<I>(mut self, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.filters.partner_ids = strings(ids);
        self
    }
}

fn encode<S: Side>(cids: &[String], filters: &Filters) -> Result<Bytes, Error> {
    S::encode(cids, filters)
        .map(Bytes::from)
        .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))
}

/// One call, within the limits.
async fn fetch<S: Side>(
    api: &CommissionsApi,
    cids: &[String],
    filters: &Filters,
) -> Result<S::Page, Error> {
    let body = encode::<S>(cids, filters)?;
    let span = tracing::info_span!(
        "cj.commissions",
        operation = S::OPERATION,
        since_commission_id = filters.since_commission_id.as_deref(),
    );
    async {
        let _permit = api.limit.acquire().await;
        let answer = crate::graphql::post::<S::Response>(
            &api.transport,
            &api.endpoint,
            "commissions",
            S::OPERATION,
            body,
        )
        .await?;
        if !answer.errors.is_empty() {
            return Err(Error::GraphQL {
                status: cj_transport::StatusCode::OK,
                errors: answer.errors,
            });
        }
        Ok(S::page(answer.data))
    }
    .instrument(span)
    .await
}

/// How two commission ids compare: as numbers when both are digits (CJ's are), else as text.
pub(crate) fn id_order(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(a) && digits(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

/// The state of a [`CommissionsRequest::pages`] walk.
struct Walk<S: Side> {
    /// The query, with the current window's range.
    request: CommissionsRequest<S>,
    /// The windows after the current one.
    split: Option<ranges::Split>,
    /// `sinceCommissionId` for the next call.
    cursor: Option<String>,
    /// Pages read in the current window.
    pages: usize,
    /// The ids of the last page read.
    previous: HashSet<String>,
    /// Once the walk is over: the error to yield, if any.
    end: Option<Option<Error>>,
}

/// The later of two commission ids.
fn furthest(a: Option<String>, b: &str) -> Option<String> {
    match a {
        Some(a) if id_order(b, &a) != Ordering::Greater => Some(a),
        _ => Some(b.to_string()),
    }
}

impl<S: Side> Walk<S> {
    /// Moves to the next window, if the range is split; returns whether there was one.
    fn next_window(&mut self, split: Option<ranges::Split>) -> bool {
        let Some(split) = split else {
            return false;
        };
        let (window, rest) = split.window();
        *self.request.filters.range_mut(split.field) = window;
        self.split = rest;
        true
    }

    /// The current window's date ranges, for errors.
    fn window(&self) -> String {
        let bounds: Vec<String> = self
            .request
            .filters
            .ranges()
            .iter()
            .flat_map(|(field, range)| {
                let (since, before) = field.arguments();
                [(since, range.since), (before, range.before)]
            })
            .filter_map(|(name, time)| Some(format!("{name} {}", time?)))
            .collect();
        if bounds.is_empty() {
            "CJ's default window (the last 24 hours by posting date)".into()
        } else {
            format!("the window {}", bounds.join(", "))
        }
    }

    /// Why an incomplete page cannot be followed, if it cannot: its `maxCommissionId` must be
    /// "the final commission returned", after the cursor.
    fn broken_cursor(&self, page: &sealed::Parts<S::Record>) -> Option<String> {
        if page.payload_complete {
            return None;
        }
        let cursor = self.cursor.as_deref();
        let Some(max) = page.max_commission_id.as_deref() else {
            return Some("no maxCommissionId came with it: the cursor does not advance".into());
        };
        if let Some(c) = cursor.filter(|c| id_order(max, c) != Ordering::Greater) {
            return Some(format!(
                "maxCommissionId {max:?} is not after {c:?}: the cursor does not advance"
            ));
        }
        if page.records.is_empty() {
            return Some(format!(
                "it returned no record, yet maxCommissionId {max:?}: the cursor does not follow \
                 the records"
            ));
        }
        page.records
            .iter()
            .map(|r| r.commission_id())
            .find(|id| id_order(id, max) == Ordering::Greater)
            .map(|id| {
                format!(
                    "its record {id:?} is after its maxCommissionId {max:?}: the cursor does not \
                     follow the records"
                )
            })
    }

    fn paging_error(&self, why: &str) -> Error {
        Error::Paging(format!(
            "CJ said payloadComplete: false in {} after commission {}, but {why}",
            self.window(),
            self.cursor.as_deref().unwrap_or("(none: the start)")
        ))
    }

    async fn next_page(&mut self) -> Option<Result<CommissionPage<S::Record>, Error>> {
        if let Some(end) = &mut self.end {
            return end.take().map(Err);
        }
        let mut filters = self.request.filters.clone();
        filters.since_commission_id = self.cursor.clone();
        let page = match fetch::<S>(&self.request.api, &self.request.cids, &filters).await {
            Ok(page) => S::parts(page),
            Err(e) => {
                self.end = Some(None);
                return Some(Err(e));
            }
        };
        self.pages += 1;
        if let Some(why) = self.broken_cursor(&page) {
            // Nothing of a page that does not add up is yielded.
            self.end = Some(None);
            return Some(Err(self.paging_error(&why)));
        }
        let returned = page.records.len();
        let mut watermark = self.cursor.clone();
        if let Some(max) = &page.max_commission_id {
            watermark = furthest(watermark, max);
        }
        let mut ids = HashSet::with_capacity(returned);
        let mut records = Vec::with_capacity(returned);
        for record in page.records {
            let id = record.commission_id();
            let fresh = ids.insert(id.to_string())
                && !self.previous.contains(id)
                && self
                    .cursor
                    .as_deref()
                    .is_none_or(|c| id_order(id, c) == Ordering::Greater);
            if fresh {
                watermark = furthest(watermark, id);
                records.push(record);
            } else {
                tracing::debug!(commission_id = id, "skipping a commission already read");
            }
        }
        self.previous = ids;
        if page.payload_complete {
            if !self.next_window(self.split) {
                self.end = Some(None);
            }
            self.cursor = self.request.filters.since_commission_id.clone();
            self.pages = 0;
        } else {
            self.cursor = watermark.clone();
            if self.pages >= self.request.max_pages {
                let why = format!(
                    "{} pages were read without the window completing (raise the bound with \
                     `max_pages`)",
                    self.pages
                );
                self.end = Some(Some(self.paging_error(&why)));
            }
        }
        Some(Ok(CommissionPage {
            records,
            returned,
            cursor: watermark,
            window_complete: page.payload_complete,
        }))
    }
}

/// Reads a saved answer to `advertiserCommissions` (`{"data": {"advertiserCommissions": ...}}`)
/// as [`CommissionsRequest::page`] reads CJ's. For tools and benchmarks.
pub fn parse_advertiser_page(body: &[u8]) -> Result<AdvertiserCommissions, Error> {
    parse::<Advertiser>(body)
}

/// Reads a saved answer to `publisherCommissions` (`{"data": {"publisherCommissions": ...}}`)
/// as [`CommissionsRequest::page`] reads CJ's. For tools and benchmarks.
pub fn parse_publisher_page(body: &[u8]) -> Result<PublisherCommissions, Error> {
    parse::<Publisher>(body)
}

fn parse<S: Side>(body: &[u8]) -> Result<S::Page, Error> {
    // No secret is known here; nothing to redact.
    let redactor = cj_transport::Redactor::new("");
    let answer = crate::graphql::decode::<S::Response>(body, &redactor)?;
    if !answer.errors.is_empty() {
        return Err(Error::GraphQL {
            status: cj_transport::StatusCode::OK,
            errors: answer.errors,
        });
    }
    Ok(S::page(answer.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_numbers_when_they_are_digits() {
        assert_eq!(id_order("9", "10"), Ordering::Less);
        assert_eq!(id_order("0010", "10"), Ordering::Equal);
        assert_eq!(id_order("2768459421", "2768459420"), Ordering::Greater);
        assert_eq!(id_order("b", "a10"), Ordering::Greater);
    }
}
