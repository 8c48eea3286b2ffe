//! `template build` (pack the context, submit, follow the log, Ctrl-C
//! cancels) and `template builds|build-status|build-logs|build-cancel|tags`
//! over `/v1/templates/builds` (docs/api.md, "Template builds").

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Method;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{CommandError, Context, EXIT_INTERRUPTED};
use crate::build_context;
use crate::build_logs::{self, Lines, LogEvent};
use crate::cli::BuildArgs;
use crate::client::{Answer, ApiClient, ClientError};
use crate::render;
use crate::responses::{Build, BuildList, BuildStatus, TagList};
use crate::values::{BuildTarget, PathSegment};
use wrenn_types::TemplateName;

/// How often a broken log stream is reopened (from where it broke) before
/// the command gives up; any progress resets the count.
const RECONNECTS: u32 = 5;
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// The `spec` part of `POST /v1/templates/builds`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BuildSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u32>,
    pub public: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_auth: Option<RegistryAuth>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure_registry: bool,
}

/// Registry credentials for an OCI `FROM` (`Debug` hides the password).
#[derive(Clone, Serialize, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The registry credentials the flags ask for: the password from standard
/// input with `--registry-password-stdin`, else `WRENN_REGISTRY_PASSWORD`.
pub fn registry_auth(
    username: Option<String>,
    password_stdin: bool,
    stdin: impl std::io::Read,
    env_password: Option<String>,
) -> Result<Option<RegistryAuth>, CommandError> {
    let Some(username) = username else {
        return Ok(None);
    };
    let password = if password_stdin {
        let mut text = String::new();
        let mut stdin = stdin;
        stdin
            .read_to_string(&mut text)
            .map_err(|source| CommandError::Input {
                what: "the registry password from standard input",
                source,
            })?;
        text.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        env_password.ok_or_else(|| {
            CommandError::Usage(
                "--registry-username needs a password: --registry-password-stdin or WRENN_REGISTRY_PASSWORD".into(),
            )
        })?
    };
    Ok(Some(RegistryAuth { username, password }))
}

pub async fn build(ctx: &Context, args: BuildArgs) -> Result<u8, CommandError> {
    run_build(ctx, args, Some(ctrl_c_channel()), std::io::stderr()).await
}

/// `template build` with its Ctrl-C presses and its log's destination given
/// (the tests press Ctrl-C through the channel).
pub async fn run_build<W: Write>(
    ctx: &Context,
    args: BuildArgs,
    interrupts: Option<mpsc::UnboundedReceiver<()>>,
    err: W,
) -> Result<u8, CommandError> {
    let started = Instant::now();
    let dockerfile_path = args
        .file
        .clone()
        .unwrap_or_else(|| args.context.join("Dockerfile"));
    let dockerfile =
        std::fs::read_to_string(&dockerfile_path).map_err(|source| CommandError::LocalFile {
            path: dockerfile_path.clone(),
            source,
        })?;
    let registry_auth = registry_auth(
        args.registry_username.clone(),
        args.registry_password_stdin,
        std::io::stdin(),
        std::env::var("WRENN_REGISTRY_PASSWORD").ok(),
    )?;
    let packed = build_context::pack(&args.context)?;
    let mut io = FollowIo {
        out: err,
        interrupts,
        started: Some(started),
    };
    for skipped in &packed.skipped {
        writeln!(io.out, "skipping {skipped}: not a file, directory or link")?;
    }
    writeln!(
        io.out,
        "sending build context {}: {} entries, {} KiB ({} KiB compressed)",
        args.context.display(),
        packed.entries,
        packed.content_bytes.div_ceil(1024),
        (packed.archive.len() as u64).div_ceil(1024),
    )?;
    let spec = BuildSpec {
        name: args.target.name.to_string(),
        tag: args.target.tag.as_ref().map(ToString::to_string),
        dockerfile,
        build_args: args
            .build_arg
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect(),
        ready_command: args.ready_cmd,
        vcpus: args.cpu,
        memory_mb: args.memory,
        public: args.public,
        registry_auth,
        insecure_registry: args.insecure_registry,
    };
    let answer = submit(&ctx.client, &spec, &packed.archive).await?;
    let id = answer.body.id.clone();
    if args.detach {
        ctx.output_as(&answer, |b| Some(b.id.clone()))?;
        return Ok(0);
    }
    writeln!(io.out, "build {id}: {}", answer.body.status_line())?;
    let followed = follow(&ctx.client, &id, 0, true, &mut io).await?;
    if followed == Followed::StoppedWaiting {
        writeln!(
            io.out,
            "stopped waiting; the build is being cancelled (wrenn template build-status {id})"
        )?;
        return Ok(EXIT_INTERRUPTED);
    }
    let view: Answer<Build> = ctx
        .client
        .get_as(&format!("/v1/templates/builds/{id}"), &[])
        .await?;
    writeln!(
        io.out,
        "[{:>6.1}s] build {id} {}",
        started.elapsed().as_secs_f64(),
        view.body.status_line()
    )?;
    finish(
        ctx,
        &view,
        followed == Followed::Ended { cancel_asked: true },
    )
}

/// Prints the finished build and gives the exit code: 0 for success, 130
/// for a build this command cancelled, an error otherwise.
fn finish(ctx: &Context, view: &Answer<Build>, cancel_asked: bool) -> Result<u8, CommandError> {
    let build = &view.body;
    match build.status {
        BuildStatus::Succeeded => {
            ctx.output_as(view, |b| {
                Some(format!(
                    "{}:{} {}",
                    b.name,
                    b.tag,
                    b.template_id.as_deref().unwrap_or("-")
                ))
            })?;
            Ok(0)
        }
        BuildStatus::Cancelled if cancel_asked => {
            if ctx.json {
                ctx.output_as(view, |_| None)?;
            }
            Ok(EXIT_INTERRUPTED)
        }
        _ => {
            if ctx.json {
                ctx.output_as(view, |_| None)?;
            }
            Err(failure_of(build))
        }
    }
}

/// The error of a build that did not succeed.
pub fn failure_of(build: &Build) -> CommandError {
    let reason = match (&build.error, build.status) {
        (Some(failure), _) => build_logs::describe_failure(failure),
        (None, BuildStatus::Cancelled) => "it was cancelled".to_owned(),
        (None, status) => format!("it ended {}", status.as_str()),
    };
    CommandError::BuildFailed {
        id: build.id.clone(),
        reason,
    }
}

/// Sends the spec and the context archive as `multipart/form-data`.
pub async fn submit(
    client: &ApiClient,
    spec: &BuildSpec,
    archive: &[u8],
) -> Result<Answer<Build>, ClientError> {
    let spec_json = serde_json::to_vec(spec).map_err(|source| ClientError::Decode {
        url: client.url("/v1/templates/builds").to_string(),
        source,
    })?;
    let (content_type, body) = multipart(&spec_json, archive);
    let rb = client
        .request(Method::POST, "/v1/templates/builds")
        .header("content-type", content_type)
        .body(body);
    client.send_as(rb).await
}

/// A `multipart/form-data` body of the `spec` and `context` parts, with a
/// boundary that occurs in neither.
pub fn multipart(spec: &[u8], archive: &[u8]) -> (String, Vec<u8>) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        ^ u128::from(std::process::id());
    let boundary = choose_boundary(seed, &[spec, archive]);
    let mut body = Vec::with_capacity(spec.len() + archive.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"spec\"\r\n\
             Content-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(spec);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"context\"; \
             filename=\"context.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(archive);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `wrenn-build-SEED-N` with the first N whose text is in none of `parts`.
fn choose_boundary(seed: u128, parts: &[&[u8]]) -> String {
    (0u32..)
        .map(|n| format!("wrenn-build-{seed:032x}-{n}"))
        .find(|candidate| {
            let b = candidate.as_bytes();
            !parts
                .iter()
                .any(|data| data.windows(b.len()).any(|w| w == b))
        })
        .unwrap_or_default()
}

/// Where log lines go and what interrupts the wait.
pub struct FollowIo<W> {
    pub out: W,
    /// Ctrl-C presses: the first cancels the build, the second stops waiting.
    pub interrupts: Option<mpsc::UnboundedReceiver<()>>,
    /// When the command began: lines are prefixed with the time since.
    pub started: Option<Instant>,
}

/// How following a build's log ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// The server sent the end event (or, without follow, the log so far).
    Ended { cancel_asked: bool },
    /// A second Ctrl-C: the command stops waiting for the cancel to land.
    StoppedWaiting,
}

/// Prints the build's log from `offset`; with `follow`, until the build
/// ends, reopening a broken stream where it broke.
pub async fn follow<W: Write>(
    client: &ApiClient,
    id: &str,
    offset: u64,
    follow: bool,
    io: &mut FollowIo<W>,
) -> Result<Followed, CommandError> {
    let path = format!("/v1/templates/builds/{id}/logs");
    let mut next = offset;
    let mut cancel_asked = false;
    let mut failures = 0u32;
    loop {
        let rb = client
            .request(Method::GET, &path)
            .query(&[("offset", next.to_string()), ("follow", follow.to_string())]);
        let opened = tokio::select! {
            opened = client.send(rb) => opened,
            interrupt = recv(&mut io.interrupts) => {
                if on_interrupt(client, id, interrupt, &mut cancel_asked, io).await? {
                    return Ok(Followed::StoppedWaiting);
                }
                continue;
            }
        };
        let response = match opened {
            Ok(response) => response,
            Err(ClientError::Api(api)) => return Err(ClientError::Api(api).into()),
            Err(e) if !follow || failures >= RECONNECTS => return Err(e.into()),
            Err(_) => {
                failures += 1;
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let mut stream = response.bytes_stream();
        let mut lines = Lines::default();
        loop {
            let chunk = tokio::select! {
                chunk = stream.next() => chunk,
                interrupt = recv(&mut io.interrupts) => {
                    if on_interrupt(client, id, interrupt, &mut cancel_asked, io).await? {
                        return Ok(Followed::StoppedWaiting);
                    }
                    continue;
                }
            };
            let done = match chunk {
                Some(Ok(bytes)) => {
                    let mut ended = false;
                    for line in lines.push(&bytes) {
                        ended |= show(&line, &mut next, io)?;
                    }
                    failures = 0;
                    if ended {
                        return Ok(Followed::Ended { cancel_asked });
                    }
                    continue;
                }
                Some(Err(_)) => false,
                None => true,
            };
            let rest = std::mem::take(&mut lines).finish();
            if let Some(line) = rest {
                if show(&line, &mut next, io)? {
                    return Ok(Followed::Ended { cancel_asked });
                }
            }
            if done && !follow {
                return Ok(Followed::Ended { cancel_asked });
            }
            break;
        }
        if !follow {
            return Err(CommandError::LogStreamLost {
                id: id.to_owned(),
                seq: next,
            });
        }
        // The stream closed or broke before the end event: reopen it.
        if failures >= RECONNECTS {
            return Err(CommandError::LogStreamLost {
                id: id.to_owned(),
                seq: next,
            });
        }
        failures += 1;
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// Prints one line of the stream; true when it was the end event.
fn show<W: Write>(line: &[u8], next: &mut u64, io: &mut FollowIo<W>) -> Result<bool, CommandError> {
    // A line this CLI cannot read is skipped: the build goes on regardless.
    let Ok(event) = build_logs::parse_line(line) else {
        return Ok(false);
    };
    match event {
        Some(LogEvent::Log(log)) if log.seq >= *next => {
            *next = log.seq + 1;
            let elapsed = io.started.map(|s| s.elapsed());
            writeln!(io.out, "{}", build_logs::render(&log, elapsed))?;
            io.out.flush()?;
            Ok(false)
        }
        Some(LogEvent::Log(_)) | None => Ok(false),
        Some(LogEvent::End { .. }) => Ok(true),
    }
}

/// Waits for a Ctrl-C; never resolves when there is no channel (or it closed).
async fn recv(interrupts: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match interrupts {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The first Ctrl-C asks the server to cancel; the second answers true (stop
/// waiting). A closed channel only stops listening.
async fn on_interrupt<W: Write>(
    client: &ApiClient,
    id: &str,
    interrupt: Option<()>,
    cancel_asked: &mut bool,
    io: &mut FollowIo<W>,
) -> Result<bool, CommandError> {
    if interrupt.is_none() {
        io.interrupts = None;
        return Ok(false);
    }
    if *cancel_asked {
        return Ok(true);
    }
    *cancel_asked = true;
    writeln!(
        io.out,
        "interrupted: cancelling build {id} (Ctrl-C again to stop waiting)"
    )?;
    let cancel: Result<Answer<Build>, ClientError> = client
        .post_empty_as(&format!("/v1/templates/builds/{id}/cancel"))
        .await;
    if let Err(e) = cancel {
        writeln!(io.out, "{}", render::error_report(&e))?;
    }
    Ok(false)
}

fn ctrl_c_channel() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    rx
}

pub async fn list(ctx: &Context, limit: Option<u32>) -> Result<u8, CommandError> {
    let query: Vec<(String, String)> = limit
        .map(|l| ("limit".to_owned(), l.to_string()))
        .into_iter()
        .collect();
    let answer: Answer<BuildList> = ctx.client.get_as("/v1/templates/builds", &query).await?;
    ctx.output_as(&answer, |list| {
        let rows: Vec<Vec<String>> = list
            .builds()
            .iter()
            .map(|b| {
                vec![
                    b.id.clone(),
                    format!("{}:{}", b.name, b.tag),
                    b.status.as_str().to_owned(),
                    format!("{}/{}", b.steps_done, b.steps_total),
                    b.steps_cached.to_string(),
                    render::cell_of(&b.template_id),
                    b.created_at.clone(),
                ]
            })
            .collect();
        let headers = [
            "ID",
            "TEMPLATE",
            "STATUS",
            "STEPS",
            "CACHED",
            "TEMPLATE ID",
            "CREATED",
        ];
        Some(render::table(&headers, &rows))
    })?;
    Ok(0)
}

pub async fn status(ctx: &Context, id: PathSegment) -> Result<u8, CommandError> {
    let answer: Answer<Build> = ctx
        .client
        .get_as(&format!("/v1/templates/builds/{id}"), &[])
        .await?;
    ctx.output_as(&answer, |b| Some(describe(b)))?;
    Ok(0)
}

pub async fn logs(
    ctx: &Context,
    id: PathSegment,
    follow_on: bool,
    offset: u64,
) -> Result<u8, CommandError> {
    let mut io = FollowIo {
        out: std::io::stdout(),
        interrupts: None,
        started: None,
    };
    follow(&ctx.client, id.as_str(), offset, follow_on, &mut io).await?;
    Ok(0)
}

pub async fn cancel(ctx: &Context, id: PathSegment) -> Result<u8, CommandError> {
    let answer: Answer<Build> = ctx
        .client
        .post_empty_as(&format!("/v1/templates/builds/{id}/cancel"))
        .await?;
    ctx.output_as(&answer, |b| Some(format!("{} {}", b.id, b.status.as_str())))?;
    Ok(0)
}

pub async fn tags(ctx: &Context, name: PathSegment) -> Result<u8, CommandError> {
    let answer: Answer<TagList> = ctx
        .client
        .get_as(&format!("/v1/templates/{name}/tags"), &[])
        .await?;
    print_tags(ctx, &answer)
}

/// `template tag NAME[:FROM] TAG...`: answers every tag of the template.
pub async fn tag(
    ctx: &Context,
    source: BuildTarget,
    tags: Vec<TemplateName>,
) -> Result<u8, CommandError> {
    let from = source.tag.as_ref().map_or("latest", |t| t.as_str());
    let tags: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
    let body = serde_json::json!({ "tags": tags, "from": from });
    let answer: Answer<TagList> = ctx
        .client
        .post_as(&format!("/v1/templates/{}/tags", source.name), &body)
        .await?;
    print_tags(ctx, &answer)
}

/// `template untag NAME TAG...`, one call a tag.
pub async fn untag(
    ctx: &Context,
    name: TemplateName,
    tags: Vec<TemplateName>,
) -> Result<u8, CommandError> {
    for tag in &tags {
        let answer = ctx
            .client
            .delete(&format!("/v1/templates/{name}/tags/{tag}"), &[])
            .await?;
        ctx.output(&answer, |_| None)?;
    }
    Ok(0)
}

fn print_tags(ctx: &Context, answer: &Answer<TagList>) -> Result<u8, CommandError> {
    ctx.output_as(answer, |list| {
        let rows: Vec<Vec<String>> = list
            .tags()
            .iter()
            .map(|t| {
                vec![
                    t.tag.clone(),
                    t.template_id.clone(),
                    render::cell_of(&t.build_id),
                    t.updated_at.clone(),
                ]
            })
            .collect();
        Some(render::table(
            &["TAG", "TEMPLATE ID", "BUILD", "UPDATED"],
            &rows,
        ))
    })?;
    Ok(0)
}

/// `key: value` lines of a build for `build-status`.
pub fn describe(b: &Build) -> String {
    let mut lines = vec![
        format!("id:        {}", b.id),
        format!("template:  {}:{}", b.name, b.tag),
        format!("status:    {}", b.status.as_str()),
        format!(
            "steps:     {}/{} done, {} cached",
            b.steps_done, b.steps_total, b.steps_cached
        ),
    ];
    if let (Some(step), Some(text)) = (b.current_step, &b.current_step_text) {
        lines.push(format!("current:   [{step}/{}] {text}", b.steps_total));
    }
    if let Some(failure) = &b.error {
        lines.push(format!(
            "error:     {}",
            build_logs::describe_failure(failure)
        ));
    }
    if let Some(template) = &b.template_id {
        lines.push(format!("result:    {template}"));
    }
    lines.push(format!("created:   {}", b.created_at));
    if let Some(at) = &b.finished_at {
        lines.push(format!("finished:  {at}"));
    }
    lines.join("\n")
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
