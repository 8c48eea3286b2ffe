use super::*;

fn lit(text: &str) -> Word {
    Word {
        segments: vec![words::Segment::Literal(text.into())],
    }
}

fn err(source: &str) -> DockerfileError {
    parse(source).expect_err("refused")
}

#[test]
fn parse_when_every_supported_instruction_then_typed_in_order() {
    let source = "\
# syntax=docker/dockerfile:1
ARG BASE=base
FROM base AS build
ARG GREETING=hi
ENV APP_HOME=/srv/app MODE=\"prod mode\"
WORKDIR /srv/app
COPY --chown=user:user hello.txt ./
ADD notes.md /srv/notes.md
RUN echo $GREETING \\
    && id -un
RUN [\"/bin/echo\", \"exec form\"]
USER user
EXPOSE 8080/tcp
LABEL org.example.owner=\"team a\"
CMD [\"python3\", \"-m\", \"http.server\"]
ENTRYPOINT /bin/run
HEALTHCHECK --interval=5s CMD curl -f localhost:8080
";
    let file = parse(source).expect("parses");
    assert_eq!(file.global_args[0].name, "BASE");
    assert_eq!(file.from.line, 3);
    let keywords: Vec<(u32, &str)> = file
        .instructions
        .iter()
        .map(|l| (l.line, l.instruction.keyword()))
        .collect();
    assert_eq!(
        keywords,
        [
            (4, "ARG"),
            (5, "ENV"),
            (6, "WORKDIR"),
            (7, "COPY"),
            (8, "ADD"),
            (9, "RUN"),
            (11, "RUN"),
            (12, "USER"),
            (13, "EXPOSE"),
            (14, "LABEL"),
            (15, "CMD"),
            (16, "ENTRYPOINT"),
            (17, "HEALTHCHECK"),
        ]
    );
    let Instruction::Copy(copy) = &file.instructions[3].instruction else {
        panic!("COPY");
    };
    assert_eq!(copy.chown, Some(lit("user:user")));
    assert_eq!(copy.sources, [lit("hello.txt")]);
    assert_eq!(copy.dest, lit("./"));
    assert_eq!(
        file.instructions[6].instruction,
        Instruction::Run(Command::Exec(vec!["/bin/echo".into(), "exec form".into()]))
    );
    assert_eq!(
        file.instructions[12].instruction,
        Instruction::Healthcheck(Some(Command::Shell("curl -f localhost:8080".into())))
    );
}

#[test]
fn parse_when_unknown_instruction_then_unsupported_with_name_and_line() {
    let e = err("FROM base\nRUN true\nVOLUME /data\n");
    assert_eq!(e.code(), "unsupported_instruction");
    assert_eq!(e.line(), Some(3));
    assert!(e.to_string().contains("VOLUME"), "{e}");
    assert_eq!(err("FROM base\nfrobnicate x").line(), Some(2));
}

#[test]
fn parse_when_second_from_then_unsupported() {
    let e = err("FROM base\nFROM base\n");
    assert_eq!((e.code(), e.line()), ("unsupported_instruction", Some(2)));
}

#[test]
fn parse_when_flags_heredoc_or_add_url_then_unsupported_naming_them() {
    for (source, names) in [
        (
            "FROM base\nRUN --mount=type=cache,target=/x true",
            "RUN --mount",
        ),
        ("FROM base\nRUN <<EOF\necho\nEOF", "RUN <<heredoc"),
        ("FROM base\nCOPY --from=build /a /b", "COPY --from"),
        ("FROM base\nADD https://example.com/x /x", "ADD <url>"),
        ("FROM base\nADD app.tar.gz /srv", "ADD <archive>"),
    ] {
        let e = err(source);
        assert_eq!(
            (e.code(), e.line()),
            ("unsupported_instruction", Some(2)),
            "{source}"
        );
        assert!(e.to_string().contains(names), "{e}");
    }
}

#[test]
fn parse_when_instruction_before_from_or_no_from_then_invalid() {
    let e = err("RUN true\nFROM base");
    assert_eq!((e.code(), e.line()), ("invalid_dockerfile", Some(1)));
    assert_eq!(err("# only a comment\n"), DockerfileError::MissingFrom);
}

#[test]
fn parse_when_malformed_arguments_then_invalid_with_line() {
    for source in [
        "FROM base\nCOPY onlyone",
        "FROM base\nENV A=1 B",
        "FROM base\nWORKDIR",
        "FROM base\nUSER a b",
        "FROM base\nARG 1x",
        "FROM base\nENV A=\"open",
        "FROM base\nHEALTHCHECK --bogus=1 CMD true",
        "FROM base\nHEALTHCHECK true",
        "FROM base\nCMD []",
    ] {
        let e = err(source);
        assert_eq!(
            (e.code(), e.line()),
            ("invalid_dockerfile", Some(2)),
            "{source}"
        );
    }
}

#[test]
fn parse_when_legacy_env_then_value_is_the_rest() {
    let file = parse("FROM base\nENV GREETING hello  world").unwrap();
    let Instruction::Env(pairs) = &file.instructions[0].instruction else {
        panic!("ENV");
    };
    assert_eq!(pairs[0].0, "GREETING");
    assert_eq!(pairs[0].1.literal().as_deref(), Some("hello world"));
}

#[test]
fn parse_when_run_json_is_broken_then_shell_form() {
    let file = parse("FROM base\nRUN [ -f /etc/passwd ]").unwrap();
    assert_eq!(
        file.instructions[0].instruction,
        Instruction::Run(Command::Shell("[ -f /etc/passwd ]".into()))
    );
}

#[test]
fn parse_when_too_large_then_refused() {
    let big = format!(
        "FROM base\n{}",
        "RUN true\n".repeat(MAX_DOCKERFILE_BYTES / 9 + 1)
    );
    assert!(matches!(err(&big), DockerfileError::TooLarge { .. }));
    let many = format!("FROM base\n{}", "RUN true\n".repeat(MAX_INSTRUCTIONS + 1));
    assert!(matches!(
        err(&many),
        DockerfileError::TooManyInstructions { .. }
    ));
}

#[test]
fn classify_when_debian_suite_then_debian_base() {
    assert_eq!(
        BaseRef::classify(1, "debian:trixie").unwrap(),
        BaseRef::Debian {
            suite: "trixie".into()
        }
    );
}

#[test]
fn classify_when_unknown_suite_or_scratch_then_unsupported_base() {
    for reference in ["debian:sid", "debian", "debian:bookworm-slim", "scratch"] {
        let e = BaseRef::classify(4, reference).expect_err(reference);
        assert_eq!(
            (e.code(), e.line()),
            ("unsupported_base", Some(4)),
            "{reference}"
        );
    }
}

#[test]
fn classify_when_registry_path_or_digest_then_oci_base() {
    let digest = format!("alpine@sha256:{}", "ab".repeat(32));
    for reference in [
        "docker.io/library/python:3.12",
        "127.0.0.1:5000/test/img:1",
        "library/python:3.12",
        digest.as_str(),
    ] {
        assert_eq!(
            BaseRef::classify(1, reference).expect(reference),
            BaseRef::Oci {
                reference: reference.into()
            }
        );
    }
}

#[test]
fn classify_when_malformed_image_reference_then_invalid_dockerfile() {
    for reference in ["alpine@sha256:ab", "a//b", "/abs/path", "a/b c", "a/$(x)"] {
        assert_eq!(
            BaseRef::classify(1, reference).unwrap_err().code(),
            "invalid_dockerfile",
            "{reference}"
        );
    }
}

#[test]
fn classify_when_bare_name_then_wrenn_template() {
    let BaseRef::Template(t) = BaseRef::classify(1, "my-app:v2").unwrap() else {
        panic!("not a template");
    };
    assert_eq!(
        (t.name.as_str(), t.tag.as_ref().map(|t| t.as_str())),
        ("my-app", Some("v2"))
    );
    assert_eq!(
        BaseRef::classify(1, "Bad_Name").unwrap_err().code(),
        "invalid_dockerfile"
    );
}

#[test]
fn parse_when_arbitrary_bytes_then_never_panics() {
    // A small deterministic fuzz: every prefix of a tricky file, and
    // byte soup from a fixed generator.
    let tricky =
        "FROM base\nRUN a\\\n\"b\nENV ${A:-x}=${\nCOPY [\"a\" \"b\"]\nHEALTHCHECK --x\nADD \\\n";
    for end in (0..=tricky.len()).filter(|e| tricky.is_char_boundary(*e)) {
        let _ = parse(&tricky[..end]);
    }
    let alphabet = b"FROMRUNCOPYENVARG \\\n\"'${}[]=:-+#\t,xX";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut text = String::from("FROM base\n");
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push(alphabet[(seed % alphabet.len() as u64) as usize] as char);
        }
        let _ = parse(&text);
    }
}
