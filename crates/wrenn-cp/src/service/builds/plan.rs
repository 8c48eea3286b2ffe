//! A parsed Dockerfile plus the build's arguments → the build plan: every
//! step with its variables expanded, the state it runs in (ENV and ARG
//! values, user, working directory), its cache-key input, and the start
//! spec (CMD/ENTRYPOINT → start command, HEALTHCHECK → ready command).
//! Steps run as `root` in `/` until a `USER`/`WORKDIR`, as in Docker.
use std::collections::BTreeMap;

use super::{
    cache_key::KeyInput,
    dockerfile::{words::Word, BaseRef, Command, Copy, Dockerfile, DockerfileError, Instruction},
};

/// What an imported base (an OCI image's config) brings, as if its own
/// Dockerfile had said ENV, USER, WORKDIR, ENTRYPOINT and CMD. Empty for
/// Wrenn templates and Debian bases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseDefaults {
    /// In the image's order.
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

/// An image's bare interactive default (`CMD ["bash"]`, `["python3"]`): a
/// program that waits for a terminal is not a service, so it is not taken
/// as the template's start command.
fn interactive(argv: &[String]) -> bool {
    const SHELLS: [&str; 12] = [
        "sh", "bash", "dash", "ash", "zsh", "python", "python3", "node", "irb", "ghci", "jshell",
        "iex",
    ];
    match argv {
        [one] => SHELLS.contains(&one.rsplit('/').next().unwrap_or(one)),
        _ => false,
    }
}

/// A whole build, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub base: BaseRef,
    /// Step 1 is `FROM`; the rest follow the Dockerfile's order.
    pub steps: Vec<PlanStep>,
    pub start: StartSpec,
    pub labels: BTreeMap<String, String>,
    pub exposed: Vec<String>,
    /// `--build-arg`s no `ARG` declares (told in the log, as Docker does).
    pub unused_build_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// 1-based, as shown in `[3/7]`.
    pub number: u32,
    pub line: u32,
    /// The step's text with variables expanded: its name in logs and
    /// part of its cache key.
    pub text: String,
    pub action: StepAction,
}

/// What a step does in the build VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Boot (or reuse) the base.
    From,
    Run {
        argv: Vec<String>,
        state: StepState,
    },
    Copy {
        /// Paths inside the context, normalised (no leading `/`, no `..`).
        sources: Vec<String>,
        /// Absolute path in the guest (a trailing `/` kept: a directory).
        dest: String,
        chown: Option<String>,
        state: StepState,
    },
    /// ENV, ARG, WORKDIR, USER, CMD, ...: no work in the VM.
    Config,
}

/// The environment, user and working directory a step runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepState {
    pub env: BTreeMap<String, String>,
    pub user: String,
    pub workdir: String,
}

/// The built template's start spec (the template start/ready contract).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartSpec {
    pub start_command: Option<String>,
    pub ready_command: Option<String>,
    /// The last `USER`, if any.
    pub user: Option<String>,
    /// The last `WORKDIR`, if any.
    pub workdir: Option<String>,
    /// `ENV` values (not ARGs): the template's default environment.
    pub env: BTreeMap<String, String>,
}

impl PlanStep {
    /// The cache-key input of a step that changes the disk (RUN, COPY,
    /// ADD); `None` for the others. `content` is the copied files' hash.
    pub fn key_input<'a>(&'a self, content: Option<&'a [u8; 32]>) -> Option<KeyInput<'a>> {
        let state = match &self.action {
            StepAction::Run { state, .. } | StepAction::Copy { state, .. } => state,
            StepAction::From | StepAction::Config => return None,
        };
        Some(KeyInput {
            canonical: &self.text,
            env: &state.env,
            user: &state.user,
            workdir: &state.workdir,
            content,
        })
    }
}

/// Builds the plan; `build_args` override `ARG` defaults.
pub fn plan(
    file: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Result<BuildPlan, DockerfileError> {
    plan_with(file, build_args, &BaseDefaults::default())
}

/// [`plan`] over a base that brings `defaults` (known once it is imported).
pub fn plan_with(
    file: &Dockerfile,
    build_args: &BTreeMap<String, String>,
    defaults: &BaseDefaults,
) -> Result<BuildPlan, DockerfileError> {
    let mut global = BTreeMap::new();
    for arg in &file.global_args {
        let value = build_args.get(&arg.name).cloned().or_else(|| {
            arg.default
                .as_ref()
                .map(|w| w.expand(&|n| global.get(n).cloned()))
        });
        if let Some(value) = value {
            global.insert(arg.name.clone(), value);
        }
    }
    let image = file.from.image.expand(&|n| global.get(n).cloned());
    let base = BaseRef::classify(file.from.line, &image)?;
    let mut walk = Walk {
        args: BTreeMap::new(),
        env: defaults.env.iter().cloned().collect(),
        user: defaults.user.clone().filter(|u| !u.is_empty()),
        workdir: defaults.workdir.clone().filter(|w| w.starts_with('/')),
        global,
    };
    let mut steps = vec![PlanStep {
        number: 1,
        line: file.from.line,
        text: format!("FROM {image}"),
        action: StepAction::From,
    }];
    let mut declared = Vec::new();
    let (mut cmd, mut entrypoint, mut health) = (None, None, None);
    let mut labels = BTreeMap::new();
    let mut exposed = Vec::new();
    for located in &file.instructions {
        let line = located.line;
        let (text, action) = match &located.instruction {
            Instruction::Run(command) => {
                let argv = argv(command);
                (format!("RUN {}", command_text(command)), walk.run(argv))
            }
            Instruction::Copy(copy) => walk.copy(line, copy)?,
            Instruction::Env(pairs) => {
                let mut parts = Vec::new();
                for (key, value) in pairs {
                    let value = walk.expand(value);
                    parts.push(format!("{key}={}", quote(&value)));
                    walk.env.insert(key.clone(), value);
                }
                (format!("ENV {}", parts.join(" ")), StepAction::Config)
            }
            Instruction::Arg(arg) => {
                declared.push(arg.name.clone());
                let value = match (build_args.get(&arg.name), &arg.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(default)) => Some(walk.expand(default)),
                    (None, None) => walk.global.get(&arg.name).cloned(),
                };
                if let Some(value) = value {
                    walk.args.insert(arg.name.clone(), value);
                }
                (format!("ARG {}", arg.name), StepAction::Config)
            }
            Instruction::Workdir(word) => {
                let dir = join_path(walk.workdir(), &walk.expand(word));
                walk.workdir = Some(dir.clone());
                (format!("WORKDIR {dir}"), StepAction::Config)
            }
            Instruction::User(word) => {
                let user = walk.expand(word);
                walk.user = Some(user.clone());
                (format!("USER {user}"), StepAction::Config)
            }
            Instruction::Cmd(c) => {
                cmd = Some(c.clone());
                (format!("CMD {}", command_text(c)), StepAction::Config)
            }
            Instruction::Entrypoint(c) => {
                entrypoint = Some(c.clone());
                (
                    format!("ENTRYPOINT {}", command_text(c)),
                    StepAction::Config,
                )
            }
            Instruction::Healthcheck(c) => {
                health = Some(c.clone());
                let text = c
                    .as_ref()
                    .map_or("NONE".into(), |c| format!("CMD {}", command_text(c)));
                (format!("HEALTHCHECK {text}"), StepAction::Config)
            }
            Instruction::Expose(ports) => {
                let ports: Vec<String> = ports.iter().map(|p| walk.expand(p)).collect();
                let text = format!("EXPOSE {}", ports.join(" "));
                exposed.extend(ports);
                (text, StepAction::Config)
            }
            Instruction::Label(pairs) => {
                let mut parts = Vec::new();
                for (key, value) in pairs {
                    let value = walk.expand(value);
                    parts.push(format!("{key}={}", quote(&value)));
                    labels.insert(key.clone(), value);
                }
                (format!("LABEL {}", parts.join(" ")), StepAction::Config)
            }
        };
        steps.push(PlanStep {
            number: u32::try_from(steps.len() + 1).unwrap_or(u32::MAX),
            line,
            text,
            action,
        });
    }
    // Docker's inheritance: the image's ENTRYPOINT unless the Dockerfile
    // sets one, its CMD unless the Dockerfile sets CMD or ENTRYPOINT.
    let own_entrypoint = entrypoint.is_some();
    let entrypoint = entrypoint.or_else(|| {
        defaults
            .entrypoint
            .clone()
            .filter(|e| !e.is_empty())
            .map(Command::Exec)
    });
    let cmd = cmd.or_else(|| {
        defaults
            .cmd
            .clone()
            .filter(|c| !c.is_empty() && !own_entrypoint)
            .filter(|c| entrypoint.is_some() || !interactive(c))
            .map(Command::Exec)
    });
    let start = StartSpec {
        start_command: start_command(entrypoint.as_ref(), cmd.as_ref()),
        ready_command: health.flatten().map(|c| shell_text(&c)),
        user: walk.user.clone(),
        workdir: walk.workdir.clone(),
        env: walk.env.clone(),
    };
    let unused_build_args = build_args
        .keys()
        .filter(|k| !declared.contains(k) && !file.global_args.iter().any(|a| &a.name == *k))
        .cloned()
        .collect();
    Ok(BuildPlan {
        base,
        steps,
        start,
        labels,
        exposed,
        unused_build_args,
    })
}

/// The running state while walking the instructions.
struct Walk {
    args: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    user: Option<String>,
    workdir: Option<String>,
    /// ARGs before FROM: visible after it only when re-declared.
    global: BTreeMap<String, String>,
}

impl Walk {
    /// ENV wins over ARG, as in Docker.
    fn expand(&self, word: &Word) -> String {
        word.expand(&|name| self.env.get(name).or_else(|| self.args.get(name)).cloned())
    }

    fn workdir(&self) -> &str {
        self.workdir.as_deref().unwrap_or("/")
    }

    fn state(&self) -> StepState {
        let mut env = self.args.clone();
        env.extend(self.env.clone());
        StepState {
            env,
            user: self.user.clone().unwrap_or_else(|| "root".into()),
            workdir: self.workdir().to_owned(),
        }
    }

    fn run(&self, argv: Vec<String>) -> StepAction {
        StepAction::Run {
            argv,
            state: self.state(),
        }
    }

    fn copy(&self, line: u32, copy: &Copy) -> Result<(String, StepAction), DockerfileError> {
        let keyword = if copy.add { "ADD" } else { "COPY" };
        let mut sources = Vec::new();
        for source in &copy.sources {
            let source = self.expand(source);
            if copy.add {
                if let Some(refusal) = super::dockerfile::parse::add_source_refusal(line, &source) {
                    return Err(refusal);
                }
            }
            sources.push(
                context_path(&source).ok_or_else(|| DockerfileError::Invalid {
                    line,
                    instruction: keyword.into(),
                    message: format!("'{source}' is outside the build context"),
                })?,
            );
        }
        let dest_raw = self.expand(&copy.dest);
        let mut dest = join_path(self.workdir(), &dest_raw);
        if dest_raw.ends_with('/') && !dest.ends_with('/') {
            dest.push('/');
        }
        let chown = copy.chown.as_ref().map(|w| self.expand(w));
        let flag = chown
            .as_ref()
            .map(|c| format!("--chown={c} "))
            .unwrap_or_default();
        let list = serde_json::to_string(&sources).unwrap_or_default();
        let text = format!("{keyword} {flag}{list} {dest}");
        Ok((
            text,
            StepAction::Copy {
                sources,
                dest,
                chown,
                // Copied bytes do not depend on ARG values (only their
                // expanded paths do, and those are in the text).
                state: StepState {
                    env: self.env.clone(),
                    ..self.state()
                },
            },
        ))
    }
}

fn argv(command: &Command) -> Vec<String> {
    match command {
        Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        Command::Exec(argv) => argv.clone(),
    }
}

/// As written: the shell text, or the exec form's JSON array.
fn command_text(command: &Command) -> String {
    match command {
        Command::Shell(s) => s.clone(),
        Command::Exec(argv) => serde_json::to_string(argv).unwrap_or_default(),
    }
}

/// The command as one `/bin/sh -c` string.
fn shell_text(command: &Command) -> String {
    match command {
        Command::Shell(s) => s.clone(),
        Command::Exec(argv) => argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
    }
}

/// Docker's rule: an exec-form ENTRYPOINT takes CMD as its arguments; a
/// shell-form one ignores CMD.
fn start_command(entrypoint: Option<&Command>, cmd: Option<&Command>) -> Option<String> {
    match (entrypoint, cmd) {
        (Some(Command::Exec(e)), Some(c)) => {
            let mut argv = e.clone();
            argv.extend(match c {
                Command::Exec(args) => args.clone(),
                Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            });
            Some(shell_text(&Command::Exec(argv)))
        }
        (Some(e), _) => Some(shell_text(e)),
        (None, Some(c)) => Some(shell_text(c)),
        (None, None) => None,
    }
}

/// Quotes a word for `/bin/sh` when it needs it.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `path` against `base` (absolute `path` wins), `.` and `..` resolved
/// without leaving `/`.
fn join_path(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A source inside the context: normalised, or `None` when `..` leaves it.
fn context_path(source: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
