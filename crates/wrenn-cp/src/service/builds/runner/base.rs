//! A build whose `FROM` is `debian:<suite>` or an OCI image: before the
//! first step, the base is imported on a host the scheduler picks
//! (ImportBase; the host answers at once when it holds that content
//! already), recorded as a hidden `~base-<host>-<image>` template row of
//! the team (so no list shows it, and the build VM is placed on that host),
//! and the plan is made again over the image's config (ENV, USER, WORKDIR,
//! ENTRYPOINT/CMD as if the base's Dockerfile had said them). The image
//! name carries the content key, so it is the cache key's root. The
//! registry credentials live only in the job, in memory.
use tokio::sync::watch;

use super::{lease::Stop, logs::Logs, wait_stop, Failure, Job, JobBase};
use crate::{
    agent::{AgentError, AgentImageDefaults, AgentImport, AgentImported},
    db::{self, templates::TemplateRow},
    scheduler,
    service::builds::{
        dockerfile::BaseRef,
        plan::{self, BaseDefaults},
    },
    state::AppState,
};

/// Makes `job.base` a template row, importing the base if it names one.
pub(super) async fn prepare(
    state: &AppState,
    job: &mut Job,
    logs: &mut Logs,
    stop: watch::Receiver<Stop>,
) -> Result<(), Failure> {
    let JobBase::Import(import) = &job.base else {
        return Ok(());
    };
    let shown = import.base.to_string();
    let host_id = scheduler::place(
        state,
        &scheduler::Requirements {
            team_id: &job.team_id,
            vcpus: i64::from(job.vcpus),
            memory_mb: i64::from(job.memory_mb),
            disk_mb: None,
            tags: &[],
            template_host: None,
            template_holders: &[],
            exclude: &[],
            template_image: None,
        },
    )
    .await
    .map_err(|e| match e {
        scheduler::PlaceError::NoFit(why) => Failure::failed("no_capacity", why.to_string()),
        scheduler::PlaceError::Db(e) => Failure::Db(e),
    })?;
    let agent = state
        .hosts
        .agent(&host_id)
        .await
        .map_err(|e| Failure::failed("agent_unavailable", e.to_string()))?;
    let request = AgentImport {
        debian_suite: match &import.base {
            BaseRef::Debian { suite } => Some(suite.clone()),
            _ => None,
        },
        oci_reference: match &import.base {
            BaseRef::Oci { reference } => Some(reference.clone()),
            _ => None,
        },
        username: import
            .registry_auth
            .as_ref()
            .map(|a| a.username.clone())
            .unwrap_or_default(),
        password: import
            .registry_auth
            .as_ref()
            .map(|a| a.password.clone())
            .unwrap_or_else(|| crate::secret::SecretString::new("")),
        insecure_registry: import.insecure_registry,
    };
    let verb = match &import.base {
        BaseRef::Debian { .. } => "debootstrap",
        _ => "pulling",
    };
    logs.system(1, format!("FROM {shown}: {verb} on host {host_id}"));
    let answered = tokio::select! {
        answered = agent.import_base(&request) => answered,
        stop = wait_stop(stop) => return Err(Failure::Stopped(stop)),
    };
    let (template, content_key, cached, defaults) = match answered {
        Ok(AgentImported::Done {
            template,
            content_key,
            cached,
            defaults,
        }) => (template, content_key, cached, defaults),
        Ok(AgentImported::Failed { code, message }) => {
            return Err(Failure::failed(&code, format!("FROM {shown}: {message}")))
        }
        Err(AgentError::InvalidArgument(message)) => {
            return Err(Failure::failed(
                "unsupported_base",
                format!("FROM {shown}: {message}"),
            ))
        }
        Err(err) => {
            return Err(Failure::failed(
                "base_import_failed",
                format!("FROM {shown}: {err}"),
            ))
        }
    };
    logs.system(
        1,
        if cached {
            format!("FROM {shown}: cached ({content_key})")
        } else {
            format!(
                "FROM {shown}: unpacked into a {} MiB image ({content_key})",
                template.disk_mb
            )
        },
    );
    let row = record(state, job, &host_id, &template.image, template.disk_mb).await?;
    let JobBase::Import(import) = &job.base else {
        return Ok(());
    };
    job.plan = plan::plan_with(&import.file, &import.build_args, &base_defaults(&defaults))
        .map_err(|e| Failure::failed(e.code(), e.to_string()))?;
    job.base = JobBase::Template(row);
    Ok(())
}

/// The hidden row naming the imported image on its host (found when an
/// earlier build of the team recorded it).
async fn record(
    state: &AppState,
    job: &Job,
    host_id: &str,
    image: &str,
    disk_mb: u64,
) -> Result<TemplateRow, Failure> {
    let name = format!("~base-{host_id}-{image}");
    if let Some(row) = db::templates::by_name(&state.db, &job.team_id, &name).await? {
        return Ok(row);
    }
    let row = TemplateRow {
        id: db::new_id("tpl_"),
        team_id: Some(job.team_id.clone()),
        name: name.clone(),
        image: image.to_owned(),
        builtin: false,
        vcpus: i64::from(job.vcpus),
        memory_mb: i64::from(job.memory_mb),
        disk_mb: i64::try_from(disk_mb).ok(),
        has_memory_snapshot: false,
        source_sandbox_id: None,
        created_at: db::now_ms(),
        host_id: Some(host_id.to_owned()),
    };
    match db::templates::insert_hidden(&state.db, &row).await {
        Ok(()) => Ok(row),
        Err(err) if db::is_unique_violation(&err) => {
            db::templates::by_name(&state.db, &job.team_id, &name)
                .await?
                .ok_or(Failure::Db(err))
        }
        Err(err) => Err(Failure::Db(err)),
    }
}

/// The agent's image defaults as the planner takes them.
pub(super) fn base_defaults(d: &AgentImageDefaults) -> BaseDefaults {
    BaseDefaults {
        env: d
            .env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        user: Some(d.user.clone()).filter(|u| !u.is_empty()),
        workdir: Some(d.working_dir.clone()).filter(|w| !w.is_empty()),
        entrypoint: Some(d.entrypoint.clone()).filter(|e| !e.is_empty()),
        cmd: Some(d.cmd.clone()).filter(|c| !c.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_defaults_when_agent_answers_config_then_planner_shape() {
        let d = AgentImageDefaults {
            env: vec!["PATH=/a:/b".into(), "EMPTY=".into(), "NOEQUALS".into()],
            working_dir: "/app".into(),
            user: String::new(),
            entrypoint: vec![],
            cmd: vec!["serve".into()],
        };
        let b = base_defaults(&d);
        assert_eq!(
            b.env,
            vec![
                ("PATH".to_owned(), "/a:/b".to_owned()),
                ("EMPTY".to_owned(), String::new())
            ]
        );
        assert_eq!((b.user, b.workdir.as_deref()), (None, Some("/app")));
        assert_eq!(
            (b.entrypoint, b.cmd),
            (None, Some(vec!["serve".to_owned()]))
        );
    }
}
