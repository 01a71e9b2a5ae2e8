//! `demo_train`: logistic regression on the party's own numeric features ([`super::lr`]).
//! Every iteration posts a `loss` metric in pyfate's shape; the end result is model
//! `output_model` and data `train_output_data` (id, label, predict_score, predict_result).
//!
//! A party without `train_data` (FATE's arbiter) or without the label column (a host in a
//! vertical split) has nothing to learn from: it logs that and succeeds with no outputs.

use std::time::{SystemTime, UNIX_EPOCH};

use ferroflow_wire::worker::{MetricGroup, MetricItem};
use serde_json::{Value, json};

use super::Error;
use super::lr::Trainer;
use super::table::{Table, format_number};
use super::task::Task;

pub const TRAIN_DATA: &str = "train_data";
pub const OUTPUT_MODEL: &str = "output_model";
pub const TRAIN_OUTPUT_DATA: &str = "train_output_data";
/// Prediction threshold of `predict_result`.
const THRESHOLD: f64 = 0.5;

pub async fn run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let max_iter = p.u64("max_iter", 10)?;
    let learning_rate = p.f64("learning_rate", 0.1)?;
    if learning_rate <= 0.0 {
        return Err(Error::Param {
            name: "learning_rate".into(),
            reason: "must be positive".into(),
        });
    }
    let label = p.string("label")?.unwrap_or_else(|| "y".into());

    let Some(inputs) = task.data_input(TRAIN_DATA, true).await? else {
        tracing::info!("no train_data on this party, nothing to train");
        return Ok(());
    };
    let table = task.read_table(&inputs[0]).await?;
    if !table.has_column(&label) {
        tracing::info!(label = %label, "no label column on this party, nothing to train");
        return Ok(());
    }
    let data = TrainingData::from_table(&table, &label)?;
    tracing::info!(
        rows = table.len(),
        features = data.features.len(),
        max_iter,
        learning_rate,
        "training"
    );

    let mut trainer = Trainer::new(&data.columns, data.labels.clone(), learning_rate);
    for step in 0..max_iter {
        let loss = trainer.step();
        tracing::info!(step, loss, "iteration");
        task.post_metric(&loss_metric(step, loss)).await?;
    }

    tracing::info!(loss = trainer.loss(), "trained");
    let model = model_json(&trainer, &data.features, &label, learning_rate);
    task.save_json_model(OUTPUT_MODEL, &model).await?;
    task.write_table(TRAIN_OUTPUT_DATA, &predictions(&table, &trainer, &data)?)
        .await?;
    Ok(())
}

/// The labels (0/1) and feature columns of a table.
struct TrainingData {
    features: Vec<String>,
    columns: Vec<Vec<f64>>,
    labels: Vec<f64>,
}

impl TrainingData {
    /// Features are all numeric columns but the id and the label.
    fn from_table(table: &Table, label: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::Data { reason };
        if table.is_empty() {
            return Err(bad("the training table has no rows".into()));
        }
        let labels = table
            .numeric_column(label)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(v) = labels.iter().find(|v| **v != 0.0 && **v != 1.0) {
            return Err(bad(format!("label `{label}` must be 0 or 1, found {v}")));
        }
        let features: Vec<String> = table
            .numeric_columns()
            .into_iter()
            .filter(|c| c != label)
            .collect();
        let columns = features
            .iter()
            .map(|f| table.numeric_column(f).map_err(|e| bad(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            features,
            columns,
            labels,
        })
    }

    fn row(&self, i: usize) -> Vec<f64> {
        self.columns.iter().map(|c| c[i]).collect()
    }
}

/// One loss point as pyfate's restful metric writer posts it.
pub fn loss_metric(step: u64, loss: f64) -> MetricItem {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    MetricItem {
        name: "loss".into(),
        kind: Some("loss".into()),
        groups: vec![
            MetricGroup {
                name: "default".into(),
                index: None,
            },
            MetricGroup {
                name: "train".into(),
                index: None,
            },
        ],
        step_axis: Some("iterations".into()),
        data: json!([{"step": step, "metric": [loss], "timestamp": timestamp}]),
    }
}

fn model_json(trainer: &Trainer, features: &[String], label: &str, learning_rate: f64) -> Value {
    json!({
        "model": "logistic_regression",
        "header": features,
        "label": label,
        "coefficients": trainer.coefficients,
        "intercept": trainer.intercept,
        "standardization": {"mean": trainer.standardizer.mean, "std": trainer.standardizer.std},
        "losses": trainer.losses,
        "final_loss": trainer.loss(),
        "iterations": trainer.losses.len(),
        "learning_rate": learning_rate,
    })
}

fn predictions(table: &Table, trainer: &Trainer, data: &TrainingData) -> Result<Table, Error> {
    let header = [
        table.id_column(),
        "label",
        "predict_score",
        "predict_result",
    ];
    let mut out = Table::new(header.iter().map(|s| s.to_string()).collect()).map_err(|source| {
        Error::Table {
            path: TRAIN_OUTPUT_DATA.into(),
            source,
        }
    })?;
    for (i, id) in table.ids().enumerate() {
        let score = trainer.predict(&data.row(i));
        let result = if score >= THRESHOLD { 1.0 } else { 0.0 };
        out.push_row(vec![
            id.to_string(),
            format_number(data.labels[i]),
            score.to_string(),
            format_number(result),
        ])
        .map_err(|source| Error::Table {
            path: TRAIN_OUTPUT_DATA.into(),
            source,
        })?;
    }
    Ok(out)
}
