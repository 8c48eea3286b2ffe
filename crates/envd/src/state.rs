//! State shared by every request: what `/init` configured, the running
//! processes and the filesystem watchers.
use std::{collections::HashMap, sync::Arc};

use tokio::sync::RwLock;

use crate::{
    connect::{Code, ConnectError},
    filesystem::watchers::Watchers,
    process::table::ProcessTable,
    start::Supervisor,
    users::UserInfo,
};

/// envd version reported to hosts and SDKs (gates SDK features).
pub const ENVD_VERSION: &str = "0.6.13";

/// What `/init` sets; defaults until then.
#[derive(Clone, Default)]
pub struct Settings {
    pub access_token: Option<String>,
    pub default_user: Option<String>,
    pub default_workdir: Option<String>,
    pub env_vars: HashMap<String, String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("default_user", &self.default_user)
            .field("default_workdir", &self.default_workdir)
            .field("env_vars", &self.env_vars.len())
            .finish()
    }
}

impl Settings {
    pub fn default_user(&self) -> &str {
        self.default_user.as_deref().unwrap_or("user")
    }
}

#[derive(Debug)]
pub struct AppState {
    pub settings: RwLock<Settings>,
    pub processes: Arc<ProcessTable>,
    pub watchers: Watchers,
    /// The template's start command, once `POST /wrenn/start` ran.
    pub start: Supervisor,
    /// True under our own init in a VM: `/init` may set the clock.
    pub is_vm: bool,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(is_vm: bool) -> SharedState {
        Arc::new(Self {
            settings: RwLock::new(Settings::default()),
            processes: Arc::default(),
            watchers: Watchers::default(),
            start: Supervisor::default(),
            is_vm,
        })
    }

    /// The user a request acts as: the one it names, else the default.
    pub async fn user(&self, requested: Option<&str>) -> Result<UserInfo, ConnectError> {
        let name = match requested {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => self.settings.read().await.default_user().to_string(),
        };
        let user = tokio::task::spawn_blocking(move || UserInfo::lookup(&name))
            .await
            .map_err(|err| ConnectError::new(Code::Internal, err.to_string()))??;
        Ok(user)
    }
}
