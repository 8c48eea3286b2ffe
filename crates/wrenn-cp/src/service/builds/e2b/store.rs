//! What the E2B flow keeps between its calls: the builds asked for by
//! `POST /v3/templates` whose steps have not come yet, the upload grants
//! (`PUT <url>` carries no API key: its URL holds a short-lived random
//! token, bound to one team, template and hash, good once), and the
//! uploaded files, by team and hash on this replica's disk (next to the
//! build contexts, `CP_DATA_DIR/e2b-files/`). Pending builds and grants
//! live in this process: a replica that restarts between `POST /v3` and
//! the build's start forgets them (the SDK's build then fails with 404 and
//! is retried from the start).
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use super::super::settings::BuildSettings;

/// How long a requested build waits for its steps.
pub const PENDING_TTL: Duration = Duration::from_secs(3600);
/// How long an upload URL is good for.
pub const UPLOAD_TTL: Duration = Duration::from_secs(900);
/// Requested builds (and upload grants) a team may hold at once.
pub const MAX_PER_TEAM: usize = 32;

/// A build `POST /v3/templates` gave out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub team_id: String,
    pub name: String,
    pub tag: String,
    pub vcpus: Option<u32>,
    pub memory_mb: Option<u32>,
}

#[derive(Debug)]
struct Grant {
    team_id: String,
    template: String,
    hash: String,
}

#[derive(Debug, Default)]
struct Store {
    pending: HashMap<String, (Pending, Instant)>,
    grants: HashMap<String, (Grant, Instant)>,
}

fn store() -> std::sync::MutexGuard<'static, Store> {
    static STORE: OnceLock<Mutex<Store>> = OnceLock::new();
    let mut store = STORE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    store
        .pending
        .retain(|_, (_, at)| now.duration_since(*at) < PENDING_TTL);
    store
        .grants
        .retain(|_, (_, at)| now.duration_since(*at) < UPLOAD_TTL);
    store
}

/// Keeps a requested build; `false` when the team holds too many.
pub fn remember(build_id: &str, pending: Pending) -> bool {
    let mut store = store();
    let held = store
        .pending
        .values()
        .filter(|(p, _)| p.team_id == pending.team_id)
        .count();
    if held >= MAX_PER_TEAM {
        return false;
    }
    store
        .pending
        .insert(build_id.to_owned(), (pending, Instant::now()));
    true
}

/// The team's requested build of `template` with that id, taken out.
pub fn take(team_id: &str, template: &str, build_id: &str) -> Option<Pending> {
    let mut store = store();
    let (pending, _) = store.pending.get(build_id)?;
    if pending.team_id != team_id || pending.name != template {
        return None;
    }
    store.pending.remove(build_id).map(|(p, _)| p)
}

/// Puts back a build [`take`] took whose start was refused (the SDK may
/// send its steps again).
pub fn put_back(build_id: &str, pending: Pending) {
    store()
        .pending
        .insert(build_id.to_owned(), (pending, Instant::now()));
}

/// Whether the team has a requested build of `template` not started yet.
pub fn has_pending(team_id: &str, template: &str) -> bool {
    store()
        .pending
        .values()
        .any(|(p, _)| p.team_id == team_id && p.name == template)
}

/// Whether `build_id` is the team's requested build of `template`, not
/// started yet.
pub fn is_pending(team_id: &str, template: &str, build_id: &str) -> bool {
    store()
        .pending
        .get(build_id)
        .is_some_and(|(p, _)| p.team_id == team_id && p.name == template)
}

/// A token for one upload of `hash` to the team's `template`.
pub fn grant(team_id: &str, template: &str, hash: &str) -> Option<String> {
    let mut store = store();
    let held = store
        .grants
        .values()
        .filter(|(g, _)| g.team_id == team_id)
        .count();
    if held >= MAX_PER_TEAM {
        return None;
    }
    let token = crate::secret::random_token(43);
    store.grants.insert(
        token.clone(),
        (
            Grant {
                team_id: team_id.to_owned(),
                template: template.to_owned(),
                hash: hash.to_owned(),
            },
            Instant::now(),
        ),
    );
    Some(token)
}

/// The team a token was granted to, if it is good for `template` and
/// `hash`; the token is spent.
pub fn redeem(token: &str, template: &str, hash: &str) -> Option<String> {
    let mut store = store();
    let (grant, _) = store.grants.get(token)?;
    if grant.template != template || grant.hash != hash {
        return None;
    }
    store.grants.remove(token).map(|(g, _)| g.team_id)
}

fn file_path(team_id: &str, hash: &str) -> PathBuf {
    BuildSettings::get()
        .data_dir
        .join("e2b-files")
        .join(team_id)
        .join(hash)
}

/// Whether the team has uploaded files of that hash.
pub fn present(team_id: &str, hash: &str) -> bool {
    file_path(team_id, hash).is_file()
}

pub fn read(team_id: &str, hash: &str) -> Option<Vec<u8>> {
    std::fs::read(file_path(team_id, hash)).ok()
}

/// Keeps an upload (written aside, then renamed: never half a file).
pub fn write(team_id: &str, hash: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = file_path(team_id, hash);
    let dir = path.parent().unwrap_or(&path).to_owned();
    std::fs::create_dir_all(&dir)?;
    let aside = dir.join(format!(".{hash}.{}", crate::secret::random_token(8)));
    std::fs::write(&aside, bytes)?;
    std::fs::rename(&aside, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&aside);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(team: &str) -> Pending {
        Pending {
            team_id: team.into(),
            name: "app".into(),
            tag: "latest".into(),
            vcpus: None,
            memory_mb: None,
        }
    }

    #[test]
    fn take_when_other_team_then_none_and_kept() {
        assert!(remember("bld_store_a", pending("team_a")));
        assert_eq!(take("team_b", "app", "bld_store_a"), None);
        assert_eq!(take("team_a", "other", "bld_store_a"), None);
        assert_eq!(
            take("team_a", "app", "bld_store_a"),
            Some(pending("team_a"))
        );
        assert_eq!(take("team_a", "app", "bld_store_a"), None);
    }

    #[test]
    fn remember_when_team_holds_the_most_then_refused() {
        for i in 0..MAX_PER_TEAM {
            assert!(remember(&format!("bld_full_{i}"), pending("team_full")));
        }
        assert!(!remember("bld_full_last", pending("team_full")));
        assert!(remember("bld_full_other", pending("team_not_full")));
    }

    #[test]
    fn redeem_when_bound_elsewhere_then_refused_else_once() {
        let token = grant("team_g", "app", "aa").unwrap();
        assert_eq!(redeem(&token, "app", "bb"), None);
        assert_eq!(redeem(&token, "other", "aa"), None);
        assert_eq!(redeem(&token, "app", "aa").as_deref(), Some("team_g"));
        assert_eq!(redeem(&token, "app", "aa"), None);
        assert_eq!(redeem("not-a-token", "app", "aa"), None);
    }
}
