//! Look advertisers up: joined ones, every page, and a keyword search.
//!
//! `cargo run -p cj --example advertiser_lookup`

use cj::advertiser_lookup::{AdvertiserIds, Keywords, LookupQuery, TryStreamExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = cj_sandbox::Sandbox::start().await?;
    let client = cj::Client::builder()
        .token("sandbox-token")
        .advertiser_lookup_url(sandbox.advertiser_lookup_url())
        .build()?;
    let lookup = client.advertiser_lookup();

    let joined: Vec<_> = lookup
        .stream(LookupQuery::new("7654321").advertiser_ids(AdvertiserIds::Joined))
        .try_collect()
        .await?;
    for a in &joined {
        println!(
            "{} {:?} {:?} EPC {:?}",
            a.advertiser_id, a.advertiser_name, a.account_status, a.seven_day_epc
        );
    }

    let kitchens = lookup
        .page(
            &LookupQuery::new("7654321")
                .keywords(Keywords::new().required("kitchen").excluded("sink")),
        )
        .await?;
    println!(
        "{} advertiser(s) sell kitchen things but not sinks",
        kitchens.total_matched
    );
    Ok(())
}
