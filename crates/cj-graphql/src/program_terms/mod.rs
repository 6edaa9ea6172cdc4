//! CJ's Program Terms API (publishers): contracts with their program terms, action terms,
//! commission rates, locking methods and performance incentives; and which rate applies to an
//! order ([`estimate`], which takes a Tracking order: with the `tracking` feature).
//!
//! CJ publishes no schema for this API: `schema/program_terms.graphql` is written from CJ's
//! reference, and no enum value list is public. Every enum here keeps a value it does not know
//! as `Unknown(text)`, so a new value never fails a response.

#[allow(clippy::all)]
#[rustfmt::skip]
#[path = "../generated/program_terms.rs"]
mod generated;
#[cfg(feature = "tracking")]
mod estimate;

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;
use cj_transport::{Error, InvalidInput, Problem, Transport, Url};
use futures_util::Stream;
use graphql_client::GraphQLQuery;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::Instrument;

use crate::scalars::Scalar;
pub use crate::scalars::{Id, Instant};
#[cfg(feature = "tracking")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracking")))]
pub use estimate::{
    AppliedCommission, Estimate, EstimateError, ItemEstimate, Money, OrderContext, estimate,
};
pub use generated::{
    ActionTerm, ActionTracker, Commission, CommissionRate, CommissionSituation, Contract,
    ContractFilters, ContractList, ItemList, LockingMethod, PerformanceIncentive,
    PerformanceIncentiveReward, PerformanceIncentiveThreshold, ProgramTerms, PromotionalProperty,
    SpecialTerms,
};

cj_transport::cj_enum! {
    /// Current status of a contract. CJ publishes no value list: these are inferred.
    pub enum ContractStatus {
        Active = "ACTIVE",
        PendingOffer = "PENDING_OFFER",
        PendingReversion = "PENDING_REVERSION",
        Cancelled = "CANCELLED",
        Expired = "EXPIRED",
    }
}

cj_transport::cj_enum! {
    /// How a commission rate is expressed. CJ publishes no value list: these are inferred.
    pub enum CommissionRateType {
        /// A percentage of the sale (`5` is 5%).
        Percent = "PERCENT",
        /// A fixed amount per unit.
        Fixed = "FIXED",
        /// A fixed amount once per order.
        FixedPerOrder = "FIXED_PER_ORDER",
    }
}

cj_transport::cj_enum! {
    /// How actions are locked for payment. Inferred from the Commission Detail API's values.
    pub enum LockingMethodType {
        Immediate = "IMMEDIATE",
        FixedDate = "FIXED_DATE",
        OpenEnded = "OPEN_ENDED",
        FixedDuration = "FIXED_DURATION",
    }
}

cj_transport::cj_enum! {
    /// The kind of action tracker. Inferred from fixtures and the Commission Detail API.
    pub enum ActionTrackerType {
        SimSale = "sim_sale",
        ItemSale = "item_sale",
        SimLead = "sim_lead",
        ItemLead = "item_lead",
    }
}

cj_transport::cj_enum! {
    /// The basis of a performance incentive threshold. Inferred from CJ's description.
    pub enum PerformanceIncentiveThresholdType {
        NumberOfActions = "NUMBER_OF_ACTIONS",
        SalesAmount = "SALES_AMOUNT",
        CommissionAmount = "COMMISSION_AMOUNT",
    }
}

cj_transport::cj_enum! {
    /// The kind of performance incentive reward. Inferred from CJ's description.
    pub enum PerformanceIncentiveRewardType {
        Bonus = "BONUS",
        CommissionRate = "COMMISSION_RATE",
    }
}

cj_transport::cj_enum! {
    /// How an incentive's adjusted commission is expressed. Inferred from CJ's description.
    pub enum PerformanceIncentiveRewardCommissionType {
        Fixed = "FIXED",
        Percent = "PERCENT",
    }
}

/// The Program Terms API's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://programs.api.cj.com";

/// The most contracts CJ returns in one page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The most contracts [`ContractsRequest::stream`] reads by default: far above any publisher's
/// (CJ has a few thousand advertisers), and a bound on the walk and its memory (the key of
/// every contract read, some 100 bytes each) whatever a server announces. Change it with
/// [`ContractsRequest::max_contracts`].
pub const DEFAULT_MAX_CONTRACTS: usize = 100_000;

/// Reads contracts from CJ's Program Terms API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProgramTermsApi {
    transport: Transport,
    endpoint: Url,
}

impl ProgramTermsApi {
    /// A client for the API at `base_url` (such as [`DEFAULT_BASE_URL`]); `/query` is appended.
    pub fn new(transport: Transport, base_url: &str) -> Result<Self, Error> {
        let endpoint = cj_transport::endpoint(base_url, "/query", "Program Terms")?;
        Ok(ProgramTermsApi {
            transport,
            endpoint,
        })
    }

    /// The URL queries are posted to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The publisher's contracts; narrow them with the request's methods, then read one
    /// [`page`](ContractsRequest::page) or [`stream`](ContractsRequest::stream) them all.
    pub fn contracts(&self, publisher_id: impl Into<Id>) -> ContractsRequest {
        ContractsRequest {
            api: self.clone(),
            publisher_id: publisher_id.into(),
            filters: ContractFilters::builder().build(),
            max_contracts: DEFAULT_MAX_CONTRACTS,
        }
    }
}

/// A query for a publisher's contracts, from [`ProgramTermsApi::contracts`].
#[derive(Debug, Clone)]
pub struct ContractsRequest {
    api: ProgramTermsApi,
    publisher_id: Id,
    filters: ContractFilters,
    max_contracts: usize,
}

impl ContractsRequest {
    /// The most contracts [`stream`](ContractsRequest::stream) reads before it ends with
    /// [`Error::Paging`] ([`DEFAULT_MAX_CONTRACTS`] by default).
    pub fn max_contracts(mut self, max: usize) -> Self {
        self.max_contracts = max;
        self
    }

    /// Only contracts with this advertiser (CID).
    pub fn advertiser(mut self, advertiser_id: impl Into<Id>) -> Self {
        self.filters.advertiser_id = Some(advertiser_id.into());
        self
    }

    /// Only contracts active after this time.
    pub fn active_after(mut self, time: impl Into<Instant>) -> Self {
        self.filters.active_after = Some(time.into());
        self
    }

    /// Only contracts active before this time.
    pub fn active_before(mut self, time: impl Into<Instant>) -> Self {
        self.filters.active_before = Some(time.into());
        self
    }

    /// One page: at most `limit` contracts (1 to 100) from `offset`.
    ///
    /// Each contract is read on its own: one that does not read (a field CJ sends null or in
    /// another shape than its schema says) is in [`ContractPage::unreadable`], named by what
    /// of it could be read and the path of the field; every other is in
    /// [`ContractPage::contracts`].
    pub async fn page(&self, limit: u32, offset: u32) -> Result<ContractPage, Error> {
        let page = self.read_page(limit, offset).await?;
        let mut contracts = Vec::with_capacity(page.items.len());
        let mut unreadable = Vec::new();
        for item in page.items {
            match item {
                Ok(contract) => contracts.push(contract),
                Err(u) => unreadable.push(u),
            }
        }
        Ok(ContractPage {
            count: page.count,
            total_count: page.total_count,
            contracts,
            unreadable,
        })
    }

    /// One page, each contract read or named as unreadable, in CJ's order.
    async fn read_page(&self, limit: u32, offset: u32) -> Result<PageItems, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::Invalid(InvalidInput {
                problems: vec![Problem::new(
                    "request",
                    None,
                    None,
                    "limit",
                    format!("{limit} is not from 1 to {MAX_PAGE_SIZE}"),
                )],
            }));
        }
        let no_filter = self.filters == ContractFilters::builder().build();
        let body = generated::Contracts::build_query(generated::contracts::Variables {
            publisher_id: self.publisher_id.clone(),
            filters: (!no_filter).then(|| self.filters.clone()),
            limit: Some(i64::from(limit)),
            offset: Some(i64::from(offset)),
        });
        let body = serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| Error::Config(format!("cannot encode the request: {e}")))?;
        let span = tracing::info_span!("cj.program_terms", operation = "contracts", limit, offset);
        let body = crate::graphql::post_raw(
            &self.api.transport,
            &self.api.endpoint,
            "program_terms",
            "contracts",
            body,
        )
        .instrument(span)
        .await?;
        parse_page(&body, offset, self.api.transport.redactor())
    }

    /// Every contract, asked for in pages of 100 (CJ's maximum).
    ///
    /// The walk goes on until it has read `totalCount` contracts or CJ returns an empty page,
    /// whatever the size of each page (a server may return fewer than asked) and however
    /// `totalCount` changes on the way (the latest one counts). It never yields a contract
    /// twice, and never loops: it stops at a page that adds no contract it has not seen (a
    /// server ignoring `offset`), nor reads more than
    /// [`max_contracts`](ContractsRequest::max_contracts) whatever `totalCount` says. When it
    /// ends with another count than `totalCount` (contracts missing, or more than announced),
    /// or at that bound, the stream ends with [`Error::Paging`] after every contract read;
    /// another error ends it after being yielded (both as [`ContractsError::Failed`]).
    ///
    /// A contract that does not read is yielded as [`ContractsError::Unreadable`] in its
    /// place, and the walk goes on: it counts as read (towards `totalCount`), so one odd
    /// value costs that contract alone. `try_collect` stops at the first error of either
    /// kind; to keep the readable contracts, read every item (the stream ends by itself).
    pub fn stream(self) -> impl Stream<Item = Result<Contract, ContractsError>> + Send + 'static {
        let walk = Walk {
            request: self,
            offset: 0,
            seen: HashSet::new(),
            buffer: VecDeque::new(),
            end: None,
        };
        futures_util::stream::unfold(walk, |mut walk| async move {
            let item = walk.next().await?;
            Some((item, walk))
        })
    }
}

/// The state of a [`ContractsRequest::stream`].
struct Walk {
    request: ContractsRequest,
    offset: u32,
    /// Every contract read: a readable one by advertiser, program terms and start, an
    /// unreadable one by a hash of its text.
    seen: HashSet<SeenKey>,
    buffer: VecDeque<Result<Contract, UnreadableContract>>,
    /// Once the last page is read: the error to yield after the buffer, if any.
    end: Option<Option<Error>>,
}

#[derive(PartialEq, Eq, Hash)]
enum SeenKey {
    Read(Id, Id, Option<Instant>),
    Unreadable(u64),
}

impl Walk {
    async fn next(&mut self) -> Option<Result<Contract, ContractsError>> {
        loop {
            if let Some(contract) = self.buffer.pop_front() {
                return Some(contract.map_err(ContractsError::Unreadable));
            }
            if let Some(end) = &mut self.end {
                return end.take().map(|e| Err(ContractsError::Failed(e)));
            }
            let offset = self.offset;
            let page = match self.request.read_page(MAX_PAGE_SIZE, offset).await {
                Ok(page) => page,
                Err(e) => {
                    self.end = Some(None);
                    return Some(Err(ContractsError::Failed(e)));
                }
            };
            let total = page.total_count;
            let returned = page.items.len();
            let before = self.seen.len();
            for item in page.items {
                let key = match &item {
                    Ok(contract) => SeenKey::Read(
                        contract.advertiser_id.clone(),
                        contract.program_terms.id.clone(),
                        contract.start_time,
                    ),
                    Err(unreadable) => SeenKey::Unreadable(unreadable.text_hash),
                };
                if self.seen.insert(key) {
                    self.buffer.push_back(item);
                }
            }
            let read = self.seen.len();
            let max = self.request.max_contracts;
            if read > max {
                // What is past the bound is dropped, never yielded.
                let extra = read - max;
                self.buffer
                    .truncate(self.buffer.len().saturating_sub(extra));
                self.end = Some(Some(Error::Paging(format!(
                    "more than {max} contracts (totalCount is {total}): the walk stops at \
                     {max}; raise the bound with `max_contracts`"
                ))));
                continue;
            }
            let reached = i64::try_from(read).is_ok_and(|read| read >= total);
            // Every page read on adds a contract not seen while fewer than `totalCount` are
            // read: the walk is bounded by the totals CJ announces (and the offset's range).
            let why = if returned == 0 {
                format!("the page at offset {offset} was empty")
            } else if reached {
                "totalCount was reached".into()
            } else if read == before {
                format!("the page at offset {offset} held only contracts already read")
            } else if let Some(next) = u32::try_from(returned)
                .ok()
                .and_then(|n| offset.checked_add(n))
            {
                self.offset = next;
                continue;
            } else {
                format!("the offset went past {}", u32::MAX)
            };
            self.end = Some((i64::try_from(read) != Ok(total)).then(|| {
                Error::Paging(format!(
                    "read {read} distinct contract(s) but totalCount is {total} ({why})"
                ))
            }));
        }
    }
}

/// One page of contracts, from [`ContractsRequest::page`]: those that read, and those that
/// did not, each named.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ContractPage {
    /// How many contracts CJ says it returned in this page (`count`).
    pub count: i64,
    /// How many contracts match, ignoring the limit (`totalCount`).
    pub total_count: i64,
    /// The contracts that read, in CJ's order.
    pub contracts: Vec<Contract>,
    /// The contracts that did not, in CJ's order.
    pub unreadable: Vec<UnreadableContract>,
}

/// A contract of CJ's answer that does not read as [`Contract`]: named by its place and by
/// what of it could be read, with the field that could not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct UnreadableContract {
    /// Its position in the whole list (the page's offset plus its index in the page).
    pub position: u64,
    /// Its index in its page's `resultList`.
    pub index: usize,
    /// Its advertiser (`advertiserId`), if that could be read.
    pub advertiser_id: Option<Id>,
    /// Its program terms (`programTerms.id`), if that could be read.
    pub program_terms_id: Option<Id>,
    /// The field that could not be read, from the contract (`programTerms.actionTerms[0].
    /// commissions[1].rate.value`; `.` for the contract itself).
    pub field: String,
    /// Why (the token redacted from it).
    pub message: String,
    /// A hash of its text: the walk of [`ContractsRequest::stream`] reads it once.
    text_hash: u64,
}

impl fmt::Display for UnreadableContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "contract #{}", self.position)?;
        let name = |id: &Option<Id>| id.as_ref().map_or("?".to_string(), |id| id.to_string());
        write!(
            f,
            " (advertiser {}, program terms {})",
            name(&self.advertiser_id),
            name(&self.program_terms_id)
        )?;
        write!(
            f,
            " could not be read: field `{}`: {}",
            self.field, self.message
        )
    }
}

/// Why [`ContractsRequest::stream`] yielded no contract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractsError {
    /// A contract did not read; the walk goes on with the next.
    #[error(transparent)]
    Unreadable(UnreadableContract),
    /// A request failed or the walk could not be completed: the stream ends after it.
    #[error(transparent)]
    Failed(#[from] Error),
}

/// CJ's answer to `contracts` at `offset`, each contract read on its own (see
/// [`read_contract`]). GraphQL errors beside data fail the page: keeping a page with holes
/// would silently drop contracts.
fn parse_page(
    body: &[u8],
    offset: u32,
    redactor: &cj_transport::Redactor,
) -> Result<PageItems, Error> {
    let answer = crate::graphql::decode::<RawPage<'_>>(body, redactor)?;
    if !answer.errors.is_empty() {
        return Err(Error::GraphQL {
            status: cj_transport::StatusCode::OK,
            errors: answer.errors,
        });
    }
    let list = answer.data.publisher.contracts;
    Ok(PageItems {
        count: list.count,
        total_count: list.total_count,
        items: list
            .result_list
            .into_iter()
            .enumerate()
            .map(|(index, raw)| read_contract(raw.get(), offset, index, redactor))
            .collect(),
    })
}

/// A page as the walk reads it: each contract read, or named as unreadable, in CJ's order.
struct PageItems {
    count: i64,
    total_count: i64,
    items: Vec<Result<Contract, UnreadableContract>>,
}

/// CJ's answer to `contracts`, each contract kept as its text to be read on its own.
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    publisher: RawPublisher<'a>,
}

#[derive(Deserialize)]
struct RawPublisher<'a> {
    #[serde(borrow)]
    contracts: RawList<'a>,
}

#[derive(Deserialize)]
struct RawList<'a> {
    // CJ's `Long`, which may come as a string, as the generated `ContractList` reads it.
    #[serde(deserialize_with = "crate::scalars::long::deserialize")]
    count: i64,
    #[serde(rename = "totalCount")]
    #[serde(deserialize_with = "crate::scalars::long::deserialize")]
    total_count: i64,
    #[serde(borrow, rename = "resultList")]
    result_list: Vec<&'a RawValue>,
}

/// What names a contract, read leniently: whatever is not an id is left out.
#[derive(Deserialize)]
struct ContractName {
    #[serde(default, rename = "advertiserId")]
    advertiser_id: Option<serde_json::Value>,
    #[serde(default, rename = "programTerms")]
    program_terms: Option<serde_json::Value>,
}

fn id_of(value: Option<&serde_json::Value>) -> Option<Id> {
    match value? {
        serde_json::Value::String(s) => Some(Id::from(s.as_str())),
        serde_json::Value::Number(n) => Some(Id::from(n.to_string())),
        _ => None,
    }
}

/// Reads one contract of a page, or says which field of it does not read.
fn read_contract(
    text: &str,
    offset: u32,
    index: usize,
    redactor: &cj_transport::Redactor,
) -> Result<Contract, UnreadableContract> {
    if let Ok(contract) = serde_json::from_str::<Contract>(text) {
        return Ok(contract);
    }
    // Read again, tracking the path, only for the one that failed.
    let mut de = serde_json::Deserializer::from_str(text);
    let (field, message) = match serde_path_to_error::deserialize::<_, Contract>(&mut de) {
        Err(e) => (e.path().to_string(), e.inner().to_string()),
        Ok(_) => (
            ".".to_string(),
            "the contract could not be read".to_string(),
        ),
    };
    let name = serde_json::from_str::<ContractName>(text).ok();
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    Err(UnreadableContract {
        position: u64::from(offset).saturating_add(index as u64),
        index,
        advertiser_id: name.as_ref().and_then(|n| id_of(n.advertiser_id.as_ref())),
        program_terms_id: name
            .as_ref()
            .and_then(|n| id_of(n.program_terms.as_ref()?.get("id"))),
        field: redactor.redact(&field),
        message: redactor.redact(&message),
        text_hash: hasher.finish(),
    })
}

crate::scalars::scalar_reader! {
    /// This API's `ISODateTime`: an [`Instant`] in any of its forms, or a date and time without
    /// a zone (`2024-01-01T00:00:00`), which CJ sends here and means as UTC. Tracking's
    /// `Instant`, which users write, stays strict.
    iso_date_time: Instant = iso_date_time_in_utc
}

fn iso_date_time_in_utc(value: Scalar<'_>) -> Result<Instant, String> {
    let Scalar::Text(text) = value else {
        return Err("a date-time is a string".into());
    };
    let strict = match text.parse::<Instant>() {
        Ok(instant) => return Ok(instant),
        Err(e) => e,
    };
    text.parse::<jiff::civil::DateTime>()
        .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| Instant::from(z.timestamp()))
        .map_err(|_| format!("{strict}, nor a date and time without a zone"))
}

impl CommissionRate {
    /// The rate as a fraction for `PERCENT` (`5` becomes `0.05`), else `None`.
    pub fn percent_fraction(&self) -> Option<Decimal> {
        (self.type_ == CommissionRateType::Percent).then(|| self.value / Decimal::ONE_HUNDRED)
    }
}

/// Fuzz entry point: reads `data` as CJ's answer to `contracts` and estimates a sample order
/// against every action term of every contract, in several contexts. Never panics.
#[cfg(feature = "tracking")]
pub(crate) fn fuzz_answer(data: &[u8]) {
    use crate::tracking::{OrderCreateRequest, OrderItemInput};
    let redactor = cj_transport::Redactor::new(crate::fuzz::SECRET);
    // Read as the walk reads it: each contract on its own; one that does not read is named,
    // and its description never holds the secret.
    let Ok(page) = parse_page(data, 0, &redactor) else {
        return;
    };
    let mut contracts = Vec::new();
    for item in page.items {
        match item {
            Ok(contract) => contracts.push(contract),
            Err(unreadable) => {
                let text = format!("{unreadable} {unreadable:?}");
                assert!(!text.contains(crate::fuzz::SECRET), "{text}");
            }
        }
    }
    let decimal = |text: &str| text.parse().unwrap_or_default();
    for contract in &contracts {
        let terms = &contract.program_terms;
        for term in &terms.action_terms {
            let order = OrderCreateRequest::builder()
                .enterprise_id(contract.advertiser_id.as_str())
                .action_tracker_id(term.action_tracker.id.as_str().parse().unwrap_or(0))
                .order_id("FUZZ-1")
                .amount(decimal("99999999999999.99"))
                .discount(decimal("12.50"))
                .currency("USD")
                .items(vec![
                    OrderItemInput::builder()
                        .sku("SKU-1")
                        .unit_price(decimal("79228162514264337593543950.335"))
                        .quantity(u32::MAX)
                        .discount(decimal("1.00"))
                        .build(),
                    OrderItemInput::builder()
                        .sku("SKU-2")
                        .unit_price(decimal("0.01"))
                        .quantity(1)
                        .build(),
                ])
                .build();
            let contexts = [
                OrderContext::new(),
                OrderContext::new()
                    .action_tracker(term.action_tracker.id.clone())
                    .promotional_property("987654")
                    .situation("31")
                    .item_list("777", ["SKU-1"])
                    .view_through(true),
            ];
            for context in &contexts {
                let _ = estimate(terms, &order, context);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Times {
        #[serde(deserialize_with = "iso_date_time::deserialize")]
        at: Instant,
        #[serde(default, deserialize_with = "iso_date_time::option")]
        until: Option<Instant>,
    }

    mod answers {
        use std::time::Duration;

        use cj_transport::{Credentials, RetryPolicy};
        use futures_util::StreamExt;
        use httpmock::prelude::*;
        use serde_json::{Value, json};

        use super::super::*;

        const TOKEN: &str = "CANARY-program-terms-3f1c-never-shown";

        /// The shared fixture's three contracts (advertisers 1234567, 2345678, 3456789).
        fn fixture() -> Value {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/program_terms/contracts_page.json"
            );
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
        }

        fn api(server: &MockServer) -> ProgramTermsApi {
            let transport = Transport::builder()
                .credentials(Credentials::token(TOKEN))
                .timeout(Duration::from_secs(10))
                .retry(RetryPolicy::none())
                .build()
                .expect("a transport");
            ProgramTermsApi::new(transport, &server.base_url()).expect("a client")
        }

        fn serve(server: &MockServer, answer: &Value) {
            let body = answer.to_string();
            server.mock(|when, then| {
                when.method(POST).path("/query");
                then.status(200).body(body);
            });
        }

        #[tokio::test]
        async fn an_item_list_without_a_name_reads() {
            let mut answer = fixture();
            let commission = &mut answer["data"]["publisher"]["contracts"]["resultList"][0]["programTerms"]
                ["actionTerms"][0]["commissions"][1];
            assert!(
                commission["itemList"].is_object(),
                "the fixture has an item list"
            );
            commission["itemList"]["name"] = Value::Null;
            let server = MockServer::start();
            serve(&server, &answer);
            let page = api(&server)
                .contracts("7654321")
                .page(100, 0)
                .await
                .expect("a page");
            assert!(page.unreadable.is_empty(), "{:?}", page.unreadable);
            assert_eq!(page.contracts.len(), 3);
            let list = page.contracts[0].program_terms.action_terms[0].commissions[1]
                .item_list
                .as_ref()
                .expect("the item list");
            assert_eq!(list.id, Id::from("777"));
            assert_eq!(list.name, None);
        }

        /// The fixture with one odd value in its second contract (advertiser 2345678):
        /// a rate that is no number.
        fn with_an_odd_rate() -> Value {
            let mut answer = fixture();
            answer["data"]["publisher"]["contracts"]["resultList"][1]["programTerms"]["actionTerms"]
                [0]["commissions"][0]["rate"]["value"] = json!("twelve");
            answer
        }

        #[tokio::test]
        async fn a_page_keeps_the_contracts_it_can_read_and_names_the_other() {
            let server = MockServer::start();
            serve(&server, &with_an_odd_rate());
            let page = api(&server)
                .contracts("7654321")
                .page(100, 0)
                .await
                .expect("a page");
            let advertisers: Vec<&str> = page
                .contracts
                .iter()
                .map(|c| c.advertiser_id.as_str())
                .collect();
            assert_eq!(advertisers, ["1234567", "3456789"]);
            assert_eq!(page.unreadable.len(), 1);
            let odd = &page.unreadable[0];
            assert_eq!((odd.position, odd.index), (1, 1));
            assert_eq!(odd.advertiser_id, Some(Id::from("2345678")));
            assert_eq!(odd.program_terms_id, Some(Id::from("880022")));
            assert_eq!(
                odd.field,
                "programTerms.actionTerms[0].commissions[0].rate.value"
            );
            let text = odd.to_string();
            assert!(
                text.starts_with(
                    "contract #1 (advertiser 2345678, program terms 880022) could not be read: \
                     field `programTerms.actionTerms[0].commissions[0].rate.value`: "
                ),
                "{text}"
            );
            assert!(!format!("{odd:?}").contains(TOKEN));
        }

        #[tokio::test]
        async fn the_stream_yields_each_contract_in_its_place_and_goes_on() {
            let server = MockServer::start();
            serve(&server, &with_an_odd_rate());
            let items: Vec<Result<Contract, ContractsError>> =
                api(&server).contracts("7654321").stream().collect().await;
            assert_eq!(items.len(), 3, "{items:?}");
            assert!(matches!(&items[0], Ok(c) if c.advertiser_id.as_str() == "1234567"));
            assert!(
                matches!(&items[1], Err(ContractsError::Unreadable(u))
                    if u.advertiser_id == Some(Id::from("2345678"))
                        && u.field == "programTerms.actionTerms[0].commissions[0].rate.value"),
                "{:?}",
                items[1]
            );
            // It counts as read: the walk reaches totalCount and ends without a paging error.
            assert!(matches!(&items[2], Ok(c) if c.advertiser_id.as_str() == "3456789"));
        }

        #[tokio::test]
        async fn a_contract_without_its_names_is_named_by_its_place() {
            let mut answer = fixture();
            answer["data"]["publisher"]["contracts"]["resultList"][2] = json!({"status": 7});
            let server = MockServer::start();
            serve(&server, &answer);
            let page = api(&server)
                .contracts("7654321")
                .page(100, 0)
                .await
                .expect("a page");
            assert_eq!(page.contracts.len(), 2);
            let odd = &page.unreadable[0];
            assert_eq!((odd.position, odd.advertiser_id.as_ref()), (2, None));
            assert_eq!(odd.program_terms_id, None);
            assert!(
                odd.to_string()
                    .starts_with("contract #2 (advertiser ?, program terms ?) could not be read"),
                "{odd}"
            );
        }
    }

    #[test]
    fn iso_date_times_without_a_zone_are_utc() {
        for (text, utc) in [
            ("2024-01-01T00:00:00", "2024-01-01T00:00:00Z"),
            ("2024-06-30T23:59:59.25", "2024-06-30T23:59:59.25Z"),
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            ("2024-01-01T00:00:00-05:00", "2024-01-01T05:00:00Z"),
            ("2024-01-01", "2024-01-01T00:00:00Z"),
        ] {
            let t: Times =
                serde_json::from_value(serde_json::json!({"at": text, "until": text})).expect(text);
            assert_eq!(t.at.to_string(), utc, "{text}");
            assert_eq!(t.until, Some(t.at));
        }
        let t: Times = serde_json::from_str(r#"{"at": "2024-01-01"}"#).expect("no until");
        assert_eq!(t.until, None);
        for bad in [
            r#""yesterday""#,
            r#""2024-13-01T00:00:00""#,
            "1704067200",
            "null",
        ] {
            let text = format!(r#"{{"at": {bad}}}"#);
            assert!(serde_json::from_str::<Times>(&text).is_err(), "{bad}");
        }
    }
}
