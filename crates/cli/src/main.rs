use clap::{Parser, Subcommand};
use earshot_cli::{DEV_SCOPES, demo, dev_secret, up};
use earshot_config::Env;

/// Earshot: hear customers wherever they speak, and resolve what they need.
#[derive(Parser)]
#[command(name = "earshot", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the four services in this process (a private PostgreSQL unless DATABASE_URL is set).
    Up,
    /// Mint a development token signed with the local secret.
    Token {
        #[arg(long, default_value = "demo")]
        tenant: String,
        /// Who calls with it (the agent id the audit trail names), e.g. agent-ana.
        #[arg(long, default_value = "earshot-dev")]
        subject: String,
        /// Comma-separated scopes; default: every tenant scope.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
    /// Feed a running suite a small realistic stream and show what happened.
    Demo {
        /// Default: a tenant of its own for every run (`demo-<time>`).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env = Env::process();
    match cli.command {
        Command::Up => {
            // Held until the suite stops so buffered spans are flushed at exit.
            let _tracing = earshot_telemetry::init_tracing(
                &earshot_telemetry::TracingSettings::from_env(&env, "earshot")?,
            );
            up::run(env).await
        }
        Command::Token {
            tenant,
            subject,
            scopes,
            ttl_hours,
        } => {
            let secret = dev_secret::load(&env, false)?;
            let scopes: Vec<&str> = if scopes.is_empty() {
                DEV_SCOPES.to_vec()
            } else {
                scopes.iter().map(String::as_str).collect()
            };
            let token = earshot_auth::AuthConfig::SharedSecret(secret)
                .minter()?
                .mint(
                    &subject,
                    &tenant,
                    &scopes,
                    std::time::Duration::from_secs(ttl_hours * 3600),
                );
            println!("{token}");
            Ok(())
        }
        Command::Demo { tenant } => demo::run(env, tenant.as_deref()).await,
    }
}
