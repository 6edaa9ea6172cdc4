//! The client's settings from the environment, under the names the `cj` command reads.

use std::env::VarError;
use std::time::Duration;

use cj_transport::Credentials;

use crate::{ClientBuilder, Error};

/// The environment variables [`Client::from_env`](crate::Client::from_env) reads (the `cj`
/// command's names).
pub mod vars {
    /// The personal access token (required).
    pub const TOKEN: &str = "CJ_TOKEN";
    /// The Tracking API's base URL.
    pub const TRACKING_URL: &str = "CJ_TRACKING_URL";
    /// The Program Terms API's base URL.
    pub const PROGRAM_TERMS_URL: &str = "CJ_PROGRAM_TERMS_URL";
    /// The Commission Detail API's base URL.
    pub const COMMISSIONS_URL: &str = "CJ_COMMISSIONS_URL";
    /// The Advertiser Lookup API's base URL.
    pub const ADVERTISER_LOOKUP_URL: &str = "CJ_ADVERTISER_LOOKUP_URL";
    /// How far ahead of this host's clock an order's time may be (`30s`, `5m`, `PT5M`; see
    /// [`ClientBuilder::clock_skew`](crate::ClientBuilder::clock_skew)).
    pub const CLOCK_SKEW: &str = "CJ_CLOCK_SKEW";
}

/// Why [`Client::from_env`](crate::Client::from_env) could not make a client. It names the
/// variable, and never holds the token's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A required variable is not set.
    #[error("the environment variable {variable} is not set")]
    Missing {
        /// The variable's name.
        variable: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("the environment variable {variable} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// What is wrong with it (without the token's value).
        reason: String,
    },
    /// The variables were read, and building the client failed.
    #[error("cannot build the client")]
    Client(#[source] Error),
}

/// `builder` with the settings of the variables that `var` reads.
pub(crate) fn apply(
    mut builder: ClientBuilder,
    var: impl Fn(&'static str) -> Result<String, VarError>,
) -> Result<ClientBuilder, EnvError> {
    let token = read(&var, vars::TOKEN)?.ok_or(EnvError::Missing {
        variable: vars::TOKEN,
    })?;
    let credentials = Credentials::token(token);
    // The transport's own check: its messages never quote the secret.
    credentials.check().map_err(|e| EnvError::Invalid {
        variable: vars::TOKEN,
        reason: reason(e),
    })?;
    builder = builder.credentials(credentials);
    #[cfg(feature = "tracking")]
    if let Some(url) = read_url(&var, vars::TRACKING_URL, "Tracking")? {
        builder = builder.tracking_url(url);
    }
    #[cfg(feature = "tracking")]
    if let Some(text) = read(&var, vars::CLOCK_SKEW)? {
        let skew = parse_clock_skew(&text).map_err(|reason| EnvError::Invalid {
            variable: vars::CLOCK_SKEW,
            reason,
        })?;
        builder = builder.clock_skew(skew);
    }
    #[cfg(feature = "program-terms")]
    if let Some(url) = read_url(&var, vars::PROGRAM_TERMS_URL, "Program Terms")? {
        builder = builder.program_terms_url(url);
    }
    #[cfg(feature = "commissions")]
    if let Some(url) = read_url(&var, vars::COMMISSIONS_URL, "Commission Detail")? {
        builder = builder.commissions_url(url);
    }
    #[cfg(feature = "advertiser-lookup")]
    if let Some(url) = read_url(&var, vars::ADVERTISER_LOOKUP_URL, "Advertiser Lookup")? {
        builder = builder.advertiser_lookup_url(url);
    }
    Ok(builder)
}

/// A variable's value; `None` when it is not set.
fn read(
    var: &impl Fn(&'static str) -> Result<String, VarError>,
    variable: &'static str,
) -> Result<Option<String>, EnvError> {
    match var(variable) {
        Ok(value) => Ok(Some(value)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(EnvError::Invalid {
            variable,
            reason: "it is not valid UTF-8".into(),
        }),
    }
}

/// A clock skew tolerance as `CJ_CLOCK_SKEW` and the CLI's `--clock-skew` write it: a duration
/// such as `30s`, `5m`, `1h 30m` or ISO 8601's `PT5M`; not negative.
pub fn parse_clock_skew(text: &str) -> Result<Duration, String> {
    let skew: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a duration ({e}); write it like `30s` or `5m`"))?;
    Duration::try_from(skew).map_err(|_| format!("{text:?}: a clock skew cannot be negative"))
}

/// A base URL, checked as the client will use it; `None` when the variable is not set.
#[cfg_attr(
    not(any(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions",
        feature = "advertiser-lookup"
    )),
    allow(dead_code)
)]
fn read_url(
    var: &impl Fn(&'static str) -> Result<String, VarError>,
    variable: &'static str,
    api: &str,
) -> Result<Option<String>, EnvError> {
    let Some(url) = read(var, variable)? else {
        return Ok(None);
    };
    let invalid = |reason: String| EnvError::Invalid { variable, reason };
    if url.trim().is_empty() {
        return Err(invalid("it is empty (unset it for the default)".into()));
    }
    cj_transport::endpoint(&url, "", api).map_err(|e| invalid(reason(e)))?;
    Ok(Some(url))
}

/// An error's message without its "configuration error: " prefix.
fn reason(error: Error) -> String {
    match error {
        Error::Config(message) => message,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.secret-token";

    fn from(vars: &[(&'static str, &str)]) -> Result<crate::Client, EnvError> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        apply(ClientBuilder::default(), |name| {
            vars.get(name).cloned().ok_or(VarError::NotPresent)
        })?
        .build()
        .map_err(EnvError::Client)
    }

    fn error(vars: &[(&'static str, &str)]) -> EnvError {
        match from(vars) {
            Ok(_) => panic!("{vars:?} made a client"),
            Err(e) => e,
        }
    }

    #[cfg(feature = "tracking")]
    #[test]
    fn the_clock_skew_is_read_and_a_bad_one_named() {
        let client = from(&[(vars::TOKEN, TOKEN)]).expect("a client");
        assert_eq!(
            client.orders().clock_skew(),
            cj_graphql::tracking::DEFAULT_CLOCK_SKEW
        );
        let client = from(&[(vars::TOKEN, TOKEN), (vars::CLOCK_SKEW, "30s")]).expect("a client");
        assert_eq!(client.orders().clock_skew(), Duration::from_secs(30));
        let client = from(&[(vars::TOKEN, TOKEN), (vars::CLOCK_SKEW, "PT2M")]).expect("a client");
        assert_eq!(client.orders().clock_skew(), Duration::from_secs(120));
        for bad in ["soon", "-5m", ""] {
            let e = error(&[(vars::TOKEN, TOKEN), (vars::CLOCK_SKEW, bad)]);
            assert!(
                matches!(
                    e,
                    EnvError::Invalid {
                        variable: "CJ_CLOCK_SKEW",
                        ..
                    }
                ),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn a_missing_token_is_named() {
        let e = error(&[(vars::TRACKING_URL, "http://127.0.0.1:8400/tracking")]);
        assert!(
            matches!(
                e,
                EnvError::Missing {
                    variable: "CJ_TOKEN"
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "the environment variable CJ_TOKEN is not set"
        );
    }

    #[test]
    fn an_invalid_token_is_named_and_never_printed() {
        let pasted = format!("{TOKEN} {TOKEN}");
        let e = error(&[(vars::TOKEN, pasted.as_str())]);
        assert!(
            matches!(
                e,
                EnvError::Invalid {
                    variable: "CJ_TOKEN",
                    ..
                }
            ),
            "{e:?}"
        );
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(text.contains("CJ_TOKEN"), "{text}");
            assert!(!text.contains("secret-token"), "{text}");
        }
        let e = error(&[(vars::TOKEN, " \n")]);
        assert_eq!(
            e.to_string(),
            "the environment variable CJ_TOKEN is invalid: the access token is empty"
        );
    }

    #[cfg(feature = "tracking")]
    #[test]
    fn an_invalid_url_is_named() {
        let e = error(&[(vars::TOKEN, TOKEN), (vars::TRACKING_URL, "not a url")]);
        assert!(
            matches!(
                &e,
                EnvError::Invalid { variable: "CJ_TRACKING_URL", reason }
                    if reason.contains("not a url")
            ),
            "{e:?}"
        );
        let e = error(&[(vars::TOKEN, TOKEN), (vars::TRACKING_URL, "")]);
        assert!(
            matches!(
                e,
                EnvError::Invalid {
                    variable: "CJ_TRACKING_URL",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[cfg(all(
        feature = "tracking",
        feature = "program-terms",
        feature = "commissions"
    ))]
    #[test]
    fn the_token_and_urls_are_used() {
        let client = from(&[
            (vars::TOKEN, TOKEN),
            (vars::TRACKING_URL, "http://127.0.0.1:8400/tracking"),
            (vars::PROGRAM_TERMS_URL, "http://127.0.0.1:8400/programs"),
            (vars::COMMISSIONS_URL, "http://127.0.0.1:8400/commissions/"),
        ])
        .expect("a client");
        assert_eq!(
            client.orders().endpoint().as_str(),
            "http://127.0.0.1:8400/tracking/graphqltest"
        );
        assert_eq!(
            client.program_terms().endpoint().as_str(),
            "http://127.0.0.1:8400/programs/query"
        );
        assert_eq!(
            client.commissions().endpoint().as_str(),
            "http://127.0.0.1:8400/commissions/query"
        );
        assert!(!format!("{client:?}").contains("secret-token"));
    }
}
