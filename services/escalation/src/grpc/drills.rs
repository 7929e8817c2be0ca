//! Drill RPCs.

use std::time::Duration;

use earshot_auth::Caller;
use earshot_proto::escalation::v1 as pb;
use earshot_proto::events::v1::MentionClassified;
use earshot_server::convert::from_timestamp;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError};

use super::{convert, one_id};
use crate::drills::{self, DEFAULT_TIME_LIMIT, MAX_SCENARIO, Scenario, store};
use crate::escalations;
use crate::incidents;

const MAX_TEXT_CHARS: usize = 10_000;
/// Longest recorded window a drill replays.
const MAX_WINDOW: chrono::Duration = chrono::Duration::days(1);

/// A scripted mention as the guidelines see it: as listening would have
/// classified it.
fn scripted(i: usize, m: pb::ScriptedMention) -> MentionClassified {
    MentionClassified {
        mention_id: format!("drill-mention-{i}"),
        source: "drill".to_owned(),
        channel: m.channel,
        public: true,
        author: m.author,
        text: m.text,
        classification: m.classification,
        matched_rules: m.matched_rules,
        ..Default::default()
    }
}

pub async fn start(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::StartDrillRequest,
) -> Result<pb::Drill, ServiceError> {
    use pb::start_drill_request::Scenario as Source;
    let mut v = FieldViolations::new();
    let guideline_id = v.id(&req.guideline_id, "guideline_id");
    let time_limit = match req.time_limit_seconds {
        0 => DEFAULT_TIME_LIMIT,
        s => {
            v.check(
                !(60..=86_400).contains(&s),
                "time_limit_seconds",
                "must be between 60 seconds and a day",
            );
            Duration::from_secs(u64::from(s))
        }
    };
    let request_id = v.request_id(&req.request_id).to_owned();
    let mut window = None;
    let mut scenario: Scenario = Vec::new();
    match req.scenario {
        None => v.add("scenario", "must be a script or a recorded window"),
        Some(Source::Script(script)) => {
            v.check(
                script.mentions.is_empty(),
                "script.mentions",
                "must hold at least one mention",
            );
            v.check(
                script.mentions.len() > MAX_SCENARIO,
                "script.mentions",
                "must hold at most 1000 mentions",
            );
            for (i, m) in script
                .mentions
                .into_iter()
                .enumerate()
                .take(MAX_SCENARIO + 1)
            {
                let offset = Duration::from_secs(u64::from(m.offset_seconds));
                v.check(
                    offset > time_limit,
                    format!("script.mentions[{i}].offset_seconds"),
                    "must fall within the drill's time limit",
                );
                v.check(
                    m.text.chars().count() > MAX_TEXT_CHARS,
                    format!("script.mentions[{i}].text"),
                    "must be at most 10000 characters",
                );
                v.check(
                    m.text.trim().is_empty() && m.classification.is_none(),
                    format!("script.mentions[{i}]"),
                    "needs a text or a classification",
                );
                scenario.push((offset, scripted(i, m)));
            }
        }
        Some(Source::Recorded(recorded)) => {
            let from = recorded
                .from
                .as_ref()
                .map(|t| from_timestamp(t, "recorded.from"));
            let to = recorded
                .to
                .as_ref()
                .map(|t| from_timestamp(t, "recorded.to"));
            match (from, to) {
                (Some(Ok(from)), Some(Ok(to))) => {
                    v.check(from >= to, "recorded.to", "must be after recorded.from");
                    v.check(
                        to - from > MAX_WINDOW,
                        "recorded.to",
                        "must be at most a day after recorded.from",
                    );
                    window = Some((from, to));
                }
                (from, to) => {
                    for (field, got) in [("recorded.from", from), ("recorded.to", to)] {
                        match got {
                            None => v.add(field, "is required"),
                            Some(Err(_)) => v.add(field, "must be a time between 1970 and 9999"),
                            Some(Ok(_)) => {}
                        }
                    }
                }
            }
        }
    }
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    if let Some((from, to)) = window {
        let recorded = crate::evaluations::store::recorded(
            &mut tx,
            &caller.tenant_id,
            from,
            to,
            MAX_SCENARIO as i64,
        )
        .await?;
        let first = recorded.first().map(|(at, _)| *at).unwrap_or(from);
        scenario = recorded
            .into_iter()
            .map(|(at, m)| ((at - first).to_std().unwrap_or_default().min(time_limit), m))
            .collect();
    }
    let drill = drills::start(
        &mut tx,
        &caller.tenant_id,
        &caller.subject,
        guideline_id.expect("checked"),
        scenario,
        time_limit,
        &request_id,
    )
    .await?;
    tx.commit().await?;
    Ok(convert::drill(&drill, &[], &[], None))
}

pub async fn end(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::EndDrillRequest,
) -> Result<pb::Drill, ServiceError> {
    let id = one_id(&req.drill_id, "drill_id")?;
    let mut tx = ctx.pool.begin().await?;
    let drill = drills::end(&mut tx, &caller.tenant_id, &caller.subject, id).await?;
    let escalations = escalations::store::of_drill(&mut tx, &caller.tenant_id, id).await?;
    let incidents = incidents::store::of_drill(&mut tx, &caller.tenant_id, id).await?;
    tx.commit().await?;
    Ok(convert::drill(&drill, &escalations, &incidents, None))
}

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetDrillRequest,
) -> Result<pb::Drill, ServiceError> {
    let id = one_id(&req.drill_id, "drill_id")?;
    let mut conn = ctx.pool.acquire().await?;
    let drill = store::get(&mut conn, &caller.tenant_id, id).await?;
    let facts = drills::facts(&mut conn, &drill).await?;
    // A running drill shows its score as it stands.
    let live = drill.ended_at.is_none().then(|| {
        let checks = drills::score(&facts);
        (drills::total(&checks), checks)
    });
    Ok(convert::drill(
        &drill,
        &facts.escalations,
        &facts.incidents,
        live,
    ))
}

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListDrillsRequest,
) -> Result<pb::ListDrillsResponse, ServiceError> {
    let mut v = FieldViolations::new();
    let guideline = (!req.guideline_id.is_empty())
        .then(|| v.id(&req.guideline_id, "guideline_id"))
        .flatten();
    let page = Page::parse(req.page_size, &req.page_token);
    v.into_result()?;
    let page = page?;
    let rows = store::list(&ctx.pool, &caller.tenant_id, guideline, &page).await?;
    Ok(pb::ListDrillsResponse {
        next_page_token: page.next_token(&rows),
        drills: rows
            .iter()
            .map(|d| convert::drill(d, &[], &[], None))
            .collect(),
    })
}
