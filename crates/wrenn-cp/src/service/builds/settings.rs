//! The builds' settings, read once from the environment: where build
//! contexts wait on this replica's disk (`CP_DATA_DIR`, default the
//! system's temporary directory; contexts go in `builds/` under it), the
//! largest context accepted (`CP_BUILD_CONTEXT_MAX_MIB`, default 512) and
//! the per-team cache cap (`CP_BUILD_CACHE_MAX_PER_TEAM`, default 50).
use std::{path::PathBuf, sync::OnceLock};

#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub data_dir: PathBuf,
    pub context_max_bytes: usize,
    pub cache_max_per_team: i64,
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
            }
        })
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
