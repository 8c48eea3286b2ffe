//! The Dockerfile parser: text in, a typed [`Dockerfile`] or a
//! [`DockerfileError`] naming the line out. Pure and total (never panics on
//! any input), so it can be fuzzed. Variable references stay unexpanded
//! here; [`super::plan`] expands them once build arguments are known.
//!
//! Supported: one `FROM` (a Wrenn template; `debian:<suite>` and OCI
//! references parse but are refused as `unsupported_base`), `RUN`, `COPY`,
//! `ADD` (local context only), `ENV`, `ARG`, `WORKDIR`, `USER`, `CMD`,
//! `ENTRYPOINT`, `HEALTHCHECK`, `EXPOSE`, `LABEL`.
pub mod base;
mod lines;
pub(crate) mod parse;
#[cfg(test)]
mod tests;
pub mod words;

pub use base::BaseRef;
pub use parse::parse;
use words::Word;

/// Largest Dockerfile accepted, in bytes.
pub const MAX_DOCKERFILE_BYTES: usize = 256 * 1024;

/// Most instructions (after `FROM`) in one Dockerfile.
pub const MAX_INSTRUCTIONS: usize = 500;

/// A parsed Dockerfile: its base and its instructions after `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// `ARG`s declared before `FROM` (usable in `FROM` only).
    pub global_args: Vec<Arg>,
    /// The `FROM` line's number and reference, unexpanded.
    pub from: From,
    pub instructions: Vec<Located>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub line: u32,
    pub image: Word,
}

/// An instruction and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: u32,
    pub instruction: Instruction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Command),
    /// `COPY` or `ADD` (local sources only).
    Copy(Copy),
    Env(Vec<(String, Word)>),
    Arg(Arg),
    Workdir(Word),
    User(Word),
    Cmd(Command),
    Entrypoint(Command),
    /// `HEALTHCHECK CMD ...`; `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<Command>),
    Expose(Vec<Word>),
    Label(Vec<(String, Word)>),
}

impl Instruction {
    /// The instruction's keyword, as written in messages and logs.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Copy(c) if c.add => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Label(_) => "LABEL",
        }
    }
}

/// A command: shell form (run with `/bin/sh -c`) or exec form (argv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// `ADD` rather than `COPY`.
    pub add: bool,
    pub sources: Vec<Word>,
    pub dest: Word,
    /// `--chown=user[:group]`.
    pub chown: Option<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub default: Option<Word>,
}

/// Why a Dockerfile was refused. Each names its line where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerfileError {
    #[error("the Dockerfile is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the Dockerfile has more than {limit} instructions")]
    TooManyInstructions { limit: usize },
    #[error("the Dockerfile has no FROM instruction")]
    MissingFrom,
    #[error("line {line}: {instruction} is not supported{}", detail_suffix(.detail))]
    UnsupportedInstruction {
        line: u32,
        instruction: String,
        detail: Option<&'static str>,
    },
    #[error("line {line}: FROM {reference}: {reason}")]
    UnsupportedBase {
        line: u32,
        reference: String,
        reason: &'static str,
    },
    #[error("line {line}: {instruction}: {message}")]
    Invalid {
        line: u32,
        instruction: String,
        message: String,
    },
}

fn detail_suffix(detail: &Option<&'static str>) -> String {
    detail.map(|d| format!(" ({d})")).unwrap_or_default()
}

impl DockerfileError {
    /// The API error code: `unsupported_instruction`, `unsupported_base`
    /// or `invalid_dockerfile`.
    pub fn code(&self) -> &'static str {
        match self {
            DockerfileError::UnsupportedInstruction { .. } => "unsupported_instruction",
            DockerfileError::UnsupportedBase { .. } => "unsupported_base",
            _ => "invalid_dockerfile",
        }
    }

    /// The 1-based line the error is on, when it is on one.
    pub fn line(&self) -> Option<u32> {
        match self {
            DockerfileError::UnsupportedInstruction { line, .. }
            | DockerfileError::UnsupportedBase { line, .. }
            | DockerfileError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }
}
