//! Measures of a classifier against labels: accuracy, and precision, recall
//! and F1 per class. The accuracy command and the tenant's held-out
//! accuracy both count with this.

/// `matrix[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    pub matrix: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Examples of the class among the labels.
    pub support: u64,
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

impl Confusion {
    pub fn new(classes: usize) -> Self {
        Self {
            matrix: vec![vec![0; classes]; classes],
        }
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.matrix[truth][predicted] += 1;
    }

    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.matrix.len()).map(|k| self.matrix[k][k]).sum();
        ratio(right, self.total())
    }

    pub fn class(&self, k: usize) -> ClassScores {
        let tp = self.matrix[k][k];
        let predicted: u64 = self.matrix.iter().map(|row| row[k]).sum();
        let support: u64 = self.matrix[k].iter().sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassScores {
            precision,
            recall,
            f1,
            support,
        }
    }

    /// The mean F1 over the classes that occur in the labels.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<ClassScores> = (0..self.matrix.len())
            .map(|k| self.class(k))
            .filter(|s| s.support > 0)
            .collect();
        if present.is_empty() {
            return 0.0;
        }
        present.iter().map(|s| s.f1).sum::<f64>() / present.len() as f64
    }
}

/// Binary scores of "is `class`" against "is not".
pub fn binary(truth: &[bool], predicted: &[bool]) -> ClassScores {
    let mut c = Confusion::new(2);
    for (&t, &p) in truth.iter().zip(predicted) {
        c.add(usize::from(t), usize::from(p));
    }
    c.class(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_from_a_known_matrix() {
        let mut c = Confusion::new(2);
        // 8 positives: 6 found; 2 false alarms among 12 negatives.
        for _ in 0..6 {
            c.add(1, 1);
        }
        for _ in 0..2 {
            c.add(1, 0);
            c.add(0, 1);
        }
        for _ in 0..10 {
            c.add(0, 0);
        }
        let s = c.class(1);
        assert_eq!(s.support, 8);
        assert!((s.precision - 0.75).abs() < 1e-9);
        assert!((s.recall - 0.75).abs() < 1e-9);
        assert!((s.f1 - 0.75).abs() < 1e-9);
        assert!((c.accuracy() - 0.8).abs() < 1e-9);
        assert_eq!(binary(&[true, false], &[true, true]).precision, 0.5);
        assert_eq!(Confusion::new(3).accuracy(), 0.0);
    }
}
