//! CJ's GraphQL Tracking API: `createOrders`, `restateOrders` and `cancelOrders`.
//!
//! Build orders with the generated builders ([`OrderCreateRequest::builder`], ...), then send
//! them with an [`Orders`] client. The same [`OrderItemInput`], [`VerticalParametersInput`] and
//! [`NameValuePairInput`] serve a create and a restate.

#[allow(clippy::all)]
#[rustfmt::skip]
#[path = "../generated/tracking.rs"]
mod generated;
mod validate;

use bytes::Bytes;
use cj_transport::{Delivery, Error, GraphQLError, Transport, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

pub use crate::scalars::{Id, Instant, NonNegativeDecimalNumber, NonNegativeInt};
pub use generated::{
    ActionTracker, Ad, Advertiser, BypassChannel, BypassChannelInput, CustomIds, CustomIdsInput,
    NameValuePair, NameValuePairInput, Order, OrderCancelRequest, OrderCancellation,
    OrderCreateRequest, OrderItem, OrderItemInput, OrderRestateRequest, PromotionalProperty,
    RequestError, VerticalParameters, VerticalParametersInput,
};
pub use validate::{
    MAX_CJ_EVENT_LEN, MAX_ITEMS_PER_ORDER, validate_cancel, validate_create, validate_restate,
};

/// The builders that `bon` generates for the input types.
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
/// CJ reports two kinds of failure here: `errors` ([`RequestError`], next to the accepted
/// `orders`: a partial success keeps both) and `graphql_errors` (GraphQL errors that came with
/// data). A request refused as a whole is an [`Error`] instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TrackingResponse<T> {
    /// The orders CJ accepted.
    pub orders: Vec<T>,
    /// CJ's `RequestError`s.
    pub errors: Vec<RequestError>,
    /// GraphQL errors that came beside data.
    #[serde(
        rename = "graphqlErrors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub graphql_errors: Vec<GraphQLError>,
}

impl<T> Default for TrackingResponse<T> {
    fn default() -> Self {
        TrackingResponse {
            orders: Vec::new(),
            errors: Vec::new(),
            graphql_errors: Vec::new(),
        }
    }
}

impl<T> TrackingResponse<T> {
    /// Whether CJ reported no error of either kind.
    pub fn is_success(&self) -> bool {
        self.errors.is_empty() && self.graphql_errors.is_empty()
    }
}

/// The answer to `createOrders` or `restateOrders`.
pub type OrderResponse = TrackingResponse<Order>;
/// The answer to `cancelOrders`.
pub type OrderCancellationResponse = TrackingResponse<OrderCancellation>;

/// A submission that failed. When it took several requests (more than 10,000 orders), the
/// requests before the failing one were answered: their results are in `answered`, and the
/// first `answered_orders` orders need not be sent again. The rest were not answered.
#[derive(Debug, thiserror::Error)]
#[error("{error}{}", if *.answered_orders > 0 {
    format!(" (the first {} orders were answered before this)", .answered_orders)
} else { String::new() })]
#[non_exhaustive]
pub struct SubmitError<T> {
    /// What the answered requests returned.
    pub answered: TrackingResponse<T>,
    /// How many orders, from the start of the input, were in answered requests.
    pub answered_orders: usize,
    /// Why the next request failed.
    #[source]
    pub error: Error,
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

/// One of the three order mutations.
trait Mutation {
    type Input: Serialize + Sync;
    type Output: DeserializeOwned;
    type Data: DeserializeOwned;
    const FIELD: &'static str;
    const QUERY: &'static str;
    const OPERATION_NAME: &'static str;
    const VARIABLE: &'static str;
    fn validate(orders: &[Self::Input], now: Instant) -> Result<(), cj_transport::InvalidInput>;
    fn payload(data: Self::Data) -> (Option<Vec<Self::Output>>, Option<Vec<RequestError>>);
}

impl Mutation for generated::CreateOrders {
    type Input = OrderCreateRequest;
    type Output = Order;
    type Data = generated::create_orders::ResponseData;
    const FIELD: &'static str = "createOrders";
    const QUERY: &'static str = generated::create_orders::QUERY;
    const OPERATION_NAME: &'static str = generated::create_orders::OPERATION_NAME;
    const VARIABLE: &'static str = "newOrders";
    fn validate(orders: &[Self::Input], now: Instant) -> Result<(), cj_transport::InvalidInput> {
        validate_create(orders, now)
    }
    fn payload(data: Self::Data) -> (Option<Vec<Order>>, Option<Vec<RequestError>>) {
        (data.create_orders.orders, data.create_orders.errors)
    }
}

impl Mutation for generated::RestateOrders {
    type Input = OrderRestateRequest;
    type Output = Order;
    type Data = generated::restate_orders::ResponseData;
    const FIELD: &'static str = "restateOrders";
    const QUERY: &'static str = generated::restate_orders::QUERY;
    const OPERATION_NAME: &'static str = generated::restate_orders::OPERATION_NAME;
    const VARIABLE: &'static str = "restatedOrders";
    fn validate(orders: &[Self::Input], now: Instant) -> Result<(), cj_transport::InvalidInput> {
        validate_restate(orders, now)
    }
    fn payload(data: Self::Data) -> (Option<Vec<Order>>, Option<Vec<RequestError>>) {
        (data.restate_orders.orders, data.restate_orders.errors)
    }
}

impl Mutation for generated::CancelOrders {
    type Input = OrderCancelRequest;
    type Output = OrderCancellation;
    type Data = generated::cancel_orders::ResponseData;
    const FIELD: &'static str = "cancelOrders";
    const QUERY: &'static str = generated::cancel_orders::QUERY;
    const OPERATION_NAME: &'static str = generated::cancel_orders::OPERATION_NAME;
    const VARIABLE: &'static str = "cancelledOrders";
    fn validate(orders: &[Self::Input], now: Instant) -> Result<(), cj_transport::InvalidInput> {
        validate_cancel(orders, now)
    }
    fn payload(data: Self::Data) -> (Option<Vec<OrderCancellation>>, Option<Vec<RequestError>>) {
        (data.cancel_orders.orders, data.cancel_orders.errors)
    }
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
}

impl Orders {
    /// A client for the Tracking API at `base_url` (such as [`DEFAULT_BASE_URL`]); the mode's
    /// path is appended to it.
    pub fn new(transport: Transport, base_url: &str, mode: Mode) -> Result<Self, Error> {
        let endpoint = format!("{}{}", base_url.trim_end_matches('/'), mode.path());
        let endpoint = Url::parse(&endpoint)
            .map_err(|e| Error::Config(format!("bad tracking URL {base_url:?}: {e}")))?;
        Ok(Orders {
            transport,
            endpoint,
            mode,
            validation: Validation::Strict,
            max_orders_per_request: MAX_ORDERS_PER_REQUEST,
        })
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
            M::validate(orders, Instant::now())?;
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
            let (accepted, errors) = M::payload(answer.data);
            let (accepted, errors) = (accepted.unwrap_or_default(), errors.unwrap_or_default());
            span.in_scope(|| {
                tracing::info!(
                    accepted = accepted.len(),
                    errors = errors.len(),
                    graphql_errors = answer.errors.len(),
                    "answered"
                )
            });
            merged.orders.extend(accepted);
            merged.errors.extend(errors);
            merged.graphql_errors.extend(answer.errors);
            answered_orders += chunk.len();
        }
        Ok(merged)
    }
}

fn encode_body<M: Mutation>(chunk: &[M::Input]) -> Result<Bytes, Error> {
    let body = crate::graphql::Body {
        query: M::QUERY,
        operation_name: M::OPERATION_NAME,
        variable: M::VARIABLE,
        value: &chunk,
    };
    serde_json::to_vec(&body)
        .map(Bytes::from)
        .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))
}
