//! The demo's sample data: one small data set split vertically between two parties, as FATE's
//! examples are — the guest holds the label `y` and features `x0..x4`, the host `x5..x9`, for the
//! same 300 ids.
//!
//! The files are generated, not collected: `y` is drawn from a fixed logistic model of all ten
//! features plus noise, so that training on the guest's half alone makes the loss fall clearly.
//! The generator is the test `regenerate_sample_files` below (a seeded SplitMix64 and
//! Box–Muller, no dependencies); `sample_files_are_what_the_generator_makes` keeps the files and
//! the generator in step. To change the data, change the generator and run
//! `cargo test -p ferroflow -- --ignored regenerate_sample_files`.

/// The guest's table: `id,y,x0..x4`.
#[allow(
    dead_code,
    reason = "for the demo command and the server, which ship these files to sites"
)]
pub const DEMO_GUEST_CSV: &str = include_str!("../../data/demo_guest.csv");
/// The host's table: `id,x5..x9`.
#[allow(
    dead_code,
    reason = "for the demo command and the server, which ship these files to sites"
)]
pub const DEMO_HOST_CSV: &str = include_str!("../../data/demo_host.csv");
/// The rows of each table.
#[allow(dead_code, reason = "for the demo command and the server")]
pub const DEMO_ROWS: usize = 300;

#[cfg(test)]
pub(crate) mod generator {
    use super::DEMO_ROWS;

    const SEED: u64 = 0x5EED_F10F;
    /// The true model: one weight per feature x0..x9, then the intercept.
    const WEIGHTS: [f64; 10] = [1.6, -1.2, 0.9, 0.0, 0.6, 0.8, -0.7, 0.5, 0.0, 0.4];
    const INTERCEPT: f64 = -0.3;
    const NOISE: f64 = 0.5;

    /// SplitMix64: tiny, seedable, and the same on every platform.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// The guest and host CSV texts.
    pub fn generate() -> (String, String) {
        let mut rng = Rng(SEED);
        let mut guest = String::from("id,y,x0,x1,x2,x3,x4\n");
        let mut host = String::from("id,x5,x6,x7,x8,x9\n");
        for id in 0..DEMO_ROWS {
            // Rounded first, so that the label follows from the features as written.
            let x: Vec<f64> = (0..10)
                .map(|_| (rng.normal() * 1e4).round() / 1e4)
                .collect();
            let z = INTERCEPT
                + x.iter().zip(WEIGHTS).map(|(a, w)| a * w).sum::<f64>()
                + NOISE * rng.normal();
            let y = u8::from(rng.uniform() < 1.0 / (1.0 + (-z).exp()));
            let cells = |xs: &[f64]| {
                xs.iter()
                    .map(|v| format!("{v:.4}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            guest.push_str(&format!("{id},{y},{}\n", cells(&x[..5])));
            host.push_str(&format!("{id},{}\n", cells(&x[5..])));
        }
        (guest, host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::lr::Trainer;
    use crate::component::table::Table;

    fn data_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
    }

    #[test]
    #[ignore = "writes crates/cli/data; run it after changing the generator"]
    fn regenerate_sample_files() {
        let (guest, host) = generator::generate();
        std::fs::write(data_dir().join("demo_guest.csv"), guest).unwrap();
        std::fs::write(data_dir().join("demo_host.csv"), host).unwrap();
    }

    #[test]
    fn sample_files_are_what_the_generator_makes() {
        let (guest, host) = generator::generate();
        assert!(
            DEMO_GUEST_CSV == guest,
            "data/demo_guest.csv differs from the generator's output"
        );
        assert!(
            DEMO_HOST_CSV == host,
            "data/demo_host.csv differs from the generator's output"
        );
    }

    #[test]
    fn the_split_is_vertical_with_the_same_ids() {
        let guest = Table::parse(DEMO_GUEST_CSV).unwrap();
        let host = Table::parse(DEMO_HOST_CSV).unwrap();
        assert_eq!(guest.header(), ["id", "y", "x0", "x1", "x2", "x3", "x4"]);
        assert_eq!(host.header(), ["id", "x5", "x6", "x7", "x8", "x9"]);
        assert_eq!(guest.len(), DEMO_ROWS);
        assert!(guest.ids().eq(host.ids()));
        let y = guest.numeric_column("y").unwrap();
        let positives = y.iter().filter(|v| **v == 1.0).count();
        assert!(
            (90..=210).contains(&positives),
            "classes are unbalanced: {positives}"
        );
    }

    #[test]
    fn training_on_the_guest_half_lowers_the_loss_clearly() {
        let guest = Table::parse(DEMO_GUEST_CSV).unwrap();
        let cols: Vec<Vec<f64>> = ["x0", "x1", "x2", "x3", "x4"]
            .iter()
            .map(|c| guest.numeric_column(c).unwrap())
            .collect();
        // the demo_train defaults: 10 iterations, learning rate 0.1
        let mut t = Trainer::new(&cols, guest.numeric_column("y").unwrap(), 0.1);
        let losses: Vec<f64> = (0..10).map(|_| t.step()).collect();
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
        assert!(losses[0] - losses[9] > 0.05, "{losses:?}");
        // and with more iterations it gets well below chance
        let mut t = Trainer::new(&cols, guest.numeric_column("y").unwrap(), 0.5);
        let last = (0..100).map(|_| t.step()).last().unwrap();
        assert!(last < 0.55, "{last}");
    }
}
