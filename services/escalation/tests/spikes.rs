//! Spike detection: the defaults, backtests over synthetic series whose
//! bursts are known, live detection over mentions delivered minute by
//! minute (their posting times in the past), agents' marks and precision,
//! and backtests over the minutes the live detector kept.

mod common;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::{
    Harness, Mention, assert_code, assert_invalid, detectors, spike_alerts, time, timestamp,
};
use earshot_proto::escalation::v1::{self as pb, backtest_spike_detector_request::Source};
use earshot_proto::events::v1::event;
use earshot_testkit::rng::Rng;
use tonic::Code;

/// Monday 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200;
/// Three days of minutes.
const MINUTES: usize = 3 * 24 * 60;

fn uniform(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A Poisson draw (Knuth's method, fine for small rates).
fn poisson(rng: &mut Rng, rate: f64) -> u32 {
    let limit = (-rate).exp();
    let mut k = 0;
    let mut p = uniform(rng);
    while p > limit {
        k += 1;
        p *= uniform(rng);
    }
    k
}

fn buckets(counts: &[u32]) -> Vec<pb::SpikeBucket> {
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| pb::SpikeBucket {
            minute: Some(prost_types::Timestamp {
                seconds: START + 60 * i as i64,
                nanos: 0,
            }),
            count,
            negative: 0,
        })
        .collect()
}

fn minute_index(alert: &pb::SpikeAlert) -> usize {
    let seconds = alert.minute.as_ref().expect("minute").seconds;
    usize::try_from((seconds - START) / 60).expect("inside the series")
}

async fn backtest(
    client: &mut common::Client,
    settings: pb::SpikeSettings,
    counts: &[u32],
) -> pb::BacktestSpikeDetectorResponse {
    client
        .backtest_spike_detector(pb::BacktestSpikeDetectorRequest {
            settings: Some(settings),
            source: Some(Source::Supplied(pb::SuppliedSeries {
                buckets: buckets(counts),
            })),
        })
        .await
        .expect("backtest")
        .into_inner()
}

#[tokio::test]
async fn every_tenant_starts_with_three_detectors_at_the_default_settings() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let found = detectors(&mut client).await;
    let shape: Vec<(&str, i32)> = found.iter().map(|d| (d.name.as_str(), d.scope)).collect();
    assert_eq!(
        shape,
        [
            ("All mentions", pb::SpikeScope::Tenant as i32),
            ("Per topic", pb::SpikeScope::Topic as i32),
            ("Per listening rule", pb::SpikeScope::Rule as i32),
        ]
    );
    let defaults = pb::SpikeSettings {
        tail_probability: 0.001,
        min_count: 5,
        k: 2,
        n: 3,
        cusum_slack: 1.0,
        cusum_threshold: 8.0,
        prior_minutes: 2.0,
        negative_share_at_least: 0.0,
        velocity_at_least: 0.0,
        cooldown_minutes: 15,
        half_life_weeks: 4.0,
    };
    for d in &found {
        assert_eq!(d.settings.as_ref(), Some(&defaults), "{}", d.name);
        assert!(d.enabled);
        assert_eq!(d.version, 1);
        assert_eq!((d.alerts, d.marked_true, d.marked_false), (0, 0, 0));
        assert_eq!(d.precision, None, "no alert marked yet");
    }
}

#[tokio::test]
async fn a_detectors_settings_change_in_versions() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let tenant = detectors(&mut client).await.remove(0);
    let update = |expected_version: u32, k: u32, n: u32| pb::UpdateSpikeDetectorRequest {
        detector_id: tenant.detector_id.clone(),
        expected_version,
        settings: Some(pb::SpikeSettings {
            k,
            n,
            ..Default::default()
        }),
        enabled: true,
    };
    let changed = client
        .update_spike_detector(update(1, 1, 1))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(changed.version, 2);
    let settings = changed.settings.expect("settings");
    assert_eq!((settings.k, settings.n), (1, 1));
    // Zeros took their defaults.
    assert_eq!(settings.min_count, 5);
    assert_eq!(settings.tail_probability, 0.001);
    assert_code(
        client.update_spike_detector(update(1, 2, 3)).await,
        Code::Aborted,
    );
    assert_invalid(
        client.update_spike_detector(update(2, 4, 3)).await,
        &["settings.k"],
    );
    let read = detectors(&mut client).await.remove(0);
    assert_eq!(read.version, 2, "the refused changes wrote nothing");
}

#[tokio::test]
async fn a_backtest_finds_a_known_burst_in_its_first_two_minutes() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let mut rng = Rng(42);
    let calm: Vec<u32> = (0..MINUTES).map(|_| poisson(&mut rng, 2.0)).collect();
    let mean = f64::from(calm.iter().sum::<u32>()) / MINUTES as f64;
    assert!(
        (1.9..2.1).contains(&mean),
        "the series is ~2 a minute: {mean}"
    );
    const BURST: usize = 3030;
    let mut burst = calm.clone();
    for count in &mut burst[BURST..BURST + 5] {
        *count = 60;
    }

    let found = backtest(&mut client, pb::SpikeSettings::default(), &burst).await;
    assert_eq!(found.buckets, MINUTES as u64);
    let first = found.alerts.first().expect("the burst is found");
    assert_eq!(first.kind, "BURST");
    let at = minute_index(first);
    assert!(
        (BURST..BURST + 2).contains(&at),
        "alerted at minute {at}, the burst starts at {BURST}"
    );
    assert_eq!(first.count, 60);
    assert!(first.p_value < 0.001, "{first:?}");
    assert!(first.expected < 10.0, "{first:?}");
    assert_eq!(first.series, "supplied");
    assert!(first.alert_id.is_empty(), "a backtest stores nothing");
    assert!(
        found.alerts.iter().all(|a| minute_index(a) >= BURST),
        "no alert before the burst: {:?}",
        found.alerts
    );

    let quiet = backtest(&mut client, pb::SpikeSettings::default(), &calm).await;
    assert_eq!(quiet.buckets, MINUTES as u64);
    assert!(
        quiet.alerts.is_empty(),
        "the burst-free copy raised {:?}",
        quiet.alerts
    );
    // A backtest changes nothing.
    assert!(spike_alerts(&mut client).await.is_empty());
    assert!(detectors(&mut client).await.iter().all(|d| d.alerts == 0));
}

#[tokio::test]
async fn one_noisy_minute_alerts_only_when_one_of_one_is_enough() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    // 0.2 a minute: one mention every fifth minute, and one minute of 6.
    const NOISY: usize = 3031;
    let counts: Vec<u32> = (0..MINUTES)
        .map(|i| match i {
            NOISY => 6,
            i if i % 5 == 0 => 1,
            _ => 0,
        })
        .collect();
    let two_of_three = backtest(&mut client, pb::SpikeSettings::default(), &counts).await;
    assert!(
        two_of_three.alerts.is_empty(),
        "one minute is not two of three: {:?}",
        two_of_three.alerts
    );
    let one_of_one = backtest(
        &mut client,
        pb::SpikeSettings {
            k: 1,
            n: 1,
            ..Default::default()
        },
        &counts,
    )
    .await;
    assert_eq!(one_of_one.alerts.len(), 1, "{:?}", one_of_one.alerts);
    let alert = &one_of_one.alerts[0];
    assert_eq!(
        (alert.kind.as_str(), minute_index(alert), alert.count),
        ("BURST", NOISY, 6)
    );
}

#[tokio::test]
async fn a_backtest_refuses_settings_the_detector_refuses() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let request = |settings: pb::SpikeSettings| pb::BacktestSpikeDetectorRequest {
        settings: Some(settings),
        source: Some(Source::Supplied(pb::SuppliedSeries {
            buckets: buckets(&[1, 2, 3]),
        })),
    };
    assert_invalid(
        client
            .backtest_spike_detector(request(pb::SpikeSettings {
                k: 4,
                n: 3,
                ..Default::default()
            }))
            .await,
        &["settings.k"],
    );
    assert_invalid(
        client
            .backtest_spike_detector(request(pb::SpikeSettings {
                tail_probability: 0.7,
                ..Default::default()
            }))
            .await,
        &["settings.tail_probability"],
    );
    assert_invalid(
        client
            .backtest_spike_detector(request(pb::SpikeSettings {
                n: 61,
                k: 1,
                ..Default::default()
            }))
            .await,
        &["settings.n"],
    );
    assert_invalid(
        client
            .backtest_spike_detector(request(pb::SpikeSettings {
                negative_share_at_least: 1.5,
                ..Default::default()
            }))
            .await,
        &["settings.negative_share_at_least"],
    );
}

/// Delivers, one batch a minute and oldest first, `counts[i]` mentions of
/// `topic` posted in minute `first + i`.
async fn deliver_minutes(
    h: &Harness,
    tenant: &str,
    topic: &str,
    first: DateTime<Utc>,
    counts: &[usize],
) {
    for (i, &count) in counts.iter().enumerate() {
        let minute = first + Duration::minutes(i as i64);
        let events = (0..count)
            .map(|n| {
                Mention::new(tenant, &format!("{topic}-{i}-{n}"))
                    .topic(topic)
                    .posted_at(minute + Duration::seconds((n % 50) as i64))
                    .event()
            })
            .collect();
        let answer = h.deliver(events).await;
        assert_eq!(answer.handled as usize, count);
    }
}

#[tokio::test]
async fn live_mentions_raise_an_alert_that_agents_mark() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("a minute");
    // 38 quiet minutes of one mention each, then two minutes of 40: two of
    // the last three minutes far past the baseline.
    let first = now - Duration::minutes(40);
    let mut counts = vec![1; 38];
    counts.extend([40, 40]);
    deliver_minutes(&h, "acme", "checkout", first, &counts).await;
    let burst = now - Duration::minutes(1);

    let alerts = spike_alerts(&mut client).await;
    let mut series: Vec<&str> = alerts.iter().map(|a| a.series.as_str()).collect();
    series.sort_unstable();
    assert_eq!(series, ["all", "topic:checkout"], "{alerts:#?}");
    let alert = alerts
        .iter()
        .find(|a| a.series == "topic:checkout")
        .expect("the topic's alert")
        .clone();
    assert_eq!(alert.kind, "BURST");
    assert_eq!(time(&alert.minute), burst);
    assert_eq!(alert.count, 40);
    assert!(alert.p_value < 0.001);
    assert_eq!(alert.negative_share, 0.0);
    assert_eq!(alert.verdict, None);
    let per_topic = detectors(&mut client)
        .await
        .into_iter()
        .find(|d| d.scope == pb::SpikeScope::Topic as i32)
        .expect("per topic");
    assert_eq!(alert.detector_id, per_topic.detector_id);
    assert_eq!(per_topic.alerts, 1);
    // Neutral mentions: the negative-spike default does not fire.
    assert!(common::escalations(&mut client, false).await.is_empty());
    let detected: Vec<_> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.event.payload {
            Some(event::Payload::SpikeDetected(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(detected.len(), 2);
    assert!(
        detected
            .iter()
            .any(|s| s.alert_id == alert.alert_id && s.count == 40)
    );

    let mark = |verdict: bool| pb::MarkSpikeAlertRequest {
        alert_id: alert.alert_id.clone(),
        verdict,
    };
    let marked = client
        .mark_spike_alert(mark(true))
        .await
        .expect("marked")
        .into_inner();
    assert_eq!(marked.verdict, Some(true));
    assert_eq!(marked.marked_by, "test-user");
    let precision = |detectors: &[pb::SpikeDetector], scope: pb::SpikeScope| {
        let d = detectors
            .iter()
            .find(|d| d.scope == scope as i32)
            .expect("detector");
        (d.marked_true, d.marked_false, d.precision)
    };
    let now_detectors = detectors(&mut client).await;
    assert_eq!(
        precision(&now_detectors, pb::SpikeScope::Topic),
        (1, 0, Some(1.0))
    );
    assert_eq!(
        precision(&now_detectors, pb::SpikeScope::Tenant),
        (0, 0, None)
    );
    // A changed mind moves the counts, not adds to them.
    client
        .mark_spike_alert(mark(false))
        .await
        .expect("re-marked");
    let now_detectors = detectors(&mut client).await;
    assert_eq!(
        precision(&now_detectors, pb::SpikeScope::Topic),
        (0, 1, Some(0.0))
    );
    client
        .mark_spike_alert(mark(false))
        .await
        .expect("the same again");
    let now_detectors = detectors(&mut client).await;
    assert_eq!(
        precision(&now_detectors, pb::SpikeScope::Topic),
        (0, 1, Some(0.0))
    );

    // The live detector kept every closed minute: 38 quiet ones and the
    // first burst minute (the second is still open).
    let stored = |settings: pb::SpikeSettings| pb::BacktestSpikeDetectorRequest {
        settings: Some(settings),
        source: Some(Source::Stored(pb::StoredHistory {
            series: "topic:checkout".into(),
            from: Some(timestamp(now - Duration::hours(1))),
            to: Some(timestamp(now + Duration::minutes(1))),
        })),
    };
    let replay = client
        .backtest_spike_detector(stored(pb::SpikeSettings::default()))
        .await
        .expect("stored backtest")
        .into_inner();
    assert_eq!(replay.buckets, 39);
    assert!(replay.alerts.is_empty(), "one burst minute of two of three");
    let one_of_one = client
        .backtest_spike_detector(stored(pb::SpikeSettings {
            k: 1,
            n: 1,
            ..Default::default()
        }))
        .await
        .expect("stored backtest")
        .into_inner();
    assert_eq!(one_of_one.alerts.len(), 1, "{:?}", one_of_one.alerts);
    assert_eq!(
        time(&one_of_one.alerts[0].minute),
        burst - Duration::minutes(1)
    );
    assert_eq!(one_of_one.alerts[0].series, "topic:checkout");
    // Another series holds nothing.
    let elsewhere = client
        .backtest_spike_detector(pb::BacktestSpikeDetectorRequest {
            settings: None,
            source: Some(Source::Stored(pb::StoredHistory {
                series: "topic:delivery".into(),
                from: Some(timestamp(now - Duration::hours(1))),
                to: Some(timestamp(now)),
            })),
        })
        .await
        .expect("stored backtest")
        .into_inner();
    assert_eq!(elsewhere.buckets, 0);
}

#[tokio::test]
async fn a_disabled_detector_counts_nothing() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    for d in detectors(&mut client).await {
        client
            .update_spike_detector(pb::UpdateSpikeDetectorRequest {
                detector_id: d.detector_id,
                expected_version: d.version,
                settings: d.settings,
                enabled: false,
            })
            .await
            .expect("disabled");
    }
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("a minute");
    deliver_minutes(
        &h,
        "acme",
        "checkout",
        now - Duration::minutes(5),
        &[1, 1, 1, 40, 40],
    )
    .await;
    assert!(spike_alerts(&mut client).await.is_empty());
    assert!(
        detectors(&mut client)
            .await
            .iter()
            .all(|d| !d.enabled && d.alerts == 0)
    );
}

/// Delivers, oldest first, `counts[i]` mentions of `topic` in minute
/// `first + i`, with `sentiment`.
async fn deliver_negative_minutes(
    h: &Harness,
    topic: &str,
    first: DateTime<Utc>,
    counts: &[(usize, Option<f64>)],
) {
    for (i, &(count, sentiment)) in counts.iter().enumerate() {
        let minute = first + Duration::minutes(i as i64);
        let events = (0..count)
            .map(|n| {
                let m = Mention::new("acme", &format!("{topic}-{i}-{n}"))
                    .topic(topic)
                    .posted_at(minute + Duration::seconds((n % 50) as i64));
                match sentiment {
                    Some(s) => m.sentiment(s),
                    None => m,
                }
                .event()
            })
            .collect();
        h.deliver(events).await;
    }
}

#[tokio::test]
async fn a_negative_spike_escalates_by_its_guidelines() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let negative = common::default_named(&mut client, "Negative spike").await;
    let topic_only = common::create(
        &mut client,
        common::guideline(
            "Checkout volume",
            common::leaf(pb::condition::Kind::Spike(pb::SpikeCondition {
                detector_id: String::new(),
                series: "topic:checkout".into(),
                min_negative_share: 0.0,
            })),
            common::actions(pb::Team::Support),
        ),
    )
    .await;
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("a minute");
    let mut counts = vec![(1, None); 38];
    counts.extend([(40, Some(-0.6)), (40, Some(-0.6))]);
    deliver_negative_minutes(&h, "checkout", now - Duration::minutes(40), &counts).await;

    let alerts = spike_alerts(&mut client).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(alerts.iter().all(|a| a.negative_share == 1.0));
    let raised = common::escalations(&mut client, false).await;
    let under = |g: &pb::Guideline| -> Vec<&pb::Escalation> {
        raised
            .iter()
            .filter(|e| e.guideline_id == g.guideline_id)
            .collect()
    };
    let by_default = under(&negative);
    assert_eq!(by_default.len(), 2, "one per alert: {raised:#?}");
    for e in &by_default {
        let trigger = e.trigger.as_ref().expect("trigger");
        assert_eq!(trigger.kind, pb::TriggerKind::Spike as i32);
        assert!(alerts.iter().any(|a| a.alert_id == trigger.spike_alert_id));
        assert!(trigger.mention_id.is_empty());
        assert_eq!(e.team, pb::Team::Pr as i32);
        assert!(!e.incident_id.is_empty(), "the default opens an incident");
    }
    assert_eq!(
        by_default[0].incident_id, by_default[1].incident_id,
        "both alerts join one incident"
    );
    let incident = common::get_incident(&mut client, &by_default[0].incident_id).await;
    assert_eq!(incident.guideline_id, negative.guideline_id);
    assert!(
        incident
            .statement
            .as_ref()
            .expect("statement")
            .proposed
            .starts_with("We know many of you are having trouble with"),
        "{incident:?}"
    );
    let by_series = under(&topic_only);
    assert_eq!(by_series.len(), 1, "only the topic's alert: {raised:#?}");
    let topic_alert = alerts
        .iter()
        .find(|a| a.series == "topic:checkout")
        .expect("topic alert");
    assert_eq!(
        by_series[0]
            .trigger
            .as_ref()
            .expect("trigger")
            .spike_alert_id,
        topic_alert.alert_id
    );
    let spike_raised: Vec<_> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| e.raised().cloned())
        .filter(|r| r.trigger == "SPIKE")
        .collect();
    assert_eq!(spike_raised.len(), 3);
    assert!(
        spike_raised
            .iter()
            .all(|r| alerts.iter().any(|a| a.alert_id == r.spike_alert_id))
    );
    // The default does not raise the case (there is none); it says so.
    assert!(
        spike_raised
            .iter()
            .filter(|r| r.guideline_id == negative.guideline_id)
            .all(|r| r.leave_case)
    );
}

#[tokio::test]
async fn a_series_state_survives_a_restart() {
    let mut h = Harness::start().await;
    let mut client = h.client("acme");
    let now = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("a minute");
    let first = now - Duration::minutes(40);
    let mut counts = vec![1; 38];
    counts.push(40);
    deliver_minutes(&h, "acme", "checkout", first, &counts).await;
    assert!(
        spike_alerts(&mut client).await.is_empty(),
        "one minute of two"
    );
    // The first burst minute's mark lives in the stored state, not in memory.
    h.service.restart().await;
    let last = now - Duration::minutes(1);
    let events = (0..40)
        .map(|n| {
            Mention::new("acme", &format!("after-{n}"))
                .topic("checkout")
                .posted_at(last)
                .event()
        })
        .collect();
    h.deliver(events).await;
    let alerts = spike_alerts(&mut client).await;
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    assert!(
        alerts
            .iter()
            .all(|a| a.kind == "BURST" && time(&a.minute) == last)
    );
}

#[tokio::test]
async fn concurrent_batches_of_a_new_series_count_every_mention() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    // The tenant and its detectors exist; the series does not yet.
    detectors(&mut client).await;
    let minute = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("a minute")
        - Duration::minutes(3);
    let batches = (0..16).map(|i| {
        let event = Mention::new("acme", &format!("fresh-{i}"))
            .topic("fresh")
            .posted_at(minute)
            .event();
        let h = &h;
        async move { h.deliver(vec![event]).await }
    });
    let answers = futures_util::future::join_all(batches).await;
    assert!(answers.iter().all(|a| a.handled == 1));
    // A mention in the next minute closes the first one into the history.
    h.deliver(vec![
        Mention::new("acme", "closer")
            .topic("fresh")
            .posted_at(minute + Duration::minutes(1))
            .event(),
    ])
    .await;
    let pool = h.pool().await;
    let counts: Vec<(String, i32)> = sqlx::query_as(
        "SELECT series, count FROM spike_buckets WHERE tenant_id = 'acme' AND minute = $1
          ORDER BY series",
    )
    .bind(minute)
    .fetch_all(&pool)
    .await
    .expect("buckets");
    assert_eq!(
        counts,
        [("all".to_owned(), 16), ("topic:fresh".to_owned(), 16)],
        "every mention of the minute is counted"
    );
}
