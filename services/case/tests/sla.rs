//! SLA policies and clocks, and the scheduler across restarts, against a real
//! case service and Postgres.

mod common;

use common::{Harness, assert_code, assert_invalid, audit, configuration_trail};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    BusinessHours, Case, CaseStatus, CreateCaseRequest, CreateRoutingRuleRequest,
    GetBusinessHoursRequest, GetCaseRequest, Lane, ListAuditEntriesRequest, ListSlaPoliciesRequest,
    OpeningHours, PutBusinessHoursRequest, PutSlaPolicyRequest, RoutingConditions, RoutingRule,
    SlaPolicy, SlaState, SlaTarget, SlaTimer, UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::event;
use earshot_testkit::{AuthedChannel, eventually};
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

fn policy(priority: &str, lane: Lane, first: u32, resolution: u32) -> SlaPolicy {
    SlaPolicy {
        priority: priority.into(),
        lane: lane as i32,
        first_response_seconds: first,
        next_response_seconds: 0,
        resolution_seconds: resolution,
        version: 0,
        business_hours: false,
    }
}

async fn put(client: &mut Client, policy: SlaPolicy) -> SlaPolicy {
    client
        .put_sla_policy(PutSlaPolicyRequest {
            policy: Some(policy),
        })
        .await
        .expect("policy put")
        .into_inner()
}

async fn open_case(client: &mut Client, request_id: &str, channel: Channel) -> Case {
    client
        .create_case(CreateCaseRequest {
            request_id: request_id.into(),
            channel: channel as i32,
            subject: "Help".into(),
            customer_handle: if channel == Channel::Phone {
                "+44 20 7946 0000".into()
            } else {
                format!("visitor-{request_id}")
            },
            ..Default::default()
        })
        .await
        .expect("case created")
        .into_inner()
}

async fn get(client: &mut Client, case: &Case) -> Case {
    client
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
}

fn clock(case: &Case, target: SlaTarget) -> SlaTimer {
    case.slas
        .iter()
        .find(|t| t.target == target as i32)
        .cloned()
        .unwrap_or_else(|| panic!("{target:?} clock on {case:?}"))
}

fn seconds(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().map_or(0, |t| t.seconds)
}

async fn wait_breached(client: &Client, case: &Case, target: SlaTarget) -> Case {
    eventually(&format!("{target:?} of {} breached", case.case_id), || {
        let mut client = client.clone();
        let case = case.clone();
        async move {
            let now = get(&mut client, &case).await;
            (clock(&now, target).state == SlaState::Breached as i32).then_some(now)
        }
    })
    .await
}

/// Waits until the wall clock is past `due` (seconds since the epoch).
async fn wait_past(due: i64) {
    eventually("the due time has passed", || async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        (i64::try_from(now).expect("fits") > due).then_some(())
    })
    .await;
}

/// SlaBreached events the service emitted for a case.
async fn breaches(h: &Harness, case: &Case) -> Vec<String> {
    h.emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::SlaBreached(b)) if b.case_id == case.case_id => Some(b.target),
            _ => None,
        })
        .collect()
}

async fn breach_entries(client: &mut Client, case: &Case) -> usize {
    audit(
        client,
        ListAuditEntriesRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        },
    )
    .await
    .iter()
    .filter(|e| e.action == "case.sla_breached")
    .count()
}

#[tokio::test]
async fn clocks_pause_for_the_customer_and_a_breach_is_neither_lost_nor_repeated_across_restarts() {
    let mut h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    put(&mut acme, policy("normal", Lane::Standard, 4, 3600)).await;
    // Phone calls go to the fast lane with a one-second first response: they
    // show the scheduler has run.
    acme.create_routing_rule(CreateRoutingRuleRequest {
        request_id: "phones".into(),
        rule: Some(RoutingRule {
            name: "Phone is urgent".into(),
            when: Some(RoutingConditions {
                channels: vec![Channel::Phone as i32],
                ..Default::default()
            }),
            lane: Lane::Fast as i32,
            priority: "urgent".into(),
            queue: "general".into(),
            ..Default::default()
        }),
    })
    .await
    .expect("rule");
    put(&mut acme, policy("urgent", Lane::Fast, 1, 0)).await;

    let waiting = open_case(&mut acme, "a", Channel::Chat).await;
    let running = open_case(&mut acme, "b", Channel::Chat).await;
    let first = clock(&running, SlaTarget::FirstResponse);
    assert_eq!(first.state, SlaState::Running as i32);
    assert_eq!(
        seconds(&first.due_at) - seconds(&running.opened_at),
        4,
        "{first:?}"
    );
    assert_eq!(running.sla_due_at, first.due_at);
    assert_eq!(
        seconds(&clock(&running, SlaTarget::Resolution).due_at) - seconds(&running.opened_at),
        3600
    );

    // Waiting on the customer stops the clocks.
    let open = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: waiting.case_id.clone(),
            status: CaseStatus::Open as i32,
            version: waiting.version,
        })
        .await
        .expect("open")
        .into_inner();
    let pending = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: waiting.case_id.clone(),
            status: CaseStatus::PendingCustomer as i32,
            version: open.version,
        })
        .await
        .expect("pending")
        .into_inner();
    let paused = get(&mut acme, &pending).await;
    let clock_paused = clock(&paused, SlaTarget::FirstResponse);
    assert_eq!(clock_paused.state, SlaState::Paused as i32);
    assert!(clock_paused.due_at.is_none() && paused.sla_due_at.is_none());
    assert!(
        (1..=4).contains(&clock_paused.remaining_seconds),
        "{clock_paused:?}"
    );

    // Down while the first response falls due: nothing is lost.
    h.service.stop().await;
    wait_past(seconds(&first.due_at)).await;
    h.service.start_again().await;
    let probe = open_case(&mut acme, "c", Channel::Phone).await;
    assert_eq!(probe.lane, Lane::Fast as i32);
    wait_breached(&acme, &probe, SlaTarget::FirstResponse).await;
    let breached = wait_breached(&acme, &running, SlaTarget::FirstResponse).await;
    let clock_breached = clock(&breached, SlaTarget::FirstResponse);
    assert!(clock_breached.breached_at.is_some());
    assert_eq!(
        clock(&breached, SlaTarget::Resolution).state,
        SlaState::Running as i32
    );
    assert_eq!(
        breached.sla_due_at, first.due_at,
        "breached cases sort first"
    );
    assert_eq!(breaches(&h, &running).await, ["FIRST_RESPONSE"]);
    assert_eq!(breach_entries(&mut acme, &running).await, 1);
    let still_paused = get(&mut acme, &pending).await;
    assert_eq!(
        clock(&still_paused, SlaTarget::FirstResponse).state,
        SlaState::Paused as i32
    );

    // Another restart and another scheduler round: the breach is not repeated.
    h.service.restart().await;
    let probe = open_case(&mut acme, "d", Channel::Phone).await;
    wait_breached(&acme, &probe, SlaTarget::FirstResponse).await;
    assert_eq!(breaches(&h, &running).await, ["FIRST_RESPONSE"]);
    assert_eq!(breach_entries(&mut acme, &running).await, 1);

    // The customer is back: the clock runs again from where it stopped.
    let resumed = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: pending.case_id.clone(),
            status: CaseStatus::Open as i32,
            version: pending.version,
        })
        .await
        .expect("open again")
        .into_inner();
    let resumed = get(&mut acme, &resumed).await;
    let clock_resumed = clock(&resumed, SlaTarget::FirstResponse);
    assert_eq!(clock_resumed.state, SlaState::Running as i32);
    assert!(resumed.sla_due_at.is_some());
    // Resolving meets what still runs.
    let resolved = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: resumed.case_id.clone(),
            status: CaseStatus::Resolved as i32,
            version: resumed.version,
        })
        .await
        .expect("resolved")
        .into_inner();
    let resolved = get(&mut acme, &resolved).await;
    assert!(
        resolved
            .slas
            .iter()
            .all(|t| t.state == SlaState::Met as i32)
    );
    assert!(resolved.sla_due_at.is_none());
}

#[tokio::test]
async fn policies_are_versioned_validated_and_per_tenant() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    let created = put(&mut acme, policy("high", Lane::Fast, 900, 14_400)).await;
    assert_eq!(created.version, 1);
    let again = put(&mut acme, policy("high", Lane::Fast, 900, 14_400)).await;
    assert_eq!(again.version, 1, "a retried create answers with the policy");
    assert_code(
        acme.put_sla_policy(PutSlaPolicyRequest {
            policy: Some(policy("high", Lane::Fast, 60, 14_400)),
        })
        .await,
        Code::AlreadyExists,
    );
    let updated = put(
        &mut acme,
        SlaPolicy {
            first_response_seconds: 600,
            ..created.clone()
        },
    )
    .await;
    assert_eq!((updated.version, updated.first_response_seconds), (2, 600));
    assert_code(
        acme.put_sla_policy(PutSlaPolicyRequest {
            policy: Some(created),
        })
        .await,
        Code::Aborted,
    );
    assert_code(
        acme.put_sla_policy(PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                version: 3,
                ..policy("low", Lane::Standard, 60, 0)
            }),
        })
        .await,
        Code::NotFound,
    );

    assert_invalid(
        acme.put_sla_policy(PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                priority: "whenever".into(),
                lane: 7,
                resolution_seconds: 10_000_000,
                ..Default::default()
            }),
        })
        .await,
        &[
            "policy.priority",
            "policy.lane",
            "policy.resolution_seconds",
        ],
    );
    assert_invalid(
        acme.put_sla_policy(PutSlaPolicyRequest { policy: None })
            .await,
        &["policy"],
    );
    assert_invalid(
        acme.list_sla_policies(ListSlaPoliciesRequest {
            page_token: "nope".into(),
            ..Default::default()
        })
        .await,
        &["page_token"],
    );

    // Globex sees none of acme's policies, and its cases run none of them.
    let theirs = globex
        .list_sla_policies(ListSlaPoliciesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .policies;
    assert!(theirs.is_empty());
    put(&mut acme, policy("normal", Lane::Standard, 60, 600)).await;
    let case = open_case(&mut globex, "g", Channel::Chat).await;
    assert!(case.slas.is_empty() && case.sla_due_at.is_none());
    let mine = open_case(&mut acme, "m", Channel::Chat).await;
    assert_eq!(mine.slas.len(), 2);
    let listed = acme
        .list_sla_policies(ListSlaPoliciesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .policies;
    assert_eq!(listed.len(), 2);
}

async fn set_status(client: &mut Client, case: &Case, status: CaseStatus) -> Case {
    let moved = client
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: status as i32,
            version: case.version,
        })
        .await
        .unwrap_or_else(|e| panic!("to {status:?}: {e}"))
        .into_inner();
    get(client, &moved).await
}

fn put_hours_request(
    time_zone: &str,
    days: Vec<OpeningHours>,
    version: i64,
) -> PutBusinessHoursRequest {
    PutBusinessHoursRequest {
        hours: Some(BusinessHours {
            time_zone: time_zone.into(),
            days,
            version,
        }),
    }
}

fn day(weekday: u32, opens_minute: u32, closes_minute: u32) -> OpeningHours {
    OpeningHours {
        weekday,
        opens_minute,
        closes_minute,
    }
}

const DAY: i64 = 86_400;

#[tokio::test]
async fn business_hours_clocks_count_only_open_time_and_a_reopened_case_gets_a_new_resolution_clock()
 {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");

    // A business-hours policy needs the hours first.
    assert_code(
        acme.put_sla_policy(PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                business_hours: true,
                ..policy("normal", Lane::Standard, 120, 180)
            }),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_code(
        acme.get_business_hours(GetBusinessHoursRequest {}).await,
        Code::NotFound,
    );
    assert_invalid(
        acme.put_business_hours(put_hours_request(
            "",
            vec![
                day(0, 60, 120),
                day(2, 600, 540),
                day(3, 0, 1500),
                day(4, 0, 60),
                day(4, 0, 60),
            ],
            -1,
        ))
        .await,
        &[
            "hours.time_zone",
            "hours.days[0].weekday",
            "hours.days[1].opens_minute",
            "hours.days[2].closes_minute",
            "hours.days[4].weekday",
            "hours.version",
        ],
    );
    assert_invalid(
        acme.put_business_hours(put_hours_request("UTC", vec![], 0))
            .await,
        &["hours.days"],
    );
    assert_invalid(
        acme.put_business_hours(put_hours_request(
            "Mars/Olympus_Mons",
            vec![day(1, 0, 60)],
            0,
        ))
        .await,
        &["hours.time_zone"],
    );
    assert_invalid(
        acme.put_business_hours(PutBusinessHoursRequest { hours: None })
            .await,
        &["hours"],
    );

    // The week in Berlin, Monday to Friday 9:00 to 17:00: the database's
    // arithmetic on fixed instants, and the hours as the API gives them back.
    let office = acme
        .put_business_hours(put_hours_request(
            "Europe/Berlin",
            (1..=5).map(|d| day(d, 9 * 60, 17 * 60)).collect(),
            0,
        ))
        .await
        .expect("office hours")
        .into_inner();
    assert_eq!((office.version, office.days.len()), (1, 5));
    let pool = h.db.pool("cases").await;
    let due: String = sqlx::query_scalar(
        "SELECT to_char(business_due('acme', '2026-11-20 15:00Z', 7200) AT TIME ZONE 'UTC',
                        'Dy HH24:MI')",
    )
    .fetch_one(&pool)
    .await
    .expect("business_due");
    assert_eq!(
        due, "Mon 09:00",
        "Friday 16:00 Berlin + 2 open hours is Monday 10:00 Berlin"
    );
    let open: f64 = sqlx::query_scalar(
        "SELECT business_seconds('acme', '2026-11-20 15:00Z', '2026-11-24 09:00Z')",
    )
    .fetch_one(&pool)
    .await
    .expect("business_seconds");
    assert_eq!(
        open,
        f64::from(3600 + 8 * 3600 + 3600),
        "Fri 16-17, Mon 9-17, Tue 9-10"
    );
    let no_hours: String = sqlx::query_scalar(
        "SELECT to_char(business_due('globex', '2026-11-20 15:00Z', 7200) AT TIME ZONE 'UTC',
                        'Dy HH24:MI')",
    )
    .fetch_one(&pool)
    .await
    .expect("business_due without hours");
    assert_eq!(no_hours, "Fri 17:00", "without hours every hour counts");

    // Now one minute a day, every day, so that any test run sees the clocks
    // stretch over days whatever time it is.
    let minute = acme
        .put_business_hours(put_hours_request(
            "UTC",
            (1..=7).map(|d| day(d, 0, 1)).collect(),
            office.version,
        ))
        .await
        .expect("a minute a day")
        .into_inner();
    assert_eq!(minute.version, 2);
    assert_code(
        acme.put_business_hours(put_hours_request("UTC", vec![day(1, 0, 1)], 1))
            .await,
        Code::Aborted,
    );
    assert_eq!(
        acme.get_business_hours(GetBusinessHoursRequest {})
            .await
            .expect("hours")
            .into_inner(),
        minute
    );
    assert_code(
        globex.get_business_hours(GetBusinessHoursRequest {}).await,
        Code::NotFound,
    );
    let business = put(
        &mut acme,
        SlaPolicy {
            business_hours: true,
            ..policy("normal", Lane::Standard, 120, 180)
        },
    )
    .await;
    assert!(business.business_hours);

    // Two open minutes to the first response are two days away at least.
    let case = open_case(&mut acme, "slow", Channel::Chat).await;
    let first = clock(&case, SlaTarget::FirstResponse);
    let wait = seconds(&first.due_at) - seconds(&case.opened_at);
    assert!(
        (DAY - 60..=2 * DAY + 60).contains(&wait),
        "{first:?} opened {:?}",
        case.opened_at
    );
    let resolution = clock(&case, SlaTarget::Resolution);
    assert!(seconds(&resolution.due_at) > seconds(&first.due_at));
    assert_eq!(case.sla_due_at, first.due_at);

    // Paused, the clock keeps the open seconds left, not the days.
    let opened = set_status(&mut acme, &case, CaseStatus::Open).await;
    let pending = set_status(&mut acme, &opened, CaseStatus::PendingCustomer).await;
    let paused = clock(&pending, SlaTarget::FirstResponse);
    assert_eq!(paused.state, SlaState::Paused as i32);
    assert!((1..=120).contains(&paused.remaining_seconds), "{paused:?}");
    let resumed = set_status(&mut acme, &pending, CaseStatus::Open).await;
    let running = clock(&resumed, SlaTarget::FirstResponse);
    assert_eq!(running.state, SlaState::Running as i32);
    assert!(
        seconds(&running.due_at) - seconds(&resumed.updated_at) > DAY - 120,
        "{running:?}"
    );

    // Resolved, then reopened: the resolution clock runs again, in full.
    let resolved = set_status(&mut acme, &resumed, CaseStatus::Resolved).await;
    assert_eq!(
        clock(&resolved, SlaTarget::Resolution).state,
        SlaState::Met as i32
    );
    assert!(resolved.sla_due_at.is_none());
    let reopened = set_status(&mut acme, &resolved, CaseStatus::Open).await;
    let again = clock(&reopened, SlaTarget::Resolution);
    assert_eq!(again.state, SlaState::Running as i32, "{again:?}");
    assert!(
        seconds(&again.due_at) - seconds(&reopened.updated_at) > 2 * DAY - 120,
        "{again:?}"
    );
    assert_eq!(reopened.sla_due_at, again.due_at);

    // The hours and the policy are configuration: in the tenant's trail, not
    // another's, and asking for two trails at once is refused.
    let trail = configuration_trail(&mut acme).await;
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "business_hours.created",
            "business_hours.updated",
            "sla_policy.created"
        ]
    );
    assert!(
        trail[1].after.contains(r#""time_zone": "UTC""#),
        "{:?}",
        trail[1]
    );
    assert!(configuration_trail(&mut globex).await.is_empty());
    assert_invalid(
        acme.list_audit_entries(ListAuditEntriesRequest {
            configuration: true,
            case_id: case.case_id.clone(),
            ..Default::default()
        })
        .await,
        &["case_id"],
    );
    assert_eq!(
        clock(&reopened, SlaTarget::FirstResponse).state,
        SlaState::Met as i32
    );
}
