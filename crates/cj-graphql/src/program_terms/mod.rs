//! CJ's Program Terms API (publishers): contracts with their program terms, action terms,
//! commission rates, locking methods and performance incentives; and which rate applies to an
//! order ([`estimate`]).
//!
//! CJ publishes no schema for this API: `schema/program_terms.graphql` is written from CJ's
//! reference, and no enum value list is public. Every enum here keeps a value it does not know
//! as `Unknown(text)`, so a new value never fails a response.

#[allow(clippy::all)]
#[rustfmt::skip]
#[path = "../generated/program_terms.rs"]
mod generated;
mod estimate;

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use cj_transport::{Error, InvalidInput, Problem, Transport, Url};
use futures_util::Stream;
use graphql_client::GraphQLQuery;
use rust_decimal::Decimal;
use tracing::Instrument;

pub use crate::scalars::{Id, Instant};
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

/// Reads contracts from CJ's Program Terms API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProgramTermsApi {
    transport: Transport,
    endpoint: Url,
}

impl ProgramTermsApi {
    /// A client for the API at `base_url` (such as [`DEFAULT_BASE_URL`]); `/query` is appended.
    pub fn new(transport: Transport, base_url: &str) -> Result<Self, Error> {
        let endpoint = format!("{}/query", base_url.trim_end_matches('/'));
        let endpoint = Url::parse(&endpoint)
            .map_err(|e| Error::Config(format!("bad Program Terms URL {base_url:?}: {e}")))?;
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
        }
    }
}

/// A query for a publisher's contracts, from [`ProgramTermsApi::contracts`].
#[derive(Debug, Clone)]
pub struct ContractsRequest {
    api: ProgramTermsApi,
    publisher_id: Id,
    filters: ContractFilters,
}

impl ContractsRequest {
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
    pub async fn page(&self, limit: u32, offset: u32) -> Result<ContractList, Error> {
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
        let answer = crate::graphql::post::<generated::contracts::ResponseData>(
            &self.api.transport,
            &self.api.endpoint,
            "program_terms",
            "contracts",
            body,
        )
        .instrument(span)
        .await?;
        if !answer.errors.is_empty() {
            // Partial data: CJ answered, but something in the page failed. Keeping a page with
            // holes would silently drop contracts, so the errors win.
            return Err(Error::GraphQL {
                status: cj_transport::StatusCode::OK,
                errors: answer.errors,
            });
        }
        Ok(answer.data.publisher.contracts)
    }

    /// Every contract, in pages of 100 (CJ's maximum).
    ///
    /// The walk ends at `totalCount`, or on a short or empty page, or (with a warning in the
    /// logs) after the page on which `totalCount` changed, since offsets shift when contracts
    /// come or go. It never yields a contract twice. An error ends it after being yielded.
    pub fn stream(self) -> impl Stream<Item = Result<Contract, Error>> + Send + 'static {
        let walk = Walk {
            request: self,
            offset: 0,
            total: None,
            seen: HashSet::new(),
            buffer: VecDeque::new(),
            done: false,
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
    total: Option<i64>,
    seen: HashSet<(Id, Id, Option<Instant>)>,
    buffer: VecDeque<Contract>,
    done: bool,
}

impl Walk {
    async fn next(&mut self) -> Option<Result<Contract, Error>> {
        loop {
            if let Some(contract) = self.buffer.pop_front() {
                return Some(Ok(contract));
            }
            if self.done {
                return None;
            }
            let page = match self.request.page(MAX_PAGE_SIZE, self.offset).await {
                Ok(page) => page,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            let returned = page.result_list.len();
            match self.total {
                None => self.total = Some(page.total_count),
                Some(total) if total != page.total_count => {
                    tracing::warn!(
                        before = total,
                        now = page.total_count,
                        "totalCount changed while paging; stopping after this page"
                    );
                    self.done = true;
                }
                Some(_) => {}
            }
            self.offset = self
                .offset
                .saturating_add(u32::try_from(returned).unwrap_or(u32::MAX));
            let total = self.total.unwrap_or(0);
            if returned < MAX_PAGE_SIZE as usize || i64::from(self.offset) >= total {
                self.done = true;
            }
            for contract in page.result_list {
                let key = (
                    contract.advertiser_id.clone(),
                    contract.program_terms.id.clone(),
                    contract.start_time,
                );
                if self.seen.insert(key) {
                    self.buffer.push_back(contract);
                }
            }
            if returned > 0 && self.buffer.is_empty() {
                // A full page of contracts already seen: the server is not honouring `offset`.
                tracing::warn!(
                    offset = self.offset,
                    "a page held only contracts already seen; stopping"
                );
                self.done = true;
            }
        }
    }
}

impl CommissionRate {
    /// The rate as a fraction for `PERCENT` (`5` becomes `0.05`), else `None`.
    pub fn percent_fraction(&self) -> Option<Decimal> {
        (self.type_ == CommissionRateType::Percent).then(|| self.value / Decimal::ONE_HUNDRED)
    }
}
