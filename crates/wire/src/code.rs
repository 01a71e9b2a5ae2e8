//! FATE Flow's return codes: one table with the number, the symbol and the base message that
//! typed errors start with (`api.md` §5).

use std::fmt;

/// A return code as it appears in the envelope's `code` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetCode {
    Success,
    /// Transport or signing failure when calling another site (substituted for its reply).
    FederatedError,
    JobParamsError,
    JobNotFound,
    JobCreateFailed,
    JobUpdateFailed,
    JobKillFailed,
    JobResourceException,
    JobResourceLimitExceeded,
    JobInheritanceFailed,
    TaskNotFound,
    TaskStartFailed,
    TaskUpdateFailed,
    TaskKillFailed,
    TaskResourceException,
    TaskNoFoundModelOutput,
    TaskRunFailed,
    ComponentRunFailed,
    NoFoundRunResult,
    SiteIsStandalone,
    ProviderParamsError,
    DeviceNotSupported,
    ApiExpired,
    InvalidParameter,
    NoFoundAppid,
    VerifyFailed,
    AuthenticationFailed,
    NoPermission,
    PermissionOperateError,
    NoFoundFile,
    ComponentOutputException,
    RoleTypeError,
    ServerException,
    FunctionRestricted,
    ResponseException,
    ServerNotFound,
    NoFoundInstance,
    TableNotFound,
    TableExists,
    FileNotFound,
    FileExists,
}

impl RetCode {
    /// Every code, in table order; used by tests and docs.
    pub const ALL: [RetCode; 41] = [
        RetCode::Success,
        RetCode::FederatedError,
        RetCode::JobParamsError,
        RetCode::JobNotFound,
        RetCode::JobCreateFailed,
        RetCode::JobUpdateFailed,
        RetCode::JobKillFailed,
        RetCode::JobResourceException,
        RetCode::JobResourceLimitExceeded,
        RetCode::JobInheritanceFailed,
        RetCode::TaskNotFound,
        RetCode::TaskStartFailed,
        RetCode::TaskUpdateFailed,
        RetCode::TaskKillFailed,
        RetCode::TaskResourceException,
        RetCode::TaskNoFoundModelOutput,
        RetCode::TaskRunFailed,
        RetCode::ComponentRunFailed,
        RetCode::NoFoundRunResult,
        RetCode::SiteIsStandalone,
        RetCode::ProviderParamsError,
        RetCode::DeviceNotSupported,
        RetCode::ApiExpired,
        RetCode::InvalidParameter,
        RetCode::NoFoundAppid,
        RetCode::VerifyFailed,
        RetCode::AuthenticationFailed,
        RetCode::NoPermission,
        RetCode::PermissionOperateError,
        RetCode::NoFoundFile,
        RetCode::ComponentOutputException,
        RetCode::RoleTypeError,
        RetCode::ServerException,
        RetCode::FunctionRestricted,
        RetCode::ResponseException,
        RetCode::ServerNotFound,
        RetCode::NoFoundInstance,
        RetCode::TableNotFound,
        RetCode::TableExists,
        RetCode::FileNotFound,
        RetCode::FileExists,
    ];

    /// The number on the wire, and the base message a typed error of this code starts with.
    pub const fn entry(self) -> (i64, &'static str) {
        use RetCode::*;
        match self {
            Success => (0, "success"),
            FederatedError => (104, "Federated schedule error"),
            JobParamsError => (1000, "Job params error"),
            JobNotFound => (1001, "No found job"),
            JobCreateFailed => (1002, "Create job failed"),
            JobUpdateFailed => (1003, "Update job does not take effect"),
            JobKillFailed => (1004, "Kill job failed"),
            JobResourceException => (1005, "Job resource exception"),
            JobResourceLimitExceeded => (1006, "Resource limit exceeded"),
            JobInheritanceFailed => (1007, "Inheritance job failed"),
            TaskNotFound => (2000, "No found task"),
            TaskStartFailed => (2001, "Start task failed"),
            TaskUpdateFailed => (2002, "Update task status does not take effect"),
            TaskKillFailed => (2003, "Kill task failed"),
            TaskResourceException => (2004, "Task resource exception"),
            TaskNoFoundModelOutput => (2005, "No found output model"),
            TaskRunFailed => (2006, "Task run failed"),
            ComponentRunFailed => (2007, "Component run failed"),
            NoFoundRunResult => (2008, "No found run result"),
            SiteIsStandalone => (3000, "Site is standalone"),
            ProviderParamsError => (4000, "Provider params error"),
            DeviceNotSupported => (4001, "Device not supported"),
            ApiExpired => (5000, "Request has expired"),
            InvalidParameter => (5001, "Invalid parameter"),
            NoFoundAppid => (5002, "No found appid"),
            VerifyFailed => (5003, "varify failed!"),
            AuthenticationFailed => (5004, "Authentication Failed"),
            NoPermission => (5005, "No Permission"),
            PermissionOperateError => (5006, "Permission Operate Error"),
            NoFoundFile => (5007, "No Found File"),
            ComponentOutputException => (5008, "Component output exception"),
            RoleTypeError => (5009, "Role Type Error"),
            ServerException => (6000, "Server exception"),
            FunctionRestricted => (6001, "Function restricted"),
            ResponseException => (6002, "Response exception"),
            ServerNotFound => (6003, "No found server"),
            NoFoundInstance => (6004, "No Found Flow Instance"),
            TableNotFound => (7001, "No found table"),
            TableExists => (7002, "Exists table"),
            FileNotFound => (8001, "No found file or dir"),
            FileExists => (8002, "File exists"),
        }
    }

    pub const fn code(self) -> i64 {
        self.entry().0
    }

    pub const fn base_message(self) -> &'static str {
        self.entry().1
    }

    pub fn from_code(code: i64) -> Option<RetCode> {
        RetCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// FATE's typed-error message: `"<base>: k1[v1],k2[v2]"`, the base alone without details.
    pub fn message(self, details: &[(&str, &str)]) -> String {
        if details.is_empty() {
            return self.base_message().to_string();
        }
        let detail: Vec<String> = details.iter().map(|(k, v)| format!("{k}[{v}]")).collect();
        format!("{}: {}", self.base_message(), detail.join(","))
    }
}

impl fmt::Display for RetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in RetCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert_eq!(RetCode::from_code(c.code()), Some(c));
        }
    }

    #[test]
    fn typed_message_lists_details_in_order() {
        assert_eq!(
            RetCode::JobNotFound.message(&[("job_id", "202401011200000000000")]),
            "No found job: job_id[202401011200000000000]"
        );
        assert_eq!(
            RetCode::TaskNotFound.message(&[("job_id", "j"), ("role", "guest")]),
            "No found task: job_id[j],role[guest]"
        );
        assert_eq!(RetCode::SiteIsStandalone.message(&[]), "Site is standalone");
    }
}
