//! E2B's build steps (`POST /v2/templates/{id}/builds/{buildID}`: a base,
//! `COPY`/`ENV`/`RUN`/`WORKDIR`/`USER` steps, a start and a ready command)
//! as the Dockerfile Wrenn's builder takes, so an E2B build is cached,
//! logged and cancelled as any other. Each E2B step gets its own block of
//! [`LINES_PER_STEP`] lines (a comment naming it, then its instructions),
//! so a failed Dockerfile line names its E2B step again ([`step_of_line`]).
//! A COPY's files are the upload of its `filesHash`, put in the context
//! under `e2b/<hash>/`. Pure.
use std::collections::BTreeMap;

use super::super::{
    context::Context,
    dockerfile::{parse::is_variable_name, BaseRef},
};

/// Dockerfile lines each E2B step owns (the base is block 0, the start
/// command the block after the last step).
pub const LINES_PER_STEP: usize = 4;

/// Where a COPY's upload sits in the build context.
pub const CONTEXT_DIR: &str = "e2b";

/// Steps one build may have.
pub const MAX_STEPS: usize = 500;

/// The image the SDK names when a template sets no base (`Template()`):
/// E2B's Debian base, which is Wrenn's `base`.
const DEFAULT_IMAGES: &[&str] = &["e2bdev/base", "e2bdev/base:latest"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Copy,
    Env,
    Run,
    Workdir,
    User,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Copy => "COPY",
            StepKind::Env => "ENV",
            StepKind::Run => "RUN",
            StepKind::Workdir => "WORKDIR",
            StepKind::User => "USER",
        }
    }

    /// E2B's `type` (upper case, as the SDKs send it).
    pub fn parse(value: &str) -> Option<StepKind> {
        Some(match value.to_ascii_uppercase().as_str() {
            "COPY" => StepKind::Copy,
            "ENV" => StepKind::Env,
            "RUN" => StepKind::Run,
            "WORKDIR" => StepKind::Workdir,
            "USER" => StepKind::User,
            _ => return None,
        })
    }
}

/// One step as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub args: Vec<String>,
    pub files_hash: Option<String>,
}

/// A build as sent: the base (`from_image` or `from_template`), the steps
/// and the commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSteps {
    pub from_image: Option<String>,
    pub from_template: Option<String>,
    pub steps: Vec<Step>,
    pub start_cmd: Option<String>,
    pub ready_cmd: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepsError {
    /// `fromImage` or `fromTemplate` that names no image or template.
    #[error("{0}")]
    BadBase(String),
    #[error("step {step}: {message}")]
    Step { step: usize, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The Dockerfile of a build, and the uploads its COPY steps need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The `FROM` reference ([`base_reference`]).
    pub base: String,
    pub dockerfile: String,
    pub ready_command: Option<String>,
}

/// The `FROM` of an E2B base: `fromTemplate` as it is; E2B's default
/// image as `base`; `fromImage` as Docker reads it (`python:3.12` is
/// `docker.io/library/python:3.12`, a Debian suite `debian:<suite>` is
/// built with debootstrap as Wrenn's own `FROM debian:<suite>`, anything
/// with a registry or path is pulled as written).
pub fn base_reference(
    from_image: Option<&str>,
    from_template: Option<&str>,
) -> Result<String, StepsError> {
    let bad = |what: &str, value: &str, hint: &str| {
        StepsError::BadBase(format!("{what} '{value}' {hint}"))
    };
    let (reference, what) = match (from_template, from_image) {
        (Some(t), _) if !t.trim().is_empty() => (t.trim().to_owned(), "fromTemplate"),
        (_, None) => return Ok("base".to_owned()),
        (_, Some(image)) if DEFAULT_IMAGES.contains(&image.trim()) => return Ok("base".to_owned()),
        (_, Some(image)) => {
            let image = image.trim();
            let docker_hub = !image.contains('/') && !image.starts_with("debian:");
            let reference = if docker_hub {
                format!("docker.io/library/{image}")
            } else {
                image.to_owned()
            };
            (reference, "fromImage")
        }
    };
    match BaseRef::classify(1, &reference) {
        Ok(BaseRef::Template(_)) if what == "fromTemplate" => Ok(reference),
        Ok(BaseRef::Oci { .. } | BaseRef::Debian { .. }) if what == "fromImage" => Ok(reference),
        Ok(_) if what == "fromTemplate" => Err(bad(
            what,
            &reference,
            "is not a template name[:tag]; name an image with fromImage",
        )),
        Ok(_) => Err(bad(what, &reference, "is not an image reference")),
        Err(err) => Err(StepsError::BadBase(format!("{what}: {err}"))),
    }
}

/// The E2B step a Dockerfile line of a [`translate`]d build belongs to:
/// `base`, the step's number, or `finalize` (the start command).
pub fn step_of_line(line: i64, steps: usize) -> Option<String> {
    let line = usize::try_from(line).ok().filter(|l| *l >= 1)?;
    let block = (line - 1) / LINES_PER_STEP;
    Some(match block {
        0 => "base".to_owned(),
        b if b <= steps => b.to_string(),
        _ => "finalize".to_owned(),
    })
}

/// A Dockerfile double-quoted word (`$NAME` still expands, as in `ENV`).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A `/bin/sh` single-quoted word.
fn shell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Exec form: `["/bin/sh","-c",command]` (one line whatever the command holds).
fn sh_exec(command: &str) -> String {
    serde_json::to_string(&["/bin/sh", "-c", command]).unwrap_or_default()
}

fn plain_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 64
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// A files hash as the SDKs make it: 64 lower-case hex digits (SHA-256).
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A COPY source relative to its upload: `.` for all of it, else normalised.
fn copy_source(src: &str) -> Result<String, String> {
    if src.starts_with('/') {
        return Err(format!(
            "COPY source '{src}' must be relative to the context"
        ));
    }
    if src.contains(['*', '?', '[']) {
        return Err(format!(
            "COPY source '{src}': wildcards are not supported by this Wrenn yet; name files or directories"
        ));
    }
    let mut parts = Vec::new();
    for part in src.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("COPY source '{src}' leaves the context")),
            p => parts.push(p),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

struct Writer {
    lines: Vec<String>,
}

impl Writer {
    /// Block `block` starts on line `block * LINES_PER_STEP + 1` (and
    /// holds at most [`LINES_PER_STEP`] lines).
    fn block(&mut self, block: usize, lines: Vec<String>) {
        debug_assert!(lines.len() <= LINES_PER_STEP);
        let start = block * LINES_PER_STEP;
        self.lines.resize(start, String::new());
        self.lines.extend(lines);
    }
}

/// The Dockerfile of `build`; `uploads` are the COPY steps' uploads by hash
/// (each must be there and hold the step's source).
pub fn translate(
    build: &BuildSteps,
    uploads: &BTreeMap<String, Context>,
) -> Result<Translation, StepsError> {
    if build.steps.len() > MAX_STEPS {
        return Err(StepsError::Invalid(format!(
            "a build has at most {MAX_STEPS} steps"
        )));
    }
    let base = base_reference(build.from_image.as_deref(), build.from_template.as_deref())?;
    let mut out = Writer { lines: Vec::new() };
    out.block(0, vec![format!("FROM {base}")]);
    let mut user: Option<String> = None;
    for (i, step) in build.steps.iter().enumerate() {
        let number = i + 1;
        let fail = |message: String| StepsError::Step {
            step: number,
            message,
        };
        let mut lines = vec![format!("# e2b step {number}: {}", step.kind.as_str())];
        match step.kind {
            StepKind::Run => {
                let command = step
                    .args
                    .first()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| fail("RUN needs a command".into()))?;
                match step.args.get(1).filter(|u| !u.is_empty()) {
                    Some(as_user) if Some(as_user) != user.as_ref() => {
                        if !plain_user(as_user) {
                            return Err(fail(format!("'{as_user}' is not a user name")));
                        }
                        lines.push(format!("USER {as_user}"));
                        lines.push(format!("RUN {}", sh_exec(command)));
                        lines.push(format!("USER {}", user.as_deref().unwrap_or("root")));
                    }
                    _ => lines.push(format!("RUN {}", sh_exec(command))),
                }
            }
            StepKind::Env => {
                if step.args.is_empty() || step.args.len() % 2 != 0 {
                    return Err(fail("ENV needs name and value pairs".into()));
                }
                let mut pairs = Vec::new();
                for pair in step.args.chunks(2) {
                    let (key, value) = (&pair[0], &pair[1]);
                    if !is_variable_name(key) {
                        return Err(fail(format!("'{key}' is not a variable name")));
                    }
                    if value.contains(['\n', '\r']) {
                        return Err(fail(format!("the value of {key} holds a line break")));
                    }
                    pairs.push(format!("{key}={}", quoted(value)));
                }
                lines.push(format!("ENV {}", pairs.join(" ")));
            }
            StepKind::Workdir => {
                let dir = step
                    .args
                    .first()
                    .filter(|d| !d.trim().is_empty() && !d.contains(['\n', '\r']))
                    .ok_or_else(|| fail("WORKDIR needs a path".into()))?;
                lines.push(format!("WORKDIR {}", quoted(dir)));
            }
            StepKind::User => {
                let name = step
                    .args
                    .first()
                    .ok_or_else(|| fail("USER needs a user".into()))?;
                if !plain_user(name) {
                    return Err(fail(format!("'{name}' is not a user name")));
                }
                lines.push(format!("USER {name}"));
                user = Some(name.clone());
            }
            StepKind::Copy => lines.extend(copy_lines(step, uploads).map_err(fail)?),
        }
        out.block(number, lines);
    }
    if let Some(start) = build.start_cmd.as_deref().filter(|c| !c.trim().is_empty()) {
        out.block(
            build.steps.len() + 1,
            vec![
                "# e2b start command".into(),
                format!("CMD {}", sh_exec(start)),
            ],
        );
    }
    let mut dockerfile = out.lines.join("\n");
    dockerfile.push('\n');
    Ok(Translation {
        base,
        dockerfile,
        ready_command: build.ready_cmd.clone().filter(|c| !c.trim().is_empty()),
    })
}

/// `COPY [--chown=user] ["e2b/<hash>/<src>", "<dest>"]`, then a `chmod`
/// when the step gives a mode.
fn copy_lines(step: &Step, uploads: &BTreeMap<String, Context>) -> Result<Vec<String>, String> {
    let (src, dest) = match step.args.as_slice() {
        [src, dest, ..] if !dest.is_empty() => (src, dest),
        _ => return Err("COPY needs a source and a destination".into()),
    };
    let owner = step.args.get(2).filter(|u| !u.is_empty());
    let mode = step.args.get(3).filter(|m| !m.is_empty());
    let hash = step
        .files_hash
        .as_deref()
        .ok_or_else(|| "COPY needs filesHash (the hash of its upload)".to_owned())?;
    if !valid_hash(hash) {
        return Err(format!("filesHash '{hash}' is not a SHA-256 in hex"));
    }
    let upload = uploads
        .get(hash)
        .ok_or_else(|| format!("the files of '{src}' (filesHash {hash}) were not uploaded"))?;
    let relative = copy_source(src)?;
    let selection = upload
        .select(&relative)
        .map_err(|_| format!("the upload for filesHash {hash} holds no '{src}'"))?;
    let source = if relative == "." {
        format!("{CONTEXT_DIR}/{hash}")
    } else {
        format!("{CONTEXT_DIR}/{hash}/{relative}")
    };
    if dest.contains(['\n', '\r']) {
        return Err("the COPY destination holds a line break".into());
    }
    let chown = match owner {
        Some(u) if !plain_user(u) => return Err(format!("'{u}' is not a user name")),
        Some(u) => format!("--chown={u} "),
        None => String::new(),
    };
    let paths = serde_json::to_string(&[source.as_str(), dest.as_str()]).unwrap_or_default();
    let mut lines = vec![format!("COPY {chown}{paths}")];
    if let Some(mode) = mode {
        if mode.is_empty() || mode.len() > 4 || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(format!("mode '{mode}' is not an octal permission"));
        }
        let target = if !selection.dir && dest.ends_with('/') {
            format!("{dest}{}", selection.base)
        } else {
            dest.clone()
        };
        let flag = if selection.dir { "-R " } else { "" };
        lines.push(format!(
            "RUN {}",
            sh_exec(&format!("chmod {flag}{mode} {}", shell_quoted(&target)))
        ));
    }
    Ok(lines)
}

#[cfg(test)]
#[path = "steps_tests.rs"]
mod tests;
