//! Per-party planning (`dag.md` §6): which tasks a participant runs, with merged parameters
//! and conf, filtered inputs and a resolved provider.

use crate::id::Party;
use crate::provider::Catalog;

use super::{Dag, DagErrors, PartyPlan};

/// Plans `party`'s tasks. Errors (unknown provider or component for this party, party_tasks
/// naming a party that does not run the task, ...) are all collected.
pub fn plan_party(dag: &Dag, party: &Party, catalog: &Catalog) -> Result<PartyPlan, DagErrors> {
    let _ = (dag, party, catalog);
    todo!()
}
