#[tokio::main]
async fn main() -> anyhow::Result<()> {
    earshot_server::main::<earshot_escalation::EscalationService>().await
}
