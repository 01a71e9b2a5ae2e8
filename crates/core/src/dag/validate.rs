//! Structural validation of a DAG document: everything that can be checked without a
//! provider registry, every problem collected.

use super::{Dag, DagErrors, DagSchema};

pub fn validate(schema: &DagSchema) -> Result<Dag, DagErrors> {
    let _ = schema;
    todo!()
}
