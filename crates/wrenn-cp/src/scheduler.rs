//! Placement of new sandboxes (docs/hosts.md, "Placement"). [`choose`] is a
//! pure function over [`Candidate`]s, so the policy is tested without a
//! database; [`place`] loads the candidates and calls it.
use crate::{
    db::{self, hosts::Candidate},
    state::AppState,
};

pub use crate::config::Overcommit;

/// What a new sandbox needs from its host.
#[derive(Debug, Clone, Default)]
pub struct Requirements<'a> {
    pub team_id: &'a str,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub disk_mb: Option<i64>,
    /// Every one must be on the host.
    pub tags: &'a [String],
    /// The only host that may run it: a team template that cannot be
    /// copied to other hosts.
    pub template_host: Option<&'a str>,
    /// Hosts that hold a copy of the template: preferred over hosts that
    /// would have to fetch it first (docs/architecture.md, "Templates on
    /// every host").
    pub template_holders: &'a [String],
    /// Hosts that just refused this sandbox for lack of room.
    pub exclude: &'a [String],
    /// The template image as agents name it: a host with an idle warm
    /// sandbox of it at this size (and no disk size of its own) is
    /// preferred over one with more free capacity.
    pub template_image: Option<&'a str>,
}

/// Why no host fits, for the `no_capacity` message: the first filter that
/// removed the last candidates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoFit {
    #[error("no host is online (registered, heartbeating and not draining)")]
    NoHostOnline,
    #[error("no online host has the tags {0:?}")]
    MissingTags(Vec<String>),
    #[error("the template is on host {0}, which is not online or lacks the tags")]
    TemplateHostUnavailable(String),
    #[error("no host has {0} vCPUs free")]
    Cpu(i64),
    #[error("no host has {0} MiB of memory free")]
    Memory(i64),
    #[error("no host has {0} MiB of disk free")]
    Disk(i64),
}

/// Picks the host for a sandbox among those that fit: the team's own
/// (BYOC) hosts before shared ones, then a host that holds the template
/// before one that must fetch it, then a host with a warm sandbox of the
/// template and size before one without, then the least loaded.
pub fn choose<'c>(
    candidates: &'c [Candidate],
    needs: &Requirements<'_>,
    overcommit: Overcommit,
) -> Result<&'c Candidate, NoFit> {
    let usable: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.online && !c.draining && !needs.exclude.contains(&c.id))
        .filter(|c| c.team_id.is_none() || c.team_id.as_deref() == Some(needs.team_id))
        .collect();
    if usable.is_empty() {
        return Err(NoFit::NoHostOnline);
    }
    let tagged: Vec<&Candidate> = usable
        .into_iter()
        .filter(|c| needs.tags.iter().all(|t| c.tags.contains(t)))
        .collect();
    if tagged.is_empty() {
        return Err(NoFit::MissingTags(needs.tags.to_vec()));
    }
    let holding: Vec<&Candidate> = match needs.template_host {
        Some(host) => tagged.into_iter().filter(|c| c.id == host).collect(),
        None => tagged,
    };
    if let (true, Some(host)) = (holding.is_empty(), needs.template_host) {
        return Err(NoFit::TemplateHostUnavailable(host.to_owned()));
    }
    let mut refusal = None;
    let mut fitting: Vec<(&Candidate, f64)> = Vec::new();
    for candidate in holding {
        match fit(candidate, needs, overcommit) {
            Ok(score) => fitting.push((candidate, score)),
            Err(why) => refusal = Some(why),
        }
    }
    // A team's own hosts serve it first, then a host with the template's
    // files, then a warm sandbox; among equals, the emptiest.
    let holds = |c: &Candidate| needs.template_holders.contains(&c.id);
    fitting
        .into_iter()
        .max_by(|(a, sa), (b, sb)| {
            a.team_id
                .is_some()
                .cmp(&b.team_id.is_some())
                .then(holds(a).cmp(&holds(b)))
                .then(has_warm(a, needs).cmp(&has_warm(b, needs)))
                .then(sa.total_cmp(sb))
                .then(b.live_sandboxes.cmp(&a.live_sandboxes))
                .then(b.id.cmp(&a.id))
        })
        .map(|(c, _)| c)
        .ok_or_else(|| refusal.unwrap_or(NoFit::NoHostOnline))
}

/// Whether `host` reported an idle warm sandbox that this create would
/// claim: same template image, vCPUs and memory, and no disk size of the
/// create's own (a pooled guest has the template's disk).
fn has_warm(host: &Candidate, needs: &Requirements<'_>) -> bool {
    let Some(image) = needs.template_image else {
        return false;
    };
    needs.disk_mb.is_none()
        && host.warm_pools.iter().any(|pool| {
            pool.idle > 0
                && pool.template == image
                && i64::from(pool.vcpus) == needs.vcpus
                && i64::try_from(pool.memory_mb).ok() == Some(needs.memory_mb)
        })
}

/// The share of the host left free after placing the sandbox (the smaller
/// of CPU and memory), or why it does not fit. A host that reported no
/// specs (the static `local` host) fits anything with the lowest score:
/// its agent still refuses what it cannot hold.
fn fit(host: &Candidate, needs: &Requirements<'_>, overcommit: Overcommit) -> Result<f64, NoFit> {
    if host.specs.cpus <= 0 || host.specs.memory_mb <= 0 {
        return Ok(0.0);
    }
    let capacity = |total: i64, factor: f64| total as f64 * factor;
    let cpu_total = capacity(host.specs.cpus, overcommit.cpu);
    let memory_total = capacity(host.specs.memory_mb, overcommit.memory);
    let cpu_free = cpu_total - (host.used_vcpus + needs.vcpus) as f64;
    let memory_free = memory_total - (host.used_memory_mb + needs.memory_mb) as f64;
    if cpu_free < 0.0 {
        return Err(NoFit::Cpu(needs.vcpus));
    }
    if memory_free < 0.0 {
        return Err(NoFit::Memory(needs.memory_mb));
    }
    if let (Some(disk), Some(free)) = (needs.disk_mb, host.free_disk_mb) {
        if (free as f64) * overcommit.disk < disk as f64 {
            return Err(NoFit::Disk(disk));
        }
    }
    Ok((cpu_free / cpu_total).min(memory_free / memory_total))
}

/// Why [`place`] chose no host.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    NoFit(#[from] NoFit),
    #[error("cannot load the candidate hosts")]
    Db(#[from] sqlx::Error),
}

/// Loads the candidates of the requesting team and picks one; answers its
/// host id.
pub async fn place(state: &AppState, needs: &Requirements<'_>) -> Result<String, PlaceError> {
    let candidates = db::hosts::candidates(&state.db, needs.team_id).await?;
    let chosen = choose(&candidates, needs, state.config.overcommit)?;
    Ok(chosen.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::hosts::HostSpecs;
    use wrenn_types::host_wire::WarmPoolLoad;

    fn host(id: &str, cpus: i64, memory_mb: i64) -> Candidate {
        Candidate {
            id: id.into(),
            team_id: None,
            draining: false,
            online: true,
            specs: HostSpecs {
                cpus,
                memory_mb,
                disk_mb: 100_000,
                ..Default::default()
            },
            free_disk_mb: Some(100_000),
            used_vcpus: 0,
            used_memory_mb: 0,
            live_sandboxes: 0,
            tags: vec![],
            warm_pools: vec![],
        }
    }

    fn warm(template: &str, vcpus: u32, memory_mb: u64, idle: u32) -> WarmPoolLoad {
        WarmPoolLoad {
            template: template.into(),
            vcpus,
            memory_mb,
            idle,
            target: idle.max(1),
            asked: idle.max(1),
        }
    }

    fn base_needs<'a>() -> Requirements<'a> {
        Requirements {
            template_image: Some("base"),
            ..needs(&[])
        }
    }

    fn needs<'a>(tags: &'a [String]) -> Requirements<'a> {
        Requirements {
            team_id: "team_a",
            vcpus: 1,
            memory_mb: 512,
            disk_mb: None,
            tags,
            template_host: None,
            template_holders: &[],
            exclude: &[],
            template_image: None,
        }
    }

    const NO_OVERCOMMIT: Overcommit = Overcommit {
        cpu: 1.0,
        memory: 1.0,
        disk: 1.0,
    };

    #[test]
    fn choose_when_two_hosts_then_least_loaded() {
        let mut busy = host("host_busy", 4, 8192);
        busy.used_vcpus = 3;
        busy.used_memory_mb = 4096;
        let idle = host("host_idle", 4, 8192);
        let hosts = [busy, idle];
        let chosen = choose(&hosts, &needs(&[]), NO_OVERCOMMIT).expect("fits");
        assert_eq!(chosen.id, "host_idle");
    }

    #[test]
    fn choose_when_tag_required_then_only_tagged_host() {
        let mut gpu = host("host_gpu", 2, 4096);
        gpu.tags = vec!["gpu".into()];
        gpu.used_vcpus = 1;
        let hosts = [host("host_plain", 16, 65536), gpu];
        let tags = vec!["gpu".to_owned()];
        assert_eq!(
            choose(&hosts, &needs(&tags), NO_OVERCOMMIT)
                .expect("fits")
                .id,
            "host_gpu"
        );
        let missing = vec!["tpu".to_owned()];
        assert_eq!(
            choose(&hosts, &needs(&missing), NO_OVERCOMMIT),
            Err(NoFit::MissingTags(missing.clone()))
        );
    }

    #[test]
    fn choose_when_team_has_byoc_host_then_it_first_and_others_never() {
        let mut own = host("host_own", 2, 2048);
        own.team_id = Some("team_a".into());
        own.used_vcpus = 1;
        let mut foreign = host("host_foreign", 64, 65536);
        foreign.team_id = Some("team_b".into());
        let hosts = [host("host_shared", 64, 65536), own, foreign];
        assert_eq!(
            choose(&hosts, &needs(&[]), NO_OVERCOMMIT).expect("fits").id,
            "host_own"
        );
        let other_team = Requirements {
            team_id: "team_c",
            ..needs(&[])
        };
        assert_eq!(
            choose(&hosts, &other_team, NO_OVERCOMMIT).expect("fits").id,
            "host_shared"
        );
    }

    #[test]
    fn choose_when_unreachable_or_draining_then_skipped() {
        let mut down = host("host_down", 64, 65536);
        down.online = false;
        let mut draining = host("host_draining", 64, 65536);
        draining.draining = true;
        let hosts = [down, draining.clone()];
        assert_eq!(
            choose(&hosts, &needs(&[]), NO_OVERCOMMIT),
            Err(NoFit::NoHostOnline)
        );
        let hosts = [draining, host("host_ok", 1, 1024)];
        assert_eq!(
            choose(&hosts, &needs(&[]), NO_OVERCOMMIT).expect("fits").id,
            "host_ok"
        );
    }

    #[test]
    fn choose_when_full_then_names_the_missing_resource() {
        let mut full = host("host_full", 2, 1024);
        full.used_vcpus = 2;
        assert_eq!(
            choose(std::slice::from_ref(&full), &needs(&[]), NO_OVERCOMMIT),
            Err(NoFit::Cpu(1))
        );
        let overcommitted = Overcommit {
            cpu: 2.0,
            ..NO_OVERCOMMIT
        };
        assert!(choose(std::slice::from_ref(&full), &needs(&[]), overcommitted).is_ok());
        full.used_vcpus = 0;
        full.used_memory_mb = 800;
        assert_eq!(
            choose(&[full], &needs(&[]), NO_OVERCOMMIT),
            Err(NoFit::Memory(512))
        );
        let mut small_disk = host("host_disk", 8, 8192);
        small_disk.free_disk_mb = Some(100);
        let disk_needs = Requirements {
            disk_mb: Some(2048),
            ..needs(&[])
        };
        assert_eq!(
            choose(&[small_disk], &disk_needs, NO_OVERCOMMIT),
            Err(NoFit::Disk(2048))
        );
    }

    #[test]
    fn choose_when_template_on_one_host_then_that_host() {
        let hosts = [host("host_a", 64, 65536), host("host_b", 2, 2048)];
        let on_b = Requirements {
            template_host: Some("host_b"),
            ..needs(&[])
        };
        assert_eq!(
            choose(&hosts, &on_b, NO_OVERCOMMIT).expect("fits").id,
            "host_b"
        );
        let on_gone = Requirements {
            template_host: Some("host_gone"),
            ..needs(&[])
        };
        assert_eq!(
            choose(&hosts, &on_gone, NO_OVERCOMMIT),
            Err(NoFit::TemplateHostUnavailable("host_gone".into()))
        );
    }

    #[test]
    fn choose_when_one_host_holds_the_template_then_it_over_a_freer_one() {
        let mut holder = host("host_holder", 4, 8192);
        holder.used_vcpus = 3;
        let holders = vec!["host_holder".to_owned()];
        let hosts = [host("host_idle", 64, 65536), holder];
        let copyable = Requirements {
            template_holders: &holders,
            ..needs(&[])
        };
        assert_eq!(
            choose(&hosts, &copyable, NO_OVERCOMMIT).expect("fits").id,
            "host_holder"
        );
    }

    #[test]
    fn choose_when_holder_full_or_draining_then_a_host_that_must_fetch_it() {
        let mut full = host("host_full", 1, 1024);
        full.used_vcpus = 1;
        let mut draining = host("host_draining", 64, 65536);
        draining.draining = true;
        let holders = vec!["host_full".to_owned(), "host_draining".to_owned()];
        let hosts = [full, draining, host("host_other", 4, 8192)];
        let copyable = Requirements {
            template_holders: &holders,
            ..needs(&[])
        };
        assert_eq!(
            choose(&hosts, &copyable, NO_OVERCOMMIT).expect("fits").id,
            "host_other"
        );
    }

    #[test]
    fn choose_when_one_host_has_a_warm_sandbox_then_it_over_a_freer_one() {
        let mut warm_host = host("host_warm", 4, 8192);
        warm_host.used_vcpus = 3;
        warm_host.used_memory_mb = 6000;
        warm_host.warm_pools = vec![warm("base", 1, 512, 1)];
        let hosts = [host("host_idle", 64, 65536), warm_host];
        assert_eq!(
            choose(&hosts, &base_needs(), NO_OVERCOMMIT)
                .expect("fits")
                .id,
            "host_warm"
        );
        // Without a template to match, free capacity decides as before.
        assert_eq!(
            choose(&hosts, &needs(&[]), NO_OVERCOMMIT).expect("fits").id,
            "host_idle"
        );
    }

    #[test]
    fn choose_when_warm_entry_does_not_match_then_capacity_decides() {
        let cases = [
            ("other template", warm("python", 1, 512, 1)),
            ("other vcpus", warm("base", 2, 512, 1)),
            ("other memory", warm("base", 1, 1024, 1)),
            ("pool empty", warm("base", 1, 512, 0)),
        ];
        for (case, pool) in cases {
            let mut warm_host = host("host_warm", 4, 8192);
            warm_host.used_vcpus = 3;
            warm_host.warm_pools = vec![pool];
            let hosts = [warm_host, host("host_idle", 64, 65536)];
            let chosen = choose(&hosts, &base_needs(), NO_OVERCOMMIT).expect("fits");
            assert_eq!(chosen.id, "host_idle", "{case}");
        }
        // A create with its own disk size is not served from a pool.
        let mut warm_host = host("host_warm", 4, 8192);
        warm_host.used_vcpus = 3;
        warm_host.warm_pools = vec![warm("base", 1, 512, 1)];
        let hosts = [warm_host, host("host_idle", 64, 65536)];
        let own_disk = Requirements {
            disk_mb: Some(2048),
            ..base_needs()
        };
        let chosen = choose(&hosts, &own_disk, NO_OVERCOMMIT).expect("fits");
        assert_eq!(chosen.id, "host_idle");
    }

    #[test]
    fn choose_when_warm_host_full_or_two_warm_then_fit_and_load_decide() {
        // A warm host that cannot hold the sandbox is never chosen.
        let mut full = host("host_full", 1, 1024);
        full.used_vcpus = 1;
        full.warm_pools = vec![warm("base", 1, 512, 3)];
        let hosts = [full, host("host_cold", 4, 8192)];
        assert_eq!(
            choose(&hosts, &base_needs(), NO_OVERCOMMIT)
                .expect("fits")
                .id,
            "host_cold"
        );
        // Two warm hosts: the emptier, as without pools.
        let mut busy = host("host_busy", 4, 8192);
        busy.used_vcpus = 3;
        busy.warm_pools = vec![warm("base", 1, 512, 2)];
        let mut idle = host("host_idle", 4, 8192);
        idle.warm_pools = vec![warm("python", 1, 512, 1), warm("base", 1, 512, 1)];
        let hosts = [busy, idle];
        assert_eq!(
            choose(&hosts, &base_needs(), NO_OVERCOMMIT)
                .expect("fits")
                .id,
            "host_idle"
        );
    }

    #[test]
    fn choose_when_byoc_host_cold_and_shared_warm_then_byoc_first() {
        let mut own = host("host_own", 2, 2048);
        own.team_id = Some("team_a".into());
        let mut shared = host("host_shared", 64, 65536);
        shared.warm_pools = vec![warm("base", 1, 512, 1)];
        let hosts = [shared, own];
        assert_eq!(
            choose(&hosts, &base_needs(), NO_OVERCOMMIT)
                .expect("fits")
                .id,
            "host_own"
        );
    }
}
