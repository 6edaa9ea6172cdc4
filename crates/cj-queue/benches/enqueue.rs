//! Orders per second through `OrderQueue::enqueue`: into the durable SQLite store (each
//! acknowledgement waits for its fsync; concurrent enqueues share one by group commit) and into
//! the in-memory store, the baseline.

use std::time::Duration;

use cj_graphql::tracking::{Mode, OrderCreateRequest, Orders};
use cj_queue::{MemoryStore, OrderQueue, QueueConfig, SqliteStore, Store};
use cj_transport::{Credentials, Transport};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1000;

fn order(i: usize) -> OrderCreateRequest {
    OrderCreateRequest::builder()
        .enterprise_id("1234567")
        .action_tracker_id(123456)
        .order_id(format!("BENCH-{i}"))
        .event_time(
            "2024-01-15T18:08:36Z"
                .parse::<cj_graphql::tracking::Instant>()
                .expect("time"),
        )
        .cj_event("7166ddf3b35b11eb834200a10a1eb972")
        .amount("149.98".parse().expect("decimal"))
        .build()
}

fn queue<S: Store>(store: S) -> OrderQueue<S> {
    let transport = Transport::builder()
        .credentials(Credentials::token("bench-token-never-sent"))
        .build()
        .expect("transport");
    let orders = Orders::new(transport, "http://127.0.0.1:9", Mode::Test).expect("orders");
    let mut config = QueueConfig::default();
    config.max_age = Duration::from_secs(86_400); // never due during the benchmark
    config.max_orders = usize::MAX;
    config.max_bytes = u64::MAX;
    OrderQueue::start(store, orders, config)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = std::env::temp_dir().join(format!("cj-queue-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    // New orders every iteration: an order already queued is not stored again.
    let next = std::cell::Cell::new(0);
    let fresh = |n: usize| -> Vec<OrderCreateRequest> {
        let first = next.replace(next.get() + n);
        (first..first + n).map(order).collect()
    };

    let mut group = c.benchmark_group("enqueue");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    let memory = runtime.block_on(async { queue(MemoryStore::new()) });
    group.bench_function("memory_1000_concurrent", |b| {
        b.iter_batched(
            || fresh(BATCH),
            |orders| {
                runtime.block_on(async {
                    let all = orders.into_iter().map(|o| memory.enqueue(o));
                    for r in futures_util::future::join_all(all).await {
                        r.expect("stored");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    let path = dir.join("concurrent.sqlite");
    let _ = std::fs::remove_file(&path);
    let durable = runtime.block_on(async { queue(SqliteStore::open(&path).expect("store")) });
    group.bench_function("sqlite_1000_concurrent", |b| {
        b.iter_batched(
            || fresh(BATCH),
            |orders| {
                runtime.block_on(async {
                    let all = orders.into_iter().map(|o| durable.enqueue(o));
                    for r in futures_util::future::join_all(all).await {
                        r.expect("stored");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("enqueue_one_at_a_time");
    group.throughput(Throughput::Elements(100));
    group.sample_size(10);
    group.bench_function("memory_100_sequential", |b| {
        b.iter_batched(
            || fresh(100),
            |orders| {
                runtime.block_on(async {
                    for o in orders {
                        memory.enqueue(o).await.expect("stored");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("sqlite_100_sequential", |b| {
        b.iter_batched(
            || fresh(100),
            |orders| {
                runtime.block_on(async {
                    for o in orders {
                        durable.enqueue(o).await.expect("stored");
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
