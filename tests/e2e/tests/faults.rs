//! The fault suite, short form (the long form with process kills and
//! database restarts is `cargo bench -p earshot-e2e --bench faults`): every
//! RPC of every service fuzzed with seeded random and adversarial requests,
//! first as another tenant carrying tenant A's ids (nothing of A may change,
//! no answer may carry A's ids), then as A itself. No answer may be
//! `INTERNAL`, `UNKNOWN` or a broken connection, and every service must
//! still be serving at the end.

use earshot_e2e::faults::{Tally, fuzz, tenant_digest, tenant_ids};
use earshot_e2e::fuzz::Vocabulary;
use earshot_e2e::{ALL, Clients, Suite, cry_for_help, eventually, token};
use earshot_server::Service;
use earshot_testkit::{TestService, service_token};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// In every text tenant A holds, and in nothing anyone else sends.
const CANARY: &str = "canary7f3a";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn quiet(suite: &Suite) {
    let pool = suite.db.pool("listening").await;
    eventually("every outbox is drained and every rollup compacted", || {
        let pool = pool.clone();
        async move {
            let mut pending = 0i64;
            for schema in ["listening", "cases", "escalation", "insight"] {
                let n: Option<i64> = sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM \"{schema}\".outbox_delivery"
                ))
                .fetch_one(&pool)
                .await
                .ok();
                pending += n.unwrap_or(0);
            }
            // Insight folds the rollup deltas its batches appended on a
            // loop of its own: quiet once that is done too.
            for table in [
                "case_rollups_pending",
                "case_durations_pending",
                "fairness_rollups_pending",
            ] {
                let n: Option<i64> =
                    sqlx::query_scalar(&format!("SELECT count(*) FROM insight.{table}"))
                        .fetch_one(&pool)
                        .await
                        .ok();
                pending += n.unwrap_or(1);
            }
            (pending == 0).then_some(())
        }
    })
    .await;
}

async fn serving(service: &TestService) -> bool {
    HealthClient::new(service.channel())
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status == 1)
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_every_rpc_finds_no_defect_and_no_cross_tenant_leak() {
    let seed = env_or("EARSHOT_FAULT_SEED", 20261201);
    let per_method = env_or("EARSHOT_FUZZ_PER_METHOD", 90) as usize;
    let suite = Suite::start().await;

    let mut a = Clients::new(&suite, "tenant-a", ALL);
    let accepted = a
        .ingest(
            (0..20)
                .map(|i| {
                    let mut mention = cry_for_help(&format!("a-{i}"));
                    mention.text = format!("{CANARY} {i}: {}", mention.text);
                    if let Some(author) = mention.author.as_mut() {
                        author.handle = format!("{CANARY}-{i}");
                    }
                    mention
                })
                .collect(),
        )
        .await
        .accepted;
    assert_eq!(accepted, 20);
    eventually("tenant A's cases are open", || {
        let mut case = a.case.clone();
        async move {
            let cases = case
                .list_cases(earshot_proto::case::v1::ListCasesRequest::default())
                .await
                .ok()?
                .into_inner()
                .cases;
            (cases.len() == 20).then_some(())
        }
    })
    .await;
    quiet(&suite).await;

    let pool = suite.db.pool("listening").await;
    let before = tenant_digest(&pool, "tenant-a").await;
    let a_ids = tenant_ids(&pool, "tenant-a", 20).await;
    assert!(
        a_ids.len() >= 20,
        "tenant A holds ids to aim at: {}",
        a_ids.len()
    );
    let aimed = Vocabulary { ids: a_ids.clone() };

    let services: [(&str, &TestService, &[&str]); 4] = [
        (
            "listening",
            &suite.listening,
            earshot_listening::ListeningService::GRPC_SERVICES,
        ),
        (
            "case",
            &suite.case,
            earshot_case::CaseService::GRPC_SERVICES,
        ),
        (
            "escalation",
            &suite.escalation,
            earshot_escalation::EscalationService::GRPC_SERVICES,
        ),
        (
            "insight",
            &suite.insight,
            earshot_insight::InsightService::GRPC_SERVICES,
        ),
    ];
    let other = token("tenant-b", ALL);
    let relay = service_token();
    let mut rows = Vec::new();
    let mut total = Tally::default();
    for (i, (name, service, grpc)) in services.iter().enumerate() {
        let (api, sink): (Vec<&str>, Vec<&str>) =
            grpc.iter().partition(|n| **n != earshot_server::EVENT_SINK);
        let mut tally = fuzz(
            service,
            &api,
            &other,
            seed + i as u64,
            per_method,
            &aimed,
            Some(CANARY),
        )
        .await;
        tally.merge(
            fuzz(
                service,
                &sink,
                &relay,
                seed + 10 + i as u64,
                per_method,
                &aimed,
                Some(CANARY),
            )
            .await,
        );
        rows.push(tally.row(&format!("{name} as tenant B, aimed at A")));
        total.merge(tally);
    }
    quiet(&suite).await;
    let after = tenant_digest(&pool, "tenant-a").await;
    let changed: Vec<&String> = before
        .iter()
        .filter(|(table, sum)| after.get(*table) != Some(sum))
        .map(|(table, _)| table)
        .collect();

    let own = token("tenant-a", ALL);
    for (i, (name, service, grpc)) in services.iter().enumerate() {
        let api: Vec<&str> = grpc
            .iter()
            .copied()
            .filter(|n| *n != earshot_server::EVENT_SINK)
            .collect();
        let tally = fuzz(
            service,
            &api,
            &own,
            seed + 20 + i as u64,
            per_method,
            &aimed,
            None,
        )
        .await;
        rows.push(tally.row(&format!("{name} as tenant A")));
        total.merge(tally);
    }
    let mut down = Vec::new();
    for (name, service, _) in &services {
        if !serving(service).await {
            down.push(*name);
        }
    }

    println!("fault suite (short form), seed {seed}, {per_method} requests per method and tenant");
    println!("| run | sent | answers by code | defects | leaks |\n| --- | --- | --- | --- | --- |");
    for row in &rows {
        println!("{row}");
    }
    println!("{}", total.row("total"));
    println!(
        "tenant A's tables changed by tenant B: {}; services down at the end: {}",
        changed.len(),
        down.len()
    );
    for defect in total.defects.iter().take(30) {
        println!("defect: {defect}");
    }
    for (method, took) in total.slowest(8) {
        println!("slowest: {method} {took:?} in all");
    }
    for leak in total.leaks.iter().take(30) {
        println!("leak: {leak}");
    }

    assert!(
        total.sent >= 10_000 || per_method < 90,
        "{} requests",
        total.sent
    );
    assert!(
        total.defects.is_empty(),
        "{} defects (see above)",
        total.defects.len()
    );
    assert!(
        total.leaks.is_empty(),
        "{} leaks (see above)",
        total.leaks.len()
    );
    assert!(
        changed.is_empty(),
        "tenant B changed tenant A's {changed:?}"
    );
    assert!(down.is_empty(), "not serving at the end: {down:?}");
}
