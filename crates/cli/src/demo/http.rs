//! JSON over HTTP and the dashboard, the demo's part: one of the cases it
//! opened read with curl's equivalent (the line printed is the one to run),
//! and the dashboard's figures with the address that plots them.

use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{GetDashboardRequest, SlaDue};

use super::{Authed, clip};
use crate::PORTS;

pub async fn show(
    insight: &mut InsightServiceClient<Authed>,
    host: &str,
    token: &str,
    case_id: &str,
) -> anyhow::Result<()> {
    let case_port = PORTS[1].1.http;
    let url = format!("http://{host}:{case_port}/v1/cases/{case_id}");
    let response = earshot_webhooks::http_client(std::time::Duration::from_secs(10))
        .get(&url)
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    println!(
        "http        every RPC over JSON too (routes in http://{host}:{case_port}/openapi.json); this run's token and one of its cases:"
    );
    println!("  export EARSHOT_DEMO_TOKEN={token}");
    println!("  curl -s -H \"Authorization: Bearer $EARSHOT_DEMO_TOKEN\" {url}");
    println!("  → {status} {}", clip(&body, 110));

    let d = insight
        .get_dashboard(GetDashboardRequest { top_drivers: 3 })
        .await?
        .into_inner();
    let mentions: u64 = d.volume_today.iter().map(|v| v.mentions).sum();
    let busiest = d.volume_today.first().map_or_else(String::new, |v| {
        let channel = Channel::try_from(v.channel).unwrap_or(Channel::Unspecified);
        format!(
            ", busiest {} ({})",
            channel.as_str_name().trim_start_matches("CHANNEL_"),
            v.mentions
        )
    });
    let open: u64 = d.open_queue.iter().map(|b| b.cases).sum();
    let in_bucket = |due: SlaDue| {
        d.open_queue
            .iter()
            .filter(|b| b.due == due as i32)
            .map(|b| b.cases)
            .sum::<u64>()
    };
    let e = d.escalations.unwrap_or_default();
    let drivers: Vec<String> = d
        .top_drivers
        .iter()
        .filter_map(|driver| {
            let key = driver.key.as_ref()?;
            let intent = Intent::try_from(key.intent).unwrap_or(Intent::Unspecified);
            let topic = if key.topic.is_empty() {
                "no topic"
            } else {
                key.topic.as_str()
            };
            Some(format!(
                "{topic} × {} {}",
                intent
                    .as_str_name()
                    .trim_start_matches("INTENT_")
                    .to_lowercase(),
                driver.contacts
            ))
        })
        .collect();
    println!(
        "dashboard   {mentions} mentions today{busiest}; {open} open cases ({} breached, {} due within 4 h, {} with no clock); \
         {} open escalations, {} open incidents; top drivers: {}; Goodwill Index {:.1}",
        in_bucket(SlaDue::Breached),
        in_bucket(SlaDue::Within1h) + in_bucket(SlaDue::Within4h),
        in_bucket(SlaDue::NoClock),
        e.open,
        e.open_incidents,
        drivers.join(", "),
        d.goodwill.map_or(0.0, |g| g.index),
    );
    println!(
        "            plotted live at http://{host}:{}/dashboard#token=$EARSHOT_DEMO_TOKEN",
        PORTS[3].1.http
    );
    Ok(())
}
