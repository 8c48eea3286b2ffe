//! Logical lines → instructions. Each instruction's arguments are checked
//! here (flags, forms, counts); values stay [`Word`]s with their variables.
use super::{
    lines::{logical_lines, LogicalLine},
    words::{self, Segment, Word},
    Arg, Command, Copy, Dockerfile, DockerfileError, From, Instruction, Located,
    MAX_DOCKERFILE_BYTES, MAX_INSTRUCTIONS,
};

/// Parses a Dockerfile. See the module docs for what is supported.
pub fn parse(source: &str) -> Result<Dockerfile, DockerfileError> {
    if source.len() > MAX_DOCKERFILE_BYTES {
        return Err(DockerfileError::TooLarge {
            limit: MAX_DOCKERFILE_BYTES,
        });
    }
    let mut global_args = Vec::new();
    let mut from: Option<From> = None;
    let mut instructions = Vec::new();
    for LogicalLine { line, text } in logical_lines(source) {
        let text = text.trim();
        let (keyword, args) = match text.find(char::is_whitespace) {
            Some(at) => (&text[..at], text[at..].trim()),
            None => (text, ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        let cx = Cx {
            line,
            keyword: &keyword,
        };
        if from.is_none() {
            match keyword.as_str() {
                "ARG" => global_args.extend(cx.args(args)?),
                "FROM" => from = Some(cx.from(args)?),
                k if SUPPORTED.contains(&k) => return Err(cx.invalid("comes before FROM")),
                _ => return Err(cx.unsupported(None)),
            }
            continue;
        }
        match keyword.as_str() {
            "ARG" => instructions.extend(cx.args(args)?.into_iter().map(|a| Located {
                line,
                instruction: Instruction::Arg(a),
            })),
            _ => instructions.push(Located {
                line,
                instruction: cx.instruction(args)?,
            }),
        }
        if instructions.len() > MAX_INSTRUCTIONS {
            return Err(DockerfileError::TooManyInstructions {
                limit: MAX_INSTRUCTIONS,
            });
        }
    }
    let from = from.ok_or(DockerfileError::MissingFrom)?;
    Ok(Dockerfile {
        global_args,
        from,
        instructions,
    })
}

const SUPPORTED: [&str; 13] = [
    "FROM",
    "RUN",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "CMD",
    "ENTRYPOINT",
    "HEALTHCHECK",
    "EXPOSE",
    "LABEL",
];

const HEALTHCHECK_OPTIONS: [&str; 5] = [
    "--interval",
    "--timeout",
    "--start-period",
    "--start-interval",
    "--retries",
];

/// The line being parsed, for its errors.
struct Cx<'a> {
    line: u32,
    keyword: &'a str,
}

impl Cx<'_> {
    fn invalid(&self, message: impl Into<String>) -> DockerfileError {
        DockerfileError::Invalid {
            line: self.line,
            instruction: self.keyword.to_owned(),
            message: message.into(),
        }
    }

    fn unsupported(&self, detail: Option<&'static str>) -> DockerfileError {
        self.unsupported_named(self.keyword, detail)
    }

    fn unsupported_named(&self, what: &str, detail: Option<&'static str>) -> DockerfileError {
        DockerfileError::UnsupportedInstruction {
            line: self.line,
            instruction: what.chars().take(48).collect(),
            detail,
        }
    }

    fn words(&self, args: &str) -> Result<Vec<Word>, DockerfileError> {
        words::split(args).map_err(|e| self.invalid(e.to_string()))
    }

    fn instruction(&self, args: &str) -> Result<Instruction, DockerfileError> {
        Ok(match self.keyword {
            "FROM" => return Err(self.unsupported(Some("multi-stage builds: only one FROM"))),
            "RUN" => Instruction::Run(self.run(args)?),
            "COPY" => Instruction::Copy(self.copy(args, false)?),
            "ADD" => Instruction::Copy(self.copy(args, true)?),
            "ENV" => Instruction::Env(self.env(args)?),
            "WORKDIR" => Instruction::Workdir(self.one_word(args)?),
            "USER" => Instruction::User(self.one_word(args)?),
            "CMD" => Instruction::Cmd(self.command(args)?),
            "ENTRYPOINT" => Instruction::Entrypoint(self.command(args)?),
            "HEALTHCHECK" => Instruction::Healthcheck(self.healthcheck(args)?),
            "EXPOSE" => Instruction::Expose(self.some_words(args)?),
            "LABEL" => Instruction::Label(self.assignments(args)?),
            "MAINTAINER" => return Err(self.unsupported(Some("use LABEL"))),
            "SHELL" => return Err(self.unsupported(Some("commands run with /bin/sh -c"))),
            "VOLUME" | "ONBUILD" | "STOPSIGNAL" => return Err(self.unsupported(None)),
            _ => return Err(self.unsupported(None)),
        })
    }

    fn from(&self, args: &str) -> Result<From, DockerfileError> {
        if args.starts_with("--") {
            return Err(self.unsupported_named("FROM --platform", Some("flags on FROM")));
        }
        let words = self.words(args)?;
        match words.as_slice() {
            [image] => Ok(From {
                line: self.line,
                image: image.clone(),
            }),
            [image, as_, _alias] if as_.literal().is_some_and(|a| a.eq_ignore_ascii_case("as")) => {
                Ok(From {
                    line: self.line,
                    image: image.clone(),
                })
            }
            _ => Err(self.invalid("expects one image: FROM <template>[:<tag>] [AS <name>]")),
        }
    }

    fn args(&self, args: &str) -> Result<Vec<Arg>, DockerfileError> {
        let words = self.some_words(args)?;
        words
            .into_iter()
            .map(|word| {
                let (name, default) = match word.split_assignment() {
                    Some((name, value)) => (name, Some(value)),
                    None => (word.literal().unwrap_or_default(), None),
                };
                if !is_variable_name(&name) {
                    return Err(self.invalid(format!("'{name}' is not a valid argument name")));
                }
                Ok(Arg { name, default })
            })
            .collect()
    }

    fn run(&self, args: &str) -> Result<Command, DockerfileError> {
        if let Some(flag) = args.strip_prefix("--") {
            let name = flag.split(['=', ' ', '\t']).next().unwrap_or_default();
            return Err(self.unsupported_named(&format!("RUN --{name}"), Some("flags on RUN")));
        }
        if args.starts_with("<<") {
            return Err(self.unsupported_named("RUN <<heredoc", Some("heredocs")));
        }
        self.command(args)
    }

    fn command(&self, args: &str) -> Result<Command, DockerfileError> {
        if args.starts_with('[') {
            if let Ok(argv) = serde_json::from_str::<Vec<String>>(args) {
                return match argv.first() {
                    Some(first) if !first.is_empty() => Ok(Command::Exec(argv)),
                    _ => Err(self.invalid("the exec form needs a program")),
                };
            }
        }
        if args.is_empty() {
            return Err(self.invalid("needs a command"));
        }
        Ok(Command::Shell(args.to_owned()))
    }

    fn healthcheck(&self, args: &str) -> Result<Option<Command>, DockerfileError> {
        if args.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let mut rest = args;
        while let Some(flag) = rest.strip_prefix("--") {
            let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
            let name = format!("--{}", flag[..end].split('=').next().unwrap_or_default());
            if !HEALTHCHECK_OPTIONS.contains(&name.as_str()) {
                return Err(self.invalid(format!("unknown option {name}")));
            }
            rest = flag[end..].trim_start();
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if !rest[..end].eq_ignore_ascii_case("cmd") {
            return Err(self.invalid("expects HEALTHCHECK [options] CMD <command> or NONE"));
        }
        self.command(rest[end..].trim()).map(Some)
    }

    fn copy(&self, args: &str, add: bool) -> Result<Copy, DockerfileError> {
        let mut chown = None;
        let mut rest = args;
        while let Some(flag) = rest.strip_prefix("--") {
            let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
            let (name, value) = flag[..end].split_once('=').unwrap_or((&flag[..end], ""));
            match name {
                "chown" if !value.is_empty() => chown = Some(self.one_word(value)?),
                "chown" => return Err(self.invalid("--chown needs user[:group]")),
                _ => {
                    return Err(self.unsupported_named(
                        &format!("{} --{name}", self.keyword),
                        Some("flags other than --chown"),
                    ))
                }
            }
            rest = flag[end..].trim_start();
        }
        let mut paths = match serde_json::from_str::<Vec<String>>(rest) {
            Ok(list) if rest.starts_with('[') => list
                .into_iter()
                .map(|p| Word {
                    segments: vec![Segment::Literal(p)],
                })
                .collect(),
            _ => self.words(rest)?,
        };
        if paths.len() < 2 {
            return Err(self.invalid("expects one or more sources and a destination"));
        }
        let dest = paths.pop().unwrap_or_default();
        if add {
            for source in paths.iter().filter_map(Word::literal) {
                if let Some(refusal) = add_source_refusal(self.line, &source) {
                    return Err(refusal);
                }
            }
        }
        Ok(Copy {
            add,
            sources: paths,
            dest,
            chown,
        })
    }

    fn env(&self, args: &str) -> Result<Vec<(String, Word)>, DockerfileError> {
        let words = self.some_words(args)?;
        if words[0].split_assignment().is_none() {
            // Legacy form `ENV KEY value with spaces`.
            let key = words[0].literal().unwrap_or_default();
            if key.is_empty() || words.len() < 2 {
                return Err(self.invalid("expects KEY=VALUE"));
            }
            let mut value = Word::default();
            for (i, word) in words[1..].iter().enumerate() {
                if i > 0 {
                    value.segments.push(Segment::Literal(" ".into()));
                }
                value.segments.extend(word.segments.iter().cloned());
            }
            return Ok(vec![(key, value)]);
        }
        self.assignments(args)
    }

    fn assignments(&self, args: &str) -> Result<Vec<(String, Word)>, DockerfileError> {
        self.some_words(args)?
            .iter()
            .map(|word| match word.split_assignment() {
                Some((key, value)) if !key.is_empty() => Ok((key, value)),
                _ => Err(self.invalid("expects KEY=VALUE pairs")),
            })
            .collect()
    }

    fn some_words(&self, args: &str) -> Result<Vec<Word>, DockerfileError> {
        let words = self.words(args)?;
        if words.is_empty() {
            return Err(self.invalid("needs arguments"));
        }
        Ok(words)
    }

    fn one_word(&self, args: &str) -> Result<Word, DockerfileError> {
        let mut words = self.words(args)?;
        match words.len() {
            1 => Ok(words.remove(0)),
            _ => Err(self.invalid("expects exactly one value")),
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why `ADD` refuses a source: a URL (no downloads) or an archive (no
/// auto-extraction); `None` for a plain context path.
pub(crate) fn add_source_refusal(line: u32, source: &str) -> Option<DockerfileError> {
    let lower = source.to_ascii_lowercase();
    let refuse = |instruction: &str, detail| {
        Some(DockerfileError::UnsupportedInstruction {
            line,
            instruction: instruction.into(),
            detail: Some(detail),
        })
    };
    if lower.contains("://") || lower.starts_with("git@") {
        return refuse("ADD <url>", "download it with RUN");
    }
    const ARCHIVES: [&str; 9] = [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst",
    ];
    if ARCHIVES.iter().any(|ext| lower.ends_with(ext)) {
        return refuse("ADD <archive>", "use COPY and RUN tar to unpack it");
    }
    None
}
