//! The conformance suite on SQLite: a temp file opened twice (two connections, like two
//! governors in one or two processes), and an in-memory database shared by clones.

use std::path::PathBuf;
use std::sync::Arc;

use curfew_store::conformance::{self, Pair};
use curfew_store::{SqliteStore, StateStore, SCHEMA_VERSION};

/// A fresh path under the system temp dir, removed (with WAL/SHM files) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "curfew-store-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn file(&self) -> PathBuf {
        self.0.join("state.sqlite")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_one_file_with_two_connections() {
    let dir = TempDb::new("file");
    let a = SqliteStore::open(dir.file()).await.unwrap();
    let b = SqliteStore::open(dir.file()).await.unwrap();
    conformance::run_all(&Pair {
        a: Arc::new(a),
        b: Arc::new(b),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_in_memory() {
    let s = SqliteStore::open_in_memory().await.unwrap();
    conformance::run_all(&Pair {
        a: Arc::new(s.clone()),
        b: Arc::new(s),
    })
    .await;
}

#[tokio::test]
async fn reopening_keeps_data_and_schema_version() {
    let dir = TempDb::new("reopen");
    {
        let s = SqliteStore::open(dir.file()).await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        s.set_watermark("w", None, conformance::t(1, 0))
            .await
            .unwrap();
    }
    let s = SqliteStore::open(dir.file()).await.unwrap();
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        s.get_watermark("w").await.unwrap(),
        Some(conformance::t(1, 0))
    );
}

#[tokio::test]
async fn usable_as_arc_dyn() {
    let s: Arc<dyn StateStore> = Arc::new(SqliteStore::open_in_memory().await.unwrap());
    assert!(s.mark_notified("x", 5).await.unwrap());
    let dbg = format!("{:?}", SqliteStore::open_in_memory().await.unwrap());
    assert!(dbg.contains(":memory:"));
}
