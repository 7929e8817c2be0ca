//! A platform's payload exactly as it sends it, the demo's part: a WhatsApp
//! Cloud API webhook with a customer's message, a sticker and a delivery
//! receipt. What became of each item is in the answer's summary: the
//! message is heard, the others are skipped, each with why.

use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{IngestOutcome, IngestPayloadRequest, PayloadKind};

use super::{Authed, clip};

const WHATSAPP: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[
 {"field":"messages","value":{"messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
  "contacts":[{"profile":{"name":"Priya Shah"},"wa_id":"447700900123"}],
  "messages":[
   {"from":"447700900123","id":"wamid.demo-1","timestamp":"TS","type":"text",
    "text":{"body":"Hi, my new card says delivered but nothing came. Can you check?"}},
   {"from":"447700900123","id":"wamid.demo-2","timestamp":"TS","type":"sticker",
    "sticker":{"mime_type":"image/webp","id":"1220356539052981","animated":false}}]}},
 {"field":"messages","value":{"messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
  "statuses":[{"id":"wamid.demo-0","status":"delivered","timestamp":"TS","recipient_id":"447700900123"}]}}]}]}"#;

pub async fn show(listening: &mut ListeningServiceClient<Authed>) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp().to_string();
    let answer = listening
        .ingest_payload(IngestPayloadRequest {
            kind: PayloadKind::Whatsapp as i32,
            payload: WHATSAPP.replace("TS", &now).into_bytes(),
        })
        .await?;
    let header = answer
        .metadata()
        .get("earshot-ingest-summary")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let answer = answer.into_inner();
    let summary = answer.summary.unwrap_or_default();
    let outcome = IngestOutcome::try_from(summary.outcome).map_or("unknown", |o| {
        o.as_str_name().trim_start_matches("INGEST_OUTCOME_")
    });
    println!(
        "listening   a WhatsApp Cloud API webhook as Meta sends it: {outcome}, {} accepted, {} skipped, {} failed (header: {header})",
        summary.accepted, summary.skipped, summary.failed
    );
    for skipped in &answer.skipped_items {
        println!(
            "            skipped {}: {}",
            skipped.path,
            clip(&skipped.reason, 80)
        );
    }
    Ok(())
}
