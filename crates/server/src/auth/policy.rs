//! FATE's role policies (`api.md` §7.1): which routes each role may call. An app may call a
//! route when one of its roles has a policy for the route's path and method.

use ferroflow_wire::client as wire;
use ferroflow_wire::{partner, scheduler, worker};

/// `(path, method)` of every route `role` may call.
pub fn routes(role: &str) -> Vec<(String, &'static str)> {
    let v2 = |p: &str| format!("/v2{p}");
    let routes: Vec<(String, &str)> = match role {
        "client" => wire::ROUTES
            .iter()
            .filter(|(_, p)| !matches!(wire::page_of(p), "app" | "permission"))
            .map(|(m, p)| (p.to_string(), *m))
            .collect(),
        "super_client" => wire::ROUTES
            .iter()
            .map(|(m, p)| (p.to_string(), *m))
            // ferroflow's audit log, read as FATE's `app` and `permission` pages are.
            .chain([(crate::audit::QUERY_ROUTE.to_string(), "GET")])
            .collect(),
        "site" => [
            partner::JOB_CREATE.path,
            partner::JOB_START.path,
            partner::JOB_STATUS_UPDATE.path,
            partner::JOB_UPDATE.path,
            partner::JOB_RESOURCE_APPLY.path,
            partner::JOB_RESOURCE_RETURN.path,
            partner::JOB_STOP.path,
            partner::TASK_RESOURCE_APPLY.path,
            partner::TASK_RESOURCE_RETURN.path,
            partner::TASK_START.path,
            partner::TASK_COLLECT.path,
            partner::TASK_STATUS_UPDATE.path,
            partner::TASK_STOP.path,
            partner::TASK_RERUN.path,
            scheduler::JOB_CREATE.path,
            scheduler::JOB_STOP.path,
            scheduler::JOB_RERUN.path,
            scheduler::TASK_REPORT.path,
        ]
        .iter()
        .map(|p| (v2(p), "POST"))
        .collect(),
        "worker" | "super_worker" => [
            (worker::TASK_STATUS, "POST"),
            (worker::MODEL_SAVE, "POST"),
            (worker::MODEL_DOWNLOAD, "GET"),
            (worker::DATA_TRACKING_QUERY, "GET"),
            (worker::DATA_TRACKING_SAVE, "POST"),
            (worker::METRIC_SAVE, "POST"),
        ]
        .iter()
        .map(|(p, m)| (v2(p), *m))
        .collect(),
        _ => Vec::new(),
    };
    routes
}

/// Whether `role` may call `method path` (the path as routed, `/v2/...`).
pub fn permits(role: &str, method: &str, path: &str) -> bool {
    if path.starts_with(crate::ui::API_PREFIX) {
        // The dashboard's read-only data: any client app, as FATE's query routes.
        return matches!(role, "client" | "super_client") && method.eq_ignore_ascii_case("GET");
    }
    routes(role)
        .iter()
        .any(|(p, m)| p == path && m.eq_ignore_ascii_case(method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_routes() {
        assert!(permits("client", "POST", "/v2/job/submit"));
        assert!(!permits("client", "GET", "/v2/job/submit"));
        assert!(!permits("client", "POST", "/v2/app/client/create"));
        assert!(!permits("client", "POST", "/v2/permission/grant"));
        assert!(permits("super_client", "POST", "/v2/app/client/create"));
        assert!(permits(
            "super_client",
            "POST",
            "/v2/permission/resource/grant"
        ));
        assert!(!permits("client", "POST", "/v2/partner/job/create"));
        assert!(permits("site", "POST", "/v2/partner/job/create"));
        assert!(permits("site", "POST", "/v2/scheduler/task/report"));
        assert!(!permits("site", "POST", "/v2/job/submit"));
        assert!(!permits("worker", "POST", "/v2/partner/job/create"));
        assert!(!permits("nobody", "POST", "/v2/job/submit"));
    }
}
