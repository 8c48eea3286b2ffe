//! The command line's grammar (clap derive). Values are parsed here into
//! types that cannot be invalid; commands trust them.

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use wrenn_types::{SandboxState, TemplateName, TimeoutAction};

use crate::values::{BuildArg, BuildTarget, Cidr, KeyValue, PathSegment};

#[derive(Debug, Parser)]
#[command(name = "wrenn", version, about = "Manage Wrenn microVM sandboxes")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Args)]
pub struct GlobalArgs {
    /// Control plane URL [default: from config, then http://127.0.0.1:8000]
    #[arg(long, env = "WRENN_API_URL", global = true)]
    pub api_url: Option<String>,
    /// API key (overrides the stored credential)
    #[arg(long, env = "WRENN_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the server's JSON answer instead of human output
    #[arg(long, global = true)]
    pub json: bool,
    /// Act on this team (X-Team-Id) instead of the personal team
    #[arg(long, env = "WRENN_TEAM", global = true)]
    pub team: Option<String>,
}

impl fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalArgs")
            .field("api_url", &self.api_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("json", &self.json)
            .field("team", &self.team)
            .finish()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an account and store its session token
    Signup(SignupArgs),
    /// Log in and store the session token
    Login(LoginArgs),
    /// Forget the stored credential
    Logout,
    /// Show the current user and team
    Whoami,
    /// Manage API keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage sandboxes
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Run a command in a sandbox; exits with the command's exit code
    Exec(ExecArgs),
    /// Open an interactive shell in a sandbox
    Shell(ShellArgs),
    /// Transfer and manage files in a sandbox
    #[command(subcommand)]
    Files(FilesCommand),
    /// Manage templates
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Show the team's audit log
    Audit(AuditArgs),
    /// Manage hosts (platform admins; team owners for their BYOC hosts)
    #[command(subcommand)]
    Host(HostCommand),
    /// Show the team's pool (its plan's sizes) and what is used
    Pool(PoolArgs),
    /// Show the team's metered usage, or the invoice preview
    Usage(UsageArgs),
    /// Manage plans and teams' plans (platform admins)
    #[command(subcommand)]
    Plan(PlanCommand),
}

#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Another team's pool (platform admins)
    #[arg(long)]
    pub team_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Group by
    #[arg(long, value_parser = ["day", "hour", "sandbox", "template", "team"])]
    pub by: Option<String>,
    /// Print CSV
    #[arg(long)]
    pub csv: bool,
    /// Start of the range (RFC 3339; default 30 days ago)
    #[arg(long)]
    pub start: Option<String>,
    /// End of the range (RFC 3339, exclusive; default now)
    #[arg(long)]
    pub end: Option<String>,
    /// Print the invoice preview of the range instead
    #[arg(long, conflicts_with_all = ["by", "csv", "all_teams"])]
    pub invoice: bool,
    /// Every team's usage (platform admins)
    #[arg(long)]
    pub all_teams: bool,
}

#[derive(Debug, Args)]
pub struct PlanSizes {
    #[arg(long)]
    pub vcpus: i64,
    #[arg(long)]
    pub memory_gib: i64,
    #[arg(long)]
    pub storage_gib: i64,
    /// Concurrent running sandboxes
    #[arg(long)]
    pub max_running: i64,
    /// Concurrent paused sandboxes
    #[arg(long)]
    pub max_paused: i64,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// List plans
    List,
    /// Create or replace a plan
    Put {
        name: String,
        #[command(flatten)]
        sizes: PlanSizes,
        /// Flat price per period, in cents
        #[arg(long, default_value_t = 0)]
        price_cents: i64,
        #[arg(long, default_value = "month", value_parser = ["hour", "day", "week", "month"])]
        period: String,
        /// What happens past the pool
        #[arg(long, default_value = "refuse", value_parser = ["refuse", "queue", "burst"])]
        overflow: String,
        /// With burst: vCPUs allowed past the pool
        #[arg(long, default_value_t = 0)]
        burst_vcpus: i64,
        /// With burst: price of a vCPU-hour past the pool, in cents
        #[arg(long, default_value_t = 0)]
        burst_cents_per_vcpu_hour: i64,
        /// With queue: seconds a create that asks no wait (every E2B API
        /// create) waits for room, 0-600
        #[arg(long, default_value_t = 0)]
        queue_wait_secs: i64,
    },
    /// Delete a plan no team is on
    Delete { name: String },
    /// Put a team on a plan, with optional own sizes
    Assign {
        team_id: String,
        plan: String,
        #[arg(long)]
        vcpus: Option<i64>,
        #[arg(long)]
        memory_gib: Option<i64>,
        #[arg(long)]
        storage_gib: Option<i64>,
        #[arg(long)]
        max_running: Option<i64>,
        #[arg(long)]
        max_paused: Option<i64>,
    },
}

#[derive(Debug, Args)]
pub struct SignupArgs {
    #[arg(long)]
    pub email: String,
    /// Display name
    #[arg(long)]
    pub name: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of standard input
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; the key is printed only once
    Create {
        name: String,
        /// Lifetime in seconds
        #[arg(long, value_name = "SECS")]
        expires_in: Option<u64>,
        /// Store the new key as this CLI's credential
        #[arg(long)]
        save: bool,
        /// Mint the key in E2B's form (`e2b_` + 40 hex digits), which the
        /// e2b SDKs up to 2.49 require; it works on Wrenn's API too
        #[arg(long)]
        e2b: bool,
    },
    /// List the team's API keys
    List,
    /// Revoke an API key
    Revoke { id: PathSegment },
}

/// `--on-timeout`: the shared [`TimeoutAction`], its values listed in `--help`.
fn timeout_action() -> impl TypedValueParser<Value = TimeoutAction> {
    PossibleValuesParser::new(
        [TimeoutAction::Kill, TimeoutAction::Pause].map(TimeoutAction::as_str),
    )
    .try_map(|s| TimeoutAction::parse(&s).ok_or(format!("unknown timeout action {s:?}")))
}

/// `--state`: the shared [`SandboxState`], its values listed in `--help`.
fn sandbox_state() -> impl TypedValueParser<Value = SandboxState> {
    PossibleValuesParser::new(SandboxState::ALL.map(SandboxState::as_str))
        .try_map(|s| s.parse::<SandboxState>())
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Create a sandbox and print its id once it runs
    Create(CreateArgs),
    /// List sandboxes
    List {
        #[arg(long, value_parser = sandbox_state())]
        state: Option<SandboxState>,
        /// Only sandboxes whose metadata has K=V
        #[arg(long, value_name = "K=V")]
        metadata: Vec<KeyValue>,
        /// Page size
        #[arg(long)]
        limit: Option<u32>,
        /// Follow next_cursor to list every page
        #[arg(long)]
        all: bool,
    },
    /// Show one sandbox
    Get { id: PathSegment },
    /// Destroy a sandbox
    Kill { id: PathSegment },
    /// Pause a sandbox
    Pause {
        id: PathSegment,
        /// Keep only the disk: processes end, the next resume boots afresh
        #[arg(long)]
        disk_only: bool,
    },
    /// Make running copies of a sandbox (its memory and disk of now)
    Fork {
        id: PathSegment,
        /// How many copies (1-16)
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// The copies' inactivity timeout in seconds (default: the source's)
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// Resume a paused sandbox
    Resume { id: PathSegment },
    /// Set a sandbox's inactivity timeout
    Timeout { id: PathSegment, secs: u64 },
    /// Print the public URL of a port of the sandbox,
    /// https://PORT-ID.DOMAIN (needs WRENN_DOMAIN on the control plane)
    Url {
        id: PathSegment,
        #[arg(value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The template: NAME, or NAME:TAG for the version a tag points at
    #[arg(long, default_value = "base", value_name = "NAME[:TAG]")]
    pub template: PathSegment,
    #[arg(long)]
    pub vcpus: Option<u32>,
    /// Memory in MiB
    #[arg(long, value_name = "MB")]
    pub memory: Option<u32>,
    /// Disk in MiB
    #[arg(long, value_name = "MB")]
    pub disk: Option<u32>,
    /// Inactivity timeout in seconds
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    #[arg(long, value_parser = timeout_action())]
    pub on_timeout: Option<TimeoutAction>,
    /// Environment variable for processes in the sandbox
    #[arg(long, value_name = "K=V")]
    pub env: Vec<KeyValue>,
    #[arg(long, value_name = "K=V")]
    pub metadata: Vec<KeyValue>,
    /// Cut the sandbox off the internet
    #[arg(long)]
    pub no_internet: bool,
    /// Allow egress to this CIDR
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<Cidr>,
    /// Deny egress to this CIDR
    #[arg(long, value_name = "CIDR")]
    pub deny: Vec<Cidr>,
    /// Place the sandbox on a host carrying this tag (repeatable)
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    pub id: PathSegment,
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(long, value_name = "K=V")]
    pub env: Vec<KeyValue>,
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Wait for the command and print its output at the end (POST /exec)
    #[arg(long)]
    pub no_stream: bool,
    /// The command; one argument is passed as is (a shell line), several are
    /// quoted and joined
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    pub id: PathSegment,
    #[arg(long, default_value = "/bin/bash")]
    pub cmd: String,
    #[arg(long, default_value = "user")]
    pub user: String,
}

#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Upload a local file (streamed)
    Put {
        id: PathSegment,
        local: PathBuf,
        remote: String,
    },
    /// Download a file to LOCAL (default: its base name), or to stdout with `-`
    Get {
        id: PathSegment,
        remote: String,
        local: Option<String>,
    },
    /// List a directory
    Ls {
        id: PathSegment,
        #[arg(default_value = "/")]
        path: String,
        #[arg(long)]
        depth: Option<u32>,
    },
    /// Remove a file or directory
    Rm { id: PathSegment, path: String },
    /// Create a directory
    Mkdir { id: PathSegment, path: String },
    /// Rename or move a file
    Mv {
        id: PathSegment,
        from: String,
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List templates (built-ins and the team's own)
    List,
    /// Snapshot a sandbox into a new template
    Snapshot {
        id: PathSegment,
        name: String,
        /// Include a memory snapshot (fast resume)
        #[arg(long)]
        memory: bool,
    },
    /// Delete a team template (all its versions and tags)
    Delete { name: PathSegment },
    /// Build a template from a Dockerfile in a build VM, streaming its log;
    /// Ctrl-C cancels the build
    Build(BuildArgs),
    /// List the team's builds, newest first
    Builds {
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one build
    BuildStatus { id: PathSegment },
    /// Print a build's log
    BuildLogs {
        id: PathSegment,
        /// Keep printing until the build ends
        #[arg(long)]
        follow: bool,
        /// First log line wanted (its `seq`)
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Cancel a queued or running build
    BuildCancel { id: PathSegment },
    /// List a template's version tags
    Tags { name: PathSegment },
    /// Point tags at the version NAME[:FROM] names now (FROM default:
    /// latest), as `docker tag`; `latest` follows builds only
    Tag {
        #[arg(value_name = "NAME[:FROM]")]
        source: BuildTarget,
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<TemplateName>,
    },
    /// Remove tags of a template (its versions stay until it is deleted)
    Untag {
        name: TemplateName,
        #[arg(required = true, value_name = "TAG")]
        tags: Vec<TemplateName>,
    },
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Dockerfile [default: CONTEXT/Dockerfile]
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// The template to make, NAME or NAME:TAG (tag default: latest)
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub target: BuildTarget,
    /// A value for an `ARG` of the Dockerfile (repeatable)
    #[arg(long, value_name = "NAME=VALUE")]
    pub build_arg: Vec<BuildArg>,
    /// The ready command (overrides the Dockerfile's HEALTHCHECK): the
    /// memory snapshot is taken once it succeeds
    #[arg(long, value_name = "CMD")]
    pub ready_cmd: Option<String>,
    /// vCPUs of the build VM and the template [default: the base's]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cpu: Option<u32>,
    /// Memory in MiB of the build VM and the template [default: the base's]
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u32).range(1..))]
    pub memory: Option<u32>,
    /// Make the template public (every team may use it)
    #[arg(long)]
    pub public: bool,
    /// Print the build id and return without following the log
    #[arg(long)]
    pub detach: bool,
    /// User name for the registry of an OCI `FROM` image (the password
    /// comes from --registry-password-stdin or WRENN_REGISTRY_PASSWORD)
    #[arg(long, value_name = "USER")]
    pub registry_username: Option<String>,
    /// Read the registry password from standard input
    #[arg(long, requires = "registry_username")]
    pub registry_password_stdin: bool,
    /// Reach the `FROM` image's registry over plain HTTP (a local registry)
    #[arg(long)]
    pub insecure_registry: bool,
    /// The build context directory, sent honouring its .dockerignore
    #[arg(default_value = ".")]
    pub context: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// List the hosts you may see
    List,
    /// Show one host
    Get { id: PathSegment },
    /// Create a host record and print its one-time registration token
    Create {
        name: String,
        /// A bring-your-own-cloud host serving only the current team
        #[arg(long)]
        byoc: bool,
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// SHA-256 of the agent's TLS certificate, to pin it
        #[arg(long, value_name = "SHA256")]
        tls_fingerprint: Option<String>,
    },
    /// Issue a fresh registration token for a pending host
    Token { id: PathSegment },
    /// Stop (or, with --off, resume) placing new sandboxes on a host
    Drain {
        id: PathSegment,
        #[arg(long)]
        off: bool,
    },
    /// Delete a host; --force also destroys its sandboxes
    Delete {
        id: PathSegment,
        #[arg(long)]
        force: bool,
    },
    /// Add tags to a host
    Tag { id: PathSegment, tags: Vec<String> },
    /// Remove a tag from a host
    Untag { id: PathSegment, tag: PathSegment },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long)]
    pub limit: Option<u32>,
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
