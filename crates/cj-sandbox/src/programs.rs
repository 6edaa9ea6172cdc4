//! The Program Terms API: `publisher { contracts(...) }` over the seed's contracts.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Error;
use async_graphql::dynamic::{FieldFuture, FieldValue, ResolverContext};
use serde_json::{Value, json};

use crate::data::ProgramTermsSeed;
use crate::graphql::{Resolver, to_json};
use crate::tracking::parse_time;

/// CJ's default and largest page sizes.
const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;

pub(crate) fn resolvers(seed: Arc<ProgramTermsSeed>) -> HashMap<&'static str, Resolver> {
    let mut map: HashMap<&'static str, Resolver> = HashMap::new();
    map.insert(
        "Query.publisher",
        Arc::new(|_ctx: ResolverContext<'_>| {
            FieldFuture::Value(Some(FieldValue::owned_any(json!({}))))
        }),
    );
    map.insert(
        "PublisherQueries.contracts",
        Arc::new(move |ctx: ResolverContext<'_>| {
            let result = contracts(&ctx, &seed).map(|v| Some(FieldValue::owned_any(v)));
            FieldFuture::new(async move { result })
        }),
    );
    map
}

fn contracts(ctx: &ResolverContext<'_>, seed: &ProgramTermsSeed) -> Result<Value, Error> {
    let arg = |name: &str| {
        ctx.args
            .get(name)
            .map(|v| to_json(v.as_value()))
            .unwrap_or(Value::Null)
    };
    let publisher = match arg("publisherId") {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let limit = arg("limit").as_i64().unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::new(format!(
            "limit must be from 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    let offset = arg("offset").as_i64().unwrap_or(0);
    if offset < 0 {
        return Err(Error::new("offset may not be negative"));
    }
    let filters = arg("filters");
    let advertiser = filters.get("advertiserId").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    });
    let time = |name: &str| {
        filters
            .get(name)
            .and_then(Value::as_str)
            .and_then(parse_time)
    };
    let (after, before) = (time("activeAfter"), time("activeBefore"));
    let contract_time =
        |c: &Value, name: &str| c.get(name).and_then(Value::as_str).and_then(parse_time);
    let matching: Vec<&Value> = seed
        .publishers
        .get(&publisher)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|c| {
            advertiser
                .as_ref()
                .is_none_or(|a| c.get("advertiserId").and_then(Value::as_str) == Some(a))
        })
        .filter(|c| after.is_none_or(|t| contract_time(c, "endTime").is_none_or(|end| end > t)))
        .filter(|c| {
            before.is_none_or(|t| contract_time(c, "startTime").is_none_or(|start| start < t))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|c| (*c).clone())
        .collect();
    Ok(json!({"count": page.len(), "totalCount": matching.len(), "resultList": page}))
}
