//! E2B's template build flow (the `e2b` SDKs' `Template.build`) over
//! Wrenn's builder: a build is asked for ([`request`]: name, tags,
//! resources; answered an id), its COPY steps' files are uploaded by hash
//! ([`file_link`], [`accept_upload`]), its steps arrive ([`start`]: turned
//! into a Dockerfile and a context by [`steps`] and handed to
//! [`submit`](super::submit), so caching, logs, cancel, versions and tags
//! are those of every build), and it is polled ([`status`]). The E2B
//! template id is the template's name.
pub mod steps;
pub mod store;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{
    context::{Context, ContextError},
    registry_auth::RegistryAuth,
    settings::BuildSettings,
    submit::{self, NewBuild, SubmitError},
};
use crate::{
    auth::Principal,
    db::{
        self,
        template_builds::{BuildRow, LogLine},
    },
    state::AppState,
};
pub use steps::{BuildSteps, Step, StepKind, StepsError};
pub use store::Pending;

/// Log lines one status answer carries at most (E2B's page).
pub const LOG_PAGE: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum E2bBuildError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Steps(#[from] StepsError),
    #[error("template '{0}' not found")]
    TemplateNotFound(String),
    #[error("build '{0}' not found")]
    BuildNotFound(String),
    #[error("build '{0}' has already started")]
    AlreadyStarted(String),
    #[error("the team already has {0} template builds waiting for their steps; start or let them expire")]
    TooManyPending(usize),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("cannot keep the upload: {0}")]
    Io(#[source] std::io::Error),
    #[error("database")]
    Db(#[from] sqlx::Error),
}

/// What `POST /v3/templates` gave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub template_id: String,
    pub build_id: String,
    pub tag: String,
}

/// `name` or `name:tag`, and the extra `tags`: the one tag the build
/// registers besides `latest` (which always moves).
pub fn name_and_tag(name: &str, tags: &[String]) -> Result<(String, String), E2bBuildError> {
    let (name, own) = match name.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (name, None),
    };
    let mut wanted: Vec<&str> = own
        .into_iter()
        .chain(tags.iter().map(String::as_str))
        .filter(|t| *t != "latest")
        .collect();
    wanted.dedup();
    match wanted.as_slice() {
        [] => Ok((name.to_owned(), "latest".to_owned())),
        [tag] => Ok((name.to_owned(), (*tag).to_owned())),
        _ => Err(E2bBuildError::Invalid(format!(
            "a build registers one tag besides 'latest' in this Wrenn (asked: {}); tag the others after it",
            wanted.join(", ")
        ))),
    }
}

/// `POST /v3/templates`: checks the name and keeps the request until its
/// steps come.
pub async fn request(
    state: &AppState,
    principal: &Principal,
    name: &str,
    tags: &[String],
    vcpus: Option<u32>,
    memory_mb: Option<u32>,
) -> Result<Requested, E2bBuildError> {
    let (name, tag) = name_and_tag(name, tags)?;
    let team_id = principal.team_id.as_str();
    submit::check_name(state, team_id, &name, &tag).await?;
    if let (Some(v), Some(m)) = (vcpus, memory_mb) {
        wrenn_types::Resources::new(v, m, None)
            .map_err(|e| E2bBuildError::Invalid(e.to_string()))?;
    }
    // A random UUID, as E2B's (the SDKs parse the build ids of tag answers
    // as one): version 8 over a fresh id's hash.
    let build_id = uuid_text(&Sha256::digest(db::new_id("bld_").as_bytes()));
    let pending = Pending {
        team_id: team_id.to_owned(),
        name: name.clone(),
        tag: tag.clone(),
        vcpus,
        memory_mb,
    };
    if !store::remember(&build_id, pending) {
        return Err(E2bBuildError::TooManyPending(store::MAX_PER_TEAM));
    }
    Ok(Requested {
        template_id: name,
        build_id,
        tag,
    })
}

/// Whether `template` is one the team may upload files for: requested and
/// not started, or built before.
async fn known_template(
    state: &AppState,
    team_id: &str,
    template: &str,
) -> Result<(), E2bBuildError> {
    if store::has_pending(team_id, template)
        || db::templates::has_tags(&state.db, team_id, template).await?
    {
        Ok(())
    } else {
        Err(E2bBuildError::TemplateNotFound(template.to_owned()))
    }
}

/// `GET /templates/{id}/files/{hash}`: present, or a token to upload with.
pub async fn file_link(
    state: &AppState,
    principal: &Principal,
    template: &str,
    hash: &str,
) -> Result<Option<String>, E2bBuildError> {
    if !steps::valid_hash(hash) {
        return Err(E2bBuildError::Invalid(format!(
            "'{hash}' is not a files hash (SHA-256 in hex)"
        )));
    }
    known_template(state, &principal.team_id, template).await?;
    if store::present(&principal.team_id, hash) {
        return Ok(None);
    }
    store::grant(&principal.team_id, template, hash)
        .map(Some)
        .ok_or(E2bBuildError::TooManyPending(store::MAX_PER_TEAM))
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Unknown, spent, expired or for another template or hash: one answer.
    #[error("this upload URL is not valid (expired, used, or for other files)")]
    BadToken,
    #[error("the upload is not a tar archive (plain or gzip): {0}")]
    NotAnArchive(ContextError),
    #[error("cannot keep the upload: {0}")]
    Io(#[source] std::io::Error),
}

/// `PUT <url>`: the grant's team keeps the files under `hash`.
pub fn accept_upload(
    token: &str,
    template: &str,
    hash: &str,
    bytes: &[u8],
) -> Result<(), UploadError> {
    let team_id = store::redeem(token, template, hash).ok_or(UploadError::BadToken)?;
    Context::read(bytes).map_err(UploadError::NotAnArchive)?;
    store::write(&team_id, hash, bytes).map_err(UploadError::Io)
}

/// `POST /v2/templates/{id}/builds/{buildID}`: the steps as a Dockerfile
/// and context, submitted under the id [`request`] gave out.
pub async fn start(
    state: &AppState,
    principal: &Principal,
    template: &str,
    build_id: &str,
    build: &BuildSteps,
    registry_auth: Option<RegistryAuth>,
) -> Result<BuildRow, E2bBuildError> {
    let team_id = principal.team_id.as_str();
    let Some(pending) = store::take(team_id, template, build_id) else {
        return match db::template_builds::get(&state.db, team_id, build_id).await? {
            Some(row) if row.name == template => {
                Err(E2bBuildError::AlreadyStarted(build_id.to_owned()))
            }
            _ => Err(E2bBuildError::BuildNotFound(build_id.to_owned())),
        };
    };
    let result = submit_steps(state, principal, build_id, &pending, build, registry_auth).await;
    if result.is_err() {
        store::put_back(build_id, pending);
    }
    result
}

async fn submit_steps(
    state: &AppState,
    principal: &Principal,
    build_id: &str,
    pending: &Pending,
    build: &BuildSteps,
    registry_auth: Option<RegistryAuth>,
) -> Result<BuildRow, E2bBuildError> {
    let mut uploads = BTreeMap::new();
    for step in build.steps.iter().filter(|s| s.kind == StepKind::Copy) {
        let Some(hash) = step.files_hash.as_deref().filter(|h| steps::valid_hash(h)) else {
            continue; // translate names the step
        };
        if uploads.contains_key(hash) {
            continue;
        }
        if let Some(bytes) = store::read(&pending.team_id, hash) {
            let context = Context::read(&bytes)
                .map_err(|e| E2bBuildError::Invalid(format!("files {hash}: {e}")))?;
            uploads.insert(hash.to_owned(), context);
        }
    }
    let translation = steps::translate(build, &uploads)?;
    // E2B has no per-build "plain HTTP" switch: the operator lists the
    // registries that may be reached without TLS.
    let insecure_registry = BuildSettings::get().insecure_registry(&translation.base);
    let mut context = Context::default();
    for (hash, upload) in uploads {
        context.insert_under(&format!("{}/{hash}", steps::CONTEXT_DIR), upload);
    }
    let tar = (!context.is_empty()).then(|| context.to_tar());
    let request = NewBuild {
        id: Some(build_id.to_owned()),
        name: pending.name.clone(),
        tag: Some(pending.tag.clone()),
        dockerfile: translation.dockerfile,
        build_args: BTreeMap::new(),
        ready_command: translation.ready_command,
        vcpus: pending.vcpus,
        memory_mb: pending.memory_mb,
        registry_auth,
        insecure_registry,
    };
    Ok(submit::submit(state, principal, request, tar.as_deref()).await?)
}

/// A build id as E2B's tag answers carry it: a UUID (E2B's SDKs parse it
/// as one). Builds requested through E2B have UUID ids already; the Wrenn
/// API's `bld_` ids (and versions made by no build, by their template id)
/// map to a stable name-based UUID (RFC 9562 version 8, from SHA-256).
pub fn e2b_build_id(build_id: Option<&str>, template_id: &str) -> String {
    let id = build_id.unwrap_or(template_id);
    if is_uuid(id) {
        return id.to_owned();
    }
    uuid_text(&Sha256::digest(id.as_bytes()))
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

/// The first 16 bytes of `hash` as a version 8, variant RFC 9562 UUID.
fn uuid_text(hash: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A build as `GET .../status` shows it.
#[derive(Debug, Clone)]
pub enum BuildState {
    /// Requested, its steps not sent yet.
    Waiting,
    Started {
        // Boxed: a row is large beside `Waiting`'s nothing.
        row: Box<BuildRow>,
        lines: Vec<LogLine>,
        /// The E2B step the failure is in (`base`, a number, `finalize`).
        failed_step: Option<String>,
    },
}

/// `GET /templates/{id}/builds/{buildID}/status?logsOffset=N`.
pub async fn status(
    state: &AppState,
    team_id: &str,
    template: &str,
    build_id: &str,
    logs_offset: i64,
) -> Result<BuildState, E2bBuildError> {
    let row = match db::template_builds::get(&state.db, team_id, build_id).await? {
        Some(row) if row.name == template => row,
        _ if store::is_pending(team_id, template, build_id) => return Ok(BuildState::Waiting),
        _ => return Err(E2bBuildError::BuildNotFound(build_id.to_owned())),
    };
    let lines = db::template_builds::logs(&state.db, &row.id, logs_offset.max(0), LOG_PAGE).await?;
    let failed_step = match row.error.as_ref().and_then(|e| e.line) {
        Some(line) => {
            let steps = db::template_builds::input(&state.db, &row.id)
                .await?
                .map_or(0, |i| i.dockerfile.matches("\n# e2b step ").count());
            steps::step_of_line(line, steps)
        }
        None => None,
    };
    Ok(BuildState::Started {
        row: Box::new(row),
        lines,
        failed_step,
    })
}
