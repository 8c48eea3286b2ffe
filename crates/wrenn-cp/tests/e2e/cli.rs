//! The `wrenn` CLI binary as a subprocess, each user with its own config
//! directory, every call bounded by [`super::STEP_LIMIT`].
use std::{path::PathBuf, process::Stdio};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::STEP_LIMIT;

/// One CLI user: a config directory and the control plane's URL.
#[derive(Debug, Clone)]
pub struct Cli {
    pub bin: PathBuf,
    pub config_dir: PathBuf,
    pub api_url: String,
}

/// What one CLI call did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Cli {
    /// Runs `wrenn ARGS` with `stdin` (else /dev/null); killed at the limit.
    pub async fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut command = tokio::process::Command::new(&self.bin);
        command
            .args(args)
            .env("WRENN_CONFIG_DIR", &self.config_dir)
            .env("WRENN_API_URL", &self.api_url)
            .env_remove("WRENN_API_KEY")
            .env_remove("WRENN_TEAM")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let call = async {
            let mut child = command.spawn().expect("spawn the wrenn CLI");
            if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
                pipe.write_all(data).await.expect("write the CLI's stdin");
            }
            child.wait_with_output().await.expect("wait for the CLI")
        };
        let output = tokio::time::timeout(STEP_LIMIT, call)
            .await
            .unwrap_or_else(|_| {
                panic!("`wrenn {}` took longer than {STEP_LIMIT:?}", args.join(" "))
            });
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `wrenn ARGS` and requires exit status 0; returns its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args, None).await;
        assert_eq!(
            run.code,
            0,
            "`wrenn {}` failed; stderr: {}",
            args.join(" "),
            run.stderr
        );
        run.stdout_text()
    }

    /// Runs `wrenn --json ARGS`, requires success, parses the document.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all).await;
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("`wrenn {}` printed no JSON ({e}): {text}", all.join(" ")))
    }

    /// Signs up `email` (password on stdin); the CLI stores the session.
    pub async fn signup(&self, email: &str) -> Value {
        let run = self
            .run(
                &["--json", "signup", "--email", email, "--password-stdin"],
                Some(b"correct horse battery staple\n"),
            )
            .await;
        assert_eq!(run.code, 0, "signup failed: {}", run.stderr);
        serde_json::from_slice(&run.stdout).expect("signup printed JSON")
    }

    /// `sandbox get ID`'s state.
    pub async fn state(&self, id: &str) -> String {
        let sandbox = self.json(&["sandbox", "get", id]).await;
        sandbox["state"].as_str().expect("state").to_owned()
    }
}
