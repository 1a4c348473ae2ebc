//! Throughput figures for `docs/store.md` (ignored by default; they assert correctness,
//! never timing). Run:
//! `cargo test -p curfew-store --release --test throughput -- --ignored --nocapture`
//! (under `.ci/azurite.sh` to include Table Storage).

use std::sync::Arc;
use std::time::Instant;

use curfew_store::conformance::{entry, t};
use curfew_store::{SqliteStore, StateStore, TableConfig, TableStore};

const N: usize = 2_000;

/// Inserts N entries, then two handles race get+claim over all of them; every occurrence
/// must be claimed exactly once. Prints insert and claim rates.
async fn measure(label: &str, a: Arc<dyn StateStore>, b: Arc<dyn StateStore>) {
    let entries: Vec<_> = (0..N)
        .map(|i| entry(&format!("beef{i:012x}"), "/sub/x/ci", t(20, i as i64)))
        .collect();
    let start = Instant::now();
    assert!(a.insert_entries(&entries).await.unwrap().iter().all(|b| *b));
    let insert = start.elapsed();

    let start = Instant::now();
    let tasks = [a, b].map(|s| {
        let ids: Vec<String> = entries.iter().map(|e| e.occurrence_id.clone()).collect();
        tokio::spawn(async move {
            let mut won = 0usize;
            for id in ids {
                let seen = s.get_entry(&id).await.unwrap().unwrap();
                if s.claim(&id, &seen.version, t(21, 0)).await.is_ok() {
                    won += 1;
                }
            }
            won
        })
    });
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    let claim = start.elapsed();
    assert_eq!(total, N, "every occurrence claimed exactly once");
    println!(
        "{label}: bulk insert {N} entries in {:.0} ms ({:.0}/s); two racing handles claimed \
         {N} occurrences exactly once in {:.0} ms ({:.0} claims/s, {} get+claim attempts)",
        insert.as_secs_f64() * 1e3,
        N as f64 / insert.as_secs_f64(),
        claim.as_secs_f64() * 1e3,
        N as f64 / claim.as_secs_f64(),
        2 * N
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput figures; run explicitly"]
async fn sqlite_throughput() {
    let dir = std::env::temp_dir().join(format!("curfew-store-tp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.sqlite");
    let a = SqliteStore::open(&file).await.unwrap();
    let b = SqliteStore::open(&file).await.unwrap();
    measure("sqlite (WAL file, 2 connections)", Arc::new(a), Arc::new(b)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput figures; run explicitly"]
async fn azurite_throughput() {
    let Ok(endpoint) = std::env::var("CURFEW_AZURITE_TABLE_ENDPOINT") else {
        println!("azurite_throughput: SKIPPED, CURFEW_AZURITE_TABLE_ENDPOINT is not set");
        return;
    };
    let table = format!("curfewtp{}", std::process::id());
    let cfg = TableConfig::development(&endpoint).unwrap();
    let a = TableStore::open(cfg.clone(), &table).await.unwrap();
    let b = TableStore::open(cfg, &table).await.unwrap();
    measure(
        "table storage (Azurite, 2 clients)",
        Arc::new(a),
        Arc::new(b),
    )
    .await;
}
