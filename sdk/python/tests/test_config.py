from __future__ import annotations

from pathlib import Path

import pytest

from wrenn import ConfigError, resolve_config


def write_config(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


def test_argument_wins_over_env_and_file(tmp_path: Path) -> None:
    write_config(tmp_path, 'api_key = "wrn_file"\napi_url = "http://file"\n')
    env = {
        "WRENN_API_KEY": "wrn_env",
        "WRENN_BASE_URL": "http://env",
        "WRENN_CONFIG_DIR": str(tmp_path),
    }
    cfg = resolve_config("wrn_arg", "http://arg/", env=env)
    assert (cfg.api_key, cfg.base_url) == ("wrn_arg", "http://arg")


def test_env_wins_over_file(tmp_path: Path) -> None:
    write_config(tmp_path, 'api_key = "wrn_file"\napi_url = "http://file"\n')
    env = {
        "WRENN_API_KEY": "wrn_env",
        "WRENN_API_URL": "http://cli-env",
        "WRENN_CONFIG_DIR": str(tmp_path),
    }
    cfg = resolve_config(env=env)
    assert (cfg.api_key, cfg.base_url) == ("wrn_env", "http://cli-env")


def test_base_url_prefers_wrenn_base_url_over_cli_name() -> None:
    env = {
        "WRENN_API_KEY": "k",
        "WRENN_BASE_URL": "http://a",
        "WRENN_API_URL": "http://b",
        "HOME": "/nonexistent",
    }
    assert resolve_config(env=env).base_url == "http://a"


def test_file_in_config_dir(tmp_path: Path) -> None:
    write_config(tmp_path, 'api_key = "wrn_file"\napi_url = "http://file:9"\n')
    cfg = resolve_config(env={"WRENN_CONFIG_DIR": str(tmp_path)})
    assert (cfg.api_key, cfg.base_url) == ("wrn_file", "http://file:9")


def test_file_token_when_no_api_key(tmp_path: Path) -> None:
    write_config(tmp_path / "wrenn", 'token = "jwt.value"\n')
    cfg = resolve_config(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert cfg.api_key == "jwt.value"
    assert cfg.base_url == "http://127.0.0.1:8000"


def test_home_config_dir(tmp_path: Path) -> None:
    write_config(tmp_path / ".config" / "wrenn", 'api_key = "wrn_home"\n')
    assert resolve_config(env={"HOME": str(tmp_path)}).api_key == "wrn_home"


def test_no_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WRENN_API_KEY"):
        resolve_config(env={"HOME": str(tmp_path)})


def test_key_hidden_from_repr() -> None:
    cfg = resolve_config("wrn_secret", env={})
    assert "wrn_secret" not in repr(cfg)
