//! The fault suite's pieces: fuzz every RPC of a running suite, sweep every
//! id-taking RPC with another tenant's ids, and tally what came back.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use sqlx::PgPool;
use tonic::Code;

use crate::fuzz::{Vocabulary, body};
use crate::raw::{Method, call_on, methods};
use earshot_testkit::TestService;

/// What one service answered, by code, and the answers that are defects.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: u64,
    pub by_code: BTreeMap<String, u64>,
    /// `INTERNAL`/`UNKNOWN` answers, or a transport failure: a crash or a bug.
    pub defects: Vec<String>,
    /// Answers to another tenant that carried the other tenant's canary.
    pub leaks: Vec<String>,
    /// Wall time spent per method, to see what a fuzzed request costs.
    pub time: BTreeMap<String, Duration>,
}

impl Tally {
    fn record(
        &mut self,
        method: &Method,
        outcome: &Result<Vec<Vec<u8>>, tonic::Status>,
        canary: Option<&str>,
        took: Duration,
    ) {
        self.sent += 1;
        *self.time.entry(method.path.clone()).or_default() += took;
        let code = match outcome {
            Ok(bodies) => {
                if let Some(canary) = canary
                    && bodies.iter().any(|b| contains(b, canary.as_bytes()))
                {
                    self.leaks.push(format!(
                        "{} answered with the other tenant's data",
                        method.path
                    ));
                }
                Code::Ok
            }
            Err(status) => {
                if matches!(
                    status.code(),
                    Code::Internal | Code::Unknown | Code::Unavailable | Code::DataLoss
                ) {
                    self.defects.push(format!(
                        "{}: {:?} {}",
                        method.path,
                        status.code(),
                        status.message()
                    ));
                }
                status.code()
            }
        };
        *self.by_code.entry(format!("{code:?}")).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        for (code, n) in other.by_code {
            *self.by_code.entry(code).or_default() += n;
        }
        self.defects.extend(other.defects);
        self.leaks.extend(other.leaks);
        for (method, took) in other.time {
            *self.time.entry(method).or_default() += took;
        }
    }

    /// The `n` methods that took longest in all.
    pub fn slowest(&self, n: usize) -> Vec<(String, Duration)> {
        let mut all: Vec<_> = self.time.iter().map(|(m, t)| (m.clone(), *t)).collect();
        all.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        all.truncate(n);
        all
    }

    /// The tally as a table row: sent, then each code seen.
    pub fn row(&self, name: &str) -> String {
        let mut codes = String::new();
        for (code, n) in &self.by_code {
            let _ = write!(codes, "{code} {n}, ");
        }
        format!(
            "| {name} | {} | {} | {} | {} |",
            self.sent,
            codes.trim_end_matches(", "),
            self.defects.len(),
            self.leaks.len()
        )
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends `per_method` random requests to every method `service` serves, as
/// `token`'s tenant, aiming at `vocabulary`'s ids; no answer may carry
/// `canary`, a text only another tenant's data holds.
pub async fn fuzz(
    service: &TestService,
    names: &[&str],
    token: &str,
    seed: u64,
    per_method: usize,
    vocabulary: &Vocabulary,
    canary: Option<&str>,
) -> Tally {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let channel = service.authed(token);
    for method in methods(names) {
        for _ in 0..per_method {
            let bodies = if method.client_streaming {
                (0..3)
                    .map(|_| body(&method.input, &mut rng, vocabulary))
                    .collect()
            } else {
                vec![body(&method.input, &mut rng, vocabulary)]
            };
            let started = Instant::now();
            let outcome = call_on(channel.clone(), &method, bodies).await;
            tally.record(&method, &outcome, canary, started.elapsed());
        }
    }
    tally
}

/// Tables that hold tenant rows, in the four services' schemas.
async fn tenant_tables(pool: &PgPool) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "SELECT c.table_schema::text, c.table_name::text,
                EXISTS (SELECT 1 FROM information_schema.columns i
                         WHERE i.table_schema = c.table_schema AND i.table_name = c.table_name
                           AND i.column_name = 'id')
           FROM information_schema.columns c
           JOIN information_schema.tables t
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name
          WHERE c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
            AND c.table_schema IN ('listening', 'cases', 'escalation', 'insight')
          ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .expect("catalog")
}

/// A digest of every row `tenant` holds in every schema, table by table.
pub async fn tenant_digest(pool: &PgPool, tenant: &str) -> BTreeMap<String, String> {
    let mut digest = BTreeMap::new();
    for (schema, table, _) in tenant_tables(pool).await {
        let sum: String = sqlx::query_scalar(&format!(
            "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))
               FROM \"{schema}\".\"{table}\" t WHERE tenant_id = $1"
        ))
        .bind(tenant)
        .fetch_one(pool)
        .await
        .expect("digest");
        digest.insert(format!("{schema}.{table}"), sum);
    }
    digest
}

/// Up to `per_table` ids of `tenant`'s rows in every table with an `id`.
pub async fn tenant_ids(pool: &PgPool, tenant: &str, per_table: i64) -> Vec<String> {
    let mut ids = Vec::new();
    for (schema, table, has_id) in tenant_tables(pool).await {
        if !has_id {
            continue;
        }
        let found: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id::text FROM \"{schema}\".\"{table}\" WHERE tenant_id = $1 LIMIT $2"
        ))
        .bind(tenant)
        .bind(per_table)
        .fetch_all(pool)
        .await
        .expect("ids");
        ids.extend(found);
    }
    ids.sort();
    ids.dedup();
    ids
}
