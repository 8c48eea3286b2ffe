//! How the services' typed errors (and the agent's and envd's, which the
//! sandbox and template services carry) answer over HTTP: every variant becomes one
//! [`ApiError`], whose code is a [`wrenn_types::ErrorCode`]. Here in the API
//! layer, not in `crate::error`, so that `error` (used by `auth`) depends on
//! no service.
use crate::{
    agent::{AgentError, AgentState},
    envd::{EnvdError, HostRefusal, Refusal},
    error::{ApiError, HostError},
    lifecycle::SandboxState,
    service::{
        accounts, admin, builds, deletion, hosts, members, sandboxes as sbx, teams,
        templates as tpl,
    },
};
use wrenn_types::ErrorCode;

const SANDBOX: ApiError = ApiError::NotFound { what: "sandbox" };

fn not_running(state: SandboxState) -> ApiError {
    ApiError::SandboxNotRunning {
        state: state.to_string(),
    }
}

fn host_not_connected() -> ApiError {
    ApiError::AgentUnavailable("the sandbox's host is not connected".into())
}

fn reported(state: AgentState) -> String {
    format!("{state:?}").to_lowercase()
}

/// An agent's refusal in API terms.
impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        match err {
            AgentError::NotFound(m) => Self::Conflict(format!("the host does not know this: {m}")),
            AgentError::InvalidArgument(m) => Self::Validation(m),
            AgentError::FailedPrecondition(m) | AgentError::AlreadyExists(m) => Self::Conflict(m),
            AgentError::Exhausted(m) => Self::NoCapacity(m),
            AgentError::Unavailable(m) => Self::AgentUnavailable(m),
        }
    }
}

/// envd's refusal in API terms.
impl From<EnvdError> for ApiError {
    fn from(err: EnvdError) -> Self {
        match err {
            EnvdError::Refused { kind, message } => match kind {
                Refusal::NotFound => Self::NotFound {
                    what: "file or directory",
                },
                Refusal::InvalidArgument => Self::BadRequest(message),
                Refusal::PermissionDenied => {
                    Self::BadRequest(format!("permission denied: {message}"))
                }
                Refusal::AlreadyExists => Self::Conflict(message),
                Refusal::DiskFull => {
                    Self::Conflict(format!("the sandbox's disk is full: {message}"))
                }
                Refusal::Failed => Self::AgentUnavailable(message),
            },
            // The host no longer runs it: the reconciler records why.
            EnvdError::Host {
                refusal: HostRefusal::SandboxGone,
                ..
            } => Self::SandboxNotRunning {
                state: "stopped".into(),
            },
            EnvdError::Host { message, .. } => Self::AgentUnavailable(message),
            EnvdError::Unreachable(m) => Self::AgentUnavailable(m),
        }
    }
}

impl From<sbx::GetSandboxError> for ApiError {
    fn from(err: sbx::GetSandboxError) -> Self {
        match err {
            sbx::GetSandboxError::NotFound => SANDBOX,
            sbx::GetSandboxError::Db(e) => e.into(),
        }
    }
}

impl From<sbx::CreateSandboxError> for ApiError {
    fn from(err: sbx::CreateSandboxError) -> Self {
        use sbx::CreateSandboxError as E;
        match err {
            E::TemplateNotFound(name) => Self::TemplateNotFound(name.to_string()),
            err @ E::QuotaExceeded { .. } => Self::QuotaExceeded(err.to_string()),
            E::PoolExhausted(e) => Self::PoolExhausted(e.to_string()),
            E::Resources(e) => Self::Validation(e.to_string()),
            E::NoFit(why) => Self::NoCapacity(why.to_string()),
            E::HostsFull(e) | E::Host(e) => e.into(),
            E::HostNotConnected => {
                Self::AgentUnavailable("the chosen host is not connected".into())
            }
            err @ E::NotStarted { .. } => Self::AgentUnavailable(err.to_string()),
            E::TemplateCopy(crate::service::template_copies::CopyError::Db(e)) => e.into(),
            err @ E::TemplateCopy(_) => Self::AgentUnavailable(err.to_string()),
            E::Db(e) => e.into(),
            E::Task(e) => Self::internal(e),
        }
    }
}

impl From<sbx::IdempotentCreateError> for ApiError {
    fn from(err: sbx::IdempotentCreateError) -> Self {
        use sbx::IdempotentCreateError as E;
        match err {
            E::Create(e) => e.into(),
            err @ E::KeyReused => Self::Validation(err.to_string()),
            err @ E::StillCreating => Self::Conflict(err.to_string()),
            E::Db(e) => e.into(),
            E::Task(e) => Self::internal(e),
        }
    }
}

impl From<sbx::DestroySandboxError> for ApiError {
    fn from(err: sbx::DestroySandboxError) -> Self {
        use sbx::DestroySandboxError as E;
        match err {
            E::NotFound => SANDBOX,
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::PauseSandboxError> for ApiError {
    fn from(err: sbx::PauseSandboxError) -> Self {
        use sbx::PauseSandboxError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotRunning(state) => not_running(state),
            E::PoolExhausted(e) => Self::PoolExhausted(e.to_string()),
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::ForkSandboxError> for ApiError {
    fn from(err: sbx::ForkSandboxError) -> Self {
        use sbx::ForkSandboxError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotRunning(state) => not_running(state),
            err @ E::CountOutOfRange { .. } => Self::ForkLimitExceeded(err.to_string()),
            err @ E::QuotaExceeded { .. } => Self::QuotaExceeded(err.to_string()),
            E::PoolExhausted(e) => Self::PoolExhausted(e.to_string()),
            E::HostNotConnected => host_not_connected(),
            err @ E::Incomplete => Self::AgentUnavailable(err.to_string()),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
            E::Task(e) => Self::internal(e),
        }
    }
}

impl From<sbx::MetricsHistoryError> for ApiError {
    fn from(err: sbx::MetricsHistoryError) -> Self {
        use sbx::MetricsHistoryError as E;
        match err {
            E::NotFound => SANDBOX,
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::UpdateNetworkError> for ApiError {
    fn from(err: sbx::UpdateNetworkError) -> Self {
        use sbx::UpdateNetworkError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotLive(state) => not_running(state),
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::ResumeSandboxError> for ApiError {
    fn from(err: sbx::ResumeSandboxError) -> Self {
        use sbx::ResumeSandboxError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotPaused(state) => Self::SandboxNotPaused {
                state: state.to_string(),
            },
            E::PoolExhausted(e) => Self::PoolExhausted(e.to_string()),
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::ConnectSandboxError> for ApiError {
    fn from(err: sbx::ConnectSandboxError) -> Self {
        use sbx::ConnectSandboxError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotRunning(state) => not_running(state),
            E::PoolExhausted(e) => Self::PoolExhausted(e.to_string()),
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::SetTimeoutError> for ApiError {
    fn from(err: sbx::SetTimeoutError) -> Self {
        use sbx::SetTimeoutError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotRunning(state) => not_running(state),
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::OpenGuestError> for ApiError {
    fn from(err: sbx::OpenGuestError) -> Self {
        use sbx::OpenGuestError as E;
        match err {
            E::NotFound => SANDBOX,
            E::NotRunning(state) => not_running(state),
            E::HostNotConnected => host_not_connected(),
            E::Db(e) => e.into(),
        }
    }
}

impl From<sbx::GuestCallError> for ApiError {
    fn from(err: sbx::GuestCallError) -> Self {
        match err {
            sbx::GuestCallError::Envd(e) => e.into(),
            sbx::GuestCallError::HostReports(state) => Self::SandboxNotRunning {
                state: reported(state),
            },
            sbx::GuestCallError::Gone => Self::SandboxNotRunning {
                state: "stopped".into(),
            },
        }
    }
}

impl From<sbx::ExecError> for ApiError {
    fn from(err: sbx::ExecError) -> Self {
        match err {
            sbx::ExecError::Open(e) => e.into(),
            sbx::ExecError::Guest(e) => e.into(),
            err @ sbx::ExecError::NoExit => Self::AgentUnavailable(err.to_string()),
        }
    }
}

impl From<tpl::GetTemplateError> for ApiError {
    fn from(err: tpl::GetTemplateError) -> Self {
        match err {
            tpl::GetTemplateError::NotFound(name) => Self::TemplateNotFound(name.into()),
            tpl::GetTemplateError::Db(e) => e.into(),
        }
    }
}

impl From<tpl::DeleteTemplateError> for ApiError {
    fn from(err: tpl::DeleteTemplateError) -> Self {
        use tpl::DeleteTemplateError as E;
        match err {
            E::NotFound(name) => Self::TemplateNotFound(name.into()),
            E::Builtin => Self::Forbidden("built-in templates cannot be deleted"),
            E::InUse(m) => Self::Conflict(m),
            E::Host(e) => e.into(),
            E::Hosts(e) => Self::internal(e),
            E::Db(e) => e.into(),
        }
    }
}

impl From<tpl::SnapshotError> for ApiError {
    fn from(err: tpl::SnapshotError) -> Self {
        use tpl::SnapshotError as E;
        match err {
            E::SandboxNotFound => SANDBOX,
            E::NotRunning(state) => not_running(state),
            err @ E::NameTaken(_) => Self::Conflict(err.to_string()),
            E::HostNotConnected => host_not_connected(),
            E::Host(e) => e.into(),
            E::Task(e) => Self::internal(e),
            E::Db(e) => e.into(),
        }
    }
}

const TEAM: ApiError = ApiError::NotFound { what: "team" };
const NOT_OWNER: ApiError = ApiError::Forbidden("only team owners may do this");

impl From<teams::CreateTeamError> for ApiError {
    fn from(err: teams::CreateTeamError) -> Self {
        match err {
            teams::CreateTeamError::Database(e) => e.into(),
        }
    }
}

impl From<members::ListMembersError> for ApiError {
    fn from(err: members::ListMembersError) -> Self {
        match err {
            members::ListMembersError::TeamNotFound(_) => TEAM,
            members::ListMembersError::Database(e) => e.into(),
        }
    }
}

impl From<members::AddMemberError> for ApiError {
    fn from(err: members::AddMemberError) -> Self {
        use members::AddMemberError as E;
        match err {
            E::TeamNotFound(_) => TEAM,
            E::NotOwner => NOT_OWNER,
            E::UnknownUser { .. } => Self::NotFound { what: "user" },
            err @ E::AlreadyMember => Self::Conflict(err.to_string()),
            E::Database(e) => e.into(),
        }
    }
}

impl From<members::RemoveMemberError> for ApiError {
    fn from(err: members::RemoveMemberError) -> Self {
        use members::RemoveMemberError as E;
        match err {
            E::TeamNotFound(_) => TEAM,
            E::NotOwner => NOT_OWNER,
            E::NotMember => Self::NotFound { what: "member" },
            err @ E::LastOwner => Self::Conflict(err.to_string()),
            E::Database(e) => e.into(),
        }
    }
}

impl From<accounts::SignupError> for ApiError {
    fn from(err: accounts::SignupError) -> Self {
        use accounts::SignupError as E;
        match err {
            err @ E::EmailTaken => Self::Conflict(err.to_string()),
            E::Hash(e) => Self::internal(e),
            E::Task(e) => Self::internal(e),
            E::Database(e) => e.into(),
        }
    }
}

impl From<accounts::LoginError> for ApiError {
    fn from(err: accounts::LoginError) -> Self {
        use accounts::LoginError as E;
        match err {
            // One answer for both, so that emails cannot be probed.
            E::UnknownEmail | E::WrongPassword => Self::Unauthenticated("wrong email or password"),
            E::NoTeam => Self::Unauthenticated("the user has no team"),
            E::LockedOut { retry_after } => Self::TooManyAttempts { retry_after },
            E::Task(e) => Self::internal(e),
            E::Database(e) => e.into(),
        }
    }
}

impl From<accounts::WhoAmIError> for ApiError {
    fn from(err: accounts::WhoAmIError) -> Self {
        use accounts::WhoAmIError as E;
        match err {
            E::UserGone => Self::Unauthenticated("the token's user no longer exists"),
            E::TeamNotFound => TEAM,
            E::Database(e) => e.into(),
        }
    }
}

impl From<admin::SetAdminError> for ApiError {
    fn from(err: admin::SetAdminError) -> Self {
        use admin::SetAdminError as E;
        match err {
            E::NotAdmin => Self::Forbidden("only platform admins may do this"),
            E::UserNotFound => Self::NotFound { what: "user" },
            E::Database(e) => e.into(),
        }
    }
}

impl From<admin::DirectoryError> for ApiError {
    fn from(err: admin::DirectoryError) -> Self {
        use admin::DirectoryError as E;
        match err {
            E::NotAdmin => Self::Forbidden("only platform admins may do this"),
            E::Database(e) => e.into(),
        }
    }
}

impl From<hosts::HostAccessError> for ApiError {
    fn from(err: hosts::HostAccessError) -> Self {
        use hosts::HostAccessError as E;
        match err {
            E::NotFound(_) => Self::NotFound { what: "host" },
            E::NotOwner => Self::Forbidden("only owners of the team may manage its hosts"),
            E::Database(e) => e.into(),
        }
    }
}

impl From<hosts::tags::AddTagsError> for ApiError {
    fn from(err: hosts::tags::AddTagsError) -> Self {
        use hosts::tags::AddTagsError as E;
        match err {
            E::Access(e) => e.into(),
            err @ E::TooMany { .. } => Self::Validation(err.to_string()),
            E::Database(e) => e.into(),
        }
    }
}

impl From<hosts::tags::RemoveTagError> for ApiError {
    fn from(err: hosts::tags::RemoveTagError) -> Self {
        use hosts::tags::RemoveTagError as E;
        match err {
            E::Access(e) => e.into(),
            E::NotFound { .. } => Self::NotFound { what: "tag" },
            E::Database(e) => e.into(),
        }
    }
}

impl From<hosts::IssueTokenError> for ApiError {
    fn from(err: hosts::IssueTokenError) -> Self {
        use hosts::IssueTokenError as E;
        match err {
            E::Access(e) => e.into(),
            E::NotPending(id) => HostError::NotPending(id).into(),
            E::Database(e) => e.into(),
        }
    }
}

impl From<deletion::DeleteTeamError> for ApiError {
    fn from(err: deletion::DeleteTeamError) -> Self {
        use deletion::DeleteTeamError as E;
        match err {
            E::NotFound => TEAM,
            E::NotOwner => Self::Forbidden("only team owners may do this"),
            E::NeedsUser => Self::Forbidden("this needs a user login, not an API key"),
            err @ E::Personal => Self::Conflict(err.to_string()),
            err @ E::HasHosts { .. } => Self::TeamHasHosts(err.to_string()),
            err @ E::SandboxesRemain { .. } => Self::AgentUnavailable(err.to_string()),
            E::Database(e) => e.into(),
        }
    }
}

impl From<deletion::DeleteUserError> for ApiError {
    fn from(err: deletion::DeleteUserError) -> Self {
        use deletion::DeleteUserError as E;
        match err {
            E::NotFound => Self::NotFound { what: "user" },
            E::NeedsUser => Self::Forbidden("this needs a user login, not an API key"),
            err @ E::LastOwner(_) => Self::Conflict(err.to_string()),
            E::Team(e) => e.into(),
            E::Database(e) => e.into(),
        }
    }
}

impl From<builds::submit::SubmitError> for ApiError {
    fn from(err: builds::submit::SubmitError) -> Self {
        use builds::submit::SubmitError as E;
        match err {
            E::Io(e) => ApiError::internal(e),
            E::Db(e) => e.into(),
            other => ApiError::Coded(other.error_code(), other.to_string()),
        }
    }
}

impl From<builds::read::ReadBuildError> for ApiError {
    fn from(err: builds::read::ReadBuildError) -> Self {
        use builds::read::ReadBuildError as E;
        match err {
            E::NotFound(_) => ApiError::Coded(ErrorCode::BuildNotFound, err.to_string()),
            E::Db(e) => e.into(),
        }
    }
}

impl From<builds::tags::TagError> for ApiError {
    fn from(err: builds::tags::TagError) -> Self {
        use builds::tags::TagError as E;
        match err {
            E::TemplateNotFound(name) => ApiError::TemplateNotFound(name),
            // A name:tag that points nowhere is a template version not found.
            err @ E::TagNotFound { .. } => {
                ApiError::Coded(ErrorCode::TemplateNotFound, err.to_string())
            }
            err @ (E::Latest(_) | E::NoTags) => ApiError::validation(err.to_string()),
            E::Db(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use wrenn_types::ErrorCode;

    use super::*;

    /// Every answer a service error maps to carries a shared code, with
    /// that code's status.
    #[test]
    fn service_errors_when_mapped_then_shared_codes_with_their_status() {
        let mapped: Vec<ApiError> = vec![
            sbx::GetSandboxError::NotFound.into(),
            sbx::PauseSandboxError::NotRunning(SandboxState::Paused).into(),
            sbx::PauseSandboxError::HostNotConnected.into(),
            sbx::ResumeSandboxError::NotPaused(SandboxState::Running).into(),
            sbx::CreateSandboxError::QuotaExceeded { live: 3, limit: 3 }.into(),
            sbx::CreateSandboxError::Host(AgentError::Exhausted("full".into())).into(),
            sbx::ExecError::NoExit.into(),
            sbx::GuestCallError::Gone.into(),
            sbx::GuestCallError::HostReports(AgentState::Paused).into(),
            EnvdError::Refused {
                kind: Refusal::DiskFull,
                message: "full".into(),
            }
            .into(),
            EnvdError::Unreachable("silent".into()).into(),
            tpl::DeleteTemplateError::Builtin.into(),
        ];
        for err in mapped {
            let code = ErrorCode::parse(err.code()).unwrap_or(ErrorCode::Internal);
            assert_eq!(code.as_str(), err.code(), "{err}");
            assert_eq!(code.http_status(), err.status().as_u16(), "{err}");
        }
    }

    #[test]
    fn guest_call_error_when_host_reports_paused_then_409_paused() {
        let err = ApiError::from(sbx::GuestCallError::HostReports(AgentState::Paused));
        assert_eq!(err.code(), "sandbox_not_running");
        assert_eq!(err.to_string(), "sandbox is paused, not running");
    }
}
