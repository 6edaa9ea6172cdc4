//! The lease rules of the embedded stores, the same as PostgreSQL's (`tests/postgres.rs`): an
//! outcome is recorded only for an order still in flight under the claim that sent it, and a
//! sender renews its lease while it sends.

use std::sync::Arc;

use cj_queue::{MemoryStore, SqliteStore};

mod common;

#[tokio::test]
async fn memory_a_late_worker_neither_erases_a_dead_letter_nor_requeues_an_accepted_order() {
    let store = Arc::new(MemoryStore::new());
    let owner = store.clone();
    common::late_outcomes_are_lost(store, async { owner }).await;
}

#[tokio::test]
async fn memory_a_renewed_lease_keeps_the_batch_until_it_runs_out() {
    common::renewal_keeps_the_batch(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_a_send_slower_than_the_lease_keeps_its_batch() {
    let store = Arc::new(MemoryStore::new());
    common::a_slow_send_keeps_its_batch(store.clone(), &store).await;
}

/// SQLite is one process's store: its orders change hands when it is reopened (which puts the
/// orders left in flight back in the queue), and a late answer from before then is not recorded.
#[tokio::test]
async fn sqlite_a_late_answer_from_before_a_reopen_is_not_recorded() {
    let dir = std::env::temp_dir().join(format!("cj-queue-late-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("queue.sqlite");
    let late = Arc::new(SqliteStore::open(&path).expect("opened"));
    let owner = async { Arc::new(SqliteStore::open(&path).expect("reopened")) };
    common::late_outcomes_are_lost(late, owner).await;
    let _ = std::fs::remove_dir_all(&dir);
}
