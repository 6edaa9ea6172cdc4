//! Streaming submission: any number of orders in bounded memory, one request of at most 10,000
//! orders (and [`MAX_REQUEST_BYTES`](super::MAX_REQUEST_BYTES)) at a time, the next body encoded
//! while the current one is sent.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use cj_transport::{Delivery, Error, GraphQLError, InvalidInput, Problem};
use futures_util::stream::{FuturesOrdered, Stream, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use tracing::Instrument;

use crate::scalars::IdText;

use super::{
    Horizon, Id, NonNegativeInt, OrderCancelRequest, OrderCancellation, OrderCreateRequest,
    OrderError, OrderKey, OrderReceipt, OrderRestateRequest, OrderRules, Orders, RequestError,
    TrackingResponse, UnconfirmedOrder, Validation, generated,
};

/// Orders read from the input before the stream lets other tasks run (the request in flight
/// among them), so that encoding never starves sending on a single-threaded runtime.
const ORDERS_PER_POLL: usize = 512;

/// An order a streaming submission takes: [`OrderCreateRequest`], [`OrderRestateRequest`],
/// [`OrderCancelRequest`] (checked, when validation is on, and encoded on the way), or an
/// [`EncodedOrder`] of one of them (sent as it is).
pub trait StreamOrder: sealed::Sealed + Send + 'static {
    /// What a streaming submission selects of an accepted order: an [`OrderReceipt`] (what
    /// names it and what CJ made of it, not the echo of every field sent) or an
    /// [`OrderCancellation`].
    type Output: DeserializeOwned + OrderKey + Send + 'static;
}

mod sealed {
    /// What the stream needs of an order; not for other crates to implement.
    pub trait Sealed {
        /// The mutation.
        const OPERATION: super::Operation;
        /// The order's problems (every rule but duplicate keys) as the order at `index`.
        fn problems(&self, index: usize, now: super::Horizon) -> Vec<super::Problem>;
        /// Appends the order's JSON to `out` and gives up its key.
        fn encode(self, out: &mut Vec<u8>) -> Result<super::KeyBuf, String>;
    }
}

/// One of the three mutations, as a streaming submission sends it.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    field: &'static str,
    query: &'static str,
    operation_name: &'static str,
    variable: &'static str,
}

/// Each input, what a streaming submission selects of an accepted order, and the mutation that
/// selects it.
macro_rules! typed_input {
    ($($input:ty => $output:ty, $mutation:ty;)*) => {$(
        impl StreamOrder for $input {
            type Output = $output;
        }

        impl sealed::Sealed for $input {
            const OPERATION: Operation = Operation {
                field: <$mutation as super::Mutation>::FIELD,
                query: <$mutation as super::Mutation>::QUERY,
                operation_name: <$mutation as super::Mutation>::OPERATION_NAME,
                variable: <$mutation as super::Mutation>::VARIABLE,
            };
            fn problems(&self, index: usize, now: Horizon) -> Vec<Problem> {
                self.check(index, now)
            }
            fn encode(self, out: &mut Vec<u8>) -> Result<KeyBuf, String> {
                serde_json::to_writer(&mut *out, &self).map_err(|e| e.to_string())?;
                Ok(KeyBuf {
                    enterprise_id: self.enterprise_id,
                    action_tracker_id: self.action_tracker_id,
                    order_id: self.order_id,
                })
            }
        }

        impl StreamOrder for EncodedOrder<$input> {
            type Output = $output;
        }

        impl sealed::Sealed for EncodedOrder<$input> {
            const OPERATION: Operation = <$input as sealed::Sealed>::OPERATION;
            fn problems(&self, _: usize, _: Horizon) -> Vec<Problem> {
                Vec::new()
            }
            fn encode(self, out: &mut Vec<u8>) -> Result<KeyBuf, String> {
                out.extend_from_slice(self.json.as_bytes());
                Ok(self.key)
            }
        }
    )*};
}

typed_input! {
    OrderCreateRequest => OrderReceipt, generated::CreateOrderReceipts;
    OrderRestateRequest => OrderReceipt, generated::RestateOrderReceipts;
    OrderCancelRequest => OrderCancellation, generated::CancelOrders;
}

/// An order already encoded as the JSON of CJ's input type `I`, with the key CJ deduplicates
/// on: a streaming submission copies it into the request as it is, unchecked. For orders
/// checked and encoded once and sent later (a spool file, a queue).
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedOrder<I> {
    key: KeyBuf,
    json: Box<str>,
    kind: PhantomData<fn() -> I>,
}

impl<I> fmt::Debug for EncodedOrder<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedOrder")
            .field("key", &self.key)
            .field("bytes", &self.json.len())
            .finish()
    }
}

impl<I: StreamOrder + serde::Serialize + OrderKey> EncodedOrder<I> {
    /// `order`, encoded (not checked: see [`OrderRules`]).
    pub fn new(order: &I) -> Result<Self, Error> {
        let json = serde_json::to_string(order)
            .map_err(|e| Error::Config(format!("cannot encode the order: {e}")))?;
        let (enterprise_id, action_tracker_id, order_id) = order.order_key();
        Ok(Self::from_json(
            enterprise_id,
            action_tracker_id,
            order_id,
            json,
        ))
    }
}

impl<I> EncodedOrder<I> {
    /// An order from its key and its JSON, taken on trust: `json` must be one JSON object of
    /// CJ's input type `I` (as [`EncodedOrder::new`] writes it) with that key. Nothing checks
    /// it; CJ refuses a whole request with a malformed order.
    pub fn from_json(
        enterprise_id: impl Into<Id>,
        action_tracker_id: NonNegativeInt,
        order_id: impl Into<String>,
        json: impl Into<Box<str>>,
    ) -> Self {
        EncodedOrder {
            key: KeyBuf {
                enterprise_id: enterprise_id.into(),
                action_tracker_id,
                order_id: order_id.into(),
            },
            json: json.into(),
            kind: PhantomData,
        }
    }

    /// The order's JSON.
    pub fn json(&self) -> &str {
        &self.json
    }
}

impl<I> OrderKey for EncodedOrder<I> {
    fn order_key(&self) -> (&str, NonNegativeInt, &str) {
        self.key.order_key()
    }
}

/// An order's key, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBuf {
    enterprise_id: Id,
    action_tracker_id: NonNegativeInt,
    order_id: String,
}

impl OrderKey for KeyBuf {
    fn order_key(&self) -> (&str, NonNegativeInt, &str) {
        (
            self.enterprise_id.as_str(),
            self.action_tracker_id,
            &self.order_id,
        )
    }
}

/// One request's answer in a streaming submission: which input orders it carried, and what
/// CJ made of each (accepted, refused or unconfirmed, as in [`TrackingResponse`]).
///
/// The accepted orders are kept as CJ's answer holds them and read one at a time
/// ([`StreamAnswer::accepted`]), so that an answer of 10,000 orders costs the size of its
/// body, not that of 10,000 typed orders.
#[non_exhaustive]
pub struct StreamAnswer<T> {
    /// The input orders the request carried, as positions in the whole input.
    pub orders: Range<usize>,
    /// CJ's `RequestError`s, traced to the input (`index` and `fields` rebased onto the whole
    /// input).
    pub errors: Vec<OrderError>,
    /// The request's orders that CJ's answer neither accepted nor refused: outcome unknown,
    /// safe to send again.
    pub unconfirmed: Vec<UnconfirmedOrder>,
    /// GraphQL errors that came beside data.
    pub graphql_errors: Vec<GraphQLError>,
    body: Bytes,
    /// Each accepted order's input position (`None` for an order the request did not carry)
    /// and its place in `body`.
    accepted: Vec<(Option<usize>, Range<usize>)>,
    kind: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for StreamAnswer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamAnswer")
            .field("orders", &self.orders)
            .field("accepted", &self.accepted.len())
            .field("errors", &self.errors)
            .field("unconfirmed", &self.unconfirmed)
            .field("graphql_errors", &self.graphql_errors)
            .finish()
    }
}

impl<T: DeserializeOwned> StreamAnswer<T> {
    /// How many of the request's orders CJ accepted (an order CJ returned that the request
    /// did not carry is not counted; see [`StreamAnswer::unrequested_count`]).
    pub fn accepted_count(&self) -> usize {
        self.accepted
            .iter()
            .filter(|(index, _)| index.is_some())
            .count()
    }

    /// How many orders CJ's answer returned that the request did not carry (`None` in
    /// [`StreamAnswer::accepted`]): none from CJ as documented; counted apart so that they are
    /// never taken for the caller's.
    pub fn unrequested_count(&self) -> usize {
        self.accepted.len() - self.accepted_count()
    }

    /// The orders CJ accepted, as CJ returned them, read one at a time, each with its
    /// position in the whole input (`None` for an order CJ returned that the request did not
    /// carry).
    ///
    /// An order counts as accepted once CJ's answer names it (its key): the rest of CJ's echo
    /// is read only here, so an echo that does not read as `T` (a field CJ changed) is an
    /// error for that order alone, never for the answer.
    pub fn accepted(
        &self,
    ) -> impl Iterator<Item = (Option<usize>, Result<T, serde_json::Error>)> + '_ {
        self.accepted_json()
            .map(|(index, json)| (index, serde_json::from_str(json)))
    }

    /// The JSON of each accepted order as CJ wrote it (the token scrubbed from it), with its
    /// input position as in [`StreamAnswer::accepted`].
    pub fn accepted_json(&self) -> impl Iterator<Item = (Option<usize>, &str)> + '_ {
        self.accepted.iter().filter_map(|(index, r)| {
            let json = std::str::from_utf8(self.body.get(r.clone())?).ok()?;
            Some((*index, json))
        })
    }

    /// Whether every order of the request was accepted.
    pub fn is_success(&self) -> bool {
        self.errors.is_empty() && self.graphql_errors.is_empty() && self.unconfirmed.is_empty()
    }

    /// The answer as a [`TrackingResponse`], every accepted order read: the first echo that
    /// does not read as `T` is the error.
    pub fn into_response(self) -> Result<TrackingResponse<T>, serde_json::Error> {
        let (mut orders, mut unrequested) = (Vec::new(), Vec::new());
        for (index, order) in self.accepted() {
            match index {
                Some(_) => orders.push(order?),
                None => unrequested.push(order?),
            }
        }
        Ok(TrackingResponse {
            orders,
            errors: self.errors,
            unconfirmed: self.unconfirmed,
            graphql_errors: self.graphql_errors,
            unrequested,
        })
    }
}

/// Why a streaming submission stopped: a request that failed, or orders that break CJ's rules.
///
/// Every item the stream yielded before it stands: the orders before `answered` were answered
/// there. The orders of `orders` were not answered (`delivery()` says whether CJ may have
/// processed them), and those from `unsent` on were never sent.
#[derive(Debug)]
#[non_exhaustive]
pub struct StreamError {
    /// Why: [`Error::Invalid`] for orders that break CJ's rules (nothing of their request was
    /// sent), else the failure of the request.
    pub error: Error,
    /// The input orders of the request that failed (or was refused before sending), as
    /// positions in the whole input.
    pub orders: Range<usize>,
    /// Every input order before this position was answered, in an item the stream yielded.
    pub answered: usize,
    /// The input orders from this position on (however many the input holds) were never sent.
    pub unsent: usize,
}

impl StreamError {
    /// Whether the failing request reached CJ.
    pub fn delivery(&self) -> Delivery {
        self.error.delivery()
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Range { start, end } = self.orders;
        if matches!(self.error, Error::Invalid(_)) {
            write!(f, "input orders {start}..{end} break CJ's rules")?;
        } else {
            write!(f, "the request of input orders {start}..{end} failed")?;
        }
        if self.answered > 0 {
            write!(f, "; orders 0..{} were answered", self.answered)?;
        }
        write!(
            f,
            "; orders from {} on were not answered, from {} on not sent",
            self.answered, self.unsent
        )
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<StreamError> for Error {
    fn from(e: StreamError) -> Self {
        e.error
    }
}

impl Orders {
    /// Sends any number of orders, read from `orders` as they come, in requests of at most
    /// 10,000 orders (see [`Orders::with_max_orders_per_request`]) and
    /// [`MAX_REQUEST_BYTES`](super::MAX_REQUEST_BYTES), and yields each request's answer as it
    /// arrives, in input order. An iterator becomes a stream with
    /// [`stream::iter`](super::stream::iter).
    ///
    /// What it guarantees:
    /// - **Bounded memory**: it holds the request being encoded, the requests in flight (one
    ///   by default, [`Orders::with_max_in_flight`]) and one answer at a time, whatever the
    ///   input's length.
    /// - **Pipelined**: the next request is encoded while the current one is sent. (It is
    ///   sent once the current answer was handed over and the stream is polled again: one
    ///   answer at a time in memory.)
    /// - **Validation per request**: with [`Validation::Strict`] (the default) every order is
    ///   checked ([`OrderRules`], duplicate keys within a request) and a request is sent only
    ///   when all of its orders are valid. A stream cannot be rewound, so the requests before
    ///   an invalid order *are* sent: to send nothing unless everything is valid, check the
    ///   whole input first (as `cj orders` does, in a first pass over the file). Keys repeated
    ///   in different requests are not found.
    /// - **Nothing answered is lost**: each answer is yielded before the next request's
    ///   outcome is known. At the first failure (a request that failed, invalid orders) the
    ///   stream stops reading, yields a [`StreamError`] naming the answered, failed and unsent
    ///   input orders, yields the answers of the requests still in flight, and ends.
    /// - **Receipts, not echoes**: a create or a restate selects an [`OrderReceipt`] for each
    ///   accepted order (what names it and what CJ made of it), not the echo of every field
    ///   sent, which for orders with items and vertical parameters is ten times larger. An
    ///   order counts as accepted once CJ's answer names its key.
    ///
    /// [`OrderStream::stop`] stops reading at once and lets the requests in flight finish.
    pub fn stream<O, S>(&self, orders: S) -> OrderStream<S, O>
    where
        O: StreamOrder,
        S: Stream<Item = O>,
    {
        OrderStream {
            input: Some(Box::pin(orders)),
            client: self.clone(),
            chunker: Chunker::new(self),
            ready: None,
            in_flight: FuturesOrdered::new(),
            failure: None,
            sent: 0,
            answered: 0,
            requests: 0,
        }
    }

    /// The request bodies a [`Orders::stream`] of `orders` would send, one at a time, with the
    /// same checks and splits; nothing is sent. An item is an error when its orders break
    /// CJ's rules (then no more follow).
    pub fn encode_iter<O: StreamOrder>(
        &self,
        orders: impl IntoIterator<Item = O>,
    ) -> impl Iterator<Item = Result<Bytes, StreamError>> {
        let mut chunker = Chunker::new(self);
        let mut orders = orders.into_iter();
        let mut done = false;
        std::iter::from_fn(move || {
            while !done {
                let next = match orders.next() {
                    Some(order) => chunker.push(order),
                    None => {
                        done = true;
                        chunker.finish()
                    }
                };
                match next {
                    Some(Ok(chunk)) => return Some(Ok(Bytes::from(chunk.body))),
                    Some(Err(e)) => {
                        done = true;
                        return Some(Err(*e));
                    }
                    None => {}
                }
            }
            None
        })
    }
}

/// The answers of a streaming submission ([`Orders::stream`]), in input order.
#[must_use = "a stream sends nothing unless polled"]
pub struct OrderStream<S, O: StreamOrder> {
    /// `None` once the input ended or reading stopped.
    input: Option<Pin<Box<S>>>,
    client: Orders,
    chunker: Chunker<O>,
    /// An encoded request waiting for room in flight.
    ready: Option<Chunk>,
    in_flight: FuturesOrdered<InFlight<O::Output>>,
    /// The failure to yield once the requests before it are answered.
    failure: Option<StreamError>,
    sent: usize,
    answered: usize,
    requests: usize,
}

type InFlight<T> = Pin<Box<dyn Future<Output = Result<StreamAnswer<T>, StreamError>> + Send>>;

impl<S, O: StreamOrder> OrderStream<S, O> {
    /// How many orders were read from the input so far.
    pub fn read(&self) -> usize {
        self.chunker.read
    }

    /// How many orders went into requests sent so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// How many requests were sent so far.
    pub fn requests(&self) -> usize {
        self.requests
    }

    /// Stops reading the input: the orders read but not sent are dropped (never sent), the
    /// requests in flight are still awaited and yielded, then the stream ends.
    pub fn stop(&mut self) {
        self.input = None;
        self.ready = None;
        self.chunker.clear();
    }
}

impl<S, O> OrderStream<S, O>
where
    S: Stream<Item = O>,
    O: StreamOrder,
{
    /// Reads orders until a request is ready to send, the input waits or ends, or
    /// [`ORDERS_PER_POLL`] were read.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        for _ in 0..ORDERS_PER_POLL {
            let Some(input) = self.input.as_mut() else {
                return Poll::Ready(());
            };
            let next = match input.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.input = None;
                    self.chunker.finish()
                }
                Poll::Ready(Some(order)) => self.chunker.push(order),
            };
            match next {
                Some(Ok(chunk)) => {
                    self.ready = Some(chunk);
                    return Poll::Ready(());
                }
                Some(Err(e)) => {
                    // Stops reading; the error is yielded after the requests before it.
                    let mut e = *e;
                    e.answered = self.answered;
                    e.unsent = self.sent;
                    self.stop();
                    self.failure = Some(e);
                    return Poll::Ready(());
                }
                None => {}
            }
        }
        // Let the other tasks (the connection sending the request in flight) run.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn launch(&mut self, chunk: Chunk) {
        let orders = chunk.orders();
        self.sent = orders.end;
        self.requests += 1;
        let client = self.client.clone();
        let span = tracing::info_span!(
            "cj.tracking",
            operation = O::OPERATION.field,
            mode = ?client.mode,
            orders = orders.len(),
            request = self.requests,
        );
        let request = async move {
            send_chunk(&client, O::OPERATION, chunk)
                .await
                .map_err(|error| StreamError {
                    error,
                    unsent: orders.end,
                    answered: orders.start,
                    orders,
                })
        };
        self.in_flight.push_back(Box::pin(request.instrument(span)));
    }
}

impl<S, O> Stream for OrderStream<S, O>
where
    S: Stream<Item = O>,
    O: StreamOrder,
{
    type Item = Result<StreamAnswer<O::Output>, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is boxed or `Unpin`.
        let this = self.get_mut();
        loop {
            if this.ready.is_none() && this.input.is_some() {
                let _ = this.fill(cx);
            }
            if this.in_flight.len() < this.client.max_in_flight
                && let Some(chunk) = this.ready.take()
            {
                this.launch(chunk);
                continue;
            }
            match this.in_flight.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(answer))) => {
                    this.answered = this.answered.max(answer.orders.end);
                    return Poll::Ready(Some(Ok(answer)));
                }
                Poll::Ready(Some(Err(mut e))) => {
                    // What was read but not sent is never sent.
                    e.unsent = this.sent;
                    e.answered = this.answered;
                    this.stop();
                    this.failure = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    if let Some(mut e) = this.failure.take() {
                        e.answered = this.answered.max(e.answered);
                        return Poll::Ready(Some(Err(e)));
                    }
                    if this.input.is_none() && this.ready.is_none() {
                        return Poll::Ready(None);
                    }
                    if this.ready.is_none() {
                        // Reading waits on the input or yielded to other tasks.
                        return Poll::Pending;
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Sends one encoded request and reads CJ's answer.
async fn send_chunk<T: DeserializeOwned + OrderKey>(
    client: &Orders,
    operation: Operation,
    chunk: Chunk,
) -> Result<StreamAnswer<T>, Error> {
    let Chunk {
        start, body, keys, ..
    } = chunk;
    let body = crate::graphql::post_raw(
        &client.transport,
        &client.endpoint,
        "tracking",
        operation.field,
        Bytes::from(body),
    )
    .await?;
    let redactor = client.transport.redactor();
    let ReadAnswer {
        keys: named,
        ranges,
        errors: request_errors,
        graphql_errors,
    } = read_answer(&body, operation.field, redactor)?;
    let request_errors = super::redact_request_errors(redactor, request_errors);
    let settled = super::settle(&keys, start, &named, &request_errors);
    let (errors, unconfirmed) = (settled.errors, settled.unconfirmed);
    // An order CJ names twice counts once; one the request did not carry is kept (`None`),
    // never counted as one of the caller's.
    let accepted = settled
        .namings
        .into_iter()
        .zip(ranges)
        .filter_map(|(naming, range)| match naming {
            super::Naming::Carried(index) => Some((Some(index), range)),
            super::Naming::Again => None,
            super::Naming::Unrequested => Some((None, range)),
        })
        .collect();
    tracing::info!(
        accepted = named.len(),
        errors = errors.len(),
        graphql_errors = graphql_errors.len(),
        "answered"
    );
    Ok(StreamAnswer {
        orders: start..start + keys.len(),
        errors,
        unconfirmed,
        graphql_errors,
        body,
        accepted,
        kind: PhantomData,
    })
}

/// What one answer holds: the accepted orders' keys (borrowed from the body) and where each
/// is in the body, CJ's `RequestError`s and the GraphQL errors beside the data.
struct ReadAnswer<'a> {
    keys: Vec<Named<'a>>,
    ranges: Vec<Range<usize>>,
    errors: Vec<RequestError>,
    graphql_errors: Vec<GraphQLError>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    orders: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    errors: Option<Vec<RequestError>>,
}

/// Reads the answer to `field` (`createOrders`, ...): each accepted order is read only as far
/// as the key that names it (an order without one makes the answer unreadable) and kept as its
/// place in `body`; the rest of CJ's echo is read when the caller asks for it.
fn read_answer<'a>(
    body: &'a [u8],
    field: &str,
    redactor: &cj_transport::Redactor,
) -> Result<ReadAnswer<'a>, Error> {
    let answer = crate::graphql::decode::<BTreeMap<String, Option<Payload<'a>>>>(body, redactor)?;
    let mut data = answer.data;
    let payload = data.remove(field).flatten();
    let (orders, errors) = payload.map_or((None, None), |p| (p.orders, p.errors));
    let orders = orders.unwrap_or_default();
    let mut keys = Vec::with_capacity(orders.len());
    let mut ranges = Vec::with_capacity(orders.len());
    let base = body.as_ptr() as usize;
    for (n, raw) in orders.into_iter().enumerate() {
        let text: &'a str = raw.get();
        let named: Named<'a> = serde_json::from_str(text).map_err(|e| Error::Decode {
            message: redactor.redact(&format!("at `data.{field}.orders[{n}]`: {e}")),
            body: redactor.redact_body(text.as_bytes()),
        })?;
        keys.push(named);
        // The raw text borrows from `body`: its place there.
        let start = (text.as_ptr() as usize).saturating_sub(base);
        ranges.push(start..start + text.len());
    }
    Ok(ReadAnswer {
        keys,
        ranges,
        errors: errors.unwrap_or_default(),
        graphql_errors: answer.errors,
    })
}

/// What names an accepted order (an `Order` or an `OrderCancellation`) in CJ's answer,
/// borrowed from the answer unless escaped; every other field is skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Named<'a> {
    #[serde(borrow)]
    advertiser: NamedAdvertiser<'a>,
    action_tracker: NamedTracker,
    #[serde(borrow)]
    order_id: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedAdvertiser<'a> {
    #[serde(borrow)]
    enterprise_id: IdText<'a>,
}

#[derive(Deserialize)]
struct NamedTracker {
    id: NonNegativeInt,
}

impl OrderKey for Named<'_> {
    fn order_key(&self) -> (&str, NonNegativeInt, &str) {
        (
            &self.advertiser.enterprise_id.0,
            self.action_tracker.id,
            &self.order_id,
        )
    }
}

/// Turns orders into request bodies: checks each (with [`Validation::Strict`]), encodes it
/// into the current request, and hands over a request when it is full.
struct Chunker<O> {
    prefix: Vec<u8>,
    max_orders: usize,
    max_bytes: usize,
    strict: bool,
    /// Orders read so far: the next order's input position.
    read: usize,
    chunk: Chunk,
    /// When the current request's first order was checked: its orders' "now" (and the
    /// tolerance for clocks ahead of it).
    now: Option<Horizon>,
    clock_skew: std::time::Duration,
    /// The size of the last full request's body.
    last_bytes: usize,
    kind: PhantomData<fn(O)>,
}

impl<O: StreamOrder> Chunker<O> {
    fn new(client: &Orders) -> Self {
        Chunker {
            prefix: body_prefix(O::OPERATION),
            max_orders: client.max_orders_per_request,
            max_bytes: client.max_request_bytes,
            strict: client.validation == Validation::Strict,
            read: 0,
            chunk: Chunk::new(0),
            now: None,
            clock_skew: client.clock_skew,
            last_bytes: 0,
            kind: PhantomData,
        }
    }

    /// Drops the orders of the current request.
    fn clear(&mut self) {
        self.chunk = Chunk::new(self.read);
        self.now = None;
    }

    /// Adds the next order; a request when one is complete.
    fn push(&mut self, order: O) -> Option<Result<Chunk, Box<StreamError>>> {
        let index = self.read;
        self.read += 1;
        if self.strict {
            let skew = self.clock_skew;
            let now = *self.now.get_or_insert_with(|| Horizon::now(skew));
            self.chunk.problems.extend(order.problems(index, now));
        }
        if self.chunk.body.is_empty() {
            // Room for the request's orders like the last one's: growing a body of megabytes
            // by doubling copies it.
            let room = self.last_bytes.max(self.prefix.len() + BODY_SUFFIX.len());
            self.chunk.body.reserve(room.min(self.max_bytes));
            self.chunk.body.extend_from_slice(&self.prefix);
        }
        let mark = self.chunk.body.len();
        if !self.chunk.keys.is_empty() {
            self.chunk.body.push(b',');
        }
        match order.encode(&mut self.chunk.body) {
            Ok(key) => self.chunk.keys.push(key),
            Err(e) => {
                self.chunk.body.truncate(mark);
                self.chunk.problems.push(Problem::new(
                    "order",
                    Some(index),
                    None,
                    ".",
                    format!("cannot be encoded: {e}"),
                ));
                return None;
            }
        }
        if self.chunk.body.len() + BODY_SUFFIX.len() > self.max_bytes {
            if self.chunk.keys.len() > 1 {
                // The order starts the next request.
                let mut next = Chunk::new(index);
                next.body.extend_from_slice(&self.prefix);
                next.body
                    .extend_from_slice(self.chunk.body.get(mark + 1..).unwrap_or_default());
                next.keys.extend(self.chunk.keys.pop());
                next.problems = self
                    .chunk
                    .problems
                    .extract_if(.., |p| p.index == Some(index))
                    .collect();
                self.chunk.body.truncate(mark);
                let full = std::mem::replace(&mut self.chunk, next);
                return Some(self.complete(full));
            }
            self.chunk.problems.push(Problem::new(
                "order",
                Some(index),
                None,
                ".",
                format!(
                    "is too large: a request with it alone is more than {} bytes",
                    self.max_bytes
                ),
            ));
        }
        if self.chunk.keys.len() >= self.max_orders {
            self.last_bytes = self.chunk.body.len() + BODY_SUFFIX.len();
            let full = std::mem::replace(&mut self.chunk, Chunk::new(self.read));
            self.now = None;
            return Some(self.complete(full));
        }
        None
    }

    /// The last request, once the input ended.
    fn finish(&mut self) -> Option<Result<Chunk, Box<StreamError>>> {
        let last = std::mem::replace(&mut self.chunk, Chunk::new(self.read));
        (!last.keys.is_empty() || !last.problems.is_empty()).then(|| self.complete(last))
    }

    /// A complete request, its keys checked for duplicates: ready to send, or refused.
    fn complete(&self, mut chunk: Chunk) -> Result<Chunk, Box<StreamError>> {
        if self.strict {
            let mut duplicates = super::Duplicates::with_capacity(chunk.keys.len());
            for (i, key) in chunk.keys.iter().enumerate() {
                let problem = duplicates.add(chunk.start + i, key);
                chunk.problems.extend(problem);
            }
        }
        if chunk.problems.is_empty() {
            chunk.body.extend_from_slice(BODY_SUFFIX);
            return Ok(chunk);
        }
        let orders = chunk.orders();
        let mut problems = std::mem::take(&mut chunk.problems);
        problems.sort_by_key(|p| p.index);
        Err(Box::new(StreamError {
            error: Error::Invalid(InvalidInput { problems }),
            answered: orders.start,
            unsent: orders.start,
            orders,
        }))
    }
}

/// A request being encoded: its body so far and its orders' keys.
struct Chunk {
    /// The input position of its first order.
    start: usize,
    body: Vec<u8>,
    keys: Vec<KeyBuf>,
    problems: Vec<Problem>,
}

/// What closes a request body after its orders.
const BODY_SUFFIX: &[u8] = b"]}}";

impl Chunk {
    fn new(start: usize) -> Chunk {
        Chunk {
            start,
            body: Vec::new(),
            keys: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// The input positions of its orders.
    fn orders(&self) -> Range<usize> {
        self.start..self.start + self.keys.len()
    }
}

/// `{"query":...,"operationName":...,"variables":{"newOrders":[`: what serde_json writes for
/// the slice API's body, up to the first order.
fn body_prefix(op: Operation) -> Vec<u8> {
    let mut out = Vec::with_capacity(op.query.len() + 96);
    out.extend_from_slice(b"{\"query\":");
    write_json_str(&mut out, op.query);
    out.extend_from_slice(b",\"operationName\":");
    write_json_str(&mut out, op.operation_name);
    out.extend_from_slice(b",\"variables\":{");
    write_json_str(&mut out, op.variable);
    out.extend_from_slice(b":[");
    out
}

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing a `&str` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Fuzz entry point: reads `data` as the answer to a streamed request of three creates at
/// input position 10,000, as [`send_chunk`] does, and checks that every order ends in exactly
/// one place and that each accepted order's place lies in the body.
pub(crate) fn fuzz_answer(data: &[u8]) {
    let redactor = cj_transport::Redactor::new(crate::fuzz::SECRET);
    let Ok(read) = read_answer(data, "createOrders", &redactor) else {
        return;
    };
    for range in &read.ranges {
        assert!(
            data.get(range.clone()).is_some(),
            "{range:?} is outside the body"
        );
    }
    let keys: Vec<KeyBuf> = ["F-0", "F-1", "F-2"]
        .iter()
        .map(|id| KeyBuf {
            enterprise_id: "1234567".into(),
            action_tracker_id: 123456,
            order_id: (*id).to_string(),
        })
        .collect();
    let errors = super::redact_request_errors(&redactor, read.errors);
    let mut answer = TrackingResponse {
        graphql_errors: read.graphql_errors,
        ..TrackingResponse::default()
    };
    super::settle_chunk(&mut answer, &keys, 10_000, read.keys, &errors);
    super::check_settled(&answer, &keys, 10_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_orders_by_keys_read_in_place_escaped_or_numeric_alike() {
        let redactor = cj_transport::Redactor::new("never-in-this-answer");
        let body = br#"{"data":{"createOrders":{"orders":[
            {"advertiser":{"enterpriseId":"1234567"},"actionTracker":{"id":123456},"orderId":"A-1"},
            {"orderId":"B\u002d2","advertiser":{"enterpriseId":1234567},"actionTracker":{"id":7}}
        ],"errors":[]}}}"#;
        let read = read_answer(body, "createOrders", &redactor).expect("reads");
        let keys: Vec<_> = read.keys.iter().map(OrderKey::order_key).collect();
        assert_eq!(keys, [("1234567", 123456, "A-1"), ("1234567", 7, "B-2")]);
        // Plain text is borrowed from the body; an escaped id is unescaped into its own.
        assert!(matches!(read.keys[0].order_id, Cow::Borrowed(_)));
        assert!(matches!(read.keys[1].order_id, Cow::Owned(_)));
        let first = read.ranges.first().cloned().expect("a range");
        assert!(body[first].starts_with(br#"{"advertiser""#));

        // An enterprise id that is not an integer, and an order without its key: unreadable.
        for order in [
            r#"{"advertiser":{"enterpriseId":12.5},"actionTracker":{"id":1},"orderId":"C"}"#,
            r#"{"advertiser":{"enterpriseId":"1"},"orderId":"C"}"#,
        ] {
            let body = format!(r#"{{"data":{{"createOrders":{{"orders":[{order}]}}}}}}"#);
            let read = read_answer(body.as_bytes(), "createOrders", &redactor);
            assert!(
                matches!(read, Err(Error::Decode { .. })),
                "{order}: {:?}",
                read.map(|r| r.keys.len())
            );
        }
    }
}
