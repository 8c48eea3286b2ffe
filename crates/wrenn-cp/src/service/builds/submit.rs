//! Submitting a build: the name, tag, Dockerfile, build arguments and
//! context are checked up front (so bad input is refused with its line,
//! not discovered mid-build), the team's cap of active builds is held, the
//! context is kept on this replica's disk, the record is written `queued`
//! and the runner started. Audited.
use std::collections::BTreeMap;

use wrenn_types::ErrorCode;

use super::{
    context::{Context, ContextError},
    dockerfile::{self, base::TemplateRef, BaseRef, DockerfileError},
    plan::{self, StepAction},
    registry_auth::RegistryAuth,
    runner,
    settings::BuildSettings,
};
use crate::{
    audit::{self, Outcome},
    auth::Principal,
    db::{self, template_builds::BuildRow, templates::BUILTINS},
    state::AppState,
};

/// Builds a team may have queued or running at once.
pub const MAX_ACTIVE_PER_TEAM: i64 = 2;

/// A build as asked for (the `spec` part of the upload).
#[derive(Debug, Clone, Default)]
pub struct NewBuild {
    /// The build's id, when the caller gave one out before submitting (the
    /// E2B flow answers it before the steps arrive); else a new one.
    pub id: Option<String>,
    pub name: String,
    pub tag: Option<String>,
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub ready_command: Option<String>,
    pub vcpus: Option<u32>,
    pub memory_mb: Option<u32>,
    /// For an OCI `FROM`: held in memory for the running build only.
    pub registry_auth: Option<RegistryAuth>,
    pub insecure_registry: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Dockerfile(#[from] DockerfileError),
    #[error("line {line}: {message}")]
    MissingContextFile { line: u32, message: String },
    #[error("{0}")]
    BadContext(ContextError),
    #[error("template '{0}' (FROM) not found")]
    BaseNotFound(String),
    #[error("the team already has {0} builds queued or running (the limit is {MAX_ACTIVE_PER_TEAM}); wait for one to end or cancel it")]
    TooManyBuilds(i64),
    #[error(
        "'{0}' is a built-in template or a team template not made by builds; choose another name"
    )]
    NameTaken(String),
    #[error("cannot keep the build context: {0}")]
    Io(#[source] std::io::Error),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

impl SubmitError {
    /// The API's code for this refusal.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            SubmitError::Invalid(_) => ErrorCode::ValidationFailed,
            SubmitError::Dockerfile(e) => match e.code() {
                "unsupported_instruction" => ErrorCode::UnsupportedInstruction,
                "unsupported_base" => ErrorCode::UnsupportedBase,
                _ => ErrorCode::InvalidDockerfile,
            },
            SubmitError::MissingContextFile { .. } => ErrorCode::MissingContextFile,
            SubmitError::BadContext(_) => ErrorCode::BadRequest,
            SubmitError::BaseNotFound(_) => ErrorCode::TemplateNotFound,
            SubmitError::TooManyBuilds(_) => ErrorCode::TooManyBuilds,
            SubmitError::NameTaken(_) => ErrorCode::NameTaken,
            SubmitError::Io(_) | SubmitError::Db(_) => ErrorCode::Internal,
        }
    }
}

fn valid_name(value: &str, what: &str) -> Result<(), SubmitError> {
    let ok = (1..=63).contains(&value.len())
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(SubmitError::Invalid(format!(
            "{what} '{value}' is invalid: use 1-63 characters a-z, 0-9, '-', '_' and '.', starting with a letter or digit"
        )))
    }
}

/// Whether the team may build `name:tag`: valid names, not a built-in,
/// not a team template made otherwise (a snapshot).
pub async fn check_name(
    state: &AppState,
    team_id: &str,
    name: &str,
    tag: &str,
) -> Result<(), SubmitError> {
    valid_name(name, "template name")?;
    valid_name(tag, "tag")?;
    if BUILTINS.iter().any(|(b, _, _)| *b == name) {
        return Err(SubmitError::NameTaken(name.to_owned()));
    }
    if db::templates::by_name(&state.db, team_id, name)
        .await?
        .is_some()
        && !db::templates::has_tags(&state.db, team_id, name).await?
    {
        return Err(SubmitError::NameTaken(name.to_owned()));
    }
    Ok(())
}

/// The `FROM` template: `name` or `name:tag` through the tags.
async fn resolve_base(
    state: &AppState,
    team_id: &str,
    template: &TemplateRef,
) -> Result<db::templates::TemplateRow, SubmitError> {
    db::templates::resolve_ref(&state.db, team_id, template)
        .await?
        .ok_or_else(|| SubmitError::BaseNotFound(template.to_string()))
}

/// Checks and records a build, then starts it; answers its record.
pub async fn submit(
    state: &AppState,
    principal: &Principal,
    request: NewBuild,
    context: Option<&[u8]>,
) -> Result<BuildRow, SubmitError> {
    let team_id = principal.team_id.as_str();
    let tag = request.tag.clone().unwrap_or_else(|| "latest".into());
    check_name(state, team_id, &request.name, &tag).await?;
    let file = dockerfile::parse(&request.dockerfile)?;
    let plan = plan::plan(&file, &request.build_args)?;
    if request.registry_auth.is_some() && !matches!(plan.base, BaseRef::Oci { .. }) {
        return Err(SubmitError::Invalid(
            "registry_auth is only for a FROM image from a registry".into(),
        ));
    }
    let base = match &plan.base {
        BaseRef::Template(template) => {
            runner::JobBase::Template(resolve_base(state, team_id, template).await?)
        }
        BaseRef::Debian { .. } | BaseRef::Oci { .. } => {
            runner::JobBase::Import(runner::BaseImport {
                base: plan.base.clone(),
                file: file.clone(),
                build_args: request.build_args.clone(),
                registry_auth: request.registry_auth.clone(),
                insecure_registry: request.insecure_registry,
            })
        }
    };
    // An imported base has no shape of its own: the built-in base's.
    let shape = match &base {
        runner::JobBase::Template(row) => Some((row.vcpus, row.memory_mb)),
        runner::JobBase::Import(_) => db::templates::resolve(&state.db, team_id, "base")
            .await?
            .map(|row| (row.vcpus, row.memory_mb)),
    }
    .unwrap_or((2, 1024));
    let parsed = context
        .filter(|c| !c.is_empty())
        .map(Context::read)
        .transpose()
        .map_err(SubmitError::BadContext)?;
    for step in &plan.steps {
        if let StepAction::Copy { sources, .. } = &step.action {
            let Some(context) = &parsed else {
                return Err(SubmitError::MissingContextFile {
                    line: step.line,
                    message: format!("{} needs a build context, and none was sent", step.text),
                });
            };
            if let Err(e) = context.content_hash(sources) {
                return Err(SubmitError::MissingContextFile {
                    line: step.line,
                    message: e.to_string(),
                });
            }
        }
    }
    drop(parsed);
    let active = db::template_builds::count_active(&state.db, team_id).await?;
    if active >= MAX_ACTIVE_PER_TEAM {
        return Err(SubmitError::TooManyBuilds(active));
    }
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(1);
    let vcpus = request.vcpus.unwrap_or_else(|| to_u32(shape.0));
    let memory_mb = request.memory_mb.unwrap_or_else(|| to_u32(shape.1));
    wrenn_types::Resources::new(vcpus, memory_mb, None)
        .map_err(|e| SubmitError::Invalid(e.to_string()))?;
    let id = request.id.clone().unwrap_or_else(|| db::new_id("bld_"));
    let settings = BuildSettings::get();
    let context_sha256 = match context.filter(|c| !c.is_empty()) {
        Some(bytes) => {
            settings
                .write_context(&id, bytes)
                .map_err(SubmitError::Io)?;
            use sha2::Digest;
            let digest = sha2::Sha256::digest(bytes);
            Some(
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            )
        }
        None => None,
    };
    let record = db::template_builds::NewBuild {
        id: id.clone(),
        team_id: team_id.to_owned(),
        name: request.name.clone(),
        tag: tag.clone(),
        dockerfile: request.dockerfile.clone(),
        build_args: serde_json::to_string(&request.build_args).unwrap_or_else(|_| "{}".into()),
        ready_command: request.ready_command.clone(),
        vcpus: i64::from(vcpus),
        memory_mb: i64::from(memory_mb),
        context_sha256,
        context_bytes: context.map_or(0, |c| i64::try_from(c.len()).unwrap_or(i64::MAX)),
        steps_total: i64::try_from(plan.steps.len()).unwrap_or(i64::MAX),
        created_by: Some(principal.audit_actor().1.to_owned()),
    };
    if let Err(err) = db::template_builds::insert(&state.db, &record).await {
        settings.remove_context(&id);
        return Err(err.into());
    }
    audit::record(
        &state.db,
        principal,
        "template.build",
        ("template_build", &id),
        Outcome::Ok,
        &format!("{}:{tag}", request.name),
    )
    .await;
    let row = db::template_builds::get(&state.db, team_id, &id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    runner::spawn(
        state.clone(),
        runner::Job {
            id,
            team_id: team_id.to_owned(),
            name: request.name,
            tag,
            plan,
            base,
            ready_command: request.ready_command,
            vcpus,
            memory_mb,
        },
    );
    Ok(row)
}
