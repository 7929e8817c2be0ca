//! Facts and rollups: every event order, with redeliveries and stale
//! versions, ends in rollups equal to a recomputation from the facts; drill
//! events count nothing; facts survive a restart; tenants stay apart; an
//! erasure anonymises what insight knew about the customer.

mod common;

use chrono::Duration;
use common::{CaseSpec, Harness, MentionSpec, at, day, days};
use earshot_insight::rollups::{self, Deltas};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::{CustomerErased, Event, event};
use earshot_proto::insight::v1::{GetServiceMetricsRequest, ListDriversRequest};
use earshot_testkit::rng::Rng;
use uuid::Uuid;

/// Every version of a case's life: opened, answered, resolved, maybe
/// reopened and resolved again, with goodwill now and then.
fn case_lives(rng: &mut Rng, n: usize) -> Vec<Vec<CaseSpec>> {
    let channels = [
        Channel::X,
        Channel::Email,
        Channel::Phone,
        Channel::Instagram,
    ];
    let topics = ["delivery", "billing", "login"];
    (0..n)
        .map(|i| {
            let opened = at("2026-03-02T08:00:00Z") + Duration::minutes((i * 97) as i64);
            let mut c = CaseSpec::new(
                *rng.pick(&channels),
                topics[rng.below(topics.len())],
                opened,
            );
            c.facts.followers = [0, 50, 20_000][rng.below(3)];
            let mut versions = vec![c.clone()];
            let c = c.replied(60 + rng.below(7_200) as i64, ["ana", "bo"][rng.below(2)]);
            versions.push(c.clone());
            if rng.below(4) > 0 {
                let mut c = c.resolved(3_600 + rng.below(200_000) as i64);
                if rng.below(3) == 0 {
                    c = c.then(|f| {
                        f.goodwill_gestures = 1;
                        f.goodwill_minor = 1_500;
                    });
                }
                versions.push(c.clone());
                if rng.below(4) == 0 {
                    let c = c.then(|f| {
                        f.status = "OPEN".into();
                        f.resolved_at = None;
                        f.resolution_business_secs = 0.0;
                        f.reopens = 1;
                    });
                    versions.push(c.clone());
                    versions.push(c.resolved(400_000));
                }
            }
            versions
        })
        .collect()
}

fn mentions(rng: &mut Rng, n: usize) -> Vec<MentionSpec> {
    let authors = ["amy", "ben", "cat", "dan"];
    let topics = ["delivery", "billing"];
    (0..n)
        .map(|i| {
            let posted = at("2026-03-02T08:00:00Z") + Duration::hours((i * 5 % 400) as i64);
            let mut m = MentionSpec::new(
                authors[rng.below(authors.len())],
                topics[rng.below(topics.len())],
                *rng.pick(&[Intent::Complaint, Intent::Question]),
                posted,
            );
            m.sentiment = [-0.6, 0.0, 0.4][rng.below(3)];
            m
        })
        .collect()
}

fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

async fn stored_and_recomputed(h: &Harness, tenant: &str) -> (Deltas, Deltas) {
    let pool = h.pool().await;
    let mut conn = pool.acquire().await.expect("connection");
    let stored = rollups::store::read(&mut conn, tenant, "")
        .await
        .expect("read");
    let recomputed = rollups::store::recompute(&mut conn, tenant)
        .await
        .expect("recompute");
    // The monthly rollups are the daily ones by month.
    let monthly = rollups::store::read(&mut conn, tenant, "_monthly")
        .await
        .expect("read monthly");
    assert_same(&monthly, &recomputed.monthly());
    (stored, recomputed)
}

fn assert_same(stored: &Deltas, recomputed: &Deltas) {
    assert_eq!(stored.cases, recomputed.cases);
    assert_eq!(stored.durations, recomputed.durations);
    assert_eq!(stored.resolutions, recomputed.resolutions);
    assert_eq!(stored.drivers, recomputed.drivers);
    // Float sums agree up to rounding; rows that cancelled may remain as ~0.
    for (k, r) in &recomputed.fairness {
        let s = stored
            .fairness
            .get(k)
            .unwrap_or_else(|| panic!("stratum {k:?} missing"));
        assert_eq!(
            (
                s.cases,
                s.goodwill_cases,
                s.resolved,
                s.sla_met,
                s.sla_breached,
                s.moved_private
            ),
            (
                r.cases,
                r.goodwill_cases,
                r.resolved,
                r.sla_met,
                r.sla_breached,
                r.moved_private
            ),
            "{k:?}"
        );
        for (a, b) in [
            (s.goodwill_sum, r.goodwill_sum),
            (s.goodwill_sq, r.goodwill_sq),
            (s.log_res_sum, r.log_res_sum),
            (s.log_res_sq, r.log_res_sq),
        ] {
            assert!(
                (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{k:?}: {a} vs {b}"
            );
        }
    }
    for (k, s) in &stored.fairness {
        if !recomputed.fairness.contains_key(k) {
            assert_eq!(s.cases, 0, "{k:?} counts cases no fact has");
        }
    }
}

#[tokio::test]
async fn rollups_equal_a_recomputation_whatever_the_order_and_redeliveries() {
    let h = Harness::start().await;
    let mut rng = Rng(7);
    let lives = case_lives(&mut rng, 60);
    let mut events: Vec<Event> = lives
        .iter()
        .flat_map(|versions| versions.iter().map(|v| v.event("acme")))
        .collect();
    events.extend(mentions(&mut rng, 150).iter().map(|m| m.event("acme")));
    // The same versions told again under new event ids: stale facts.
    let stale: Vec<Event> = lives
        .iter()
        .filter_map(|versions| versions.first())
        .map(|v| v.event("acme"))
        .collect();
    events.extend(stale);
    shuffle(&mut rng, &mut events);
    let mut sent = 0;
    while sent < events.len() {
        let size = 1 + rng.below(40);
        let batch: Vec<Event> = events[sent..(sent + size).min(events.len())].to_vec();
        h.deliver(batch.clone()).await;
        // Relays redeliver: half the batches arrive twice.
        if rng.below(2) == 0 {
            h.deliver(batch).await;
        }
        sent += size;
    }
    let (stored, recomputed) = stored_and_recomputed(&h, "acme").await;
    assert!(!recomputed.cases.is_empty() && !recomputed.drivers.is_empty());
    assert_same(&stored, &recomputed);
    // Once compaction has folded every pending delta, still the same.
    let pool = h.pool().await;
    earshot_testkit::eventually("compaction folded the pending deltas", || {
        let pool = pool.clone();
        async move {
            let pending: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM case_rollups_pending)
                      + (SELECT count(*) FROM case_durations_pending)
                      + (SELECT count(*) FROM fairness_rollups_pending)",
            )
            .fetch_one(&pool)
            .await
            .ok()?;
            (pending == 0).then_some(())
        }
    })
    .await;
    let (stored, recomputed) = stored_and_recomputed(&h, "acme").await;
    assert_same(&stored, &recomputed);

    // The facts are each case's last version.
    for versions in &lives {
        let last = versions.last().expect("a version");
        let version: i64 = sqlx::query_scalar("SELECT version FROM case_facts WHERE case_id = $1")
            .bind(last.id)
            .fetch_one(&pool)
            .await
            .expect("stored");
        assert_eq!(version, last.facts.version);
    }
    // Every opened case counted once.
    let metrics = h
        .client("acme")
        .get_service_metrics(GetServiceMetricsRequest {
            range: days(day(2026, 3, 1), day(2026, 3, 31)),
            group_by: 0,
        })
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(metrics.groups[0].opened, lives.len() as u64);
}

#[tokio::test]
async fn drill_events_count_nothing_and_tenants_stay_apart() {
    let h = Harness::start().await;
    let opened = at("2026-03-03T09:00:00Z");
    let mut drill = CaseSpec::new(Channel::X, "delivery", opened).event("acme");
    drill.drill = true;
    let mut drill_mention =
        MentionSpec::new("amy", "delivery", Intent::Complaint, opened).event("acme");
    drill_mention.drill = true;
    h.deliver(vec![drill, drill_mention]).await;
    h.deliver(vec![
        CaseSpec::new(Channel::Email, "billing", opened).event("globex"),
        MentionSpec::new("amy", "billing", Intent::Complaint, opened).event("globex"),
    ])
    .await;
    let range = days(day(2026, 3, 1), day(2026, 3, 31));
    let acme = h.client("acme");
    let metrics = acme
        .clone()
        .get_service_metrics(GetServiceMetricsRequest { range, group_by: 0 })
        .await
        .expect("metrics")
        .into_inner();
    assert!(metrics.groups.is_empty(), "{metrics:?}");
    let drivers = acme
        .clone()
        .list_drivers(ListDriversRequest {
            range,
            ..Default::default()
        })
        .await
        .expect("drivers")
        .into_inner();
    assert_eq!(drivers.total_contacts, 0);
    let globex = h
        .client("globex")
        .list_drivers(ListDriversRequest {
            range,
            ..Default::default()
        })
        .await
        .expect("drivers")
        .into_inner();
    assert_eq!(globex.total_contacts, 1);
}

#[tokio::test]
async fn facts_and_rollups_survive_a_restart() {
    let mut h = Harness::start().await;
    let opened = at("2026-03-03T09:00:00Z");
    let case = CaseSpec::new(Channel::X, "delivery", opened);
    h.deliver(vec![case.event("acme")]).await;
    h.service.restart().await;
    let answered = case.replied(600, "ana");
    h.deliver(vec![answered.event("acme")]).await;
    let metrics = h
        .client("acme")
        .get_service_metrics(GetServiceMetricsRequest {
            range: days(day(2026, 3, 3), day(2026, 3, 3)),
            group_by: 0,
        })
        .await
        .expect("metrics")
        .into_inner();
    let all = &metrics.groups[0];
    assert_eq!(all.opened, 1);
    assert_eq!(all.first_response.as_ref().expect("fr").count, 1);
    let (stored, recomputed) = stored_and_recomputed(&h, "acme").await;
    assert_same(&stored, &recomputed);
}

#[tokio::test]
async fn an_erasure_anonymises_the_customer_and_is_answered() {
    let h = Harness::start().await;
    let posted = at("2026-03-03T09:00:00Z");
    let first = MentionSpec::new("amy", "delivery", Intent::Complaint, posted);
    let second = MentionSpec::new(
        "amy",
        "delivery",
        Intent::Complaint,
        posted + Duration::days(1),
    );
    let other = MentionSpec::new("ben", "delivery", Intent::Complaint, posted);
    let customer = Uuid::now_v7();
    let mut case = CaseSpec::new(Channel::X, "delivery", posted);
    case.facts.mention_id = first.id.to_string();
    case.facts.customer_id = customer.to_string();
    h.deliver(vec![
        first.event("acme"),
        second.event("acme"),
        other.event("acme"),
        case.event("acme"),
    ])
    .await;
    let erasure_id = Uuid::now_v7().to_string();
    let mut erased = case.event("acme");
    erased.event_id = Uuid::now_v7().to_string();
    erased.payload = Some(event::Payload::CustomerErased(CustomerErased {
        erasure_id: erasure_id.clone(),
        customer_id: customer.to_string(),
        identities: Vec::new(),
        mention_ids: vec![first.id.to_string()],
    }));
    h.deliver(vec![erased]).await;
    let pool = h.pool().await;
    let authors: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT mention_id, author FROM mention_facts ORDER BY posted_at, author")
            .fetch_all(&pool)
            .await
            .expect("mentions");
    // Both of amy's mentions lost her; ben's kept his.
    let amy: Vec<&(Uuid, String)> = authors
        .iter()
        .filter(|(id, _)| *id == first.id || *id == second.id)
        .collect();
    assert!(amy.iter().all(|(_, a)| a.is_empty()), "{authors:?}");
    assert!(
        authors
            .iter()
            .any(|(id, a)| *id == other.id && a == "x:ben")
    );
    let profile: Option<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM case_facts WHERE case_id = $1")
            .bind(case.id)
            .fetch_one(&pool)
            .await
            .expect("case");
    assert_eq!(profile, None);
    let answer = h
        .emitted()
        .await
        .into_iter()
        .find_map(|e| match e.payload {
            Some(event::Payload::ErasureCompleted(c)) => Some(c),
            _ => None,
        })
        .expect("answered");
    assert_eq!(answer.erasure_id, erasure_id);
    // Two mentions anonymised and the case's profile removed.
    assert_eq!(answer.records_erased, 3);
    // The counts stay.
    let (stored, recomputed) = stored_and_recomputed(&h, "acme").await;
    assert_same(&stored, &recomputed);
}
