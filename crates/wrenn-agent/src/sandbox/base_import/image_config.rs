//! An imported base's defaults, from the OCI image config (`Env`,
//! `WorkingDir`, `User`, `Entrypoint`, `Cmd`): what a build from it starts
//! with, as a Dockerfile's ENV/WORKDIR/USER/ENTRYPOINT/CMD would set. Kept
//! beside the image as `base-config.json` so a cached import answers the
//! same defaults. A Debian base has none.
use serde::{Deserialize, Serialize};

/// The file beside `rootfs.ext4`.
pub const BASE_CONFIG_FILE: &str = "base-config.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDefaults {
    /// `KEY=value`, in the image's order.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
}

/// The part of an image config we read (the rest is ignored).
#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<ContainerConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerConfig {
    #[serde(default)]
    env: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
}

impl ImageDefaults {
    /// Reads an image config blob; `None` when it is not JSON of that shape.
    pub fn from_config(blob: &[u8]) -> Option<ImageDefaults> {
        let file: ConfigFile = serde_json::from_slice(blob).ok()?;
        let Some(c) = file.config else {
            return Some(ImageDefaults::default());
        };
        Some(ImageDefaults {
            env: c
                .env
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
                .collect(),
            working_dir: c.working_dir.unwrap_or_default(),
            user: c.user.unwrap_or_default(),
            entrypoint: c.entrypoint.unwrap_or_default(),
            cmd: c.cmd.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_config_when_docker_style_then_fields_taken() {
        let blob = br#"{"architecture":"amd64","config":{"Env":["PATH=/usr/local/bin:/usr/bin","BAD"],"WorkingDir":"/app","User":"app","Cmd":["python3"],"Entrypoint":null}}"#;
        let d = ImageDefaults::from_config(blob).expect("parsed");
        assert_eq!(d.env, vec!["PATH=/usr/local/bin:/usr/bin".to_owned()]);
        assert_eq!(d.working_dir, "/app");
        assert_eq!(d.user, "app");
        assert_eq!(d.cmd, vec!["python3".to_owned()]);
        assert!(d.entrypoint.is_empty());
    }

    #[test]
    fn from_config_when_no_config_then_empty_defaults() {
        let d = ImageDefaults::from_config(br#"{"architecture":"amd64"}"#).expect("parsed");
        assert_eq!(d, ImageDefaults::default());
        assert!(ImageDefaults::from_config(b"not json").is_none());
    }
}
