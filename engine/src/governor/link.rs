//! Signed one-click links (docs/design.md §7): `base64url(claims) "." base64url(HMAC-SHA256)`, the
//! claims naming the key id, the occurrence, the choice and the expiry. Two keys may be valid
//! at once (rotation): the token says which one signed it. Verification is constant-time.
//!
//! The self-service page's tokens ([`sign_view`], [`verify_view`]) are made the same way with
//! the same keys, over other claims (a purpose, an owner's object id, an expiry) and with the
//! purpose mixed into the MAC, so that no token of one kind ever verifies as another.

use super::dismiss::Choice;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Tokens longer than this are rejected before any decoding (links are short).
pub const MAX_TOKEN_LEN: usize = 1024;
/// The version of the claims layout, inside every token.
const TOKEN_VERSION: u32 = 1;

/// A link-signing key with its id (configuration holds the current and the previous one).
#[derive(Clone)]
pub struct LinkKey {
    /// Named in each token, so that verification picks the right key during a rotation.
    pub id: String,
    key: hmac::Key,
}

impl LinkKey {
    /// A key from its id and secret bytes (at least 32 random bytes are advised).
    pub fn new(id: &str, secret: &[u8]) -> Self {
        LinkKey {
            id: id.to_string(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkKey({}, <secret>)", self.id)
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    /// The key that signed it.
    pub key_id: String,
    /// The one occurrence it may dismiss.
    pub occurrence_id: String,
    /// Skip, or snooze by so many minutes.
    pub choice: Choice,
    /// Not valid after this instant (the occurrence time + the snooze cap).
    pub expires_at: DateTime<Utc>,
}

/// Why a token is refused. Never retryable: the same token fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not `payload.signature` in base64url, or the payload is not our claims.
    #[error("malformed link token: {0}")]
    Malformed(String),
    /// The token names a key id that is not configured (retired, or never ours).
    #[error("link token signed with unknown key id '{0}' (forged, or the key was retired)")]
    UnknownKey(String),
    /// The signature does not match the claims under the named key.
    #[error("link token for occurrence {occurrence_id}: signature does not verify (forged)")]
    Forged {
        /// The occurrence the token claims.
        occurrence_id: String,
    },
    /// Past its expiry.
    #[error("link token for occurrence {occurrence_id} expired at {expired_at}")]
    Expired {
        /// The occurrence the token names.
        occurrence_id: String,
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
    /// A page token whose signature does not match its claims.
    #[error("page token: signature does not verify (forged or changed)")]
    PageForged,
    /// A page token past its expiry.
    #[error("page token expired at {expired_at}")]
    PageExpired {
        /// When it expired.
        expired_at: DateTime<Utc>,
    },
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    k: String,
    o: String,
    c: String,
    e: i64,
}

/// Signs a link for one occurrence and choice, valid until `expires_at`.
pub fn sign(
    key: &LinkKey,
    occurrence_id: &str,
    choice: Choice,
    expires_at: DateTime<Utc>,
) -> String {
    let wire = Wire {
        v: TOKEN_VERSION,
        k: key.id.clone(),
        o: occurrence_id.to_string(),
        c: choice.to_string(),
        e: expires_at.timestamp(),
    };
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).expect("claims always serialise"));
    let tag = hmac::sign(&key.key, payload.as_bytes());
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// What a self-service page token is for: each verifies only as its own purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ViewPurpose {
    /// A link that opens one owner's page without a sign-in (`Status?link=`).
    OwnerLink,
    /// The hidden token of the page's forms: a POST without it, or with one made for somebody
    /// else, is refused (a cross-site form cannot know it).
    Form,
}

impl ViewPurpose {
    fn tag(self) -> &'static str {
        match self {
            Self::OwnerLink => "view",
            Self::Form => "form",
        }
    }
}

/// What a valid page token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewClaims {
    /// The key that signed it.
    pub key_id: String,
    /// Its purpose.
    pub purpose: ViewPurpose,
    /// The Entra object id it stands for (an owner, or the signed-in viewer of a form).
    pub subject: String,
    /// Not valid after this instant.
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct ViewWire {
    v: u32,
    t: String,
    k: String,
    s: String,
    e: i64,
}

/// The message a page token's MAC covers: the purpose and the payload, so that a dismiss
/// link's tag or another purpose's never fits.
fn view_message(purpose: ViewPurpose, payload: &str) -> Vec<u8> {
    format!("curfew-page\n{}\n{payload}", purpose.tag()).into_bytes()
}

/// Signs a page token for `subject` (an Entra object id), valid until `expires_at`.
pub fn sign_view(
    key: &LinkKey,
    purpose: ViewPurpose,
    subject: &str,
    expires_at: DateTime<Utc>,
) -> String {
    let wire = ViewWire {
        v: TOKEN_VERSION,
        t: purpose.tag().to_owned(),
        k: key.id.clone(),
        s: subject.to_string(),
        e: expires_at.timestamp(),
    };
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).expect("claims always serialise"));
    let tag = hmac::sign(&key.key, &view_message(purpose, &payload));
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Checks a page token of `purpose` against the configured keys at `now`, before anything it
/// names is looked up: its claims when the key it names signed it for this purpose and it has
/// not expired.
pub fn verify_view(
    keys: &[LinkKey],
    purpose: ViewPurpose,
    token: &str,
    now: DateTime<Utc>,
) -> Result<ViewClaims, LinkError> {
    let (payload, signature) = split(token)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| LinkError::Malformed(format!("payload: {e}")))?;
    let wire: ViewWire = serde_json::from_slice(&bytes)
        .map_err(|e| LinkError::Malformed(format!("payload: {e}")))?;
    if wire.v != TOKEN_VERSION {
        return Err(LinkError::Malformed(format!("unknown version {}", wire.v)));
    }
    if wire.t != purpose.tag() {
        return Err(LinkError::Malformed(format!(
            "a '{}' token where a '{}' token is needed",
            wire.t,
            purpose.tag()
        )));
    }
    let key = keys
        .iter()
        .find(|k| k.id == wire.k)
        .ok_or_else(|| LinkError::UnknownKey(wire.k.clone()))?;
    let tag = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| LinkError::Malformed(format!("signature: {e}")))?;
    hmac::verify(&key.key, &view_message(purpose, payload), &tag)
        .map_err(|_| LinkError::PageForged)?;
    let expires_at = DateTime::from_timestamp(wire.e, 0)
        .ok_or_else(|| LinkError::Malformed(format!("expiry {} out of range", wire.e)))?;
    if now > expires_at {
        return Err(LinkError::PageExpired {
            expired_at: expires_at,
        });
    }
    Ok(ViewClaims {
        key_id: wire.k,
        purpose,
        subject: wire.s,
        expires_at,
    })
}

/// Reads a token's claims without checking its signature (to route a request; never to trust).
pub fn unverified_claims(token: &str) -> Result<Claims, LinkError> {
    let (payload, _) = split(token)?;
    decode_claims(payload)
}

/// Checks a token against the configured keys at `now`: the claims when it was signed by the key
/// it names and has not expired.
pub fn verify(keys: &[LinkKey], token: &str, now: DateTime<Utc>) -> Result<Claims, LinkError> {
    let (payload, signature) = split(token)?;
    let claims = decode_claims(payload)?;
    let key = keys
        .iter()
        .find(|k| k.id == claims.key_id)
        .ok_or_else(|| LinkError::UnknownKey(claims.key_id.clone()))?;
    let tag = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| LinkError::Malformed(format!("signature: {e}")))?;
    hmac::verify(&key.key, payload.as_bytes(), &tag).map_err(|_| LinkError::Forged {
        occurrence_id: claims.occurrence_id.clone(),
    })?;
    if now > claims.expires_at {
        return Err(LinkError::Expired {
            occurrence_id: claims.occurrence_id,
            expired_at: claims.expires_at,
        });
    }
    Ok(claims)
}

fn split(token: &str) -> Result<(&str, &str), LinkError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(LinkError::Malformed(format!(
            "{} characters (at most {MAX_TOKEN_LEN})",
            token.len()
        )));
    }
    token
        .trim()
        .split_once('.')
        .filter(|(p, s)| !p.is_empty() && !s.is_empty() && !s.contains('.'))
        .ok_or_else(|| LinkError::Malformed("expected payload.signature".into()))
}

fn decode_claims(payload: &str) -> Result<Claims, LinkError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| LinkError::Malformed(format!("payload: {e}")))?;
    let wire: Wire = serde_json::from_slice(&bytes)
        .map_err(|e| LinkError::Malformed(format!("payload: {e}")))?;
    if wire.v != TOKEN_VERSION {
        return Err(LinkError::Malformed(format!("unknown version {}", wire.v)));
    }
    let choice = wire
        .c
        .parse::<Choice>()
        .map_err(|e| LinkError::Malformed(format!("choice: {e}")))?;
    let expires_at = DateTime::from_timestamp(wire.e, 0)
        .ok_or_else(|| LinkError::Malformed(format!("expiry {} out of range", wire.e)))?;
    Ok(Claims {
        key_id: wire.k,
        occurrence_id: wire.o,
        choice,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn round_trip() {
        let k = LinkKey::new("k1", b"0123456789abcdef0123456789abcdef");
        let exp = at("2026-11-02T06:00:00Z");
        let t = sign(&k, "occ", Choice::Snooze { minutes: 30 }, exp);
        assert!(!t.contains('=') && !t.contains('+') && !t.contains('/'));
        let c = verify(&[k], &t, exp - TimeDelta::hours(1)).unwrap();
        assert_eq!(c.occurrence_id, "occ");
        assert_eq!(c.choice, Choice::Snooze { minutes: 30 });
        assert_eq!(c.key_id, "k1");
        assert_eq!(c.expires_at, exp);
    }

    #[test]
    fn rotation_accepts_both_keys_and_rejects_retired_ones() {
        let old = LinkKey::new("2026-01", b"old secret old secret old secret!");
        let new = LinkKey::new("2026-02", b"new secret new secret new secret!");
        let exp = at("2026-11-02T06:00:00Z");
        let now = at("2026-11-02T01:00:00Z");
        let t_old = sign(&old, "occ", Choice::Skip, exp);
        let t_new = sign(&new, "occ", Choice::Skip, exp);
        let both = [new.clone(), old.clone()];
        assert!(verify(&both, &t_old, now).is_ok());
        assert!(verify(&both, &t_new, now).is_ok());
        assert_eq!(
            verify(&[new], &t_old, now),
            Err(LinkError::UnknownKey("2026-01".into()))
        );
    }

    #[test]
    fn forged_tokens_are_rejected() {
        let k = LinkKey::new("k1", b"the real secret the real secret!");
        let evil = LinkKey::new("k1", b"a guessed secret a guessed secre");
        let exp = at("2026-11-02T06:00:00Z");
        let now = at("2026-11-02T01:00:00Z");
        let forged = sign(&evil, "occ", Choice::Skip, exp);
        assert!(matches!(
            verify(std::slice::from_ref(&k), &forged, now),
            Err(LinkError::Forged { .. })
        ));
        // A genuine signature over other claims does not carry over to edited claims.
        let genuine = sign(&k, "occ", Choice::Snooze { minutes: 30 }, exp);
        let (_, sig) = genuine.split_once('.').unwrap();
        let edited = sign(&k, "occ", Choice::Skip, exp);
        let (payload, _) = edited.split_once('.').unwrap();
        assert!(matches!(
            verify(std::slice::from_ref(&k), &format!("{payload}.{sig}"), now),
            Err(LinkError::Forged { .. })
        ));
        for junk in ["", "abc", "a.b.c", ".sig", "payload.", "!!!.???"] {
            assert!(
                matches!(
                    verify(std::slice::from_ref(&k), junk, now),
                    Err(LinkError::Malformed(_))
                ),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let k = LinkKey::new("k1", b"0123456789abcdef0123456789abcdef");
        let exp = at("2026-11-02T06:00:00Z");
        let t = sign(&k, "occ", Choice::Skip, exp);
        assert!(verify(std::slice::from_ref(&k), &t, exp).is_ok());
        assert!(matches!(
            verify(&[k], &t, exp + TimeDelta::seconds(1)),
            Err(LinkError::Expired { .. })
        ));
    }

    #[test]
    fn page_tokens_verify_for_their_purpose_only_and_never_as_dismiss_links() {
        let k = LinkKey::new("k1", b"0123456789abcdef0123456789abcdef");
        let exp = at("2026-11-02T06:00:00Z");
        let now = at("2026-11-02T01:00:00Z");
        let keys = std::slice::from_ref(&k);
        let t = sign_view(&k, ViewPurpose::OwnerLink, "owner-1", exp);
        let c = verify_view(keys, ViewPurpose::OwnerLink, &t, now).unwrap();
        assert_eq!((c.subject.as_str(), c.expires_at), ("owner-1", exp));
        assert!(matches!(
            verify_view(keys, ViewPurpose::Form, &t, now),
            Err(LinkError::Malformed(_))
        ));
        assert!(matches!(
            verify(keys, &t, now),
            Err(LinkError::Malformed(_))
        ));
        let dismiss = sign(&k, "occ", Choice::Skip, exp);
        assert!(verify_view(keys, ViewPurpose::OwnerLink, &dismiss, now).is_err());
        assert!(matches!(
            verify_view(
                keys,
                ViewPurpose::OwnerLink,
                &t,
                exp + TimeDelta::seconds(1)
            ),
            Err(LinkError::PageExpired { .. })
        ));
    }

    #[test]
    fn changed_or_foreign_page_tokens_are_forged() {
        let k = LinkKey::new("k1", b"the real secret the real secret!");
        let evil = LinkKey::new("k1", b"a guessed secret a guessed secre");
        let exp = at("2026-11-02T06:00:00Z");
        let now = at("2026-11-02T01:00:00Z");
        let keys = std::slice::from_ref(&k);
        let forged = sign_view(&evil, ViewPurpose::OwnerLink, "owner-1", exp);
        assert_eq!(
            verify_view(keys, ViewPurpose::OwnerLink, &forged, now),
            Err(LinkError::PageForged)
        );
        // Somebody else's name under a genuine signature.
        let genuine = sign_view(&k, ViewPurpose::OwnerLink, "owner-1", exp);
        let (_, sig) = genuine.split_once('.').unwrap();
        let other = sign_view(&k, ViewPurpose::OwnerLink, "owner-2", exp);
        let (payload, _) = other.split_once('.').unwrap();
        assert_eq!(
            verify_view(
                keys,
                ViewPurpose::OwnerLink,
                &format!("{payload}.{sig}"),
                now
            ),
            Err(LinkError::PageForged)
        );
        let retired = LinkKey::new("k0", b"the real secret the real secret!");
        let t = sign_view(&retired, ViewPurpose::Form, "owner-1", exp);
        assert_eq!(
            verify_view(keys, ViewPurpose::Form, &t, now),
            Err(LinkError::UnknownKey("k0".into()))
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let k = LinkKey::new("k1", b"super secret value");
        assert_eq!(format!("{k:?}"), "LinkKey(k1, <secret>)");
    }
}
