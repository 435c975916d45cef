//! Token checks for webhooks and the admin endpoints, in constant time.
//!
//! Tokens are kept only as SHA-256 digests and compared with
//! `subtle::ConstantTimeEq` against *every* configured token, so neither
//! the position of the first differing byte, nor the token's length, nor
//! which of several tokens matched shows in the timing. Nothing here logs.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::Secret;

type TokenDigest = [u8; 32];

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The webhook tokens we accept (one per Aircall webhook).
#[derive(Clone)]
pub struct TokenSet {
    digests: Vec<TokenDigest>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.digests.len())
    }
}

impl TokenSet {
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a Secret>) -> TokenSet {
        TokenSet {
            digests: tokens.into_iter().map(|t| digest(t.expose())).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the tokens. `None` (no token in the
    /// body) never matches.
    pub fn accepts(&self, presented: Option<&str>) -> bool {
        let Some(presented) = presented else {
            return false;
        };
        let presented = digest(presented);
        let mut matched = Choice::from(0);
        for known in &self.digests {
            matched |= known.ct_eq(&presented);
        }
        bool::from(matched)
    }
}

/// The admin bearer token, if one is configured.
#[derive(Clone)]
pub struct AdminToken {
    digest: Option<TokenDigest>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.digest.is_some() {
            "AdminToken(***)"
        } else {
            "AdminToken(disabled)"
        })
    }
}

/// The result of checking an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccess {
    Granted,
    /// No admin token is configured: the endpoints are off.
    Disabled,
    /// Missing, malformed or wrong credentials.
    Denied,
}

impl AdminToken {
    pub fn new(token: Option<&Secret>) -> AdminToken {
        AdminToken {
            digest: token.map(|t| digest(t.expose())),
        }
    }

    /// Checks an `Authorization` header value (`Bearer <token>`).
    pub fn check(&self, authorization: Option<&[u8]>) -> AdminAccess {
        let Some(expected) = &self.digest else {
            return AdminAccess::Disabled;
        };
        let presented = authorization
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        match presented {
            Some(token) if bool::from(expected.ct_eq(&digest(token))) => AdminAccess::Granted,
            _ => AdminAccess::Denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_tokens() {
        let tokens = [Secret::new("alpha"), Secret::new("beta")];
        let set = TokenSet::new(&tokens);
        assert!(set.accepts(Some("alpha")));
        assert!(set.accepts(Some("beta")));
        assert!(!set.accepts(Some("alph")));
        assert!(!set.accepts(Some("")));
        assert!(!set.accepts(None));
        assert!(!TokenSet::new(&[]).accepts(Some("alpha")));
    }

    #[test]
    fn admin_bearer() {
        let secret = Secret::new("s3cret");
        let admin = AdminToken::new(Some(&secret));
        assert_eq!(admin.check(Some(b"Bearer s3cret")), AdminAccess::Granted);
        assert_eq!(admin.check(Some(b"bearer  s3cret ")), AdminAccess::Granted);
        assert_eq!(admin.check(Some(b"Bearer nope")), AdminAccess::Denied);
        assert_eq!(admin.check(Some(b"Basic s3cret")), AdminAccess::Denied);
        assert_eq!(admin.check(None), AdminAccess::Denied);
        assert_eq!(
            AdminToken::new(None).check(Some(b"Bearer s3cret")),
            AdminAccess::Disabled
        );
        assert!(!format!("{admin:?}").contains("s3cret"));
    }
}
