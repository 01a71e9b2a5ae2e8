//! Logistic regression by batch gradient descent: the algorithm behind `demo_train`, free of
//! I/O so that it is tested on its own.
//!
//! Features are standardized (z-scores with the training data's mean and population standard
//! deviation; a constant column keeps a divisor of 1) before training, so that one learning rate
//! suits columns of any scale. The coefficients therefore apply to standardized features; the
//! model keeps the means and deviations to reproduce that transformation.

/// The logistic function, written to stay finite for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The log-loss of one sample with score `z` (before the sigmoid) and label `y` ∈ {0, 1}:
/// `-(y·ln σ(z) + (1-y)·ln(1-σ(z)))`, computed as `softplus(z) - y·z`, which neither
/// overflows nor takes the log of 0.
pub fn log_loss(z: f64, y: f64) -> f64 {
    let softplus = if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    };
    softplus - y * z
}

/// Column-wise z-score parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fitted on `columns` (one vector per feature).
    pub fn fit(columns: &[Vec<f64>]) -> Self {
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for col in columns {
            let n = col.len().max(1) as f64;
            let m = col.iter().sum::<f64>() / n;
            let var = col.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
            let s = var.sqrt();
            mean.push(m);
            std.push(if s > 1e-12 { s } else { 1.0 });
        }
        Self { mean, std }
    }

    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }
}

/// Training state: standardized rows, labels, the current weights.
#[derive(Debug, Clone)]
pub struct Trainer {
    rows: Vec<Vec<f64>>,
    labels: Vec<f64>,
    learning_rate: f64,
    pub standardizer: Standardizer,
    pub coefficients: Vec<f64>,
    pub intercept: f64,
    /// The loss before each step taken so far.
    pub losses: Vec<f64>,
}

impl Trainer {
    /// `columns`: one vector per feature, all as long as `labels` (0 or 1). Weights start at 0.
    pub fn new(columns: &[Vec<f64>], labels: Vec<f64>, learning_rate: f64) -> Self {
        let standardizer = Standardizer::fit(columns);
        let rows: Vec<Vec<f64>> = (0..labels.len())
            .map(|i| standardizer.apply(&columns.iter().map(|c| c[i]).collect::<Vec<_>>()))
            .collect();
        Self {
            rows,
            labels,
            learning_rate,
            coefficients: vec![0.0; columns.len()],
            intercept: 0.0,
            standardizer,
            losses: Vec::new(),
        }
    }

    fn score(&self, row: &[f64]) -> f64 {
        self.intercept
            + row
                .iter()
                .zip(&self.coefficients)
                .map(|(x, w)| x * w)
                .sum::<f64>()
    }

    /// Mean log-loss of the current weights over the training rows.
    pub fn loss(&self) -> f64 {
        let n = self.rows.len().max(1) as f64;
        self.rows
            .iter()
            .zip(&self.labels)
            .map(|(r, y)| log_loss(self.score(r), *y))
            .sum::<f64>()
            / n
    }

    /// One full-batch gradient step; returns the loss of the weights it started from (the
    /// loss that iteration is reported with).
    pub fn step(&mut self) -> f64 {
        let n = self.rows.len().max(1) as f64;
        let mut grad = vec![0.0; self.coefficients.len()];
        let mut grad_b = 0.0;
        let mut loss = 0.0;
        for (row, y) in self.rows.iter().zip(&self.labels) {
            let z = self.score(row);
            loss += log_loss(z, *y);
            let err = sigmoid(z) - y;
            for (g, x) in grad.iter_mut().zip(row) {
                *g += err * x;
            }
            grad_b += err;
        }
        for (w, g) in self.coefficients.iter_mut().zip(&grad) {
            *w -= self.learning_rate * g / n;
        }
        self.intercept -= self.learning_rate * grad_b / n;
        let loss = loss / n;
        self.losses.push(loss);
        loss
    }

    /// The probability of label 1 for a raw (unstandardized) feature row.
    pub fn predict(&self, raw_row: &[f64]) -> f64 {
        sigmoid(self.score(&self.standardizer.apply(raw_row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn sigmoid_and_loss_are_stable() {
        assert!(close(sigmoid(0.0), 0.5));
        assert!(close(sigmoid(2.0) + sigmoid(-2.0), 1.0));
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!(close(log_loss(0.0, 1.0), std::f64::consts::LN_2));
        assert!(close(log_loss(0.0, 0.0), std::f64::consts::LN_2));
        // agrees with the textbook form where that one is finite
        for (z, y) in [(1.3, 1.0), (1.3, 0.0), (-0.7, 1.0), (-4.0, 0.0)] {
            let p: f64 = sigmoid(z);
            let textbook = -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
            assert!(close(log_loss(z, y), textbook), "{z} {y}");
        }
        assert!(close(log_loss(1000.0, 1.0), 0.0));
        assert!(close(log_loss(-1000.0, 1.0), 1000.0));
    }

    #[test]
    fn standardizer_centres_and_scales() {
        let s = Standardizer::fit(&[vec![1.0, 3.0], vec![5.0, 5.0]]);
        assert_eq!(s.mean, [2.0, 5.0]);
        assert_eq!(s.std, [1.0, 1.0]); // the constant column keeps a divisor of 1
        assert_eq!(s.apply(&[3.0, 7.0]), [1.0, 2.0]);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let cols = vec![vec![0.5, -1.0, 2.0, 0.1], vec![1.0, 0.0, -1.0, 3.0]];
        let labels = vec![1.0, 0.0, 1.0, 0.0];
        let mut t = Trainer::new(&cols, labels, 1.0);
        t.coefficients = vec![0.3, -0.2];
        t.intercept = 0.1;
        let before = t.clone();
        t.step(); // with learning rate 1, the change is minus the gradient
        let h = 1e-6;
        for j in 0..2 {
            let mut plus = before.clone();
            plus.coefficients[j] += h;
            let mut minus = before.clone();
            minus.coefficients[j] -= h;
            let numeric = (plus.loss() - minus.loss()) / (2.0 * h);
            let analytic = before.coefficients[j] - t.coefficients[j];
            assert!(
                (numeric - analytic).abs() < 1e-6,
                "{j}: {numeric} vs {analytic}"
            );
        }
    }

    #[test]
    fn loss_decreases_and_separable_data_is_learned() {
        let x: Vec<f64> = (0..40).map(|i| i as f64 / 4.0).collect();
        let labels: Vec<f64> = x.iter().map(|v| if *v > 5.0 { 1.0 } else { 0.0 }).collect();
        let mut t = Trainer::new(std::slice::from_ref(&x), labels.clone(), 0.5);
        let losses: Vec<f64> = (0..50).map(|_| t.step()).collect();
        assert!(close(losses[0], std::f64::consts::LN_2));
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
        assert!(losses[49] < 0.3, "{losses:?}");
        assert!(t.coefficients[0] > 0.0);
        let correct = x
            .iter()
            .zip(&labels)
            .filter(|(v, y)| (t.predict(&[**v]) >= 0.5) == (**y == 1.0))
            .count();
        assert!(correct >= 38, "{correct}");
    }
}
