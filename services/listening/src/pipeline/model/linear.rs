//! Linear models over hashed features: multinomial logistic regression
//! trained with AdaGrad, calibrated by temperature, stored quantised.
//!
//! One row per feature bucket holds every output of every head (sentiment's
//! three, intent's seven), so a mention's features cost one cache line each
//! whatever the number of heads: at ~40 features a mention that is ~40
//! loads, the reason for this layout over one table per head.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// What an example says of its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// It is this class.
    Is(usize),
    /// It is not this class, and nothing more is known: a tweet labelled
    /// "no complaint" may be praise, a question or chatter. Its loss is
    /// −log(1 − p), which lowers that class and leaves the others' shares
    /// to the rest of the data.
    Not(usize),
}

/// One training example of one head.
#[derive(Debug, Clone)]
pub struct Example {
    pub features: Vec<u32>,
    pub target: Target,
    /// How much the example counts (class balance, source weight).
    pub weight: f32,
}

/// The gradient of the example's loss with respect to each logit, given the
/// probabilities `p`, into `g`.
fn gradient(target: Target, p: &[f32], g: &mut [f32]) {
    match target {
        Target::Is(y) => {
            for (k, (g, p)) in g.iter_mut().zip(p).enumerate() {
                *g = p - if k == y { 1.0 } else { 0.0 };
            }
        }
        Target::Not(c) => {
            // d/dz_k of −log(1 − p_c) = p_c (δ_kc − p_k) / (1 − p_c).
            let rest = (1.0 - p[c]).max(1e-6);
            for (k, (g, p_k)) in g.iter_mut().zip(p).enumerate() {
                *g = if k == c { p[c] } else { -p[c] * p_k / rest };
            }
        }
    }
}

/// How a head is trained.
#[derive(Debug, Clone, Copy)]
pub struct TrainConfig {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty per update on the weights an example touches.
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 12,
            learning_rate: 0.4,
            l2: 1e-5,
            seed: 7,
        }
    }
}

/// Each example's features count 1/√n, so a long e-mail and a short tweet
/// give logits of the same scale.
pub fn feature_value(features: usize) -> f32 {
    1.0 / (features.max(1) as f32).sqrt()
}

/// A head in full precision, while it is trained.
#[derive(Debug, Clone)]
pub struct Dense {
    pub classes: usize,
    pub buckets: u32,
    /// `buckets × classes`, row-major by bucket.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    pub fn logits(&self, features: &[u32], offset: Option<&[f32]>, out: &mut [f32]) {
        let x = feature_value(features.len());
        out.copy_from_slice(&self.bias);
        if let Some(offset) = offset {
            for (o, b) in out.iter_mut().zip(offset) {
                *o += b;
            }
        }
        for &f in features {
            let row = &self.weights[f as usize * self.classes..][..self.classes];
            for (o, w) in out.iter_mut().zip(row) {
                *o += w * x;
            }
        }
    }
}

/// Softmax of `logits` in place.
pub fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for l in logits.iter_mut() {
        *l = (*l - max).exp();
        sum += *l;
    }
    for l in logits.iter_mut() {
        *l /= sum;
    }
}

/// Fits a head on `examples`. `offsets`, when given, holds fixed logits per
/// example that the head learns a correction to (a tenant's layer over the
/// shipped model). Deterministic for a given seed and example order.
pub fn train(
    examples: &[Example],
    offsets: Option<&[Vec<f32>]>,
    classes: usize,
    buckets: u32,
    config: TrainConfig,
) -> Dense {
    let mut head = Dense {
        classes,
        buckets,
        weights: vec![0.0; buckets as usize * classes],
        bias: vec![0.0; classes],
    };
    let mut squares = vec![1e-6f32; head.weights.len()];
    let mut bias_squares = vec![1e-6f32; classes];
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut p = vec![0.0f32; classes];
    let mut g = vec![0.0f32; classes];
    for _ in 0..config.epochs {
        order.shuffle(&mut rng);
        for &i in &order {
            let example = &examples[i];
            head.logits(&example.features, offsets.map(|o| o[i].as_slice()), &mut p);
            softmax(&mut p);
            gradient(example.target, &p, &mut g);
            let x = feature_value(example.features.len());
            for k in 0..classes {
                let g = g[k] * example.weight;
                bias_squares[k] += g * g;
                head.bias[k] -= config.learning_rate * g / bias_squares[k].sqrt();
                for &f in &example.features {
                    let at = f as usize * classes + k;
                    let w = &mut head.weights[at];
                    let gw = g * x + config.l2 * *w;
                    squares[at] += gw * gw;
                    *w -= config.learning_rate * gw / squares[at].sqrt();
                }
            }
        }
    }
    head
}

/// The temperature that makes `probabilities = softmax(logits / t)` best
/// calibrated (least log loss) on held-out examples, by golden-section
/// search of log t over [1/8, 8].
pub fn fit_temperature(logits: &[Vec<f32>], labels: &[usize]) -> f32 {
    let loss = |log_t: f64| -> f64 {
        let t = log_t.exp() as f32;
        let mut total = 0.0f64;
        let mut p = Vec::new();
        for (l, &y) in logits.iter().zip(labels) {
            p.clear();
            p.extend(l.iter().map(|v| v / t));
            softmax(&mut p);
            total -= f64::from(p[y].max(1e-9)).ln();
        }
        total
    };
    let (mut lo, mut hi) = ((1.0f64 / 8.0).ln(), 8.0f64.ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let a = hi - phi * (hi - lo);
        let b = lo + phi * (hi - lo);
        if loss(a) < loss(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    ((lo + hi) / 2.0).exp() as f32
}

/// Heads side by side in one quantised table: row `bucket` holds
/// `outputs` signed bytes, output `k` worth `byte × scale[k]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantised {
    pub buckets: u32,
    pub outputs: usize,
    pub table: Vec<i8>,
    pub scale: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Quantised {
    /// Quantises heads trained on the same buckets, in order.
    pub fn of(heads: &[&Dense]) -> Self {
        let buckets = heads[0].buckets;
        assert!(
            heads.iter().all(|h| h.buckets == buckets),
            "one bucket space"
        );
        let outputs: usize = heads.iter().map(|h| h.classes).sum();
        let mut scale = Vec::with_capacity(outputs);
        let mut bias = Vec::with_capacity(outputs);
        for head in heads {
            for k in 0..head.classes {
                let max = (0..buckets as usize)
                    .map(|b| head.weights[b * head.classes + k].abs())
                    .fold(0.0f32, f32::max);
                scale.push(if max > 0.0 { max / 127.0 } else { 1.0 });
                bias.push(head.bias[k]);
            }
        }
        let mut table = vec![0i8; buckets as usize * outputs];
        for b in 0..buckets as usize {
            let mut column = 0;
            for head in heads {
                for k in 0..head.classes {
                    let w = head.weights[b * head.classes + k] / scale[column];
                    table[b * outputs + column] = w.round().clamp(-127.0, 127.0) as i8;
                    column += 1;
                }
            }
        }
        Self {
            buckets,
            outputs,
            table,
            scale,
            bias,
        }
    }

    /// The logits of every output for `features`, into `out` (`outputs` long).
    pub fn logits(&self, features: &[u32], out: &mut [f32]) {
        let mut sums = [0i32; 16];
        let sums = &mut sums[..self.outputs];
        for &f in features {
            let row = &self.table[f as usize * self.outputs..][..self.outputs];
            for (s, &w) in sums.iter_mut().zip(row) {
                *s += i32::from(w);
            }
        }
        let x = feature_value(features.len());
        for k in 0..self.outputs {
            out[k] = sums[k] as f32 * self.scale[k] * x + self.bias[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<Example> {
        // Feature 1 means class 0, feature 2 class 1; 3 is noise.
        (0..200)
            .map(|i| Example {
                features: vec![if i % 2 == 0 { 1 } else { 2 }, 3],
                target: Target::Is(i % 2),
                weight: 1.0,
            })
            .collect()
    }

    #[test]
    fn learns_separable_classes_deterministically() {
        let config = TrainConfig::default();
        let a = train(&toy(), None, 2, 8, config);
        let b = train(&toy(), None, 2, 8, config);
        assert_eq!(a.weights, b.weights);
        let mut p = vec![0.0; 2];
        a.logits(&[1, 3], None, &mut p);
        softmax(&mut p);
        assert!(p[0] > 0.9, "{p:?}");
        a.logits(&[2, 3], None, &mut p);
        softmax(&mut p);
        assert!(p[1] > 0.9, "{p:?}");
    }

    #[test]
    fn a_not_label_lowers_only_its_class() {
        // Feature 1 is "not class 0" only: class 0 falls, 1 and 2 share the rest.
        let examples: Vec<Example> = (0..100)
            .map(|_| Example {
                features: vec![1],
                target: Target::Not(0),
                weight: 1.0,
            })
            .collect();
        let head = train(&examples, None, 3, 4, TrainConfig::default());
        let mut p = vec![0.0; 3];
        head.logits(&[1], None, &mut p);
        softmax(&mut p);
        assert!(p[0] < 0.1, "{p:?}");
        assert!((p[1] - p[2]).abs() < 0.05, "{p:?}");
    }

    #[test]
    fn quantised_logits_stay_close() {
        let head = train(&toy(), None, 2, 8, TrainConfig::default());
        let q = Quantised::of(&[&head]);
        let (mut dense, mut quantised) = (vec![0.0; 2], vec![0.0; 2]);
        for features in [[1u32, 3], [2, 3]] {
            head.logits(&features, None, &mut dense);
            q.logits(&features, &mut quantised);
            for (d, q) in dense.iter().zip(&quantised) {
                assert!((d - q).abs() < 0.05 * d.abs().max(1.0), "{d} vs {q}");
            }
        }
    }

    #[test]
    fn temperature_softens_overconfident_logits() {
        // Logits say 88% but only 60% are right: the fitted t flattens them.
        let logits: Vec<Vec<f32>> = (0..100).map(|_| vec![2.0, 0.0]).collect();
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i >= 60)).collect();
        let t = fit_temperature(&logits, &labels);
        let mut p = vec![2.0 / t, 0.0];
        softmax(&mut p);
        assert!((p[0] - 0.6).abs() < 0.02, "t = {t}, p = {p:?}");
    }
}
