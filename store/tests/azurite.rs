//! The conformance suite on Azure Table Storage, against Azurite (the real emulator).
//! Runs when `CURFEW_AZURITE_TABLE_ENDPOINT` is set (`.ci/azurite.sh cargo test -p
//! curfew-store` does that); otherwise prints a loud notice that it was skipped.

use std::hash::BuildHasher;
use std::io::Write;
use std::sync::{Arc, Once};

use curfew_store::conformance::{self, Pair};
use curfew_store::{StateStore, StoreError, TableConfig, TableStore};

const ENDPOINT_VAR: &str = "CURFEW_AZURITE_TABLE_ENDPOINT";

/// Set to `1` to make a missing emulator a failure instead of a skip (for CI).
const REQUIRE_VAR: &str = "CURFEW_REQUIRE_AZURITE";

/// The emulator endpoint, or `None` after telling the person running the tests, once and on
/// the real stderr (not captured by the test harness), that Table Storage was NOT tested.
fn endpoint() -> Option<String> {
    static NOTICE: Once = Once::new();
    match std::env::var(ENDPOINT_VAR) {
        Ok(e) if !e.trim().is_empty() => Some(e),
        _ => {
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{ENDPOINT_VAR} is not set but {REQUIRE_VAR}=1: start Azurite with .ci/azurite.sh");
            }
            NOTICE.call_once(|| {
                let notice = format!(
                    "\n!!!!!!!! SKIPPED: {ENDPOINT_VAR} is not set, so the Table Storage backend \
                     was NOT tested (tests/azurite.rs).\n!!!!!!!! Run: .ci/azurite.sh cargo test \
                     -p curfew-store\n\n"
                );
                let _ = std::io::stderr().lock().write_all(notice.as_bytes());
            });
            None
        }
    }
}

/// A table name no other run uses.
fn fresh_table(tag: &str) -> String {
    let n = std::collections::hash_map::RandomState::new().hash_one(tag);
    format!("curfew{tag}{:012x}", n & 0xFFFF_FFFF_FFFF)
}

/// Two handles (two HTTP clients) on one table, the second via a full connection string.
async fn pair(endpoint: &str, table: &str) -> Pair {
    let a = TableStore::open(TableConfig::development(endpoint).unwrap(), table)
        .await
        .unwrap();
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
         AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
         TableEndpoint={endpoint};"
    );
    let b = TableStore::open(TableConfig::from_connection_string(&conn).unwrap(), table)
        .await
        .unwrap();
    Pair {
        a: Arc::new(a),
        b: Arc::new(b),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_azurite() {
    let Some(endpoint) = endpoint() else {
        return;
    };
    let p = pair(&endpoint, &fresh_table("conf")).await;
    conformance::run_all(&p).await;
}

#[tokio::test]
async fn wrong_key_is_rejected_and_not_retried() {
    let Some(endpoint) = endpoint() else {
        return;
    };
    let conn =
        format!("AccountName=devstoreaccount1;AccountKey=d3Jvbmcta2V5;TableEndpoint={endpoint}");
    let err = TableStore::open(
        TableConfig::from_connection_string(&conn).unwrap(),
        &fresh_table("auth"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("403"), "{err}");
    assert!(!err.to_string().contains("d3Jvbmcta2V5"));
}

#[tokio::test]
async fn reopening_an_existing_table_keeps_its_data() {
    let Some(endpoint) = endpoint() else {
        return;
    };
    let table = fresh_table("reopen");
    let cfg = TableConfig::development(&endpoint).unwrap();
    let a = TableStore::open(cfg.clone(), &table).await.unwrap();
    a.set_watermark("w", None, conformance::t(1, 0))
        .await
        .unwrap();
    let b: Arc<dyn StateStore> = Arc::new(TableStore::open(cfg, &table).await.unwrap());
    assert_eq!(
        b.get_watermark("w").await.unwrap(),
        Some(conformance::t(1, 0))
    );
    let dbg = format!("{a:?}");
    assert!(dbg.contains("redacted") && !dbg.contains("Eby8"), "{dbg}");
}
