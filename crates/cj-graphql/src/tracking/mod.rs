//! CJ's GraphQL Tracking API: `createOrders`, `restateOrders` and `cancelOrders`.
//!
//! Build orders with the generated builders ([`OrderCreateRequest::builder`], ...), then send
//! them with an [`Orders`] client. The same [`OrderItemInput`], [`VerticalParametersInput`] and
//! [`NameValuePairInput`] serve a create and a restate.

// Before `generated`, which uses its macro.
#[macro_use]
mod sparse;
#[allow(clippy::all)]
#[rustfmt::skip]
#[path = "../generated/tracking.rs"]
mod generated;
mod pipeline;
mod validate;

use bytes::Bytes;
use cj_transport::{Delivery, Error, GraphQLError, Transport, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

pub use crate::scalars::{Id, Instant, NonNegativeDecimalNumber, NonNegativeInt};
/// `futures::Stream`, what [`Orders::stream`] takes and returns, its extension traits, and
/// `stream::iter` to turn an iterator of orders into a stream.
pub use futures_util::{Stream, StreamExt, TryStreamExt, stream};
pub use generated::{
    ActionTracker, Ad, Advertiser, BypassChannel, BypassChannelInput, CustomIds, CustomIdsInput,
    NameValuePair, NameValuePairInput, Order, OrderCancelRequest, OrderCancellation,
    OrderCreateRequest, OrderItem, OrderItemInput, OrderReceipt, OrderRestateRequest,
    PromotionalProperty, RequestError, VerticalParameter, VerticalParameters,
    VerticalParametersInput,
};
pub use pipeline::{EncodedOrder, OrderStream, StreamAnswer, StreamError, StreamOrder};
pub use validate::{
    DEFAULT_CLOCK_SKEW, Duplicates, Horizon, MAX_CJ_EVENT_LEN, MAX_ITEMS_PER_ORDER, OrderRules,
    repeated_key, validate_cancel, validate_create, validate_restate,
};

/// The builders of the input types (`bon`'s, and the sparse `VerticalParametersInput`'s).
pub mod builders {
    pub use super::generated::{
        BypassChannelInputBuilder, CustomIdsInputBuilder, NameValuePairInputBuilder,
        OrderCancelRequestBuilder, OrderCreateRequestBuilder, OrderItemInputBuilder,
        OrderRestateRequestBuilder, VerticalParametersInputBuilder,
    };
}

cj_transport::cj_enum! {
    /// Why an order was restated or cancelled (CJ's `CorrectionReason`).
    pub enum CorrectionReason {
        BadDebt = "BadDebt",
        Bankruptcy = "Bankruptcy",
        BookingCanceled = "BookingCanceled",
        CannotShipSoldOut = "CannotShipSoldOut",
        Compliance = "Compliance",
        DuplicateOrder = "DuplicateOrder",
        InvalidCreditCard = "InvalidCreditCard",
        Other = "Other",
        ReturnedMerchandise = "ReturnedMerchandise",
        UnqualifiedLead = "UnqualifiedLead",
    }
}

cj_transport::cj_enum! {
    /// The state an order is restated to; for open-ended (pended) orders `Accepted` makes the
    /// commission payable (CJ's `OrderStatus`).
    pub enum OrderStatus {
        Pending = "Pending",
        Accepted = "Accepted",
    }
}

cj_transport::cj_enum! {
    /// The state a cancellation moves an order to (CJ's `OrderCancellationStatus`).
    pub enum OrderCancellationStatus {
        Declined = "Declined",
    }
}

cj_transport::cj_enum! {
    /// The advertiser's vertical (CJ's `VerticalType`).
    pub enum VerticalType {
        Retail = "Retail",
        Finance = "Finance",
        Travel = "Travel",
        NetworkServices = "NetworkServices",
    }
}

/// The most orders CJ takes in one request; larger submissions are split.
pub const MAX_ORDERS_PER_REQUEST: usize = 10_000;

/// The largest request body CJ takes (100 MB); a streaming submission starts a new request
/// before a body would grow past it.
pub const MAX_REQUEST_BYTES: usize = 100_000_000;

/// The Tracking API's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://tracking.api.cj.com";

/// Which Tracking endpoint orders go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/graphqltest`: validated like production, never posted to reporting. Order lock and
    /// closure are not checked, so an order may pass here and still fail live.
    Test,
    /// `/graphql`: processed and posted to production reporting.
    Live,
}

impl Mode {
    /// The endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            Mode::Test => "/graphqltest",
            Mode::Live => "/graphql",
        }
    }
}

/// Whether orders are checked before they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Check CJ's documented rules; send nothing when any order breaks one (the default).
    #[default]
    Strict,
    /// Send orders as they are and let CJ judge them.
    Off,
}

/// What CJ answered for a submission, merged over every request it took, in input order.
///
/// Every input order ends in exactly one of three places:
/// - **accepted**: CJ's answer returns it in `orders` (matched on enterprise id + action tracker
///   id + order id). Only an order CJ names is accepted.
/// - **refused**: one of CJ's `RequestError`s names it (`newOrders[3].eventTime`); it is in
///   `errors`, with its input index and `orderId`.
/// - **unconfirmed**: CJ's answer neither returns it nor names it in an error (an answer with
///   an empty `orders` list, say). It is in `unconfirmed`: what CJ did with it is unknown, and it
///   is safe to send again (CJ deduplicates).
///
/// `graphql_errors` holds GraphQL errors that came beside data. A request refused as a whole is
/// an [`Error`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrackingResponse<T> {
    /// The orders CJ accepted, as CJ returned them.
    pub orders: Vec<T>,
    /// CJ's `RequestError`s, each traced to the input order it concerns when CJ's fields name
    /// one. An error that names no order refuses none: the orders CJ did not return are then
    /// `unconfirmed`.
    pub errors: Vec<OrderError>,
    /// Input orders that CJ's answer neither accepted nor refused.
    #[serde(default)]
    pub unconfirmed: Vec<UnconfirmedOrder>,
    /// GraphQL errors that came beside data.
    #[serde(
        rename = "graphqlErrors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub graphql_errors: Vec<GraphQLError>,
    /// Orders CJ's answer returned that no request carried (none, as CJ documents it): kept
    /// apart so that they are never taken for accepted orders of the caller's. An order CJ
    /// returns twice is in `orders` once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unrequested: Vec<T>,
}

impl<T> Default for TrackingResponse<T> {
    fn default() -> Self {
        TrackingResponse {
            orders: Vec::new(),
            errors: Vec::new(),
            unconfirmed: Vec::new(),
            graphql_errors: Vec::new(),
            unrequested: Vec::new(),
        }
    }
}

impl<T> TrackingResponse<T> {
    /// Whether every order was accepted: no error of either kind and nothing unconfirmed.
    pub fn is_success(&self) -> bool {
        self.errors.is_empty() && self.graphql_errors.is_empty() && self.unconfirmed.is_empty()
    }
}

/// One of CJ's `RequestError`s, traced to the caller's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OrderError {
    /// CJ's message (redacted).
    pub message: String,
    /// CJ's fields, with the order's position rebased onto the caller's input: after a split
    /// submission, `newOrders[5]` of the second request reads `newOrders[10005]`.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The position in the caller's input of the order this error refuses, when CJ's fields
    /// name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// That order's `orderId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// An input order that CJ's answer neither returned as accepted nor named in an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UnconfirmedOrder {
    /// Its position in the caller's input.
    pub index: usize,
    /// Its `orderId`.
    pub order_id: String,
}

/// The answer to `createOrders` or `restateOrders`.
pub type OrderResponse = TrackingResponse<Order>;
/// The answer to `cancelOrders`.
pub type OrderCancellationResponse = TrackingResponse<OrderCancellation>;

/// A submission that failed. When it took several requests (more than 10,000 orders), the
/// requests before the failing one were answered: their results are in `answered` (whose
/// indices are positions in the whole input), and the first `answered_orders` orders need not
/// be sent again. The rest were not answered.
///
/// When nothing was answered it reads as its `error` (message and `source()` alike); when part
/// was, its message says how far the submission got and `error` is its `source()`. Either way
/// no message is repeated down the chain.
#[derive(Debug)]
#[non_exhaustive]
pub struct SubmitError<T> {
    /// What the answered requests returned.
    pub answered: TrackingResponse<T>,
    /// How many orders, from the start of the input, were in answered requests.
    pub answered_orders: usize,
    /// Why the next request failed.
    pub error: Error,
}

impl<T> std::fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.answered_orders == 0 {
            std::fmt::Display::fmt(&self.error, f)
        } else {
            write!(
                f,
                "the submission failed after its first {} orders were answered",
                self.answered_orders
            )
        }
    }
}

impl<T: std::fmt::Debug> std::error::Error for SubmitError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if self.answered_orders == 0 {
            std::error::Error::source(&self.error)
        } else {
            Some(&self.error)
        }
    }
}

impl<T> SubmitError<T> {
    fn new(error: Error) -> Self {
        SubmitError {
            answered: TrackingResponse::default(),
            answered_orders: 0,
            error,
        }
    }

    /// Whether the failing request reached CJ.
    pub fn delivery(&self) -> Delivery {
        self.error.delivery()
    }
}

impl<T> From<SubmitError<T>> for Error {
    fn from(e: SubmitError<T>) -> Self {
        e.error
    }
}

/// What CJ deduplicates an order on: enterprise id, action tracker id and order id.
pub trait OrderKey {
    /// The order's enterprise id, action tracker id and order id.
    fn order_key(&self) -> (&str, NonNegativeInt, &str);
}

macro_rules! input_key {
    ($($t:ty),*) => {$(
        impl OrderKey for $t {
            fn order_key(&self) -> (&str, NonNegativeInt, &str) {
                (self.enterprise_id.as_str(), self.action_tracker_id, &self.order_id)
            }
        }
    )*};
}
input_key!(OrderCreateRequest, OrderRestateRequest, OrderCancelRequest);

macro_rules! output_key {
    ($($t:ty),*) => {$(
        impl OrderKey for $t {
            fn order_key(&self) -> (&str, NonNegativeInt, &str) {
                (self.advertiser.enterprise_id.as_str(), self.action_tracker.id, &self.order_id)
            }
        }
    )*};
}
output_key!(Order, OrderReceipt, OrderCancellation);

/// One of the three order mutations.
trait Mutation {
    type Input: Serialize + Sync + OrderKey;
    type Output: DeserializeOwned + OrderKey;
    type Data: DeserializeOwned;
    const FIELD: &'static str;
    const QUERY: &'static str;
    const OPERATION_NAME: &'static str;
    const VARIABLE: &'static str;
    fn validate(orders: &[Self::Input], now: Horizon) -> Result<(), cj_transport::InvalidInput>;
    fn payload(data: Self::Data) -> (Option<Vec<Self::Output>>, Option<Vec<RequestError>>);
}

/// `Mutation` for each generated operation: its marker type, module, input, output, the field
/// it calls (Rust and GraphQL names) with its variable, and its validation.
macro_rules! mutation {
    ($($op:ident, $module:ident, $input:ty => $output:ty,
       $field:ident = $name:literal($variable:literal), $validate:ident;)*) => {$(
        impl Mutation for generated::$op {
            type Input = $input;
            type Output = $output;
            type Data = generated::$module::ResponseData;
            const FIELD: &'static str = $name;
            const QUERY: &'static str = generated::$module::QUERY;
            const OPERATION_NAME: &'static str = generated::$module::OPERATION_NAME;
            const VARIABLE: &'static str = $variable;
            fn validate(
                orders: &[Self::Input],
                now: Horizon,
            ) -> Result<(), cj_transport::InvalidInput> {
                $validate(orders, now)
            }
            fn payload(data: Self::Data) -> (Option<Vec<$output>>, Option<Vec<RequestError>>) {
                (data.$field.orders, data.$field.errors)
            }
        }
    )*};
}

mutation! {
    CreateOrders, create_orders, OrderCreateRequest => Order,
        create_orders = "createOrders"("newOrders"), validate_create;
    RestateOrders, restate_orders, OrderRestateRequest => Order,
        restate_orders = "restateOrders"("restatedOrders"), validate_restate;
    CancelOrders, cancel_orders, OrderCancelRequest => OrderCancellation,
        cancel_orders = "cancelOrders"("cancelledOrders"), validate_cancel;
    CreateOrderReceipts, create_order_receipts, OrderCreateRequest => OrderReceipt,
        create_orders = "createOrders"("newOrders"), validate_create;
    RestateOrderReceipts, restate_order_receipts, OrderRestateRequest => OrderReceipt,
        restate_orders = "restateOrders"("restatedOrders"), validate_restate;
}

/// Sends orders to CJ's Tracking API. Cheap to clone.
///
/// Each call validates every order first (see [`validate_create`] and its siblings; nothing is
/// sent when any order is invalid, unless [`Validation::Off`]), splits more than 10,000 orders
/// into several requests, sends them one after another, and merges the answers in input order.
///
/// Retrying (see `cj_transport::RetryPolicy`) is safe: CJ deduplicates orders on enterprise id +
/// action tracker id + order id, so an order sent twice because an answer was lost counts once.
#[derive(Debug, Clone)]
pub struct Orders {
    transport: Transport,
    endpoint: Url,
    mode: Mode,
    validation: Validation,
    max_orders_per_request: usize,
    max_request_bytes: usize,
    max_in_flight: usize,
    clock_skew: std::time::Duration,
}

impl Orders {
    /// A client for the Tracking API at `base_url` (such as [`DEFAULT_BASE_URL`]); the mode's
    /// path is appended to it.
    pub fn new(transport: Transport, base_url: &str, mode: Mode) -> Result<Self, Error> {
        let endpoint = cj_transport::endpoint(base_url, mode.path(), "Tracking")?;
        Ok(Orders {
            transport,
            endpoint,
            mode,
            validation: Validation::Strict,
            max_orders_per_request: MAX_ORDERS_PER_REQUEST,
            max_request_bytes: MAX_REQUEST_BYTES,
            max_in_flight: 1,
            clock_skew: DEFAULT_CLOCK_SKEW,
        })
    }

    /// Accepts an `eventTime` or `updateTime` up to `skew` ahead of this host's clock
    /// (default [`DEFAULT_CLOCK_SKEW`], 5 minutes; see [`Horizon`]). CJ still refuses a time
    /// in the future by its own clock.
    pub fn with_clock_skew(mut self, skew: std::time::Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// How far ahead of this host's clock an order's time may be.
    pub fn clock_skew(&self) -> std::time::Duration {
        self.clock_skew
    }

    /// The latest order time validation accepts now: this host's clock plus
    /// [`Orders::clock_skew`].
    pub fn horizon(&self) -> Horizon {
        Horizon::now(self.clock_skew)
    }

    /// Sets whether orders are checked before they are sent.
    pub fn with_validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// Sends at most `n` orders per request (from 1 to CJ's maximum, 10,000, the default).
    pub fn with_max_orders_per_request(mut self, n: usize) -> Self {
        self.max_orders_per_request = n.clamp(1, MAX_ORDERS_PER_REQUEST);
        self
    }

    /// A streaming submission ([`Orders::stream`]) starts a new request before its body would
    /// pass `bytes` (at most CJ's limit, [`MAX_REQUEST_BYTES`], the default).
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes.clamp(1, MAX_REQUEST_BYTES);
        self
    }

    /// A streaming submission ([`Orders::stream`]) has at most `n` requests waiting for CJ's
    /// answer at once (at least 1, the default), while it encodes the next one.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// The mode orders are sent in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The URL orders are posted to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Sends new orders (`createOrders`).
    pub async fn create(
        &self,
        orders: &[OrderCreateRequest],
    ) -> Result<OrderResponse, SubmitError<Order>> {
        self.submit::<generated::CreateOrders>(orders).await
    }

    /// Restates orders (`restateOrders`). A restatement replaces the whole order: send the full
    /// new amount, items and parameters, not a change.
    pub async fn restate(
        &self,
        orders: &[OrderRestateRequest],
    ) -> Result<OrderResponse, SubmitError<Order>> {
        self.submit::<generated::RestateOrders>(orders).await
    }

    /// Cancels orders (`cancelOrders`).
    pub async fn cancel(
        &self,
        orders: &[OrderCancelRequest],
    ) -> Result<OrderCancellationResponse, SubmitError<OrderCancellation>> {
        self.submit::<generated::CancelOrders>(orders).await
    }

    /// The request bodies a `create` would send, after the same validation and split; nothing is
    /// sent. For dry runs and for inspecting what goes over the wire.
    pub fn encode_create(&self, orders: &[OrderCreateRequest]) -> Result<Vec<Bytes>, Error> {
        self.encode::<generated::CreateOrders>(orders)
    }

    /// The request bodies a `restate` would send; nothing is sent.
    pub fn encode_restate(&self, orders: &[OrderRestateRequest]) -> Result<Vec<Bytes>, Error> {
        self.encode::<generated::RestateOrders>(orders)
    }

    /// The request bodies a `cancel` would send; nothing is sent.
    pub fn encode_cancel(&self, orders: &[OrderCancelRequest]) -> Result<Vec<Bytes>, Error> {
        self.encode::<generated::CancelOrders>(orders)
    }

    fn encode<M: Mutation>(&self, orders: &[M::Input]) -> Result<Vec<Bytes>, Error> {
        if self.validation == Validation::Strict {
            M::validate(orders, self.horizon())?;
        }
        orders
            .chunks(self.max_orders_per_request)
            .map(encode_body::<M>)
            .collect()
    }

    async fn submit<M: Mutation>(
        &self,
        orders: &[M::Input],
    ) -> Result<TrackingResponse<M::Output>, SubmitError<M::Output>> {
        // Every body is encoded before the first is sent: nothing goes out half-way because a
        // later order could not be encoded.
        let bodies = self.encode::<M>(orders).map_err(SubmitError::new)?;
        let mut merged = TrackingResponse::default();
        let mut answered_orders = 0;
        let requests = bodies.len();
        for (request, (body, chunk)) in bodies
            .into_iter()
            .zip(orders.chunks(self.max_orders_per_request))
            .enumerate()
        {
            let span = tracing::info_span!(
                "cj.tracking",
                operation = M::FIELD,
                mode = ?self.mode,
                orders = chunk.len(),
                request = request + 1,
                requests,
            );
            let answer = crate::graphql::post::<M::Data>(
                &self.transport,
                &self.endpoint,
                "tracking",
                M::FIELD,
                body,
            )
            .instrument(span.clone())
            .await;
            let answer = match answer {
                Ok(a) => a,
                Err(error) => {
                    return Err(SubmitError {
                        answered: merged,
                        answered_orders,
                        error,
                    });
                }
            };
            let (accepted, errors_of_chunk) = M::payload(answer.data);
            let (accepted, errors_of_chunk) = (
                accepted.unwrap_or_default(),
                errors_of_chunk.unwrap_or_default(),
            );
            span.in_scope(|| {
                tracing::info!(
                    accepted = accepted.len(),
                    errors = errors_of_chunk.len(),
                    graphql_errors = answer.errors.len(),
                    "answered"
                )
            });
            let errors_of_chunk = redact_request_errors(self.transport.redactor(), errors_of_chunk);
            settle_chunk(
                &mut merged,
                chunk,
                answered_orders,
                accepted,
                &errors_of_chunk,
            );
            merged.graphql_errors.extend(answer.errors);
            answered_orders += chunk.len();
        }
        Ok(merged)
    }
}

/// Adds one request's answer to `merged`: CJ's errors traced to the input (rebased by
/// `offset`, the chunk's position in the whole input), the chunk's orders that CJ neither
/// returned nor refused as unconfirmed, and each order CJ returned where its [`Naming`] puts it.
fn settle_chunk<I: OrderKey, T: OrderKey>(
    merged: &mut TrackingResponse<T>,
    chunk: &[I],
    offset: usize,
    accepted: Vec<T>,
    errors: &[RequestError],
) {
    let settled = settle(chunk, offset, &accepted, errors);
    merged.errors.extend(settled.errors);
    merged.unconfirmed.extend(settled.unconfirmed);
    for (order, naming) in accepted.into_iter().zip(settled.namings) {
        match naming {
            Naming::Carried(_) => merged.orders.push(order),
            Naming::Again => {}
            Naming::Unrequested => merged.unrequested.push(order),
        }
    }
}

/// What an order of CJ's answer is to the request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The request's order at this position of the whole input, named for the first time.
    Carried(usize),
    /// A request's order named earlier in the same answer: counted once.
    Again,
    /// An order the request did not carry.
    Unrequested,
}

/// One request's answer traced to the input.
struct Settled {
    /// CJ's `RequestError`s, rebased onto the whole input.
    errors: Vec<OrderError>,
    /// The request's orders that CJ neither returned nor refused.
    unconfirmed: Vec<UnconfirmedOrder>,
    /// For each order CJ returned, in its order: which of the request's it names.
    namings: Vec<Naming>,
}

/// One request's answer traced to the input (`offset` is the chunk's position in the whole
/// input): CJ's `RequestError`s, the chunk's orders that CJ neither returned (`accepted`) nor
/// refused (the unconfirmed), and what each returned order names.
fn settle<I: OrderKey, K: OrderKey>(
    chunk: &[I],
    offset: usize,
    accepted: &[K],
    errors: &[RequestError],
) -> Settled {
    let mut refused = vec![false; chunk.len()];
    let mut traced = Vec::with_capacity(errors.len());
    for e in errors {
        let fields = e.fields.clone().unwrap_or_default();
        let named = fields.iter().find_map(|f| order_position(f, chunk.len()));
        let fields = fields
            .iter()
            .map(|f| rebase_field(f, offset, chunk.len()))
            .collect();
        if let Some(i) = named
            && let Some(slot) = refused.get_mut(i)
        {
            *slot = true;
        }
        traced.push(OrderError {
            message: e.message.clone(),
            fields,
            index: named.map(|i| i + offset),
            order_id: named
                .and_then(|i| chunk.get(i))
                .map(|o| o.order_key().2.to_string()),
        });
    }
    // Each key's first position in the chunk (an unchecked chunk may repeat a key: CJ's one
    // answer then confirms both), and whether CJ has named it yet.
    let mut positions: foldhash::HashMap<(&str, NonNegativeInt, &str), (usize, bool)> =
        foldhash::HashMap::with_capacity_and_hasher(chunk.len(), Default::default());
    for (i, order) in chunk.iter().enumerate() {
        positions.entry(order.order_key()).or_insert((i, false));
    }
    let namings = accepted
        .iter()
        .map(|k| match positions.get_mut(&k.order_key()) {
            Some((i, named)) => {
                if std::mem::replace(named, true) {
                    Naming::Again
                } else {
                    Naming::Carried(*i + offset)
                }
            }
            None => Naming::Unrequested,
        })
        .collect();
    let mut unconfirmed = Vec::new();
    for ((i, order), refused) in chunk.iter().enumerate().zip(refused) {
        let returned = positions
            .get(&order.order_key())
            .is_some_and(|(_, named)| *named);
        if !refused && !returned {
            unconfirmed.push(UnconfirmedOrder {
                index: i + offset,
                order_id: order.order_key().2.to_string(),
            });
        }
    }
    Settled {
        errors: traced,
        unconfirmed,
        namings,
    }
}

/// CJ's `RequestError`s with their text redacted (CJ may echo the key in any of them).
fn redact_request_errors(
    redactor: &cj_transport::Redactor,
    errors: Vec<RequestError>,
) -> Vec<RequestError> {
    errors
        .into_iter()
        .map(|mut e| {
            e.message = redactor.redact(&e.message);
            for f in e.fields.iter_mut().flatten() {
                *f = redactor.redact(f);
            }
            e
        })
        .collect()
}

/// The order a `RequestError` field names: the first `[n]` in it (`newOrders[3].eventTime`),
/// when `n` is a position in the request.
fn order_position(field: &str, orders: usize) -> Option<usize> {
    let open = field.find('[')?;
    let close = field[open..].find(']')? + open;
    let n: usize = field[open + 1..close].parse().ok()?;
    (n < orders).then_some(n)
}

/// `field` with the order position it names moved from the request onto the whole input.
fn rebase_field(field: &str, offset: usize, orders: usize) -> String {
    match (order_position(field, orders), field.find('[')) {
        (Some(n), Some(open)) if offset > 0 => {
            let close = field[open..].find(']').map_or(field.len(), |c| c + open);
            format!("{}[{}]{}", &field[..open], n + offset, &field[close + 1..])
        }
        _ => field.to_string(),
    }
}

fn encode_body<M: Mutation>(chunk: &[M::Input]) -> Result<Bytes, Error> {
    let body = crate::graphql::Body {
        query: M::QUERY,
        operation_name: M::OPERATION_NAME,
        variable: M::VARIABLE,
        value: &chunk,
    };
    // Room for typical orders up front: growing a body of megabytes by doubling copies it.
    let mut out = Vec::with_capacity(chunk.len().saturating_mul(BYTES_PER_ORDER));
    serde_json::to_writer(&mut out, &body)
        .map(|()| Bytes::from(out))
        .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))
}

/// The room reserved per order in a request body, about an order with a few items and vertical
/// parameters; a larger body grows as needed.
const BYTES_PER_ORDER: usize = 768;

/// Fuzz entry point: reads `data` as CJ's answer to a create and a cancel of three orders sent
/// at offset 10,000 of a larger submission, and checks that every order ends in exactly one
/// place (accepted, refused or unconfirmed) with indices inside the submission; then reads it
/// as the streaming submission does (`pipeline::fuzz_answer`).
pub(crate) fn fuzz_answer(data: &[u8]) {
    let redactor = cj_transport::Redactor::new(crate::fuzz::SECRET);
    let creates: Vec<OrderCreateRequest> = ["F-0", "F-1", "F-2"]
        .iter()
        .map(|id| {
            OrderCreateRequest::builder()
                .enterprise_id("1234567")
                .action_tracker_id(123456)
                .order_id(*id)
                .build()
        })
        .collect();
    fuzz_mutation::<generated::CreateOrders>(data, &redactor, &creates);
    let cancels: Vec<OrderCancelRequest> = creates
        .iter()
        .map(|o| {
            OrderCancelRequest::builder()
                .enterprise_id("1234567")
                .action_tracker_id(123456)
                .order_id(o.order_id.clone())
                .update_time(Instant::now())
                .build()
        })
        .collect();
    fuzz_mutation::<generated::CancelOrders>(data, &redactor, &cancels);
    pipeline::fuzz_answer(data);
}

/// Reads `data` as `M`'s answer to `inputs` sent at offset 10,000 and checks the settlement.
fn fuzz_mutation<M: Mutation>(data: &[u8], redactor: &cj_transport::Redactor, inputs: &[M::Input]) {
    if let Ok(answer) = crate::graphql::decode::<M::Data>(data, redactor) {
        let (accepted, errors) = M::payload(answer.data);
        // As `submit` does: CJ's errors are redacted before they are kept.
        let errors = redact_request_errors(redactor, errors.unwrap_or_default());
        let mut merged = TrackingResponse::default();
        settle_chunk(
            &mut merged,
            inputs,
            10_000,
            accepted.unwrap_or_default(),
            &errors,
        );
        check_settled(&merged, inputs, 10_000);
    }
}

/// Panics (a fuzz finding) unless every input order is in exactly one place of `merged`.
fn check_settled<I: OrderKey, T: OrderKey>(
    merged: &TrackingResponse<T>,
    chunk: &[I],
    offset: usize,
) {
    let range = offset..offset + chunk.len();
    for (i, order) in chunk.iter().enumerate() {
        let index = offset + i;
        let refused = merged.errors.iter().any(|e| e.index == Some(index));
        let unconfirmed = merged
            .unconfirmed
            .iter()
            .filter(|u| u.index == index)
            .count();
        let accepted = merged
            .orders
            .iter()
            .any(|o| o.order_key() == order.order_key());
        let places = usize::from(refused) + unconfirmed + usize::from(accepted && !refused);
        assert_eq!(places, 1, "order {index} is in {places} places");
    }
    // Accepted orders are the chunk's, each once; anything else CJ returned is unrequested.
    let mut seen = std::collections::HashSet::new();
    for o in &merged.orders {
        assert!(
            chunk.iter().any(|c| c.order_key() == o.order_key()),
            "{:?} was not sent",
            o.order_key()
        );
        assert!(seen.insert(o.order_key()), "{:?} twice", o.order_key());
    }
    for o in &merged.unrequested {
        assert!(!chunk.iter().any(|c| c.order_key() == o.order_key()));
    }
    for e in &merged.errors {
        assert!(e.index.is_none_or(|i| range.contains(&i)), "{e:?}");
        assert!(
            !e.message.contains(crate::fuzz::SECRET)
                && !e.fields.iter().any(|f| f.contains(crate::fuzz::SECRET)),
            "the secret leaked"
        );
    }
}
