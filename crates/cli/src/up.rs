//! `earshot up`: the four services in one process, on a private PostgreSQL
//! unless `DATABASE_URL` names a server.

use earshot_auth::{AuthConfig, HS256_SECRET_VAR};
use earshot_config::Env;
use earshot_outbox::TransportSettings;
use earshot_pg::LocalPostgres;
use earshot_server::{Listeners, ServicePorts, ServiceSettings};
use tokio_util::sync::CancellationToken;

use crate::{DEV_SCOPES, PORTS, dev_secret};

pub const PG_PORT_VAR: &str = "EARSHOT_PG_PORT";
pub const DEFAULT_PG_PORT: u16 = 54329;
pub const HOST_VAR: &str = "EARSHOT_HOST";

/// Who delivers events to whom: listening tells everyone; case tells everyone
/// (erasures and retention reach listening); escalation tells case and
/// insight; insight answers erasures to case.
fn subscribers_of(service: &str) -> &'static [&'static str] {
    match service {
        "listening" => &["case", "escalation", "insight"],
        "case" => &["escalation", "insight", "listening"],
        "escalation" => &["case", "insight"],
        "insight" => &["case"],
        _ => &[],
    }
}

fn port_of(service: &str) -> ServicePorts {
    PORTS
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, ports)| *ports)
        .expect("every subscriber is one of the four services")
}

/// The settings of `service` inside the all-in-one process.
pub fn settings_for(env: &Env, host: &str, service: &str) -> anyhow::Result<ServiceSettings> {
    let ports = port_of(service);
    // Services reach each other over loopback even when listening on every interface.
    let reach = if host == "0.0.0.0" { "127.0.0.1" } else { host };
    // Over JetStream (EARSHOT_EVENT_TRANSPORT=jetstream) nobody is pushed
    // to: consumers read the producers' streams.
    let subscribers = match TransportSettings::from_env(env)? {
        TransportSettings::Grpc => subscribers_of(service)
            .iter()
            .map(|s| format!("{s}=http://{reach}:{}", port_of(s).grpc))
            .collect::<Vec<_>>()
            .join(","),
        TransportSettings::JetStream { .. } => String::new(),
    };
    let env = env
        .clone()
        .with("EARSHOT_GRPC_ADDR", format!("{host}:{}", ports.grpc))
        .with("EARSHOT_METRICS_ADDR", format!("{host}:{}", ports.metrics))
        .with("EARSHOT_HTTP_ADDR", format!("{host}:{}", ports.http))
        .with("EARSHOT_SUBSCRIBERS", subscribers);
    Ok(ServiceSettings::from_env(&env, ports)?)
}

async fn bind(settings: &ServiceSettings, service: &str) -> anyhow::Result<Listeners> {
    Listeners::bind(settings).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {} for {service}: {e}. Is another earshot (or docker compose) running?",
            settings.grpc_addr
        )
    })
}

pub async fn run(env: Env) -> anyhow::Result<()> {
    let secret = dev_secret::load(&env, true)?;
    let mut env = env.with(HS256_SECRET_VAR, secret.expose());

    let mut private_pg = None;
    if env.get("DATABASE_URL").is_none() {
        let folder = dev_secret::data_dir(&env).join("pg");
        let port = env.parse_or(PG_PORT_VAR, DEFAULT_PG_PORT)?;
        println!(
            "Starting a private PostgreSQL in {} on port {port} …",
            folder.display()
        );
        let wanted = folder.clone();
        let pg =
            tokio::task::spawn_blocking(move || LocalPostgres::start_in(&folder, port)).await??;
        if wanted.canonicalize().is_ok_and(|w| w != pg.data_dir()) {
            println!(
                "(its data is in {}: the postgres user this runs it as cannot reach the clone)",
                pg.data_dir().display()
            );
        }
        earshot_server::database::create_database_if_missing(&pg.url("postgres"), "earshot")
            .await?;
        env = env.with("DATABASE_URL", pg.url("earshot"));
        private_pg = Some(pg);
    }

    let host = env.string_or(HOST_VAR, "127.0.0.1");
    let listening = settings_for(&env, &host, "listening")?;
    let case = settings_for(&env, &host, "case")?;
    let escalation = settings_for(&env, &host, "escalation")?;
    let insight = settings_for(&env, &host, "insight")?;
    let listeners = (
        bind(&listening, "listening").await?,
        bind(&case, "case").await?,
        bind(&escalation, "escalation").await?,
        bind(&insight, "insight").await?,
    );

    print_banner(&env, &host, &listening)?;

    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        earshot_server::shutdown::signal().await;
        on_signal.cancel();
    });
    use earshot_server::run;
    let result = tokio::try_join!(
        run::<earshot_listening::ListeningService>(
            listening,
            listeners.0,
            stop.clone().cancelled_owned()
        ),
        run::<earshot_case::CaseService>(case, listeners.1, stop.clone().cancelled_owned()),
        run::<earshot_escalation::EscalationService>(
            escalation,
            listeners.2,
            stop.clone().cancelled_owned()
        ),
        run::<earshot_insight::InsightService>(
            insight,
            listeners.3,
            stop.clone().cancelled_owned()
        ),
    );
    // One service failing stops the others.
    stop.cancel();
    if let Some(pg) = private_pg
        && pg.started_here()
    {
        println!("Stopping the private PostgreSQL …");
        pg.stop()?;
    }
    result.map(|_| ())
}

fn print_banner(env: &Env, host: &str, listening: &ServiceSettings) -> anyhow::Result<()> {
    let token = AuthConfig::from_env(env)?.minter()?.mint(
        "earshot-dev",
        "demo",
        DEV_SCOPES,
        std::time::Duration::from_secs(24 * 3600),
    );
    println!();
    println!("Earshot is up (development mode: tokens are signed with a local secret).");
    for (name, ports) in PORTS {
        println!(
            "  {name:<11} grpc {host}:{}   http http://{host}:{}/openapi.json   metrics http://{host}:{}/metrics",
            ports.grpc, ports.http, ports.metrics
        );
    }
    let insight_http = PORTS[3].1.http;
    println!();
    println!("The dashboard (the token below opens it):");
    println!("  http://{host}:{insight_http}/dashboard#token=$EARSHOT_TOKEN");
    println!();
    println!(
        "A token for tenant \"demo\" with every scope, valid 24 h (mint others with `earshot token`):"
    );
    println!("  export EARSHOT_TOKEN={token}");
    println!();
    println!("Try it:");
    println!("  earshot demo");
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $EARSHOT_TOKEN\" {} list",
        listening.grpc_addr
    );
    println!();
    println!("Ctrl-C stops it gracefully.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_wired_to_their_subscribers() {
        let env = Env::from_pairs([(HS256_SECRET_VAR, "0123456789abcdef-test")]);
        let listening = settings_for(&env, "127.0.0.1", "listening").expect("valid");
        let names: Vec<_> = listening
            .subscribers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["case", "escalation", "insight"]);
        assert_eq!(listening.subscribers[0].url, "http://127.0.0.1:50052");
        assert_eq!(listening.grpc_addr.port(), 50051);
        let insight = settings_for(&env, "0.0.0.0", "insight").expect("valid");
        assert_eq!(insight.subscribers.len(), 1);
        assert_eq!(insight.subscribers[0].url, "http://127.0.0.1:50052");
        assert_eq!(insight.metrics_addr.map(|a| a.port()), Some(9094));
        assert_eq!(insight.http_addr.map(|a| a.port()), Some(8084));
        let case = settings_for(&env, "0.0.0.0", "case").expect("valid");
        assert_eq!(case.subscribers[1].url, "http://127.0.0.1:50054");
        assert_eq!(case.subscribers[2].url, "http://127.0.0.1:50051");
        let over_jetstream = env.clone().with("EARSHOT_EVENT_TRANSPORT", "jetstream");
        let case = settings_for(&over_jetstream, "0.0.0.0", "case").expect("valid");
        assert!(case.subscribers.is_empty(), "consumers pull");
    }
}
