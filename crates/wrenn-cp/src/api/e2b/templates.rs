//! E2B's template API, the calls of the SDKs' `Template.build`:
//! `POST /v3/templates` (202 `{templateID, buildID, ...}`),
//! `GET /templates/{id}/files/{hash}` (201 `{present, url?}`) and the
//! `PUT` of a tar.gz to that URL (no API key: the URL's token is the
//! grant), `POST /v2/templates/{id}/builds/{buildID}` (202), the status
//! poll with `logsOffset`, `GET /templates/aliases/{alias}`,
//! `GET /templates` and the tags (`POST`/`DELETE /templates/tags`,
//! `GET /templates/{id}/tags`). The rules are `service::builds::e2b`'s
//! and `service::builds::tags`'.
use axum::{
    extract::{OriginalUri, Request, State},
    http::{header, request::Parts, StatusCode},
    Json,
};
use serde::{Deserialize, Serialize};

use super::{
    error::{E2bError, E2bResult},
    extract::{Body, Caller},
};
use crate::{
    api::{
        extract::{ApiPath, ApiQuery},
        rfc3339,
    },
    db::{self, template_builds::BuildStatus},
    service::builds::{
        e2b::{self as service, BuildState, BuildSteps, Step, StepKind},
        registry_auth::RegistryAuth,
        settings::BuildSettings,
    },
    state::AppState,
};

/// E2B's `TemplateBuildRequestV3` (`alias` is the older name of `name`).
#[derive(Debug, Deserialize)]
pub struct RequestBody {
    name: Option<String>,
    alias: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(rename = "cpuCount")]
    cpu_count: Option<u32>,
    #[serde(rename = "memoryMB")]
    memory_mb: Option<u32>,
}

/// E2B's `TemplateRequestResponseV3`.
#[derive(Debug, Serialize)]
pub struct Requested {
    #[serde(rename = "templateID")]
    template_id: String,
    #[serde(rename = "buildID")]
    build_id: String,
    public: bool,
    names: Vec<String>,
    tags: Vec<String>,
    aliases: Vec<String>,
}

/// `POST /v3/templates`.
pub async fn request(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Body(body): Body<RequestBody>,
) -> E2bResult<(StatusCode, Json<Requested>)> {
    let name = body
        .name
        .or(body.alias)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| E2bError::bad_request("name is required"))?;
    let asked = service::request(
        &state,
        &principal,
        &name,
        &body.tags,
        body.cpu_count,
        body.memory_mb,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Requested {
            names: vec![asked.template_id.clone()],
            aliases: vec![asked.template_id.clone()],
            tags: vec![asked.tag],
            template_id: asked.template_id,
            build_id: asked.build_id,
            public: false,
        }),
    ))
}

/// E2B's `TemplateBuildFileUpload`.
#[derive(Debug, Serialize)]
pub struct FileUpload {
    present: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// Where this request reached the E2B API (scheme, host, and the `/e2b`
/// prefix when it came that way), so the upload URL is one Wrenn serves.
fn api_base(state: &AppState, parts: &Parts) -> String {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let original = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path().to_owned(), |o| o.path().to_owned());
    let prefix = original.strip_suffix(parts.uri.path()).unwrap_or("");
    let tls = crate::api::authenticate::over_tls(parts, state)
        || state
            .config
            .domain
            .as_ref()
            .is_some_and(|d| host.eq_ignore_ascii_case(&format!("api.{d}")));
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{host}{prefix}")
}

/// `GET /templates/{templateID}/files/{hash}`: 201, `present`, and when it
/// is not, the URL to `PUT` the tar.gz to.
pub async fn file_link(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiPath((template, hash)): ApiPath<(String, String)>,
    request: Request,
) -> E2bResult<(StatusCode, Json<FileUpload>)> {
    let token = service::file_link(&state, &principal, &template, &hash).await?;
    let (parts, _) = request.into_parts();
    let url = token.map(|token| {
        format!(
            "{}/templates/{}/files/{hash}/{token}",
            api_base(&state, &parts),
            percent_encoded(&template)
        )
    });
    Ok((
        StatusCode::CREATED,
        Json(FileUpload {
            present: url.is_none(),
            url,
        }),
    ))
}

/// One path segment, percent-encoded.
fn percent_encoded(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `PUT <url>`: the tar.gz of a COPY's files. No API key (the token is the
/// grant); `Content-Length` required and at most the build context cap.
pub async fn upload(
    ApiPath((template, hash, token)): ApiPath<(String, String, String)>,
    request: Request,
) -> E2bResult<StatusCode> {
    let limit = BuildSettings::get().context_max_bytes;
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .ok_or_else(|| E2bError::new(StatusCode::LENGTH_REQUIRED, "Content-Length is required"))?;
    if length > limit {
        return Err(E2bError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the upload is larger than {limit} bytes"),
        ));
    }
    let bytes = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| {
            E2bError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the upload is larger than {limit} bytes"),
            )
        })?;
    tokio::task::spawn_blocking(move || service::accept_upload(&token, &template, &hash, &bytes))
        .await
        .map_err(|e| E2bError::from(crate::error::ApiError::internal(e)))??;
    Ok(StatusCode::OK)
}

/// One step of E2B's `TemplateBuildStartV2`.
#[derive(Debug, Deserialize)]
pub struct StepBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(rename = "filesHash")]
    files_hash: Option<String>,
}

/// E2B's `TemplateBuildStartV2` (`force`, `forceUpload`: every step is
/// cached by its inputs, so an unchanged step is reused either way).
#[derive(Debug, Deserialize)]
pub struct StartBody {
    #[serde(rename = "fromImage")]
    from_image: Option<String>,
    #[serde(rename = "fromTemplate")]
    from_template: Option<String>,
    #[serde(rename = "fromImageRegistry")]
    from_image_registry: Option<ImageRegistry>,
    #[serde(default)]
    steps: Vec<StepBody>,
    #[serde(rename = "startCmd")]
    start_cmd: Option<String>,
    #[serde(rename = "readyCmd")]
    ready_cmd: Option<String>,
}

/// E2B's `fromImageRegistry`: the credentials of `fromImage`'s registry.
/// Wrenn pulls with a username and password (`type: registry`); the cloud
/// kinds (`aws`, `gcp`) are named so the refusal can say so.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ImageRegistry {
    Registry { username: String, password: String },
    Aws {},
    Gcp {},
}

impl std::fmt::Debug for ImageRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageRegistry::Registry { username, .. } => f
                .debug_struct("Registry")
                .field("username", username)
                .finish_non_exhaustive(),
            ImageRegistry::Aws {} => f.write_str("Aws"),
            ImageRegistry::Gcp {} => f.write_str("Gcp"),
        }
    }
}

impl ImageRegistry {
    fn auth(self) -> E2bResult<RegistryAuth> {
        match self {
            ImageRegistry::Registry { username, password } => Ok(RegistryAuth {
                username,
                password: crate::secret::SecretString::new(password),
            }),
            ImageRegistry::Aws {} | ImageRegistry::Gcp {} => Err(E2bError::bad_request(
                "fromImageRegistry: only type 'registry' (a username and password) is supported; \
                 for ECR or Artifact Registry pass a token as the password",
            )),
        }
    }
}

/// `POST /v2/templates/{templateID}/builds/{buildID}`: 202.
pub async fn start(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiPath((template, build_id)): ApiPath<(String, String)>,
    Body(body): Body<StartBody>,
) -> E2bResult<StatusCode> {
    let registry_auth = body
        .from_image_registry
        .map(ImageRegistry::auth)
        .transpose()?;
    let mut steps = Vec::with_capacity(body.steps.len());
    for (i, step) in body.steps.into_iter().enumerate() {
        let kind = StepKind::parse(&step.kind).ok_or_else(|| {
            E2bError::bad_request(format!(
                "step {}: type '{}' is not supported (COPY, ENV, RUN, WORKDIR, USER)",
                i + 1,
                step.kind
            ))
        })?;
        steps.push(Step {
            kind,
            args: step.args,
            files_hash: step.files_hash,
        });
    }
    let build = BuildSteps {
        from_image: body.from_image,
        from_template: body.from_template,
        steps,
        start_cmd: body.start_cmd,
        ready_cmd: body.ready_cmd,
    };
    service::start(
        &state,
        &principal,
        &template,
        &build_id,
        &build,
        registry_auth,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// The status query (`limit` and `level` are ignored: a page is at most
/// 100 entries of every level).
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    #[serde(rename = "logsOffset")]
    logs_offset: Option<i64>,
}

/// E2B's `BuildLogEntry`.
#[derive(Debug, Serialize)]
pub struct LogEntry {
    timestamp: String,
    message: String,
    level: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<String>,
}

/// E2B's `BuildStatusReason`.
#[derive(Debug, Serialize)]
pub struct Reason {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<String>,
}

/// E2B's `TemplateBuildInfo`.
#[derive(Debug, Serialize)]
pub struct BuildInfo {
    #[serde(rename = "templateID")]
    template_id: String,
    #[serde(rename = "buildID")]
    build_id: String,
    status: &'static str,
    logs: Vec<String>,
    #[serde(rename = "logEntries")]
    log_entries: Vec<LogEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Reason>,
}

/// E2B's status of a Wrenn build.
fn e2b_status(status: BuildStatus) -> &'static str {
    match status {
        BuildStatus::Queued | BuildStatus::Building => "building",
        BuildStatus::Succeeded => "ready",
        BuildStatus::Failed | BuildStatus::Cancelled => "error",
    }
}

/// `GET /templates/{templateID}/builds/{buildID}/status?logsOffset=N`.
pub async fn status(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiPath((template, build_id)): ApiPath<(String, String)>,
    query: Result<ApiQuery<StatusQuery>, crate::error::ApiError>,
) -> E2bResult<Json<BuildInfo>> {
    let ApiQuery(query) = query?;
    let offset = query.logs_offset.unwrap_or(0);
    if offset < 0 {
        return Err(E2bError::bad_request("logsOffset must not be negative"));
    }
    let found = service::status(&state, &principal.team_id, &template, &build_id, offset).await?;
    let (status, lines, reason) = match found {
        BuildState::Waiting => ("waiting", Vec::new(), None),
        BuildState::Started {
            row,
            lines,
            failed_step,
        } => {
            let reason = match (&row.status, row.error) {
                (BuildStatus::Cancelled, error) => Some(Reason {
                    message: error.map_or_else(|| "the build was cancelled".into(), |e| e.message),
                    step: failed_step,
                }),
                (BuildStatus::Failed, Some(error)) => Some(Reason {
                    message: error.message,
                    step: failed_step,
                }),
                (BuildStatus::Failed, None) => Some(Reason {
                    message: "the build failed".into(),
                    step: failed_step,
                }),
                _ => None,
            };
            (e2b_status(row.status), lines, reason)
        }
    };
    let log_entries: Vec<LogEntry> = lines
        .into_iter()
        .map(|line| LogEntry {
            timestamp: rfc3339(line.at),
            level: if line.stream == "stderr" {
                "warn"
            } else {
                "info"
            },
            message: line.text,
            step: None,
        })
        .collect();
    Ok(Json(BuildInfo {
        template_id: template,
        build_id,
        status,
        logs: log_entries.iter().map(|e| e.message.clone()).collect(),
        log_entries,
        reason,
    }))
}

/// E2B's `TemplateAliasResponse`.
#[derive(Debug, Serialize)]
pub struct Alias {
    #[serde(rename = "templateID")]
    template_id: String,
    public: bool,
}

/// `GET /templates/aliases/{alias}`: 200 for a name the team can start
/// (its own or a built-in), else 404. Names are the team's own in Wrenn,
/// so another team's template of that name is no one's here (no 403).
pub async fn alias(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiPath(alias): ApiPath<String>,
) -> E2bResult<Json<Alias>> {
    let name = alias.split_once(':').map_or(alias.as_str(), |(n, _)| n);
    let row = db::templates::resolve(&state.db, &principal.team_id, name)
        .await?
        .ok_or_else(|| E2bError::not_found(format!("template '{alias}' not found")))?;
    Ok(Json(Alias {
        template_id: row.name,
        public: row.builtin,
    }))
}

/// E2B's `Template` (listed).
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(rename = "templateID")]
    template_id: String,
    #[serde(rename = "buildID")]
    build_id: String,
    #[serde(rename = "cpuCount")]
    cpu_count: i64,
    #[serde(rename = "memoryMB")]
    memory_mb: i64,
    #[serde(rename = "diskSizeMB")]
    disk_size_mb: i64,
    public: bool,
    aliases: Vec<String>,
    names: Vec<String>,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
    #[serde(rename = "createdBy")]
    created_by: Option<()>,
    #[serde(rename = "lastSpawnedAt")]
    last_spawned_at: Option<String>,
    #[serde(rename = "spawnCount")]
    spawn_count: i64,
    #[serde(rename = "buildCount")]
    build_count: i64,
    #[serde(rename = "envdVersion")]
    envd_version: &'static str,
    #[serde(rename = "buildStatus")]
    build_status: &'static str,
}

/// `GET /templates`: the templates the team can start (the built-ins and
/// its own), as Wrenn's template list has them.
pub async fn list(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> E2bResult<Json<Vec<Listed>>> {
    let rows = crate::service::templates::list(&state, &principal.team_id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| Listed {
                template_id: row.name.clone(),
                build_id: row.id,
                cpu_count: row.vcpus,
                memory_mb: row.memory_mb,
                disk_size_mb: row.disk_mb.unwrap_or(0),
                public: row.builtin,
                aliases: vec![row.name.clone()],
                names: vec![row.name],
                created_at: rfc3339(row.created_at),
                updated_at: rfc3339(row.created_at),
                created_by: None,
                last_spawned_at: None,
                spawn_count: 0,
                build_count: 1,
                envd_version: super::views::ENVD_VERSION,
                build_status: "ready",
            })
            .collect(),
    ))
}

/// E2B's `AssignTemplateTagsRequest`: `target` is `name[:tag]`.
#[derive(Debug, Deserialize)]
pub struct AssignTagsBody {
    target: String,
    tags: Vec<String>,
}

/// E2B's `AssignedTemplateTags`.
#[derive(Debug, Serialize)]
pub struct AssignedTags {
    tags: Vec<String>,
    #[serde(rename = "buildID")]
    build_id: String,
}

fn e2b_tags(tags: &[String]) -> E2bResult<Vec<wrenn_types::TemplateTag>> {
    tags.iter()
        .map(|t| {
            wrenn_types::TemplateTag::parse(t)
                .ok_or_else(|| E2bError::bad_request(format!("tag '{t}' is not a valid tag")))
        })
        .collect()
}

/// `POST /templates/tags`: 201.
pub async fn assign_tags(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Body(body): Body<AssignTagsBody>,
) -> E2bResult<(StatusCode, Json<AssignedTags>)> {
    let target = wrenn_types::TemplateRef::parse(&body.target).ok_or_else(|| {
        E2bError::bad_request(format!("target '{}' is not name or name:tag", body.target))
    })?;
    let tags = e2b_tags(&body.tags)?;
    let from = target
        .tag
        .clone()
        .unwrap_or_else(wrenn_types::TemplateTag::latest);
    let source = crate::service::builds::tags::assign(
        &state,
        &principal,
        target.name.as_str(),
        &from,
        &tags,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AssignedTags {
            tags: body.tags,
            build_id: service::e2b_build_id(source.build_id.as_deref(), &source.template_id),
        }),
    ))
}

/// E2B's `DeleteTemplateTagsRequest`.
#[derive(Debug, Deserialize)]
pub struct RemoveTagsBody {
    name: String,
    tags: Vec<String>,
}

/// `DELETE /templates/tags`: 204.
pub async fn remove_tags(
    State(state): State<AppState>,
    Caller(principal): Caller,
    Body(body): Body<RemoveTagsBody>,
) -> E2bResult<StatusCode> {
    let tags = e2b_tags(&body.tags)?;
    crate::service::builds::tags::remove(&state, &principal, &body.name, &tags).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// E2B's `TemplateTag`.
#[derive(Debug, Serialize)]
pub struct TagView {
    tag: String,
    #[serde(rename = "buildID")]
    build_id: String,
    #[serde(rename = "createdAt")]
    created_at: String,
}

/// `GET /templates/{templateID}/tags`: a built template's tags.
pub async fn tags(
    State(state): State<AppState>,
    Caller(principal): Caller,
    ApiPath(template): ApiPath<String>,
) -> E2bResult<Json<Vec<TagView>>> {
    let rows = db::templates::tags(&state.db, &principal.team_id, &template).await?;
    if rows.is_empty() {
        return Err(E2bError::not_found(format!(
            "template '{template}' not found"
        )));
    }
    Ok(Json(
        rows.into_iter()
            .map(|t| TagView {
                build_id: service::e2b_build_id(t.build_id.as_deref(), &t.template_id),
                tag: t.tag,
                created_at: rfc3339(t.updated_at),
            })
            .collect(),
    ))
}
