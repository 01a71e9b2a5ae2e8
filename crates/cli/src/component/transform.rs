//! `demo_transform`: drops columns and multiplies the numeric ones by a factor — a stand-in for
//! feature engineering that changes the data in a way a test can check. The id column and the
//! label are never scaled.

use super::Error;
use super::task::Task;

pub const INPUT_DATA: &str = "input_data";
pub const OUTPUT_DATA: &str = "output_data";

pub async fn run(task: &Task) -> Result<(), Error> {
    let p = task.params();
    let scale = p.f64("scale", 1.0)?;
    let drop = p.string_list("drop_columns")?;
    let label = p.string("label")?.unwrap_or_else(|| "y".into());

    let inputs = task
        .data_input(INPUT_DATA, false)
        .await?
        .ok_or_else(|| Error::Input {
            key: INPUT_DATA.into(),
            reason: "required, and the CONFIG gives none".into(),
        })?;
    let table = task.read_table(&inputs[0]).await?;
    let table_err = |source| Error::Table {
        path: inputs[0].path.clone(),
        source,
    };
    let mut table = table.drop_columns(&drop).map_err(table_err)?;
    for column in table.numeric_columns() {
        if column == label {
            continue;
        }
        let values: Vec<f64> = table
            .numeric_column(&column)
            .map_err(table_err)?
            .iter()
            .map(|v| v * scale)
            .collect();
        table
            .set_numeric_column(&column, &values)
            .map_err(table_err)?;
    }
    tracing::info!(scale, dropped = ?drop, "transformed");
    task.write_table(OUTPUT_DATA, &table).await?;
    Ok(())
}
