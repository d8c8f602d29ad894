//! Every store passes the same suite (`oauthgen_tests::conformance`), with two handles on the
//! same data.

use oauthgen_runtime::{FileStore, MemoryStore, SqliteStore};
use oauthgen_tests::conformance;

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_conforms() {
    let store = MemoryStore::new();
    conformance::check(&store, &store.clone(), "memory").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    conformance::check(&FileStore::new(&path), &FileStore::new(&path), "file").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
    conformance::check(&a, &b, "sqlite").await;
}
