//! The improvement loop through the API: items created once per request id,
//! moved along their statuses at a version, the customers told when an
//! item is fixed (each once per driver, whichever item fixes it), and the
//! impact of a fix on mentions delivered with a known drop.

mod common;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use common::{CaseSpec, Client, Harness, MentionSpec, day};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::{FixAnnounced, event};
use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::ImprovementStatus;
use tonic::Code;
use uuid::Uuid;

const TENANT: &str = "acme";

fn key(topic: &str, intent: Intent, rule: &str) -> pb::DriverKey {
    pb::DriverKey {
        topic: topic.into(),
        intent: intent as i32,
        rule_id: rule.into(),
    }
}

fn proto_day(d: NaiveDate) -> pb::Day {
    use chrono::Datelike;
    day(d.year(), d.month(), d.day())
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// 10:00 UTC `days` after (negative: before) `d`.
fn at_day(d: NaiveDate, days: i64) -> DateTime<Utc> {
    (d + Duration::days(days))
        .and_time(NaiveTime::MIN)
        .and_utc()
        + Duration::hours(10)
}

fn create_request(title: &str, drivers: Vec<pb::DriverKey>) -> pb::CreateImprovementRequest {
    pb::CreateImprovementRequest {
        title: title.into(),
        owner: "Ana".into(),
        team: "logistics".into(),
        due: Some(day(2030, 1, 31)),
        drivers,
        note: "courier swap".into(),
        request_id: Uuid::now_v7().to_string(),
    }
}

async fn create(client: &mut Client, title: &str, drivers: Vec<pb::DriverKey>) -> pb::Improvement {
    client
        .create_improvement(create_request(title, drivers))
        .await
        .expect("created")
        .into_inner()
}

async fn move_to(
    client: &mut Client,
    item: &pb::Improvement,
    status: ImprovementStatus,
    fixed_on: Option<NaiveDate>,
) -> pb::Improvement {
    client
        .update_improvement(pb::UpdateImprovementRequest {
            improvement_id: item.improvement_id.clone(),
            version: item.version,
            status: status as i32,
            fixed_on: fixed_on.map(proto_day),
            ..Default::default()
        })
        .await
        .expect("moved")
        .into_inner()
}

/// Through IN_PROGRESS to FIXED on `fixed_on`.
async fn fix(client: &mut Client, item: &pb::Improvement, fixed_on: NaiveDate) -> pb::Improvement {
    let started = move_to(client, item, ImprovementStatus::InProgress, None).await;
    move_to(client, &started, ImprovementStatus::Fixed, Some(fixed_on)).await
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, tonic::Status>, field: &str) {
    let status = result.expect_err("bad input is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{field}: "))
            || status.message().contains(&format!("; {field}: ")),
        "{field} not named in {:?}",
        status.message()
    );
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code) -> String {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    status.message().to_owned()
}

/// The customers each `FixAnnounced` of `item` named, event by event.
async fn announced(harness: &Harness, item: &str) -> Vec<Vec<(String, String, String)>> {
    harness
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::FixAnnounced(FixAnnounced {
                improvement_id,
                customers,
                ..
            })) if improvement_id == item => {
                assert_eq!(e.producer, "insight");
                assert_eq!(e.tenant_id, TENANT);
                Some(
                    customers
                        .into_iter()
                        .map(|c| (c.author, c.mention_id, c.customer_id))
                        .collect(),
                )
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn bad_input_on_every_rpc_names_the_field() {
    let harness = Harness::start().await;
    let mut client = harness.client(TENANT);
    let drivers = || vec![key("delivery", Intent::Complaint, "")];
    let bad = |change: fn(&mut pb::CreateImprovementRequest)| {
        let mut req = create_request("Courier delays", drivers());
        change(&mut req);
        req
    };
    let cases: Vec<(pb::CreateImprovementRequest, &str)> = vec![
        (bad(|r| r.title = "  ".into()), "title"),
        (bad(|r| r.title = "t".repeat(201)), "title"),
        (bad(|r| r.owner = String::new()), "owner"),
        (bad(|r| r.team = "t".repeat(101)), "team"),
        (bad(|r| r.drivers.clear()), "drivers"),
        (
            bad(|r| {
                r.drivers = (0..21)
                    .map(|i| key(&format!("t{i}"), Intent::Complaint, ""))
                    .collect()
            }),
            "drivers",
        ),
        (
            bad(|r| r.drivers.push(key("", Intent::Question, ""))),
            "drivers[1].topic",
        ),
        (
            bad(|r| r.drivers.push(key(&"t".repeat(101), Intent::Question, ""))),
            "drivers[1].topic",
        ),
        (bad(|r| r.drivers[0].intent = 99), "drivers[0].intent"),
        (
            bad(|r| r.drivers.push(key("delivery", Intent::Complaint, ""))),
            "drivers[1]",
        ),
        (bad(|r| r.due = Some(day(2026, 2, 30))), "due"),
        (bad(|r| r.note = "n".repeat(2001)), "note"),
        (bad(|r| r.request_id = String::new()), "request_id"),
        (bad(|r| r.request_id = "r".repeat(201)), "request_id"),
    ];
    for (req, field) in cases {
        assert_invalid(client.create_improvement(req).await, field);
    }

    let item = create(&mut client, "Courier delays", drivers()).await;
    let update = |change: fn(&mut pb::UpdateImprovementRequest)| {
        let mut req = pb::UpdateImprovementRequest {
            improvement_id: item.improvement_id.clone(),
            version: item.version,
            ..Default::default()
        };
        change(&mut req);
        req
    };
    let tomorrow = proto_day(today() + Duration::days(1));
    let cases: Vec<(pb::UpdateImprovementRequest, &str)> = vec![
        (
            update(|r| r.improvement_id = "nope".into()),
            "improvement_id",
        ),
        (
            update(|r| r.improvement_id = String::new()),
            "improvement_id",
        ),
        (update(|r| r.version = 0), "version"),
        (update(|r| r.status = 42), "status"),
        (update(|r| r.owner = "o".repeat(101)), "owner"),
        (update(|r| r.team = "t".repeat(101)), "team"),
        (update(|r| r.note = "n".repeat(2001)), "note"),
        (update(|r| r.due = Some(day(2026, 13, 1))), "due"),
        (update(|r| r.fixed_on = Some(day(2026, 3, 3))), "fixed_on"),
        (update(|r| r.fixed_on = Some(day(2026, 3, 32))), "fixed_on"),
    ];
    for (req, field) in cases {
        assert_invalid(client.update_improvement(req).await, field);
    }
    let mut future = update(|r| r.status = ImprovementStatus::Fixed as i32);
    future.fixed_on = Some(tomorrow);
    assert_invalid(client.update_improvement(future).await, "fixed_on");

    assert_invalid(
        client
            .get_improvement(pb::GetImprovementRequest {
                improvement_id: "x".into(),
            })
            .await,
        "improvement_id",
    );
    for (req, field) in [
        (
            pb::ListImprovementsRequest {
                status: 9,
                ..Default::default()
            },
            "status",
        ),
        (
            pb::ListImprovementsRequest {
                page_size: 501,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::ListImprovementsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
    ] {
        assert_invalid(client.list_improvements(req).await, field);
    }
    let impact = |change: fn(&mut pb::GetImpactRequest)| {
        let mut req = pb::GetImpactRequest {
            improvement_id: item.improvement_id.clone(),
            ..Default::default()
        };
        change(&mut req);
        req
    };
    for (req, field) in [
        (impact(|r| r.improvement_id = "x".into()), "improvement_id"),
        (impact(|r| r.weeks = 27), "weeks"),
        (
            impact(|r| r.control = Some(key(&"t".repeat(101), Intent::Complaint, ""))),
            "control.topic",
        ),
        (
            impact(|r| r.control = Some(key("billing", Intent::Complaint, &"r".repeat(101)))),
            "control.rule_id",
        ),
    ] {
        assert_invalid(client.get_impact(req).await, field);
    }
    let mut bad_intent = impact(|_| {});
    bad_intent.control = Some(pb::DriverKey {
        topic: "billing".into(),
        intent: 99,
        rule_id: String::new(),
    });
    assert_invalid(client.get_impact(bad_intent).await, "control.intent");
    for (req, field) in [
        (
            pb::ListAffectedCustomersRequest {
                improvement_id: String::new(),
                ..Default::default()
            },
            "improvement_id",
        ),
        (
            pb::ListAffectedCustomersRequest {
                improvement_id: item.improvement_id.clone(),
                page_size: 501,
                ..Default::default()
            },
            "page_size",
        ),
    ] {
        assert_invalid(client.list_affected_customers(req).await, field);
    }
    // None of it changed the item.
    let read = client
        .get_improvement(pb::GetImprovementRequest {
            improvement_id: item.improvement_id.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(read, item);
}

#[tokio::test]
async fn items_are_created_once_listed_newest_first_and_moved_at_their_version() {
    let harness = Harness::start().await;
    let mut client = harness.client(TENANT);
    let mut req = create_request(
        "Courier delays",
        vec![
            key("delivery", Intent::Complaint, ""),
            key("tracking", Intent::Question, "rule-7"),
        ],
    );
    let first = client
        .create_improvement(req.clone())
        .await
        .expect("created")
        .into_inner();
    assert_eq!(first.status, ImprovementStatus::Proposed as i32);
    assert_eq!((first.version, first.customers_told), (1, 0));
    assert_eq!(first.due, Some(day(2030, 1, 31)));
    assert_eq!(first.fixed_on, None);
    assert_eq!(
        first.drivers,
        vec![
            key("delivery", Intent::Complaint, ""),
            key("tracking", Intent::Question, "rule-7"),
        ]
    );
    // The same request id returns the first item, whatever else it says.
    req.title = "Something else".into();
    let again = client
        .create_improvement(req)
        .await
        .expect("idempotent")
        .into_inner();
    assert_eq!(again, first);
    let got = client
        .get_improvement(pb::GetImprovementRequest {
            improvement_id: first.improvement_id.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(got, first);

    let second = create(
        &mut client,
        "Refund form",
        vec![key("refunds", Intent::HelpRequest, "")],
    )
    .await;
    let third = create(
        &mut client,
        "Login loop",
        vec![key("login", Intent::Complaint, "")],
    )
    .await;
    let page = client
        .list_improvements(pb::ListImprovementsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    let ids = |items: &[pb::Improvement]| -> Vec<String> {
        items.iter().map(|i| i.improvement_id.clone()).collect()
    };
    assert_eq!(
        ids(&page.improvements),
        vec![third.improvement_id.clone(), second.improvement_id.clone()]
    );
    assert!(!page.next_page_token.is_empty());
    let rest = client
        .list_improvements(pb::ListImprovementsRequest {
            page_size: 2,
            page_token: page.next_page_token,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(ids(&rest.improvements), vec![first.improvement_id.clone()]);
    assert_eq!(rest.next_page_token, "");

    // Fields change at the version read; a stale version is refused.
    let changed = client
        .update_improvement(pb::UpdateImprovementRequest {
            improvement_id: first.improvement_id.clone(),
            version: 1,
            owner: "Bo".into(),
            note: "new courier from April".into(),
            due: Some(day(2030, 2, 28)),
            ..Default::default()
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!((changed.version, changed.owner.as_str()), (2, "Bo"));
    assert_eq!(
        (changed.team.as_str(), changed.title.as_str()),
        ("logistics", "Courier delays")
    );
    assert_eq!(changed.due, Some(day(2030, 2, 28)));
    assert_eq!(changed.status, ImprovementStatus::Proposed as i32);
    let message = assert_code(
        client
            .update_improvement(pb::UpdateImprovementRequest {
                improvement_id: first.improvement_id.clone(),
                version: 1,
                owner: "Cy".into(),
                ..Default::default()
            })
            .await,
        Code::Aborted,
    );
    assert!(message.contains("version 2"), "{message}");

    // PROPOSED cannot skip to FIXED; the refusal names both states.
    let message = assert_code(
        client
            .update_improvement(pb::UpdateImprovementRequest {
                improvement_id: first.improvement_id.clone(),
                version: 2,
                status: ImprovementStatus::Fixed as i32,
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        message.contains("PROPOSED") && message.contains("FIXED"),
        "{message}"
    );
    // Nor is an unfixed item's impact measured.
    assert_code(
        client
            .get_impact(pb::GetImpactRequest {
                improvement_id: first.improvement_id.clone(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );

    let fixed = fix(&mut client, &changed, today()).await;
    assert_eq!(fixed.status, ImprovementStatus::Fixed as i32);
    assert_eq!(
        (fixed.version, fixed.fixed_on),
        (4, Some(proto_day(today())))
    );
    let verified = move_to(&mut client, &fixed, ImprovementStatus::Verified, None).await;
    assert_eq!(verified.fixed_on, Some(proto_day(today())));
    let message = assert_code(
        client
            .update_improvement(pb::UpdateImprovementRequest {
                improvement_id: first.improvement_id.clone(),
                version: verified.version,
                status: ImprovementStatus::Dropped as i32,
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        message.contains("VERIFIED cannot become DROPPED"),
        "{message}"
    );
    let dropped = move_to(&mut client, &second, ImprovementStatus::Dropped, None).await;
    assert_eq!(dropped.status, ImprovementStatus::Dropped as i32);

    let only = |status: ImprovementStatus| pb::ListImprovementsRequest {
        status: status as i32,
        ..Default::default()
    };
    let verified_list = client
        .list_improvements(only(ImprovementStatus::Verified))
        .await
        .expect("listed");
    assert_eq!(
        ids(&verified_list.into_inner().improvements),
        vec![first.improvement_id.clone()]
    );
    let proposed = client
        .list_improvements(only(ImprovementStatus::Proposed))
        .await
        .expect("listed");
    assert_eq!(
        ids(&proposed.into_inner().improvements),
        vec![third.improvement_id.clone()]
    );

    assert_code(
        client
            .get_improvement(pb::GetImprovementRequest {
                improvement_id: Uuid::now_v7().to_string(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        client
            .update_improvement(pb::UpdateImprovementRequest {
                improvement_id: Uuid::now_v7().to_string(),
                version: 1,
                owner: "Bo".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
}

#[tokio::test]
async fn another_tenant_neither_sees_nor_changes_an_item() {
    let harness = Harness::start().await;
    let mut ours = harness.client(TENANT);
    let mut theirs = harness.client("globex");
    let item = create(
        &mut ours,
        "Courier delays",
        vec![key("delivery", Intent::Complaint, "")],
    )
    .await;
    let id = item.improvement_id.clone();
    assert_code(
        theirs
            .get_improvement(pb::GetImprovementRequest {
                improvement_id: id.clone(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        theirs
            .update_improvement(pb::UpdateImprovementRequest {
                improvement_id: id.clone(),
                version: 1,
                status: ImprovementStatus::InProgress as i32,
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        theirs
            .get_impact(pb::GetImpactRequest {
                improvement_id: id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        theirs
            .list_affected_customers(pb::ListAffectedCustomersRequest {
                improvement_id: id.clone(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    let listed = theirs
        .list_improvements(pb::ListImprovementsRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert!(listed.improvements.is_empty());
    // Their request id is theirs: the same one creates their own item.
    let mut req = create_request("Their delays", vec![key("delivery", Intent::Complaint, "")]);
    req.request_id = "shared-key".into();
    let mine = ours
        .create_improvement(req.clone())
        .await
        .expect("ours")
        .into_inner();
    let their = theirs
        .create_improvement(req)
        .await
        .expect("theirs")
        .into_inner();
    assert_ne!(mine.improvement_id, their.improvement_id);
    let read = ours
        .get_improvement(pb::GetImprovementRequest { improvement_id: id })
        .await
        .expect("still ours")
        .into_inner();
    assert_eq!(read, item);
}

#[tokio::test]
async fn a_fix_tells_each_customer_once_whichever_item_fixes_their_driver() {
    let harness = Harness::start().await;
    let mut client = harness.client(TENANT);
    let fixed_on = today() - Duration::days(10);
    let m = |author: &str, topic: &str, intent: Intent, days: i64| {
        MentionSpec::new(author, topic, intent, at_day(fixed_on, days))
    };
    let alice_old = m("alice", "delivery", Intent::Complaint, -30);
    let alice_latest = m("alice", "delivery", Intent::Complaint, -2);
    let mut bob = m("bob", "delivery", Intent::Complaint, -5);
    bob.rule = "rule-7".into();
    let carol = m("carol", "delivery", Intent::Question, -3); // another driver
    let dave = m("dave", "delivery", Intent::Complaint, -95); // before the 90 days
    let erin = m("erin", "delivery", Intent::Complaint, 3); // after the fix
    let nobody = m("", "delivery", Intent::Complaint, -1); // no author to tell
    let mut alices_case = CaseSpec::new(Channel::X, "delivery", at_day(fixed_on, -30));
    let alice_profile = Uuid::now_v7();
    alices_case.facts.mention_id = alice_old.id.to_string();
    alices_case.facts.customer_id = alice_profile.to_string();
    let mut events: Vec<_> = [
        &alice_old,
        &alice_latest,
        &bob,
        &carol,
        &dave,
        &erin,
        &nobody,
    ]
    .iter()
    .map(|s| s.event(TENANT))
    .collect();
    events.push(alices_case.event(TENANT));
    // Another tenant's customer on the same driver is never theirs to tell.
    events.push(m("zed", "delivery", Intent::Complaint, -4).event("globex"));
    harness.deliver(events).await;

    let item = create(
        &mut client,
        "Courier delays",
        vec![key("delivery", Intent::Complaint, "")],
    )
    .await;
    let before = client
        .list_affected_customers(pb::ListAffectedCustomersRequest {
            improvement_id: item.improvement_id.clone(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    // Before the fix: the 90 days up to today, nobody told yet.
    let authors: Vec<(&str, bool)> = before
        .customers
        .iter()
        .map(|c| (c.author.as_str(), c.told))
        .collect();
    assert_eq!(
        authors,
        vec![("x:erin", false), ("x:alice", false), ("x:bob", false)]
    );

    let fixed = fix(&mut client, &item, fixed_on).await;
    assert_eq!(fixed.customers_told, 2);
    let events = announced(&harness, &item.improvement_id).await;
    assert_eq!(
        events,
        vec![vec![
            (
                "x:alice".to_owned(),
                alice_latest.id.to_string(),
                alice_profile.to_string()
            ),
            ("x:bob".to_owned(), bob.id.to_string(), String::new()),
        ]]
    );

    // A second item on the same driver (one rule of it) tells nobody again.
    let second = create(
        &mut client,
        "Rule 7 tweak",
        vec![key("delivery", Intent::Complaint, "rule-7")],
    )
    .await;
    let second = fix(&mut client, &second, fixed_on).await;
    assert_eq!(second.customers_told, 0);
    assert!(announced(&harness, &second.improvement_id).await.is_empty());
    let theirs = client
        .list_affected_customers(pb::ListAffectedCustomersRequest {
            improvement_id: second.improvement_id.clone(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    let authors: Vec<(&str, bool)> = theirs
        .customers
        .iter()
        .map(|c| (c.author.as_str(), c.told))
        .collect();
    assert_eq!(authors, vec![("x:bob", true)]);

    // The fix did not hold; fixed again today, only the newcomer is told.
    let reopened = move_to(&mut client, &fixed, ImprovementStatus::InProgress, None).await;
    assert_eq!(reopened.fixed_on, None);
    let refixed = move_to(&mut client, &reopened, ImprovementStatus::Fixed, None).await;
    assert_eq!(refixed.fixed_on, Some(proto_day(today())));
    assert_eq!(refixed.customers_told, 3);
    let events = announced(&harness, &item.improvement_id).await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1],
        vec![("x:erin".to_owned(), erin.id.to_string(), String::new())]
    );

    // Everyone listed was told; latest contact first, a page at a time.
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_affected_customers(pb::ListAffectedCustomersRequest {
                improvement_id: item.improvement_id.clone(),
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("listed")
            .into_inner();
        pages.push(page.customers);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let listed: Vec<(String, String, bool, String)> = pages
        .into_iter()
        .flatten()
        .map(|c| (c.author, c.last_mention_id, c.told, c.customer_id))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("x:erin".into(), erin.id.to_string(), true, String::new()),
            (
                "x:alice".into(),
                alice_latest.id.to_string(),
                true,
                alice_profile.to_string()
            ),
            ("x:bob".into(), bob.id.to_string(), true, String::new()),
        ]
    );
}

#[tokio::test]
async fn impact_finds_a_known_drop_against_the_closest_unaddressed_driver() {
    let harness = Harness::start().await;
    let mut client = harness.client(TENANT);
    // Four whole weeks after the fix are over.
    let fixed_on = today() - Duration::days(35);
    let mut events = Vec::new();
    let mut series = |topic: &str, intent: Intent, before: i64, after: i64| {
        for i in 0..before {
            let author = format!("{topic}-b{i}");
            events.push(
                MentionSpec::new(&author, topic, intent, at_day(fixed_on, -1 - i % 28))
                    .event(TENANT),
            );
        }
        for i in 0..after {
            let author = format!("{topic}-a{i}");
            events.push(
                MentionSpec::new(&author, topic, intent, at_day(fixed_on, 1 + i % 27))
                    .event(TENANT),
            );
        }
    };
    // Treated: 10 a week before, 4 a week after. Control: 8 a week throughout.
    series("delivery", Intent::Complaint, 40, 16);
    series("billing", Intent::Question, 32, 32);
    // Further from the treated volume, and as close but addressed by an item.
    series("login", Intent::HelpRequest, 100, 100);
    series("refunds", Intent::Complaint, 40, 40);
    harness.deliver(events).await;

    create(
        &mut client,
        "Refund form",
        vec![key("refunds", Intent::Complaint, "")],
    )
    .await;
    let item = create(
        &mut client,
        "Courier delays",
        vec![key("delivery", Intent::Complaint, "")],
    )
    .await;
    let item = fix(&mut client, &item, fixed_on).await;
    assert_eq!(item.customers_told, 40);

    let impact = client
        .get_impact(pb::GetImpactRequest {
            improvement_id: item.improvement_id.clone(),
            ..Default::default()
        })
        .await
        .expect("measured")
        .into_inner();
    assert_eq!((impact.weeks, impact.partial), (4, false));
    assert_eq!(impact.fixed_on, Some(proto_day(fixed_on)));
    assert_eq!((impact.contacts_before, impact.contacts_after), (40, 16));
    assert_eq!((impact.all_before, impact.all_after), (212, 188));
    assert_eq!(impact.control, Some(key("billing", Intent::Question, "")));
    assert_eq!((impact.control_before, impact.control_after), (32, 32));
    assert!((impact.relative_change + 0.6).abs() < 1e-9, "{impact:?}");
    assert!(
        impact.relative_change_low < -0.6
            && -0.6 < impact.relative_change_high
            && impact.relative_change_high < 0.0,
        "{impact:?}"
    );
    assert!(impact.significant);
    let share = (16.0 / 188.0) / (40.0 / 212.0) - 1.0;
    assert!((impact.share_change - share).abs() < 1e-9, "{impact:?}");
    assert_eq!(impact.affected_customers, 40);
    let day_word = fixed_on.format("%-d %B").to_string();
    assert!(
        impact.backstory.starts_with(&format!(
            "Customers told us 40 times in the 4 weeks before {day_word} about delivery (complaint). \
             Logistics (owner Ana) fixed it on {day_word}. In the 4 weeks after, those contacts fell 60% (95% CI "
        )),
        "{}",
        impact.backstory
    );
    assert!(
        impact.backstory.ends_with("against a comparable driver."),
        "{}",
        impact.backstory
    );

    // A control asked for is used; one without contacts before is not, and
    // the change is then the share's.
    let asked = client
        .get_impact(pb::GetImpactRequest {
            improvement_id: item.improvement_id.clone(),
            weeks: 2,
            control: Some(key("login", Intent::HelpRequest, "")),
        })
        .await
        .expect("measured")
        .into_inner();
    assert_eq!(asked.weeks, 2);
    assert_eq!(asked.control, Some(key("login", Intent::HelpRequest, "")));
    assert!(asked.control_before > 0);
    let unusable = client
        .get_impact(pb::GetImpactRequest {
            improvement_id: item.improvement_id.clone(),
            weeks: 0,
            control: Some(key("nothing", Intent::Other, "")),
        })
        .await
        .expect("measured")
        .into_inner();
    assert_eq!(unusable.control, None);
    assert!(
        (unusable.relative_change - unusable.share_change).abs() < 1e-9,
        "{unusable:?}"
    );
    assert!(
        unusable.backstory.contains("as a share of all contacts"),
        "{}",
        unusable.backstory
    );
}
