//! The builds' settings, read once from the environment: where build
//! contexts wait on this replica's disk (`CP_DATA_DIR`, default the
//! system's temporary directory; contexts go in `builds/` under it), the
//! largest context accepted (`CP_BUILD_CONTEXT_MAX_MIB`, default 512) and
//! the per-team cache cap (`CP_BUILD_CACHE_MAX_PER_TEAM`, default 50) and
//! the registries E2B builds may pull from over plain HTTP
//! (`CP_INSECURE_REGISTRIES`: comma-separated `host` or `host:port`, as
//! Docker's `insecure-registries`; empty by default; the Wrenn API asks per
//! build with `insecure_registry`, E2B's has no such field).
use std::{path::PathBuf, sync::OnceLock};

#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub data_dir: PathBuf,
    pub context_max_bytes: usize,
    pub cache_max_per_team: i64,
    pub insecure_registries: Vec<String>,
}

impl BuildSettings {
    pub fn get() -> &'static BuildSettings {
        static SETTINGS: OnceLock<BuildSettings> = OnceLock::new();
        SETTINGS.get_or_init(|| {
            let number = |name: &str, default: u64| {
                std::env::var(name)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(default)
            };
            BuildSettings {
                data_dir: std::env::var_os("CP_DATA_DIR")
                    .map_or_else(|| std::env::temp_dir().join("wrenn-cp"), PathBuf::from),
                context_max_bytes: usize::try_from(
                    number("CP_BUILD_CONTEXT_MAX_MIB", 512).saturating_mul(1024 * 1024),
                )
                .unwrap_or(usize::MAX),
                cache_max_per_team: i64::try_from(number("CP_BUILD_CACHE_MAX_PER_TEAM", 50))
                    .unwrap_or(50),
                insecure_registries: std::env::var("CP_INSECURE_REGISTRIES")
                    .unwrap_or_default()
                    .split(',')
                    .map(|r| r.trim().to_ascii_lowercase())
                    .filter(|r| !r.is_empty())
                    .collect(),
            }
        })
    }

    /// Whether `reference`'s registry (the part before the first `/`) is
    /// one of [`insecure_registries`](Self::insecure_registries): an entry
    /// without a port matches every port of that host.
    pub fn insecure_registry(&self, reference: &str) -> bool {
        let Some((registry, _)) = reference.split_once('/') else {
            return false;
        };
        let registry = registry.to_ascii_lowercase();
        let host = registry
            .rsplit_once(':')
            .map_or(registry.as_str(), |(h, _)| h);
        self.insecure_registries
            .iter()
            .any(|allowed| *allowed == registry || *allowed == host)
    }

    fn context_path(&self, build_id: &str) -> PathBuf {
        self.data_dir.join("builds").join(format!("{build_id}.tar"))
    }

    /// Keeps a build's context until the build ends.
    pub fn write_context(&self, build_id: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.context_path(build_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, bytes)
    }

    pub fn read_context(&self, build_id: &str) -> Option<Vec<u8>> {
        std::fs::read(self.context_path(build_id)).ok()
    }

    pub fn remove_context(&self, build_id: &str) {
        let _ = std::fs::remove_file(self.context_path(build_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(registries: &[&str]) -> BuildSettings {
        BuildSettings {
            data_dir: PathBuf::new(),
            context_max_bytes: 0,
            cache_max_per_team: 0,
            insecure_registries: registries.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn insecure_registry_when_host_listed_then_any_port_matches() {
        let settings = with(&["127.0.0.1"]);
        assert!(settings.insecure_registry("127.0.0.1:5000/test/img:1"));
        assert!(settings.insecure_registry("127.0.0.1/img"));
        assert!(!settings.insecure_registry("127.0.0.2:5000/img"));
    }

    #[test]
    fn insecure_registry_when_port_listed_then_only_that_port() {
        let settings = with(&["registry.local:5000"]);
        assert!(settings.insecure_registry("Registry.Local:5000/a/b"));
        assert!(!settings.insecure_registry("registry.local:5001/a/b"));
        assert!(!settings.insecure_registry("registry.local/a/b"));
    }

    #[test]
    fn insecure_registry_when_none_listed_or_no_registry_then_false() {
        assert!(!with(&[]).insecure_registry("127.0.0.1:5000/img"));
        assert!(!with(&["127.0.0.1"]).insecure_registry("img:1"));
    }
}
