"""Found by probing (issue 11, item 3): any user could create a
bring-your-own-cloud host, register it at 169.254.169.254:80 or at a port
on the control plane's own machine, and a sandbox create then made the
control plane POST there and echo the reply in the API error.

Against a real `wrenn-cp`, with a listener standing in for "whatever
serves that address" (it answers every request with a secret-looking body
and records what it was sent), this shows:
  1. by default such addresses are refused at registration (422
     host_address_refused) and the listener hears nothing;
  2. with loopback allowed (CP_ALLOW_PRIVATE_HOST_ADDRS=true, a one-machine
     install), a host registered at the listener is still sent nothing but
     the identity challenge, the create fails without the reply in its
     error, and no sandbox is left running."""
import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from stack import ControlPlane, Tally, free_port, request  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LEAK = "SECRET-METADATA-7f3a9c"
SPECS = {"arch": "x86_64", "cpus": 8, "memory_mb": 16384, "disk_mb": 100000,
         "backend": "qemu", "accelerator": "kvm", "agent_version": "0.1.0",
         "tls_cert_sha256": None}


class Listener(http.server.BaseHTTPRequestHandler):
    seen = []

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        Listener.seen.append(self.path)
        body = f"ami-id\n{LEAK}\niam/security-credentials/admin\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


def byoc_host(cp, token):
    status, body, _ = request("POST", cp.url + "/v1/hosts", {"name": "mine", "byoc": True}, token)
    assert status == 201, (status, body)
    return body["host"]["id"], body["registration_token"]


def register(cp, registration_token, address):
    return request("POST", cp.url + "/v1/hosts/register",
                   {"token": registration_token, "address": address, "specs": SPECS})


def main():
    tally = Tally("host_ssrf")
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Listener)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    cp = ControlPlane(ROOT, "security-host-ssrf-cp.log").start()
    try:
        user = cp.signup("mallory@ssrf.test")
        for address in ["169.254.169.254:80", f"127.0.0.1:{port}",
                        f"[::ffff:127.0.0.1]:{port}", "10.0.0.1:50051"]:
            host_id, reg = byoc_host(cp, user)
            status, body, _ = register(cp, reg, address)
            code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
            tally.check(f"default: BYOC registration at {address} refused",
                        status == 422 and code == "host_address_refused", f"{status} {body}")
            status, host, _ = request("GET", f"{cp.url}/v1/hosts/{host_id}", token=user)
            tally.check(f"default: host registered at {address} stays pending",
                        status == 200 and host.get("status") == "pending", f"{status} {host}")
        status, body, _ = request("POST", cp.url + "/v1/sandboxes", {"template": "base"}, user)
        tally.check("default: a create finds no host to use", status >= 400, f"{status} {body}")
        tally.check("default: the listener heard nothing", Listener.seen == [], str(Listener.seen))
    finally:
        cp.stop()

    cp = ControlPlane(ROOT, "security-host-ssrf-cp.log",
                      env={"CP_ALLOW_PRIVATE_HOST_ADDRS": "true"}).start()
    try:
        user = cp.signup("mallory@ssrf.test")
        _, reg = byoc_host(cp, user)
        status, body, _ = register(cp, reg, "169.254.169.254:80")
        tally.check("allowed: metadata address still refused", status == 422, f"{status} {body}")
        _, reg = byoc_host(cp, user)
        status, body, _ = register(cp, reg, f"127.0.0.1:{port}")
        tally.check("allowed: loopback registration accepted", status == 201, f"{status} {body}")
        status, body, _ = request("POST", cp.url + "/v1/sandboxes", {"template": "base"}, user)
        text = json.dumps(body)
        tally.check("allowed: create at an impostor host fails", status >= 400, f"{status} {text}")
        tally.check("allowed: the reply is not in the error", LEAK not in text, text)
        paths = set(Listener.seen)
        tally.check("allowed: the impostor got only identity challenges",
                    paths <= {"/wrenn.agent.v1.AgentService/HostInfo"} and len(Listener.seen) >= 1,
                    str(Listener.seen))
        status, listing, _ = request("GET", cp.url + "/v1/sandboxes", token=user)
        live = [s for s in listing.get("sandboxes", []) if s["state"] in ("running", "starting", "pending")]
        tally.check("allowed: no sandbox left live", status == 200 and live == [], f"{status} {listing}")
        with open(cp.log_path, errors="replace") as log:
            logged = log.read()
        tally.check("allowed: the refusal is in the control plane's log",
                    "identity challenge failed" in logged or "cannot use a registered host" in logged)
    finally:
        cp.stop()
        server.shutdown()
    tally.finish()


if __name__ == "__main__":
    main()
