//! The Goodwill Index: one published figure of how a tenant's customers
//! fare, made of proportions that are each shown with their own count, so
//! anyone can recompute it from the report.

pub mod store;

use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use crate::metrics::ratio;
use crate::range::Days;
use crate::stats::{self, Z95};

/// One component of the index: a proportion of successes in a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    pub name: &'static str,
    /// Its share of the index; the weights add up to 1.
    pub weight: f64,
    /// The value it is shrunk toward when its sample is small.
    pub prior: f64,
}

/// Pseudo-observations of its prior added to every component: a component
/// measured on 20 cases is half its own value and half the prior, one
/// measured on 2 000 is its own value.
pub const PRIOR_STRENGTH: f64 = 20.0;

/// Net sentiment of the mentions in the range: successes = positive + ½ ×
/// neutral, out of every mention (a mention VADER did not score counts as
/// neutral). Prior 0.5 (as many happy as unhappy), weight 0.30.
pub const NET_SENTIMENT: Component = Component {
    name: "net_sentiment",
    weight: 0.30,
    prior: 0.5,
};
/// Recovery: of the conversations (mentions sharing a thread, in the range,
/// in posting order) whose first mention is negative, those whose last
/// mention is not. Prior 0.5, weight 0.20.
pub const RECOVERY: Component = Component {
    name: "recovery",
    weight: 0.20,
    prior: 0.5,
};
/// No repeat: 1 − the 7-day repeat-contact rate, i.e. of all mentions, those
/// whose author had not contacted about the same driver in the 7 days
/// before. Prior 0.9, weight 0.25.
pub const NO_REPEAT: Component = Component {
    name: "no_repeat",
    weight: 0.25,
    prior: 0.9,
};
/// SLA attainment of the cases opened in the range: targets met out of
/// targets met or breached, over first response, next response and
/// resolution together. Prior 0.9, weight 0.25.
pub const SLA: Component = Component {
    name: "sla",
    weight: 0.25,
    prior: 0.9,
};

/// The components in the order the index lists them.
///
/// Goodwill Index = 100 × Σ weight × shrunk, where each component's
/// shrunk = (successes + [`PRIOR_STRENGTH`] × prior) / (sample +
/// [`PRIOR_STRENGTH`]), with a 95% interval of ± 1.96 × 100 × √(Σ weight² ×
/// shrunk × (1 − shrunk) / (sample + [`PRIOR_STRENGTH`])), cut to 0..100.
/// With no data at all the index is its priors' 100 × (0.30 × 0.5 + 0.20 ×
/// 0.5 + 0.25 × 0.9 + 0.25 × 0.9) = 70.
pub const COMPONENTS: [Component; 4] = [NET_SENTIMENT, RECOVERY, NO_REPEAT, SLA];

/// The index's formula as the report prints it, from the constants above.
pub fn formula() -> String {
    let sum = COMPONENTS
        .iter()
        .map(|c| format!("{:.2} × {}", c.weight, c.name))
        .collect::<Vec<_>>()
        .join(" + ");
    let k = PRIOR_STRENGTH;
    let priors = COMPONENTS
        .iter()
        .map(|c| format!("{} {}", c.name, c.prior))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "index = 100 × ({sum}); each component = (successes + {k} × prior) / (sample + {k}) \
         with priors {priors}; 95% interval = index ± {Z95} × 100 × √(Σ weight² × \
         component × (1 − component) / (sample + {k}))"
    )
}

/// What the components are counted from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Mentions in the range, and those positive, negative and recurrent.
    pub mentions: i64,
    pub positive: i64,
    pub negative: i64,
    pub recurrent: i64,
    /// Conversations opening negative, and those of them ending non-negative.
    pub opened_negative: i64,
    pub recovered: i64,
    pub sla_met: i64,
    pub sla_breached: i64,
}

/// Each component's successes and sample, in [`COMPONENTS`] order.
fn measured(c: &Counts) -> [(f64, i64); 4] {
    let neutral = (c.mentions - c.positive - c.negative).max(0);
    [
        (c.positive as f64 + neutral as f64 / 2.0, c.mentions),
        (c.recovered as f64, c.opened_negative),
        ((c.mentions - c.recurrent).max(0) as f64, c.mentions),
        (c.sla_met as f64, c.sla_met + c.sla_breached),
    ]
}

/// The index from its counts.
pub fn index_of(counts: &Counts) -> pb::GoodwillIndex {
    let mut index = 0.0;
    let mut variance = 0.0;
    let components = COMPONENTS
        .iter()
        .zip(measured(counts))
        .map(|(c, (successes, sample))| {
            let n = sample.max(0) as f64;
            let shrunk = stats::shrink(successes, n, c.prior, PRIOR_STRENGTH);
            index += c.weight * shrunk.value;
            variance += c.weight * c.weight * shrunk.variance;
            pb::GoodwillComponent {
                name: c.name.to_owned(),
                successes,
                sample: u64::try_from(sample).unwrap_or(0),
                raw: ratio(successes, n),
                prior: c.prior,
                shrunk: shrunk.value,
                weight: c.weight,
            }
        })
        .collect();
    let half = Z95 * 100.0 * variance.sqrt();
    let index = 100.0 * index;
    pb::GoodwillIndex {
        index,
        low: (index - half).max(0.0),
        high: (index + half).min(100.0),
        components,
        prior_strength: PRIOR_STRENGTH,
        formula: formula(),
    }
}

/// The Goodwill Index over a range.
pub async fn index(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<pb::GoodwillIndex, sqlx::Error> {
    Ok(index_of(&store::counts(pool, tenant_id, days).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_make_a_whole_and_no_data_gives_the_priors() {
        let total: f64 = COMPONENTS.iter().map(|c| c.weight).sum();
        assert!((total - 1.0).abs() < 1e-12);
        let empty = index_of(&Counts::default());
        assert!((empty.index - 70.0).abs() < 1e-9, "{}", empty.index);
        assert!(
            empty
                .components
                .iter()
                .all(|c| c.sample == 0 && c.raw == 0.0)
        );
        assert!(empty.low < empty.index && empty.high > empty.index);
        assert!(
            empty.formula.contains("0.30 × net_sentiment")
                && empty.formula.contains("+ 20 × prior")
        );
    }

    #[test]
    fn each_component_is_shrunk_by_its_own_sample() {
        // 6 mentions: 2 positive, 3 negative, 1 neutral, 2 recurrent; 2
        // conversations opened negative, 1 recovered; SLA 2 met, 1 breached.
        let counts = Counts {
            mentions: 6,
            positive: 2,
            negative: 3,
            recurrent: 2,
            opened_negative: 2,
            recovered: 1,
            sla_met: 2,
            sla_breached: 1,
        };
        let gi = index_of(&counts);
        let shrunk: Vec<f64> = gi.components.iter().map(|c| c.shrunk).collect();
        // (2.5 + 10)/26, (1 + 10)/22, (4 + 18)/26, (2 + 18)/23.
        let want = [12.5 / 26.0, 11.0 / 22.0, 22.0 / 26.0, 20.0 / 23.0];
        for (s, w) in shrunk.iter().zip(want) {
            assert!((s - w).abs() < 1e-12, "{s} vs {w}");
        }
        assert_eq!(gi.components[0].successes, 2.5);
        assert_eq!(gi.components[3].sample, 3);
        // 100 × (0.3·0.480769 + 0.2·0.5 + 0.25·0.846154 + 0.25·0.869565) = 67.3161;
        // ± 1.96·100·√(0.09·0.00960 + 0.04·0.01136 + 0.0625·0.00501 + 0.0625·0.00493) = ± 8.6324.
        assert!((gi.index - 67.316054).abs() < 1e-5, "{}", gi.index);
        assert!((gi.index - gi.low - 8.632431).abs() < 1e-5, "{}", gi.low);
        assert!((gi.high - gi.index - 8.632431).abs() < 1e-5, "{}", gi.high);
    }
}
