//! Spike detector RPCs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use earshot_auth::Caller;
use earshot_proto::escalation::v1 as pb;
use earshot_server::convert::from_timestamp;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError};
use earshot_spikes::Bucket;

use super::{convert, one_id};
use crate::onboarding;
use crate::spikes::{self, MAX_BACKTEST_BUCKETS, store};

pub async fn list_detectors(
    ctx: &ServiceContext,
    caller: &Caller,
    _req: pb::ListSpikeDetectorsRequest,
) -> Result<pb::ListSpikeDetectorsResponse, ServiceError> {
    let mut conn = ctx.pool.acquire().await?;
    onboarding::ensure(&mut conn, &[caller.tenant_id.as_str()]).await?;
    let rows = store::list(&mut conn, &caller.tenant_id).await?;
    Ok(pb::ListSpikeDetectorsResponse {
        detectors: rows.iter().map(convert::detector).collect(),
    })
}

pub async fn update_detector(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::UpdateSpikeDetectorRequest,
) -> Result<pb::SpikeDetector, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.detector_id, "detector_id");
    v.version(i64::from(req.expected_version), "expected_version");
    let settings = match &req.settings {
        Some(s) => spikes::settings_from_proto(s, "settings", &mut v),
        None => {
            v.add("settings", "is required");
            earshot_spikes::Settings::default()
        }
    };
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    let row = store::update(
        &mut tx,
        &caller.tenant_id,
        id.expect("checked"),
        i32::try_from(req.expected_version).unwrap_or(i32::MAX),
        &spikes::settings_proto(&settings),
        req.enabled,
    )
    .await?;
    tx.commit().await?;
    Ok(convert::detector(&row))
}

pub async fn list_alerts(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListSpikeAlertsRequest,
) -> Result<pb::ListSpikeAlertsResponse, ServiceError> {
    let mut v = FieldViolations::new();
    let detector = (!req.detector_id.is_empty())
        .then(|| v.id(&req.detector_id, "detector_id"))
        .flatten();
    let page = Page::parse(req.page_size, &req.page_token);
    v.into_result()?;
    let page = page?;
    let rows = store::list_alerts(&ctx.pool, &caller.tenant_id, detector, &page).await?;
    Ok(pb::ListSpikeAlertsResponse {
        next_page_token: page.next_token(&rows),
        alerts: rows.iter().map(convert::alert).collect(),
    })
}

pub async fn mark_alert(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::MarkSpikeAlertRequest,
) -> Result<pb::SpikeAlert, ServiceError> {
    let id = one_id(&req.alert_id, "alert_id")?;
    let mut tx = ctx.pool.begin().await?;
    let row = store::mark(&mut tx, &caller.tenant_id, id, req.verdict, &caller.subject).await?;
    tx.commit().await?;
    Ok(convert::alert(&row))
}

pub async fn backtest(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::BacktestSpikeDetectorRequest,
) -> Result<pb::BacktestSpikeDetectorResponse, ServiceError> {
    use pb::backtest_spike_detector_request::Source as Requested;
    /// What the backtest runs over, once checked.
    enum Source {
        Stored(Option<(DateTime<Utc>, DateTime<Utc>)>),
        Supplied(Vec<Bucket>),
    }
    let mut v = FieldViolations::new();
    let settings =
        spikes::settings_from_proto(&req.settings.unwrap_or_default(), "settings", &mut v);
    let (series, source) = match req.source {
        None => {
            v.add("source", "must be stored history or a supplied series");
            (String::new(), Source::Supplied(Vec::new()))
        }
        Some(Requested::Stored(stored)) => {
            v.check(
                !spikes::is_series(&stored.series),
                "stored.series",
                "must be all, topic:<key> or rule:<id>",
            );
            let from = required_time(stored.from.as_ref(), "stored.from", &mut v);
            let to = required_time(stored.to.as_ref(), "stored.to", &mut v);
            if let (Some(from), Some(to)) = (from, to) {
                v.check(from >= to, "stored.to", "must be after stored.from");
            }
            (stored.series, Source::Stored(from.zip(to)))
        }
        Some(Requested::Supplied(supplied)) => {
            v.check(
                supplied.buckets.is_empty(),
                "supplied.buckets",
                "must hold at least one minute",
            );
            v.check(
                supplied.buckets.len() > MAX_BACKTEST_BUCKETS,
                "supplied.buckets",
                "must hold at most 100800 minutes (ten weeks)",
            );
            // Minutes in any order, the same minute twice adding up.
            let mut minutes: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
            for (i, b) in supplied
                .buckets
                .iter()
                .enumerate()
                .take(MAX_BACKTEST_BUCKETS + 1)
            {
                let field = format!("supplied.buckets[{i}].minute");
                if let Some(at) = required_time(b.minute.as_ref(), &field, &mut v) {
                    let slot = minutes.entry(spikes::unix_minute(at)).or_default();
                    slot.0 = slot.0.saturating_add(b.count);
                    slot.1 = slot.1.saturating_add(b.negative.min(b.count));
                }
            }
            let buckets = minutes
                .into_iter()
                .map(|(minute, (count, negative))| Bucket {
                    minute,
                    count,
                    negative,
                })
                .collect();
            ("supplied".to_owned(), Source::Supplied(buckets))
        }
    };
    v.into_result()?;
    let buckets = match source {
        Source::Supplied(buckets) => buckets,
        Source::Stored(window) => {
            let (from, to) = window.expect("checked");
            store::history(
                &ctx.pool,
                &caller.tenant_id,
                &series,
                from,
                to,
                MAX_BACKTEST_BUCKETS,
            )
            .await?
        }
    };
    let n = buckets.len() as u64;
    let alerts = earshot_spikes::backtest(&settings, buckets);
    Ok(pb::BacktestSpikeDetectorResponse {
        alerts: alerts
            .iter()
            .map(|a| spikes::alert_proto(None, &series, a))
            .collect(),
        buckets: n,
    })
}

/// A required request time, or `None` with the violation added.
fn required_time(
    ts: Option<&prost_types::Timestamp>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<DateTime<Utc>> {
    let Some(ts) = ts else {
        v.add(field, "is required");
        return None;
    };
    from_timestamp(ts, field)
        .map_err(|_| v.add(field, "must be a time between 1970 and 9999"))
        .ok()
}
