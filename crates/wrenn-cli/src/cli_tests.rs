use clap::CommandFactory;

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("wrenn").chain(args.iter().copied()))
}

#[test]
fn command_when_built_then_debug_asserts_pass() {
    Cli::command().debug_assert();
}

#[test]
fn binary_name_when_built_then_wrenn() {
    assert_eq!(Cli::command().get_name(), "wrenn");
}

#[test]
fn sandbox_create_when_all_flags_then_parsed() -> Result<(), clap::Error> {
    let cli = parse(&[
        "sandbox",
        "create",
        "--template",
        "py",
        "--vcpus",
        "2",
        "--memory",
        "1024",
        "--timeout",
        "60",
        "--on-timeout",
        "pause",
        "--env",
        "A=1",
        "--env",
        "B=2",
        "--metadata",
        "k=v",
        "--no-internet",
        "--allow",
        "10.0.0.0/8",
        "--deny",
        "1.1.1.1",
    ])?;
    let Command::Sandbox(SandboxCommand::Create(args)) = cli.command else {
        panic!("expected sandbox create");
    };
    assert_eq!(args.template.as_str(), "py");
    assert_eq!(args.vcpus, Some(2));
    assert_eq!(args.on_timeout, Some(wrenn_types::TimeoutAction::Pause));
    assert_eq!(args.env.len(), 2);
    assert!(args.no_internet);
    assert_eq!(args.allow[0].as_str(), "10.0.0.0/8");
    Ok(())
}

#[test]
fn sandbox_create_when_no_template_then_base() -> Result<(), clap::Error> {
    let cli = parse(&["sandbox", "create"])?;
    let Command::Sandbox(SandboxCommand::Create(args)) = cli.command else {
        panic!("expected sandbox create");
    };
    assert_eq!(args.template.as_str(), "base");
    Ok(())
}

#[test]
fn sandbox_create_when_bad_cidr_then_usage_error() {
    let err = parse(&["sandbox", "create", "--allow", "nonsense"]).err();
    assert_eq!(err.map(|e| e.exit_code()), Some(2));
}

#[test]
fn exec_when_command_after_double_dash_then_kept_verbatim() -> Result<(), clap::Error> {
    let cli = parse(&["exec", "sb1", "--user", "root", "--", "ls", "-la", "--json"])?;
    let Command::Exec(args) = cli.command else {
        panic!("expected exec")
    };
    assert_eq!(args.command, ["ls", "-la", "--json"]);
    assert_eq!(args.user.as_deref(), Some("root"));
    assert!(!cli.global.json);
    Ok(())
}

#[test]
fn exec_when_no_command_then_usage_error() {
    assert!(parse(&["exec", "sb1"]).is_err());
}

#[test]
fn global_flags_when_after_subcommand_then_accepted() -> Result<(), clap::Error> {
    let cli = parse(&[
        "sandbox",
        "list",
        "--json",
        "--api-url",
        "http://x:1",
        "--all",
    ])?;
    assert!(cli.global.json);
    assert_eq!(cli.global.api_url.as_deref(), Some("http://x:1"));
    Ok(())
}

#[test]
fn files_get_when_dash_then_stdout_target() -> Result<(), clap::Error> {
    let cli = parse(&["files", "get", "sb1", "/etc/hostname", "-"])?;
    let Command::Files(FilesCommand::Get { local, .. }) = cli.command else {
        panic!("expected files get");
    };
    assert_eq!(local.as_deref(), Some("-"));
    Ok(())
}

#[test]
fn sandbox_get_when_id_has_slash_then_usage_error() {
    assert!(parse(&["sandbox", "get", "../admin"]).is_err());
}

#[test]
fn global_args_debug_when_key_set_then_redacted() -> Result<(), clap::Error> {
    let cli = parse(&["whoami", "--api-key", "wrn_secretsecret"])?;
    assert!(!format!("{cli:?}").contains("wrn_secretsecret"));
    Ok(())
}

#[test]
fn host_create_when_byoc_with_tags_then_parsed() -> Result<(), clap::Error> {
    let cli = parse(&[
        "host", "create", "edge-1", "--byoc", "--tag", "gpu", "--tag", "eu",
    ])?;
    match cli.command {
        Command::Host(HostCommand::Create {
            name,
            byoc,
            tag,
            tls_fingerprint,
        }) => {
            assert_eq!(name, "edge-1");
            assert!(byoc);
            assert_eq!(tag, ["gpu", "eu"]);
            assert!(tls_fingerprint.is_none());
        }
        other => panic!("parsed as {other:?}"),
    }
    Ok(())
}

#[test]
fn host_delete_when_id_has_slash_then_refused() {
    assert!(parse(&["host", "delete", "a/b"]).is_err());
    assert!(parse(&["host", "delete", "host_x", "--force"]).is_ok());
}

#[test]
fn keys_create_when_e2b_flag_then_e2b_form_asked() -> Result<(), clap::Error> {
    let cli = parse(&["keys", "create", "ci", "--e2b"])?;
    let Command::Keys(KeysCommand::Create { name, e2b, .. }) = cli.command else {
        panic!("expected keys create");
    };
    assert_eq!(name, "ci");
    assert!(e2b);
    let cli = parse(&["keys", "create", "ci"])?;
    let Command::Keys(KeysCommand::Create { e2b, .. }) = cli.command else {
        panic!("expected keys create");
    };
    assert!(!e2b);
    Ok(())
}

#[test]
fn template_build_when_all_flags_then_parsed() -> Result<(), clap::Error> {
    let cli = parse(&[
        "template",
        "build",
        "-f",
        "ci/Dockerfile",
        "-t",
        "myapp:v2",
        "--build-arg",
        "PY=3.11",
        "--build-arg",
        "EMPTY=",
        "--ready-cmd",
        "curl -fs localhost:8080",
        "--cpu",
        "2",
        "--memory",
        "1024",
        "--public",
        "--detach",
        "ctx",
    ])?;
    let Command::Template(TemplateCommand::Build(args)) = cli.command else {
        panic!("expected template build");
    };
    assert_eq!(args.file, Some(PathBuf::from("ci/Dockerfile")));
    assert_eq!(args.target.to_string(), "myapp:v2");
    assert_eq!(args.build_arg.len(), 2);
    assert_eq!(args.build_arg[1].value, "");
    assert_eq!(args.ready_cmd.as_deref(), Some("curl -fs localhost:8080"));
    assert_eq!((args.cpu, args.memory), (Some(2), Some(1024)));
    assert!(args.public && args.detach);
    assert_eq!(args.context, PathBuf::from("ctx"));
    Ok(())
}

#[test]
fn template_build_when_only_name_then_defaults() -> Result<(), clap::Error> {
    let cli = parse(&["template", "build", "-t", "myapp"])?;
    let Command::Template(TemplateCommand::Build(args)) = cli.command else {
        panic!("expected template build");
    };
    assert!(args.file.is_none() && args.target.tag.is_none());
    assert_eq!(args.context, PathBuf::from("."));
    assert!(!args.detach);
    Ok(())
}

#[test]
fn template_build_when_bad_name_arg_or_size_then_usage_error() {
    for bad in [
        vec!["template", "build"],
        vec!["template", "build", "-t", "MyApp"],
        vec!["template", "build", "-t", "a:b:c"],
        vec!["template", "build", "-t", "../x"],
        vec!["template", "build", "-t", "a", "--build-arg", "NOVALUE"],
        vec!["template", "build", "-t", "a", "--build-arg", "1X=v"],
        vec!["template", "build", "-t", "a", "--cpu", "0"],
        vec!["template", "build", "-t", "a", "--memory", "-5"],
    ] {
        let err = parse(&bad).err();
        assert_eq!(err.map(|e| e.exit_code()), Some(2), "{bad:?}");
    }
}

#[test]
fn template_build_commands_when_parsed_then_ids_checked() -> Result<(), clap::Error> {
    let cli = parse(&[
        "template",
        "build-logs",
        "bld_1",
        "--follow",
        "--offset",
        "7",
    ])?;
    let Command::Template(TemplateCommand::BuildLogs { id, follow, offset }) = cli.command else {
        panic!("expected build-logs");
    };
    assert_eq!((id.as_str(), follow, offset), ("bld_1", true, 7));
    assert!(parse(&["template", "build-cancel", "../x"]).is_err());
    assert!(parse(&["template", "build-status", "bld_1"]).is_ok());
    assert!(parse(&["template", "builds", "--limit", "5"]).is_ok());
    assert!(parse(&["template", "tags", "myapp"]).is_ok());
    Ok(())
}
