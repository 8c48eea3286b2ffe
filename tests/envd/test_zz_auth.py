"""Access token and signed URLs. Runs last: /init sets a token for good."""
import os
import secrets
import time

import httpx
import pytest
from e2b import AuthenticationException, Sandbox
from e2b.connection_config import ConnectionConfig
from packaging.version import Version

TOKEN = secrets.token_hex(16)


@pytest.fixture(scope="module")
def secured(envd):
    r = envd.post("/init", json={"accessToken": TOKEN, "envVars": {"FROM_INIT": "yes"}})
    assert r.status_code == 204
    config = ConnectionConfig(extra_sandbox_headers={"X-Access-Token": TOKEN})
    return Sandbox(
        sandbox_id="debug",
        envd_version=Version("0.6.13"),
        envd_access_token=TOKEN,
        sandbox_domain=None,
        connection_config=config,
    )


def test_rpc_without_token_is_unauthenticated(secured, sandbox):
    with pytest.raises(AuthenticationException):
        sandbox.commands.run("true")
    with pytest.raises(AuthenticationException):
        sandbox.files.list("/")


def test_rpc_with_token_works_and_sees_init_env(secured):
    assert secured.commands.run("echo $FROM_INIT").stdout == "yes\n"
    assert secured.files.list("/")


def test_http_without_token_is_401(secured, envd):
    assert envd.get("/envs").status_code == 401
    assert envd.get("/files", params={"path": "/etc/hostname"}).status_code == 401
    assert envd.get("/health").status_code == 204


def test_wrong_token_is_401(secured, envd):
    assert envd.get("/envs", headers={"X-Access-Token": "x" + TOKEN}).status_code == 401


def test_signed_upload_and_download_urls(secured):
    up = secured.upload_url("signed.txt", use_signature_expiration=60)
    r = httpx.post(up, files={"file": ("signed.txt", b"signed body")})
    assert r.status_code == 200, r.text
    down = secured.download_url("signed.txt", use_signature_expiration=60)
    r = httpx.get(down)
    assert r.status_code == 200 and r.content == b"signed body"


def test_signed_url_for_other_operation_or_path_is_rejected(secured):
    up = secured.upload_url("signed.txt")
    assert httpx.get(up).status_code == 401
    down = secured.download_url("signed.txt")
    assert httpx.get(down.replace("signed.txt", "other.txt")).status_code == 401


def test_expired_signature_is_rejected(secured):
    down = secured.download_url("signed.txt", use_signature_expiration=-10)
    assert httpx.get(down).status_code == 401


def test_reinit_without_token_cannot_replace_it(secured, envd):
    r = envd.post("/init", json={"accessToken": "attacker"})
    assert r.status_code == 401
    r = envd.post("/init", json={"accessToken": TOKEN}, headers={"X-Access-Token": TOKEN})
    assert r.status_code == 204
