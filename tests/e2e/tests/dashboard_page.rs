//! The dashboard page in a real browser (Debian's headless Chromium, through
//! `scripts/dashboard-shot`) after a small stream through the four
//! services: the page reads its data with the token from its address and
//! shows what insight counted. The screenshot is kept for people to look at
//! (`EARSHOT_ARTIFACTS`, else the temporary directory; its path is printed).

use std::path::{Path, PathBuf};

use earshot_e2e::{ALL, Clients, Suite, cry_for_help, high_five, token};
use earshot_proto::common::v1::Channel;
use earshot_proto::insight::v1::GetDashboardRequest;

/// The text of the first element carrying `data-testid="<id>"`.
fn shown(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!("data-testid=\"{id}\""))?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')?;
    Some(rest[start..start + end].trim().to_owned())
}

fn artifacts() -> PathBuf {
    std::env::var_os("EARSHOT_ARTIFACTS").map_or_else(std::env::temp_dir, PathBuf::from)
}

#[tokio::test]
async fn the_dashboard_shows_what_the_stream_made() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let mut mentions = vec![
        cry_for_help("dash-1"),
        cry_for_help("dash-2"),
        high_five("dash-3"),
    ];
    mentions.push(earshot_proto::listening::v1::MentionInput {
        channel: Channel::Facebook as i32,
        source: "facebook".into(),
        ..cry_for_help("dash-4")
    });
    let heard = acme.ingest(mentions).await;
    assert_eq!(heard.accepted, 4);
    // Three cries for help open a case each; the high five opens none.
    // Insight counts what the relays delivered: wait until it has it all.
    acme.wait_for_counts(4, 3).await;
    let want = acme
        .insight
        .get_dashboard(GetDashboardRequest::default())
        .await
        .expect("dashboard")
        .into_inner();
    let mentions_now: u64 = want.volume_today.iter().map(|v| v.mentions).sum();
    let open: u64 = want.open_queue.iter().map(|b| b.cases).sum();

    let dir = artifacts();
    std::fs::create_dir_all(&dir).expect("the artifacts folder can be made");
    let png = dir.join("dashboard.png");
    let dom = dir.join("dashboard.html");
    let url = format!(
        "{}/dashboard#token={}",
        suite.insight.http_url(),
        token("acme", &["insight:read"])
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/dashboard-shot");
    let output = tokio::process::Command::new("bash")
        .arg(script)
        .arg(&url)
        .arg(&png)
        .arg(&dom)
        .output()
        .await
        .expect("the script runs");
    assert!(
        output.status.success(),
        "dashboard-shot failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("dashboard screenshot: {}", png.display());
    let dom = std::fs::read_to_string(&dom).expect("the DOM was dumped");
    assert!(
        std::fs::metadata(&png).is_ok_and(|m| m.len() > 10_000),
        "the screenshot is empty"
    );

    assert_eq!(shown(&dom, "status").as_deref(), Some("live"), "{dom}");
    assert_eq!(
        shown(&dom, "volume-total"),
        Some(mentions_now.to_string()),
        "mentions heard today"
    );
    assert_eq!(
        shown(&dom, "queue-open"),
        Some(open.to_string()),
        "open cases"
    );
    assert!(
        dom.contains("data-rendered=\"") && !dom.contains("data-rendered=\"0\""),
        "the page rendered its data"
    );
    assert!(
        dom.contains("data-testid=\"driver-row\""),
        "the top drivers are listed"
    );
}
