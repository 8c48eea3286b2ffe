use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, OsString> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
        .collect();
    move |name| map.get(name).cloned()
}

fn file_with_token() -> ConfigFile {
    ConfigFile {
        api_url: Some("http://file:1".into()),
        token: Some("jwt-from-file".into()),
        ..ConfigFile::default()
    }
}

#[test]
fn resolve_when_nothing_set_then_default_url_and_no_credential() {
    let settings = resolve(&Overrides::default(), &ConfigFile::default());
    assert_eq!(settings.api_url, DEFAULT_API_URL);
    assert_eq!(settings.credential, None);
}

#[test]
fn resolve_when_only_file_then_file_values() {
    let settings = resolve(&Overrides::default(), &file_with_token());
    assert_eq!(settings.api_url, "http://file:1");
    assert_eq!(
        settings.credential,
        Some(Credential::Token("jwt-from-file".into()))
    );
}

#[test]
fn resolve_when_flag_and_file_then_flag_wins() {
    let overrides = Overrides {
        api_url: Some("http://flag:2".into()),
        api_key: Some("wrn_flag".into()),
        team: Some("team-1".into()),
    };
    let settings = resolve(&overrides, &file_with_token());
    assert_eq!(settings.api_url, "http://flag:2");
    assert_eq!(
        settings.credential,
        Some(Credential::ApiKey("wrn_flag".into()))
    );
    assert_eq!(settings.team.as_deref(), Some("team-1"));
}

#[test]
fn credential_when_file_has_key_and_token_then_key_wins() {
    let mut file = file_with_token();
    file.api_key = Some("wrn_key".into());
    assert_eq!(
        file.credential(),
        Some(Credential::ApiKey("wrn_key".into()))
    );
}

#[test]
fn set_credential_when_key_saved_then_token_removed() {
    let mut file = file_with_token();
    file.set_credential(Credential::ApiKey("wrn_new".into()), None);
    assert_eq!(file.token, None);
    assert_eq!(file.api_key.as_deref(), Some("wrn_new"));
}

#[test]
fn config_dir_when_override_set_then_override_wins() {
    let env = env_of(&[
        ("WRENN_CONFIG_DIR", "/o"),
        ("XDG_CONFIG_HOME", "/x"),
        ("HOME", "/h"),
    ]);
    assert_eq!(config_dir(env).ok(), Some(PathBuf::from("/o")));
}

#[test]
fn config_dir_when_xdg_set_then_under_xdg() {
    let env = env_of(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(config_dir(env).ok(), Some(PathBuf::from("/x/wrenn")));
}

#[test]
fn config_dir_when_only_home_then_dot_config() {
    let env = env_of(&[("HOME", "/h")]);
    assert_eq!(
        config_dir(env).ok(),
        Some(PathBuf::from("/h/.config/wrenn"))
    );
}

#[test]
fn config_dir_when_nothing_set_then_error() {
    assert!(matches!(
        config_dir(env_of(&[])),
        Err(ConfigError::NoDirectory)
    ));
}

#[test]
fn save_when_written_then_mode_0600_and_loads_back() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = ConfigStore::in_dir(&dir.path().join("nested"));
    store.save(&file_with_token())?;
    let mode = std::fs::metadata(store.path())?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(store.load()?, file_with_token());
    Ok(())
}

#[test]
fn load_when_file_missing_then_empty_config() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    assert_eq!(
        ConfigStore::in_dir(dir.path()).load()?,
        ConfigFile::default()
    );
    Ok(())
}

#[test]
fn debug_when_credentials_present_then_redacted() {
    let mut file = file_with_token();
    file.api_key = Some("wrn_secret".into());
    let shown = format!("{file:?}");
    assert!(!shown.contains("jwt-from-file"), "{shown}");
    assert!(!shown.contains("wrn_secret"), "{shown}");
    let settings = resolve(&Overrides::default(), &file);
    assert!(!format!("{settings:?}").contains("wrn_secret"));
}
