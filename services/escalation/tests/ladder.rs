//! The ladder: an escalation nobody acknowledged goes up its guideline's
//! ladder, one step per missed deadline, across a restart without losing or
//! repeating a step, and stops when someone acknowledges. Deadlines are made
//! due by writing them into the past, never by waiting for them.

mod common;

use common::{
    Client, Harness, Mention, actions, create, disable_defaults, get_escalation, guideline, kinds,
    time, topic,
};
use earshot_proto::escalation::v1::{self as pb, Escalation};
use earshot_proto::events::v1::event;
use earshot_testkit::eventually;

fn rung(team: pb::Team, seconds: u32) -> pb::LadderLevel {
    pb::LadderLevel {
        team: team as i32,
        ack_within_seconds: seconds,
    }
}

async fn with_ladder(
    client: &mut Client,
    ladder: Vec<pb::LadderLevel>,
    repeats: u32,
) -> pb::Guideline {
    disable_defaults(client).await;
    create(
        client,
        guideline(
            "Laddered",
            topic(&["billing"]),
            pb::Actions {
                ladder,
                ladder_repeats: repeats,
                ..actions(pb::Team::Support)
            },
        ),
    )
    .await
}

/// Makes the escalation's acknowledgement deadline pass now.
async fn make_due(pool: &sqlx::PgPool, escalation_id: &str) {
    let moved = sqlx::query(
        "UPDATE escalations SET ack_due_at = now() - interval '1 second'
          WHERE id = $1::uuid AND ack_due_at IS NOT NULL",
    )
    .bind(escalation_id)
    .execute(pool)
    .await
    .expect("deadline moved")
    .rows_affected();
    assert_eq!(moved, 1, "the escalation had a deadline to move");
}

/// Waits until the escalation is at `level` and `repeat`.
async fn wait_for_step(client: &Client, id: &str, level: u32, repeat: u32) -> Escalation {
    eventually(
        &format!("escalation {id} reaches level {level} repeat {repeat}"),
        || {
            let mut client = client.clone();
            let id = id.to_owned();
            async move {
                let e = get_escalation(&mut client, &id).await;
                (e.level == level && e.repeat == repeat).then_some(e)
            }
        },
    )
    .await
}

fn count(e: &Escalation, kind: &str) -> usize {
    e.timeline.iter().filter(|t| t.kind == kind).count()
}

#[tokio::test]
async fn the_ladder_climbs_one_step_per_missed_deadline_across_a_restart() {
    let mut h = Harness::start().await;
    let mut client = h.client("acme");
    with_ladder(
        &mut client,
        vec![
            rung(pb::Team::ServiceLead, 600),
            rung(pb::Team::Executive, 1200),
        ],
        0,
    )
    .await;
    h.deliver(vec![Mention::new("acme", "m-1").topic("billing").event()])
        .await;
    let e = common::escalations(&mut client, false).await.remove(0);
    assert_eq!((e.level, e.team), (0, pb::Team::Support as i32));
    let id = e.escalation_id.clone();
    let pool = h.pool().await;

    make_due(&pool, &id).await;
    let one = wait_for_step(&client, &id, 1, 0).await;
    assert_eq!(one.state, pb::EscalationState::Reescalated as i32);
    assert_eq!(one.team, pb::Team::ServiceLead as i32);
    assert_eq!(count(&one, "reescalated"), 1);
    let due = time(&one.ack_due_at);
    let window = due - chrono::Utc::now();
    assert!(
        window > chrono::Duration::seconds(500) && window <= chrono::Duration::seconds(600),
        "the first rung has its own ten minutes: {window}"
    );

    // A restart: the server stops, the deadline passes while it is down, and a
    // new server on the same database takes exactly the one step due.
    h.service.stop().await;
    make_due(&pool, &id).await;
    h.service.start_again().await;
    let two = wait_for_step(&client, &id, 2, 0).await;
    assert_eq!(two.state, pb::EscalationState::Reescalated as i32);
    assert_eq!(two.team, pb::Team::Executive as i32);
    assert_eq!(count(&two, "reescalated"), 2, "{:?}", kinds(&two.timeline));
    let window = time(&two.ack_due_at) - chrono::Utc::now();
    assert!(window > chrono::Duration::seconds(1100), "{window}");

    // Past the top of the ladder: nothing more to climb; the last team keeps it.
    make_due(&pool, &id).await;
    let top = eventually("the ladder is exhausted", || {
        let mut client = client.clone();
        let id = id.clone();
        async move {
            let e = get_escalation(&mut client, &id).await;
            (count(&e, "ladder_exhausted") == 1).then_some(e)
        }
    })
    .await;
    assert_eq!((top.level, top.repeat), (2, 0));
    assert_eq!(top.team, pb::Team::Executive as i32);
    assert!(top.ack_due_at.is_none());
    assert_eq!(
        kinds(&top.timeline),
        ["raised", "reescalated", "reescalated", "ladder_exhausted"]
    );

    // Each step was published once: none lost, none repeated.
    let steps: Vec<(u32, u32, String)> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.event.payload {
            Some(event::Payload::EscalationReescalated(r)) if r.escalation_id == id => {
                Some((r.level, r.repeat, r.team))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        [
            (1, 0, "SERVICE_LEAD".to_owned()),
            (2, 0, "EXECUTIVE".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_ladder_runs_again_as_often_as_the_guideline_repeats_it() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    with_ladder(
        &mut client,
        vec![
            rung(pb::Team::ServiceLead, 300),
            rung(pb::Team::Executive, 300),
        ],
        1,
    )
    .await;
    h.deliver(vec![Mention::new("acme", "m-1").topic("billing").event()])
        .await;
    let id = common::escalations(&mut client, false)
        .await
        .remove(0)
        .escalation_id;
    let pool = h.pool().await;
    for (level, repeat, team) in [
        (1, 0, pb::Team::ServiceLead),
        (2, 0, pb::Team::Executive),
        (1, 1, pb::Team::ServiceLead),
        (2, 1, pb::Team::Executive),
    ] {
        make_due(&pool, &id).await;
        let e = wait_for_step(&client, &id, level, repeat).await;
        assert_eq!(e.team, team as i32, "level {level} repeat {repeat}");
        assert!(e.ack_due_at.is_some());
    }
    make_due(&pool, &id).await;
    let top = eventually("the repeated ladder is exhausted", || {
        let mut client = client.clone();
        let id = id.clone();
        async move {
            let e = get_escalation(&mut client, &id).await;
            e.ack_due_at.is_none().then_some(e)
        }
    })
    .await;
    assert_eq!((top.level, top.repeat), (2, 1));
    assert_eq!(count(&top, "reescalated"), 4);
    assert_eq!(count(&top, "ladder_exhausted"), 1);
}

#[tokio::test]
async fn acknowledging_stops_the_ladder() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    with_ladder(
        &mut client,
        vec![
            rung(pb::Team::ServiceLead, 300),
            rung(pb::Team::Executive, 300),
        ],
        0,
    )
    .await;
    h.deliver(vec![
        Mention::new("acme", "acked").topic("billing").event(),
        Mention::new("acme", "ignored").topic("billing").event(),
    ])
    .await;
    let raised = common::escalations(&mut client, false).await;
    let of = |mention: &str| {
        raised
            .iter()
            .find(|e| e.trigger.as_ref().expect("trigger").mention_id == mention)
            .expect("raised")
            .escalation_id
            .clone()
    };
    let (acked, ignored) = (of("acked"), of("ignored"));
    let pool = h.pool().await;
    make_due(&pool, &acked).await;
    wait_for_step(&client, &acked, 1, 0).await;

    let answer = client
        .acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: acked.clone(),
            team: pb::Team::ServiceLead as i32,
        })
        .await
        .expect("acknowledged")
        .into_inner();
    assert!(answer.ack_due_at.is_none());
    assert_eq!(answer.level, 1);
    let stored: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT ack_due_at FROM escalations WHERE id = $1::uuid")
            .bind(&acked)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(stored, None, "nothing left for the ladder to take");

    // The ladder keeps working for the other one; by the time it has stepped,
    // a round has run after the acknowledgement and left that one alone.
    make_due(&pool, &ignored).await;
    wait_for_step(&client, &ignored, 1, 0).await;
    let after = get_escalation(&mut client, &acked).await;
    assert_eq!(after.state, pb::EscalationState::Acknowledged as i32);
    assert_eq!(after.level, 1);
    assert_eq!(after.team, pb::Team::ServiceLead as i32);
    assert_eq!(
        kinds(&after.timeline),
        ["raised", "reescalated", "acknowledged"]
    );
    let events = h.emitted().await;
    let acknowledged = events
        .iter()
        .find_map(|e| match &e.event.payload {
            Some(event::Payload::EscalationAcknowledged(a)) => Some(a.clone()),
            _ => None,
        })
        .expect("acknowledged event");
    assert_eq!(acknowledged.level, 1);
}
