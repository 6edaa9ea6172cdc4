//! The sandbox's data: contracts, advertisers and tracking settings, from a seed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::SandboxError;

/// Contracts by publisher CID, each in CJ's Program Terms JSON shape.
#[derive(Debug, Clone, Deserialize)]
pub struct ProgramTermsSeed {
    /// Publisher CID to its contracts.
    pub publishers: BTreeMap<String, Vec<serde_json::Value>>,
}

/// One advertiser of Advertiser Lookup, with the words its keyword search matches.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AdvertiserSeed {
    /// CID.
    pub advertiser_id: String,
    /// `Active`, `Deactive`, or none (not joined).
    pub account_status: Option<String>,
    /// 7-day EPC text.
    pub seven_day_epc: Option<String>,
    /// 3-month EPC text.
    pub three_month_epc: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// Program name.
    pub advertiser_name: String,
    /// Program URL.
    pub program_url: Option<String>,
    /// `joined` or `notjoined`.
    pub relationship_status: String,
    /// Mobile supported.
    pub mobile_supported: Option<bool>,
    /// Mobile tracking certified.
    pub mobile_tracking_certified: Option<bool>,
    /// Cookieless tracking enabled.
    pub cookieless_tracking_enabled: Option<bool>,
    /// Network rank.
    pub network_rank: Option<u32>,
    /// Parent and child category.
    pub primary_category: Option<CategorySeed>,
    /// Performance incentives offered.
    pub performance_incentives: Option<bool>,
    /// Actions and their commissions.
    #[serde(default)]
    pub actions: Vec<ActionSeed>,
    /// Link types.
    #[serde(default)]
    pub link_types: Vec<String>,
    /// Words that describe the advertiser's products, for keyword search.
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// A primary category.
#[derive(Debug, Clone, Deserialize)]
pub struct CategorySeed {
    /// Parent category.
    pub parent: Option<String>,
    /// Child category.
    pub child: Option<String>,
}

/// An action of an advertiser.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionSeed {
    /// Name.
    pub name: String,
    /// Type (`sale`, `advanced sale`, `lead`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Id.
    pub id: String,
    /// Commission texts.
    pub commission: CommissionSeed,
}

/// A commission as Advertiser Lookup shows it: texts such as `10.00%` or `GBP 50.00`.
#[derive(Debug, Clone, Deserialize)]
pub struct CommissionSeed {
    /// The default rate's text.
    pub default: String,
    /// `item-level` or `order-level`, when shown.
    pub level: Option<String>,
    /// Item-list rates.
    #[serde(default)]
    pub itemlists: Vec<ItemListSeed>,
}

/// An item list's rate.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemListSeed {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Rate text.
    pub rate: String,
}

/// Every Advertiser Lookup advertiser.
#[derive(Debug, Clone, Deserialize)]
pub struct AdvertisersSeed {
    /// The advertisers.
    pub advertisers: Vec<AdvertiserSeed>,
}

/// How the Tracking API behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackingSeed {
    /// Action trackers whose orders start `Pending` (CJ's open-ended locking).
    #[serde(default)]
    pub open_ended_action_trackers: Vec<String>,
    /// Enterprise ids the token may report for; any when absent.
    pub enterprises: Option<Vec<String>>,
}

/// Commission Detail records served besides those the live Tracking endpoint's orders
/// become, each in CJ's shape (`commissionId` digits; `advertiserId`, `publisherId`,
/// `actionStatus`, `actionType`, `postingDate`, `eventDate` and `lockingDate` required). One
/// record serves both sides: the fields of either that it has.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CommissionsSeed {
    /// The records.
    pub records: Vec<serde_json::Value>,
}

/// All of the sandbox's data.
#[derive(Debug, Clone)]
pub struct SeedData {
    /// Program Terms contracts.
    pub program_terms: ProgramTermsSeed,
    /// Advertiser Lookup advertisers.
    pub advertisers: AdvertisersSeed,
    /// Tracking settings.
    pub tracking: TrackingSeed,
    /// Commission Detail records.
    pub commissions: CommissionsSeed,
}

const DEFAULT_PROGRAM_TERMS: &str = include_str!("../seed/program_terms.json");
const DEFAULT_ADVERTISERS: &str = include_str!("../seed/advertisers.json");
const DEFAULT_TRACKING: &str = include_str!("../seed/tracking.json");
const DEFAULT_COMMISSIONS: &str = include_str!("../seed/commissions.json");

impl SeedData {
    /// The bundled seed: five contracts of four advertisers (every rate type, item lists,
    /// situations, promotional properties, incentives, an ended contract), six advertisers for
    /// lookups, one open-ended action tracker (`334455`), and five publisher commissions of
    /// publisher `7654321` (originals, a negative correction, an odd `actionStatus`).
    pub fn bundled() -> Self {
        // The bundled files are checked by a test; they cannot fail to parse at run time.
        SeedData {
            program_terms: parse("program_terms.json", DEFAULT_PROGRAM_TERMS).unwrap_or_else(
                |_| ProgramTermsSeed {
                    publishers: BTreeMap::new(),
                },
            ),
            advertisers: parse("advertisers.json", DEFAULT_ADVERTISERS).unwrap_or_else(|_| {
                AdvertisersSeed {
                    advertisers: Vec::new(),
                }
            }),
            tracking: parse("tracking.json", DEFAULT_TRACKING).unwrap_or_else(|_| TrackingSeed {
                open_ended_action_trackers: Vec::new(),
                enterprises: None,
            }),
            commissions: parse("commissions.json", DEFAULT_COMMISSIONS).unwrap_or_default(),
        }
    }

    /// The seed in `dir`: `program_terms.json`, `advertisers.json`, `tracking.json` and
    /// `commissions.json`, each optional (the bundled one stands in for a missing file).
    pub fn load(dir: &Path) -> Result<Self, SandboxError> {
        let mut data = SeedData::bundled();
        let read = |name: &str| -> Result<Option<String>, SandboxError> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SandboxError::Seed(format!("{}: {e}", path.display()))),
            }
        };
        if let Some(text) = read("program_terms.json")? {
            data.program_terms = parse("program_terms.json", &text)?;
        }
        if let Some(text) = read("advertisers.json")? {
            data.advertisers = parse("advertisers.json", &text)?;
        }
        if let Some(text) = read("tracking.json")? {
            data.tracking = parse("tracking.json", &text)?;
        }
        if let Some(text) = read("commissions.json")? {
            data.commissions = parse("commissions.json", &text)?;
        }
        Ok(data)
    }
}

fn parse<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, SandboxError> {
    serde_json::from_str(text).map_err(|e| SandboxError::Seed(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_seed_parses() {
        parse::<ProgramTermsSeed>("p", DEFAULT_PROGRAM_TERMS).expect("program terms");
        parse::<AdvertisersSeed>("a", DEFAULT_ADVERTISERS).expect("advertisers");
        parse::<TrackingSeed>("t", DEFAULT_TRACKING).expect("tracking");
        parse::<CommissionsSeed>("c", DEFAULT_COMMISSIONS).expect("commissions");
        let data = SeedData::bundled();
        assert_eq!(data.program_terms.publishers["7654321"].len(), 5);
        assert_eq!(data.advertisers.advertisers.len(), 6);
        assert_eq!(data.commissions.records.len(), 5);
    }
}
