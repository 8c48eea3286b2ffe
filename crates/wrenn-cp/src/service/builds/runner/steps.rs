//! Running one disk step in the build VM through envd: `RUN` as the step's
//! user with its environment and working directory, its output streamed
//! into the log; `COPY`/`ADD` as one small tar per source uploaded as root
//! and unpacked by a shell script that follows Docker's destination rules
//! (a directory's contents go into the destination; a file goes to the
//! destination, or into it when it ends in `/`, is a directory, or there
//! are several sources) and `--chown`.
use std::time::Duration;

use futures_util::StreamExt;

use super::{logs::Lines, wait_stop, Failure, Run, STEP_TIMEOUT};
use crate::{
    db::template_builds::BuildError,
    envd::{Command, Envd, ProcessOutput},
    service::builds::plan::{quote, StepAction, StepState},
};

/// Where a `COPY` stages its archives in the guest.
const STAGING: &str = "/tmp/.wrenn-build-copy";

impl Run<'_> {
    pub(super) async fn run_step(&mut self, n: usize) -> Result<(), Failure> {
        let job = self.job;
        let step = &job.plan.steps[n];
        match &step.action {
            StepAction::Run { argv, state } => {
                self.ensure_workdir(n, state).await?;
                let (cmd, args) = argv
                    .split_first()
                    .map_or((String::new(), Vec::new()), |(c, a)| {
                        (c.clone(), a.to_vec())
                    });
                let command = Command {
                    cmd,
                    args,
                    user: state.user.clone(),
                    cwd: Some(state.workdir.clone()),
                    env: state.env.clone(),
                    timeout: Some(STEP_TIMEOUT),
                    ..Command::default()
                };
                let exit = self.stream(n, command).await?;
                if exit != 0 {
                    return Err(Failure::Failed(BuildError {
                        code: "step_failed".into(),
                        message: format!(
                            "line {}: {} exited with code {exit}",
                            step.line, step.text
                        ),
                        line: Some(i64::from(step.line)),
                        exit_code: Some(i64::from(exit)),
                    }));
                }
                Ok(())
            }
            StepAction::Copy {
                sources,
                dest,
                chown,
                state,
            } => {
                self.ensure_workdir(n, state).await?;
                self.copy(n, sources, dest, chown.as_deref()).await
            }
            StepAction::From | StepAction::Config => Ok(()),
        }
    }

    fn envd(&self) -> Result<Envd, Failure> {
        let vm = self.vm()?;
        Ok(Envd::new(vm.agent.envd(&vm.sandbox_id)))
    }

    /// Docker makes a `WORKDIR` that does not exist; so do we, before the
    /// first step that runs in it.
    async fn ensure_workdir(&mut self, n: usize, state: &StepState) -> Result<(), Failure> {
        if state.workdir == "/" || self.made_dirs.contains(&state.workdir) {
            return Ok(());
        }
        let dir = quote(&state.workdir);
        let mut script = format!("mkdir -p {dir}");
        if state.user != "root" {
            script.push_str(&format!(
                " && {{ [ \"$(stat -c %U {dir})\" != root ] || chown {} {dir} 2>/dev/null || true; }}",
                quote(&state.user)
            ));
        }
        self.root_script(n, script).await?;
        self.made_dirs.push(state.workdir.clone());
        Ok(())
    }

    /// Runs `script` as root; its output goes to the log, a failure fails
    /// the step.
    async fn root_script(&mut self, n: usize, script: String) -> Result<(), Failure> {
        let command = Command {
            cmd: "/bin/sh".into(),
            args: vec!["-c".into(), script],
            user: "root".into(),
            cwd: Some("/".into()),
            timeout: Some(STEP_TIMEOUT),
            ..Command::default()
        };
        let exit = self.stream(n, command).await?;
        if exit != 0 {
            let job = self.job;
            let step = &job.plan.steps[n];
            return Err(Failure::Failed(BuildError {
                code: "step_failed".into(),
                message: format!(
                    "line {}: {} failed (exit code {exit})",
                    step.line, step.text
                ),
                line: Some(i64::from(step.line)),
                exit_code: Some(i64::from(exit)),
            }));
        }
        Ok(())
    }

    /// Runs a command, its output into the log; answers its exit code.
    async fn stream(&mut self, n: usize, command: Command) -> Result<i32, Failure> {
        let envd = self.envd()?;
        let started = envd.start(command);
        let mut output = tokio::select! {
            started = started => started.map_err(|e| {
                Failure::failed("build_vm_failed", format!("step {}: cannot start the command: {e}", n + 1))
            })?,
            stop = wait_stop(self.stop.clone()) => return Err(Failure::Stopped(stop)),
        };
        let (mut out, mut err) = (Lines::default(), Lines::default());
        let mut tick = tokio::time::interval(Duration::from_millis(300));
        let exit = loop {
            let next = tokio::select! {
                next = output.next() => next,
                stop = wait_stop(self.stop.clone()) => return Err(Failure::Stopped(stop)),
                _ = tick.tick() => {
                    if self.logs.due() {
                        self.logs.flush().await;
                    }
                    continue;
                }
            };
            match next {
                Some(Ok(ProcessOutput::Stdout(bytes) | ProcessOutput::Pty(bytes))) => {
                    for line in out.feed(&bytes) {
                        self.logs.push(n + 1, "stdout", line);
                    }
                }
                Some(Ok(ProcessOutput::Stderr(bytes))) => {
                    for line in err.feed(&bytes) {
                        self.logs.push(n + 1, "stderr", line);
                    }
                }
                Some(Ok(ProcessOutput::Started { .. })) => {}
                Some(Ok(ProcessOutput::Ended { exit_code, .. })) => break exit_code,
                Some(Err(e)) => {
                    return Err(Failure::failed(
                        "build_vm_failed",
                        format!("step {}: the command's stream failed: {e}", n + 1),
                    ))
                }
                None => {
                    return Err(Failure::failed(
                        "build_vm_failed",
                        format!("step {}: the command's stream ended without an exit", n + 1),
                    ))
                }
            }
            if self.logs.due() {
                self.logs.flush().await;
            }
        };
        if let Some(line) = out.finish() {
            self.logs.push(n + 1, "stdout", line);
        }
        if let Some(line) = err.finish() {
            self.logs.push(n + 1, "stderr", line);
        }
        self.logs.flush().await;
        Ok(exit)
    }

    async fn copy(
        &mut self,
        n: usize,
        sources: &[String],
        dest: &str,
        chown: Option<&str>,
    ) -> Result<(), Failure> {
        let envd = self.envd()?;
        let Some(context) = self.context.take() else {
            return Err(Failure::failed(
                "missing_context_file",
                "COPY needs a build context, and none was sent",
            ));
        };
        let result = async {
            // envd's upload wants the directory to exist.
            self.root_script(n, format!("mkdir -p {STAGING}")).await?;
            let into_dir = dest.ends_with('/') || sources.len() > 1;
            let dest = dest.trim_end_matches('/');
            let dest = if dest.is_empty() { "/" } else { dest };
            let qdest = quote(dest);
            let mut script = format!("set -e\nmkdir -p {STAGING}\n");
            for (i, source) in sources.iter().enumerate() {
                let selection = context
                    .select(source)
                    .map_err(|e| Failure::failed("missing_context_file", e.to_string()))?;
                let archive = format!("{STAGING}/{n}-{i}.tar");
                envd.upload("root", &archive, reqwest::Body::from(selection.tar()))
                    .await
                    .map_err(|e| {
                        Failure::failed("build_vm_failed", format!("cannot upload {source}: {e}"))
                    })?;
                let qarchive = quote(&archive);
                if selection.dir {
                    script.push_str(&format!(
                        "mkdir -p {qdest}\ntar -xpf {qarchive} -C {qdest} --no-overwrite-dir\n"
                    ));
                    if let Some(owner) = chown {
                        for name in selection.top_level() {
                            let target = quote(&format!("{}/{name}", dest.trim_end_matches('/')));
                            script.push_str(&format!("chown -hR {} {target}\n", quote(owner)));
                        }
                    }
                } else {
                    let base = quote(&selection.base);
                    let stage = quote(&format!("{STAGING}/{n}-{i}.d"));
                    let dir_target = format!(
                        "mkdir -p {qdest}\ntar -xpf {qarchive} -C {qdest}\nt={qdest}/{base}\n"
                    );
                    if into_dir {
                        script.push_str(&dir_target);
                    } else {
                        script.push_str(&format!(
                            "if [ -d {qdest} ]; then\n{dir_target}else\n\
                             mkdir -p \"$(dirname {qdest})\" {stage}\ntar -xpf {qarchive} -C {stage}\n\
                             rm -rf {qdest}\nmv -f {stage}/{base} {qdest}\nt={qdest}\nfi\n"
                        ));
                    }
                    if let Some(owner) = chown {
                        script.push_str(&format!("chown -h {} \"$t\"\n", quote(owner)));
                    }
                }
            }
            script.push_str(&format!("rm -rf {STAGING}\n"));
            self.root_script(n, script).await
        }
        .await;
        self.context = Some(context);
        result
    }
}
