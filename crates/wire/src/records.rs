//! Records as api-1 returns them: FATE's database rows with the `f_` prefix removed
//! (`api.md` §9). JSON columns are parsed; empty ones come back as `{}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `(job_id, role, party_id)` row of a participant (`api.md` §9.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub protocol: String,
    pub flow_id: String,
    pub job_id: String,
    pub user_name: String,
    pub description: String,
    pub tag: String,
    pub dag: Value,
    pub parties: Value,
    pub initiator_party_id: String,
    pub scheduler_party_id: String,
    pub status: String,
    pub status_code: Option<i64>,
    pub inheritance: Value,
    pub role: String,
    pub party_id: String,
    pub progress: i64,
    pub model_id: String,
    pub model_version: String,
    pub engine_name: Option<String>,
    pub cores: i64,
    pub memory: i64,
    pub remaining_cores: i64,
    pub remaining_memory: i64,
    pub resource_in_use: bool,
    pub apply_resource_time: Option<i64>,
    pub return_resource_time: Option<i64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub elapsed: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    /// ferroflow: why the job is not running yet (absent when nothing holds it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
}

/// One `(task_id, task_version, role, party_id)` row of a participant (`api.md` §9.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub protocol: String,
    pub job_id: String,
    pub role: String,
    pub party_id: String,
    pub task_name: String,
    pub component: String,
    pub task_id: String,
    pub task_version: i64,
    pub execution_id: String,
    pub scheduler_party_id: String,
    pub status: String,
    pub status_code: Option<i64>,
    pub component_parameters: Value,
    pub task_run: Value,
    pub memory: i64,
    pub task_cores: i64,
    pub resource_in_use: bool,
    pub worker_id: Option<String>,
    pub cmd: Value,
    pub run_ip: Option<String>,
    pub run_port: Option<i64>,
    pub run_pid: Option<i64>,
    pub party_status: String,
    pub provider_name: String,
    pub task_parameters: Value,
    pub engine_conf: Value,
    pub kill_status: bool,
    pub error_report: String,
    pub sync_type: String,
    pub timeout: Option<i64>,
    pub launcher_name: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub elapsed: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    /// ferroflow: why the task has not started (absent when nothing holds it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
}

/// A registered algorithm provider (`api.md` §9.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderRecord {
    pub provider_name: String,
    pub name: String,
    pub version: String,
    pub device: String,
    pub metadata: Value,
    pub create_time: i64,
    pub update_time: i64,
}

/// An item of `/v2/job/list/query`: the job record plus `partners`, the sorted ids of every
/// party of the job other than this row's (`api.md` §10.3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobListItem {
    #[serde(flatten)]
    pub record: JobRecord,
    pub partners: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_items_carry_partners_next_to_the_record() {
        // outputs.jsonl, `/v2/job/list/query`.
        let item = json!({
            "apply_resource_time": null, "cores": 4, "create_time": 1, "dag": {},
            "description": "", "elapsed": null, "end_time": null, "engine_name": "standalone",
            "flow_id": "", "inheritance": {}, "initiator_party_id": "9999", "job_id": "j",
            "memory": 0, "model_id": "j", "model_version": "0",
            "parties": [{"party_id": ["9999"], "role": "guest"}], "party_id": "9999",
            "partners": ["10000"], "progress": 0, "protocol": "fate", "remaining_cores": 4,
            "remaining_memory": 0, "resource_in_use": false, "return_resource_time": null,
            "role": "guest", "scheduler_party_id": "9999", "start_time": null,
            "status": "waiting", "status_code": null, "tag": "", "update_time": 2,
            "user_name": ""
        });
        let parsed: JobListItem = serde_json::from_value(item.clone()).unwrap();
        assert_eq!(parsed.partners, ["10000"]);
        assert_eq!(parsed.record.job_id, "j");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), item);
    }
}
