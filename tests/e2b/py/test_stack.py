"""The stack itself, without the SDK: the control plane over TLS (h2 and
HTTP/1.1, the suite's CA) at `<domain>` (Wrenn's API) and `api.<domain>`
(the E2B API at its root), the `/v1` answer's `domain` and `wrenn sandbox
url`. Run by the e2b-py suite only."""
import json
import os
import subprocess
import ssl
import tempfile

import certifi
import httpx
import pytest

from conftest import CA, DOMAIN

API = os.environ["WRENN_API_URL"]
KEY = os.environ["WRENN_API_KEY"]
CLI = os.environ["WRENN_CLI"]


@pytest.mark.parametrize("http2", [True, False])
def test_tls_when_domain_then_wrenn_api_over_h2_and_http1(http2):
    with httpx.Client(verify=ssl.create_default_context(cafile=CA), http2=http2, http1=not http2, timeout=30) as client:
        response = client.get(f"https://{DOMAIN}/health")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")


@pytest.mark.needs("e2b-api", "proxy")
@pytest.mark.parametrize("http2", [True, False])
def test_tls_when_api_name_then_e2b_api_at_its_root(http2):
    with httpx.Client(verify=ssl.create_default_context(cafile=CA), http2=http2, http1=not http2, timeout=30) as client:
        response = client.get(f"https://api.{DOMAIN}/v2/sandboxes", headers={"X-API-KEY": KEY})
    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")


def test_tls_when_client_does_not_trust_the_ca_then_refused():
    public_roots = ssl.create_default_context(cafile=certifi.where())
    with httpx.Client(verify=public_roots, timeout=30) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(f"https://{DOMAIN}/health")


def test_v1_sandbox_when_domain_set_then_answer_and_cli_url_name_it():
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=API, headers=headers, timeout=300) as client:
        created = client.post("/v1/sandboxes", json={"template": "base", "timeout_secs": 120})
        assert created.status_code == 201, created.text
        sandbox = created.json()
        try:
            assert sandbox["domain"] == DOMAIN
            listed = client.get("/v1/sandboxes", params={"limit": 200}).json()["sandboxes"]
            assert {s["id"]: s.get("domain") for s in listed}[sandbox["id"]] == DOMAIN
            with tempfile.TemporaryDirectory() as config_dir:
                env = dict(os.environ, WRENN_API_URL=API, WRENN_API_KEY=KEY, WRENN_CONFIG_DIR=config_dir)
                out = subprocess.run([CLI, "sandbox", "url", sandbox["id"], "3000"], env=env,
                                     capture_output=True, text=True, check=True).stdout.strip()
                assert out == f"https://3000-{sandbox['id']}.{DOMAIN}"
                as_json = subprocess.run([CLI, "--json", "sandbox", "url", sandbox["id"], "49983"], env=env,
                                         capture_output=True, text=True, check=True).stdout
                assert json.loads(as_json) == {"url": f"https://49983-{sandbox['id']}.{DOMAIN}"}
        finally:
            assert client.delete(f"/v1/sandboxes/{sandbox['id']}").status_code == 204
