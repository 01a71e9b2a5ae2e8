//! The one place FATE's return codes are chosen for the application layer's errors: each
//! domain error of `controller::Error` gets its code here, its words from the error itself
//! (FATE's `k[v]` details after the code's base message, or a whole message).

use ferroflow_wire::{Envelope, RetCode};

use crate::controller::{Clash, Denial, Detail, Error, Input, Missing, Op, Shortage};

/// The code and message of a refusal FATE types; `None` for failures it answers untyped.
pub(super) fn typed(error: &Error) -> Option<Envelope> {
    let (code, detail) = match error {
        Error::NotFound(what, d) => (missing(*what), d),
        Error::BadInput(what, d) => (input(*what), d),
        Error::Denied(why, d) => (denial(*why), d),
        Error::Conflict(with, d) => (clash(*with), d),
        Error::Failed(op, d) => (failed(*op), d),
        Error::NoResources(short, d) => (shortage(*short), d),
        Error::CreateRefused { job_id, data, .. } => {
            return Some(
                Envelope::with_code(RetCode::JobCreateFailed, error.to_string())
                    .with_job_id(job_id.to_string())
                    .with_data(data.clone()),
            );
        }
        Error::Invalid(i) => return Some(i.to_envelope()),
        Error::Dag(d) => return Some(Envelope::with_code(RetCode::JobParamsError, d.to_string())),
        _ => return None,
    };
    let message = match detail {
        Detail::Fields(f) => {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            code.message(&f)
        }
        Detail::Message(m) => m.clone(),
    };
    Some(Envelope::with_code(code, message))
}

fn missing(what: Missing) -> RetCode {
    match what {
        Missing::Job => RetCode::JobNotFound,
        Missing::Task => RetCode::TaskNotFound,
        Missing::Table => RetCode::TableNotFound,
        Missing::ModelOutput => RetCode::TaskNoFoundModelOutput,
        Missing::File => RetCode::FileNotFound,
        Missing::App => RetCode::NoFoundAppid,
        Missing::Instance => RetCode::NoFoundInstance,
        Missing::Server => RetCode::ServerNotFound,
    }
}

fn input(what: Input) -> RetCode {
    match what {
        Input::Parameter => RetCode::InvalidParameter,
        Input::Dag => RetCode::JobParamsError,
        Input::Provider => RetCode::ProviderParamsError,
        Input::Device => RetCode::DeviceNotSupported,
        Input::RoleType => RetCode::RoleTypeError,
    }
}

fn denial(why: Denial) -> RetCode {
    match why {
        Denial::Permission => RetCode::NoPermission,
        Denial::Unauthenticated => RetCode::AuthenticationFailed,
        Denial::Token => RetCode::VerifyFailed,
        Denial::Restricted => RetCode::FunctionRestricted,
    }
}

fn clash(with: Clash) -> RetCode {
    match with {
        Clash::TableExists => RetCode::TableExists,
        Clash::JobStatus => RetCode::JobUpdateFailed,
        Clash::TaskStatus => RetCode::TaskUpdateFailed,
    }
}

fn failed(op: Op) -> RetCode {
    match op {
        Op::CreateJob => RetCode::JobCreateFailed,
        Op::StopJob => RetCode::JobKillFailed,
        Op::StartTask => RetCode::TaskStartFailed,
        Op::StopTask => RetCode::TaskKillFailed,
        Op::InheritJob => RetCode::JobInheritanceFailed,
        Op::Grant => RetCode::PermissionOperateError,
    }
}

fn shortage(short: Shortage) -> RetCode {
    match short {
        Shortage::JobNever => RetCode::JobResourceLimitExceeded,
        Shortage::JobNow => RetCode::JobResourceException,
        Shortage::TaskNow => RetCode::TaskResourceException,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_follow_the_base_message_and_messages_stand_alone() {
        let e = Error::refuse(Missing::Task, &[("job_id", "j"), ("task_id", "t")]);
        let env = typed(&e).unwrap();
        assert_eq!(env.code, RetCode::TaskNotFound.code());
        assert_eq!(
            env.message,
            RetCode::TaskNotFound.message(&[("job_id", "j"), ("task_id", "t")])
        );
        let e = Error::bad_parameter("Invalid parameter: x[1]");
        let env = typed(&e).unwrap();
        assert_eq!(
            (env.code, env.message.as_str()),
            (RetCode::InvalidParameter.code(), "Invalid parameter: x[1]")
        );
        assert!(typed(&Error::Refused("no metric data".into())).is_none());
    }
}
