//! The TLS this build was compiled with, as Cargo features: `rustls-ring` (the default),
//! `rustls-aws-lc`, `native-tls`. With several, the first of that list is used; with none, only
//! `http://` URLs work (a sandbox on loopback), and an `https://` base URL is refused when the
//! client is built.

/// The TLS backend compiled in: `"rustls-ring"`, `"rustls-aws-lc"`, `"native-tls"`, or `None`.
pub const BACKEND: Option<&str> = if cfg!(feature = "rustls-ring") {
    Some("rustls-ring")
} else if cfg!(feature = "rustls-aws-lc") {
    Some("rustls-aws-lc")
} else if cfg!(feature = "native-tls") {
    Some("native-tls")
} else {
    None
};

/// A `reqwest::ClientBuilder` set up with the TLS backend this build chose, for any HTTP client
/// of the SDK (the transport's, a relay's). With `rustls-ring` it carries its own rustls
/// configuration, so no process-wide crypto provider needs to be installed.
pub fn client_builder() -> Result<reqwest::ClientBuilder, String> {
    with_backend(reqwest::Client::builder())
}

#[cfg(feature = "rustls-ring")]
fn with_backend(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
    rustls_ring(builder)
}

#[cfg(all(not(feature = "rustls-ring"), feature = "rustls-aws-lc"))]
fn with_backend(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
    Ok(builder.tls_backend_rustls())
}

#[cfg(all(
    not(feature = "rustls-ring"),
    not(feature = "rustls-aws-lc"),
    feature = "native-tls"
))]
fn with_backend(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
    Ok(builder.tls_backend_native())
}

#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc",
    feature = "native-tls"
)))]
fn with_backend(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
    Ok(builder)
}

/// rustls with the `ring` provider, the platform's verifier (as reqwest's own rustls setup
/// uses), and HTTP/2 offered beside HTTP/1.1.
#[cfg(feature = "rustls-ring")]
fn rustls_ring(builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
    use std::sync::Arc;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| format!("cannot load the platform's certificate verifier: {e}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(config))
}

/// Whether a request to `url` can be sent by this build: `https` needs a TLS feature.
pub(crate) fn check_scheme(url: &reqwest::Url, api: &str) -> Result<(), String> {
    if url.scheme() == "https" && BACKEND.is_none() {
        return Err(format!(
            "the {api} URL {url} is https, but this build has no TLS: enable a TLS feature of \
             `cj` or `cj-transport` (`rustls-ring`, the default, `rustls-aws-lc` or `native-tls`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_backend_builds_a_client() {
        let client = client_builder().and_then(|b| b.build().map_err(|e| e.to_string()));
        assert!(client.is_ok(), "{:?}", client.err());
    }

    #[test]
    fn https_needs_a_tls_feature() {
        let url = reqwest::Url::parse("https://tracking.api.cj.com/graphql").expect("a URL");
        let checked = check_scheme(&url, "Tracking");
        assert_eq!(checked.is_ok(), BACKEND.is_some(), "{checked:?}");
        let loopback = reqwest::Url::parse("http://127.0.0.1:8400/graphql").expect("a URL");
        assert!(check_scheme(&loopback, "Tracking").is_ok());
    }
}
