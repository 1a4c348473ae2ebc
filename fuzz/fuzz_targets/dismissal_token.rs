//! A signed dismissal token: reading its claims and verifying it never panic, and nothing
//! verifies that the key did not sign.
#![no_main]
use chrono::{DateTime, Utc};
use curfew_engine::governor::link::{unverified_claims, verify, LinkKey};
use libfuzzer_sys::fuzz_target;

/// The key the seed tokens are signed with (fuzz/seed.sh).
const SECRET: &[u8] = b"curfew-fuzz-link-key-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = unverified_claims(token);
    let now = DateTime::<Utc>::from_timestamp(1_772_323_200, 0).unwrap();
    let keys = [
        LinkKey::new("k1", SECRET),
        LinkKey::new("k0", b"another-key-another-key-another-key"),
    ];
    if let Ok(claims) = verify(&keys, token, now) {
        // Whatever verified must re-sign to the same token under its key.
        let key = keys.iter().find(|k| k.id == claims.key_id).unwrap();
        let again = curfew_engine::governor::link::sign(
            key,
            &claims.occurrence_id,
            claims.choice,
            claims.expires_at,
        );
        assert_eq!(
            again,
            token.trim(),
            "a token verified that its key did not sign"
        );
    }
});
