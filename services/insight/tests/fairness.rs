//! The fairness report through the API: Simpson's paradox end to end (the
//! pooled comparison misleads, the stratified one does not), the follower
//! threshold, another tenant's cases changing nothing, and bad requests.

mod common;

use common::{CaseSpec, Harness, at, day, days};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::Event;
use earshot_proto::insight::v1::{
    FairnessComparison, FairnessMeasure, FairnessReport, GetFairnessReportRequest,
};
use tonic::Code;

/// A group of cases on one problem: how many, how many got goodwill
/// (1 000 minor units each), and the resolution times they cycle through.
struct Group {
    channel: Channel,
    followers: u64,
    topic: &'static str,
    cases: usize,
    goodwill: usize,
    times: [i64; 4],
}

/// The easy driver: questions resolved in minutes. The hard one: complaints
/// resolved in hours.
const EASY: [i64; 4] = [600, 1_200, 2_400, 4_800];
const HARD: [i64; 4] = [36_000, 72_000, 144_000, 288_000];

fn cases(tenant: &str, g: &Group) -> Vec<Event> {
    let (intent, priority) = if g.topic == "password" {
        (Intent::Question, "NORMAL")
    } else {
        (Intent::Complaint, "HIGH")
    };
    (0..g.cases)
        .map(|i| {
            let opened = at("2026-03-02T08:00:00Z") + chrono::Duration::seconds(i as i64 * 7);
            let mut c = CaseSpec::new(g.channel, g.topic, opened).resolved(g.times[i % 4]);
            // Every other resolution target breached, in every group alike.
            if i % 2 == 1 {
                c.set_sla("RESOLUTION", "BREACHED");
            }
            c.then(|f| {
                f.intent = intent as i32;
                f.priority = priority.into();
                f.followers = g.followers;
                if i < g.goodwill {
                    f.goodwill_gestures = 1;
                    f.goodwill_minor = 1_000;
                }
            })
            .event(tenant)
        })
        .collect()
}

/// Social (with 10 000 followers each) got mostly the easy driver, traditional
/// mostly the hard one; within each driver both were treated alike: goodwill
/// 40/80 against 10/20 on the easy one, 2/20 against 8/80 on the hard one,
/// the same resolution times, the same SLA outcomes.
fn simpson(tenant: &str) -> Vec<Event> {
    let groups = [
        Group {
            channel: Channel::X,
            followers: 10_000,
            topic: "password",
            cases: 80,
            goodwill: 40,
            times: EASY,
        },
        Group {
            channel: Channel::Email,
            followers: 0,
            topic: "password",
            cases: 20,
            goodwill: 10,
            times: EASY,
        },
        Group {
            channel: Channel::X,
            followers: 10_000,
            topic: "refund",
            cases: 20,
            goodwill: 2,
            times: HARD,
        },
        Group {
            channel: Channel::Email,
            followers: 0,
            topic: "refund",
            cases: 80,
            goodwill: 8,
            times: HARD,
        },
    ];
    groups.iter().flat_map(|g| cases(tenant, g)).collect()
}

fn request(high_followers: u64) -> GetFairnessReportRequest {
    GetFairnessReportRequest {
        range: days(day(2026, 3, 1), day(2026, 3, 7)),
        high_followers,
    }
}

async fn report(h: &Harness, tenant: &str, high_followers: u64) -> FairnessReport {
    h.client(tenant)
        .get_fairness_report(request(high_followers))
        .await
        .expect("report")
        .into_inner()
}

fn measure<'a>(c: &'a FairnessComparison, name: &str) -> &'a FairnessMeasure {
    c.measures.iter().find(|m| m.name == name).expect("measure")
}

#[tokio::test]
async fn a_channel_that_only_gets_the_easy_cases_does_not_look_better() {
    let h = Harness::start().await;
    h.deliver(simpson("acme")).await;
    let r = report(&h, "acme", 0).await;
    assert_eq!(r.comparisons.len(), 2);
    let social = &r.comparisons[0];
    assert_eq!(social.name, "social vs traditional");
    let names: Vec<&str> = social.measures.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "goodwill_rate",
            "sla_attainment",
            "special_handling",
            "resolution_time",
            "goodwill_value"
        ]
    );

    // Pooled, social got goodwill 42/100 against 18/100: OR (42·82)/(58·18)
    // = 3.30, its interval above 1. Within each driver the odds are equal.
    let goodwill = measure(social, "goodwill_rate");
    assert_eq!(goodwill.statistic, "ODDS_RATIO");
    assert!(
        (goodwill.crude - 42.0 * 82.0 / (58.0 * 18.0)).abs() < 1e-9,
        "{goodwill:?}"
    );
    assert!((goodwill.stratified - 1.0).abs() < 1e-9, "{goodwill:?}");
    assert!(goodwill.low < 1.0 && goodwill.high > 1.0);
    assert!(goodwill.confounded && !goodwill.favours_a);
    assert_eq!((goodwill.a_count, goodwill.b_count), (100, 100));
    assert!((goodwill.a_value - 0.42).abs() < 1e-12 && (goodwill.b_value - 0.18).abs() < 1e-12);

    // Pooled, social looks much faster; within a driver it is not.
    let time = measure(social, "resolution_time");
    assert_eq!(time.statistic, "SMD");
    assert!(time.crude < -1.0, "{time:?}");
    assert!(
        time.stratified.abs() < 1e-6 && time.low < 0.0 && time.high > 0.0,
        "{time:?}"
    );
    assert!(time.confounded && !time.favours_a);
    assert!(
        time.a_value < time.b_value,
        "social's typical time is shorter pooled"
    );

    let value = measure(social, "goodwill_value");
    assert!(value.crude > 0.0 && value.stratified.abs() < 1e-6 && value.confounded);
    assert!((value.a_value - 420.0).abs() < 1e-9 && (value.b_value - 180.0).abs() < 1e-9);

    // Half of every group's resolution targets met: parity, crude and within.
    let sla = measure(social, "sla_attainment");
    assert!((sla.crude - 1.0).abs() < 1e-9 && (sla.stratified - 1.0).abs() < 1e-9);
    assert!(!sla.confounded && !sla.favours_a);
    assert_eq!((sla.a_count, sla.b_count), (100, 100));

    // Nobody was moved private: nothing to compare.
    let private = measure(social, "special_handling");
    assert_eq!((private.stratified, private.low), (1.0, 0.0));
    assert!(private.high.is_infinite());
    assert!(r.flags.is_empty(), "{:?}", r.flags);

    // The strata, largest first, each group's own figures alike.
    assert_eq!(social.strata.len(), 2);
    for s in &social.strata {
        assert_eq!(s.a_goodwill_rate, s.b_goodwill_rate);
        assert!((s.a_mean_resolution_secs / s.b_mean_resolution_secs - 1.0).abs() < 1e-9);
        assert_eq!(s.a_cases + s.b_cases, 100);
    }
    let easy = social
        .strata
        .iter()
        .find(|s| s.driver.as_ref().is_some_and(|d| d.topic == "password"))
        .expect("the easy stratum");
    assert_eq!(
        (easy.a_cases, easy.b_cases, easy.priority.as_str()),
        (80, 20, "NORMAL")
    );
    assert_eq!(
        easy.driver.as_ref().expect("driver").intent,
        Intent::Question as i32
    );
    assert_eq!(easy.a_goodwill_rate, 0.5);

    // Social customers are the ones with 10 000 followers: the reach
    // comparison at 10 000 is the same comparison.
    let reach = &r.comparisons[1];
    assert_eq!(reach.name, "high-reach vs low-reach");
    assert_eq!(reach.measures, social.measures);
}

#[tokio::test]
async fn the_follower_threshold_counts_from_its_power_of_ten() {
    let h = Harness::start().await;
    h.deliver(simpson("acme")).await;
    // 10 000 followers is high-reach at 10 000, not at 100 000.
    let at_threshold = report(&h, "acme", 10_000).await;
    assert_eq!(
        measure(&at_threshold.comparisons[1], "goodwill_rate").a_count,
        100
    );
    assert_eq!(at_threshold, report(&h, "acme", 0).await, "0 means 10 000");
    let above = report(&h, "acme", 100_000).await;
    let goodwill = measure(&above.comparisons[1], "goodwill_rate");
    assert_eq!((goodwill.a_count, goodwill.b_count), (0, 200));
    assert!(!goodwill.favours_a && !goodwill.confounded);
}

#[tokio::test]
async fn another_tenants_cases_change_nothing() {
    let h = Harness::start().await;
    h.deliver(simpson("acme")).await;
    let before = report(&h, "acme", 0).await;
    // The other tenant's social customers got goodwill every time, on the
    // same drivers, its traditional ones never.
    let mut other = simpson("globex");
    for (channel, goodwill) in [(Channel::X, 30), (Channel::Email, 0)] {
        other.extend(cases(
            "globex",
            &Group {
                channel,
                followers: 0,
                topic: "password",
                cases: 30,
                goodwill,
                times: EASY,
            },
        ));
    }
    h.deliver(other).await;
    assert_eq!(report(&h, "acme", 0).await, before);
    let theirs = report(&h, "globex", 0).await;
    let goodwill = measure(&theirs.comparisons[0], "goodwill_rate");
    assert!(goodwill.favours_a && goodwill.low > 1.0, "{goodwill:?}");
    assert!(
        theirs.flags.iter().any(|f| f.starts_with(
            "Public complainers got goodwill more often than traditional-channel customers with the same problem (odds ratio "
        )),
        "{:?}",
        theirs.flags
    );
}

#[tokio::test]
async fn a_request_without_a_range_or_with_a_bad_threshold_is_refused_naming_the_field() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let err = client
        .get_fairness_report(GetFairnessReportRequest {
            range: None,
            high_followers: 0,
        })
        .await
        .expect_err("no range");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "range: is required");
    for bad in [1, 5_000, 10_001, 10u64.pow(13)] {
        let err = client
            .get_fairness_report(request(bad))
            .await
            .expect_err("bad threshold");
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        assert!(
            err.message().starts_with("high_followers:"),
            "{bad}: {}",
            err.message()
        );
    }
    for good in [10, 10u64.pow(12)] {
        client
            .get_fairness_report(request(good))
            .await
            .expect("a power of ten");
    }
    let err = h
        .client_with("acme", &[])
        .get_fairness_report(request(0))
        .await
        .expect_err("no scope");
    assert_eq!(err.code(), Code::PermissionDenied);
}
