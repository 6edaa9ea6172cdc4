//! Keeps the access token out of everything the SDK keeps or prints.

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// The longest body kept in an error.
const MAX_BODY: usize = 2048;

/// Removes the access token from text that came from CJ before it is kept in an error.
///
/// CJ echoes the key back in some 401 bodies (`Not Authenticated: <key>`), so the exact secret is
/// replaced wherever it appears, and so is whatever follows `Not Authenticated:` and `Bearer `,
/// in case CJ echoes it altered.
#[derive(Clone)]
pub struct Redactor {
    secret: String,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor([REDACTED])")
    }
}

impl Redactor {
    /// A redactor for this secret.
    pub fn new(secret: &str) -> Self {
        Redactor {
            secret: secret.to_string(),
        }
    }

    /// `text` without the secret, nor anything CJ echoes after `Not Authenticated:` or `Bearer`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = if self.secret.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.secret, REDACTED)
        };
        for marker in ["Not Authenticated:", "Bearer "] {
            out = redact_after(&out, marker);
        }
        out
    }

    /// A body as text, redacted and cut to at most 2 KiB.
    pub fn redact_body(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut out = self.redact(&text);
        if out.len() > MAX_BODY {
            let mut end = MAX_BODY;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str("...");
        }
        out
    }
}

/// Replaces the word that follows each `marker` (up to a space, quote or markup character).
fn redact_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let (before, after) = rest.split_at(pos + marker.len());
        out.push_str(before);
        let trimmed = after.trim_start_matches(' ');
        out.push_str(&after[..after.len() - trimmed.len()]);
        let end = trimmed
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ',' | '}'))
            .unwrap_or(trimmed.len());
        if end > 0 && &trimmed[..end] != REDACTED {
            out.push_str(REDACTED);
        } else {
            out.push_str(&trimmed[..end]);
        }
        rest = &trimmed[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_secret_and_cj_echoes() {
        let r = Redactor::new("s3cr3t-token");
        assert_eq!(r.redact("token s3cr3t-token here"), "token [REDACTED] here");
        assert_eq!(
            r.redact("<error-message>Not Authenticated: abc.def</error-message>"),
            "<error-message>Not Authenticated: [REDACTED]</error-message>"
        );
        assert_eq!(
            r.redact(r#"{"h":"Bearer xyz"}"#),
            r#"{"h":"Bearer [REDACTED]"}"#
        );
        assert_eq!(
            r.redact("Not Authenticated: s3cr3t-token"),
            "Not Authenticated: [REDACTED]"
        );
        assert_eq!(r.redact("nothing secret"), "nothing secret");
    }

    #[test]
    fn cuts_long_bodies_on_a_char_boundary() {
        let r = Redactor::new("x-secret");
        let body = "é".repeat(3000);
        let out = r.redact_body(body.as_bytes());
        assert!(out.len() <= MAX_BODY + 3);
        assert!(out.ends_with("..."));
    }
}
