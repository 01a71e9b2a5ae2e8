//! Party lists (`[{role, party_id: [..]}]`) as they appear in `dag.parties`, task `parties`,
//! channel `parties` and `party_tasks`.

use ferroflow_wire::dag::PartySpec;

use crate::id::{Party, Role};

use super::Problems;

/// FATE's `f_party_id` column width.
const MAX_PARTY_ID_LEN: usize = 50;

/// Why `s` cannot be a name that ends up in ids, database keys and file paths
/// (`<LOG_DIR>/<job_id>/<role>/<party_id>/<task_name>`), if it cannot.
pub(super) fn unsafe_name(s: &str, max_len: usize) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    if s == "." || s == ".." {
        return Some(format!("{s:?} is not a usable name"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| matches!(c, '/' | '\\') || c.is_control())
    {
        return Some(format!(
            "{s:?} contains {c:?}, which cannot be used in a file path"
        ));
    }
    let n = s.chars().count();
    if n > max_len {
        return Some(format!("{s:?} is {n} characters long (at most {max_len})"));
    }
    None
}

/// Parses a party list, reporting bad roles, missing or unusable party ids and repeats.
/// Returns the valid participants in document order.
pub(super) fn parse(specs: &[PartySpec], path: &str, problems: &mut Problems) -> Vec<Party> {
    let mut out: Vec<Party> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let role = match spec.role.as_deref() {
            None => {
                problems.add(format!("{at}.role"), "missing");
                None
            }
            Some(r) => match r.parse::<Role>() {
                Ok(role) => Some(role),
                Err(e) => {
                    problems.add(format!("{at}.role"), e.to_string());
                    None
                }
            },
        };
        let ids = spec.party_id.as_deref().unwrap_or_default();
        if ids.is_empty() {
            problems.add(format!("{at}.party_id"), "no party ids");
        }
        for id in ids {
            if let Some(why) = unsafe_name(id, MAX_PARTY_ID_LEN) {
                problems.add(format!("{at}.party_id"), format!("party id {why}"));
                continue;
            }
            let Some(role) = role else { continue };
            let party = Party::new(role, id.as_str());
            if out.contains(&party) {
                problems.add(format!("{at}.party_id"), format!("{party} is listed twice"));
            } else {
                out.push(party);
            }
        }
    }
    out
}

/// Parses a party list that must only name participants declared in `dag.parties`.
pub(super) fn parse_declared(
    specs: &[PartySpec],
    path: &str,
    declared: &[Party],
    problems: &mut Problems,
) -> Vec<Party> {
    let parties = parse(specs, path, problems);
    for party in &parties {
        if !declared.contains(party) {
            problems.add(path, format!("{party} is not declared in dag.parties"));
        }
    }
    parties
}
