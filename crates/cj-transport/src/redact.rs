//! Keeps the access token out of everything the SDK keeps or prints.

use std::borrow::Cow;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// The longest body kept in an error.
const MAX_BODY: usize = 2048;

/// Secrets shorter than this are not searched for in CJ's answers: CJ's tokens are far longer,
/// and a short test token such as `any` would match ordinary words and mangle the data.
const MIN_SCRUBBED_SECRET: usize = 8;

/// Removes the access token from what CJ sends before anything keeps it.
///
/// Two layers:
/// - [`Redactor::scrub`] replaces the exact secret (also as JSON and XML escape it) in a whole
///   response body before it is parsed, so that no string read from an answer (a
///   `RequestError` message, GraphQL `extensions`, a dead letter) can carry it.
/// - [`Redactor::redact`] is applied to text kept in errors: the secret, and whatever follows
///   `Not Authenticated:` and `Bearer ` (CJ echoes keys back in some 401 bodies, perhaps altered).
#[derive(Clone)]
pub struct Redactor {
    secret: String,
    /// The forms the secret takes in a body: as is, and escaped as JSON and XML write it.
    needles: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor([REDACTED])")
    }
}

impl Redactor {
    /// A redactor for this secret.
    pub fn new(secret: &str) -> Self {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        if secret.len() >= MIN_SCRUBBED_SECRET {
            let json = serde_json::to_string(secret).unwrap_or_default();
            let json = json.trim_matches('"').to_string();
            let forms = [
                secret.to_string(),
                json.clone(),
                json.replace('/', "\\/"),
                xml_escape(secret),
            ];
            for form in forms {
                if !form.is_empty() && !needles.iter().any(|n| n == form.as_bytes()) {
                    needles.push(form.into_bytes());
                }
            }
        }
        Redactor {
            secret: secret.to_string(),
            needles,
        }
    }

    /// `body` with every occurrence of the secret (as is, or escaped as JSON or XML write it)
    /// replaced by `[REDACTED]`. Linear in the body's length; borrows when there is nothing to
    /// replace.
    pub fn scrub<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out: Cow<'a, [u8]> = Cow::Borrowed(body);
        for needle in &self.needles {
            let finder = memchr::memmem::Finder::new(needle);
            if finder.find(&out).is_none() {
                continue;
            }
            let mut replaced = Vec::with_capacity(out.len());
            let mut rest: &[u8] = &out;
            while let Some(at) = finder.find(rest) {
                replaced.extend_from_slice(&rest[..at]);
                replaced.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[at + needle.len()..];
            }
            replaced.extend_from_slice(rest);
            out = Cow::Owned(replaced);
        }
        out
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

    /// Every string in a JSON value (keys too), redacted as [`Redactor::redact`] does.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.redact(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&key), v);
                }
            }
            _ => {}
        }
    }

    /// A body as text, redacted and cut to at most 2 KiB (only that prefix is redacted).
    pub fn redact_body(&self, body: &[u8]) -> String {
        // Keep a little more than the cut, so a secret straddling it is still found whole.
        let keep = MAX_BODY + self.secret.len().max(64);
        let prefix = &body[..body.len().min(keep)];
        let text = String::from_utf8_lossy(prefix);
        let mut out = self.redact(&text);
        if out.len() > MAX_BODY || prefix.len() < body.len() {
            let mut end = out.len().min(MAX_BODY);
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str("...");
        }
        out
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
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
    fn scrubs_the_secret_from_bodies_in_every_escaped_form() {
        let secret = r#"ab/cd"ef&gh"#;
        let r = Redactor::new(secret);
        let body = br#"{"m":"ab/cd\"ef&gh","n":"ab\/cd\"ef&gh"}<x>ab/cd&quot;ef&amp;gh</x>"#;
        let out = r.scrub(body);
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            text,
            r#"{"m":"[REDACTED]","n":"[REDACTED]"}<x>[REDACTED]</x>"#
        );
        // Nothing to replace: nothing copied.
        assert!(matches!(r.scrub(b"clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn short_secrets_do_not_mangle_answers() {
        let r = Redactor::new("any");
        assert_eq!(&*r.scrub(b"Company name"), b"Company name");
    }

    #[test]
    fn redacts_json_recursively() {
        let r = Redactor::new("canary-token-123");
        let mut v = serde_json::json!({
            "a": ["x canary-token-123", {"canary-token-123": "Bearer zzz"}],
            "n": 1
        });
        r.redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x [REDACTED]", {"[REDACTED]": "Bearer [REDACTED]"}], "n": 1})
        );
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
