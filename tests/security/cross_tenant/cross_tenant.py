"""Cross-tenant property test, generated from the served /openapi.json.

One run against one real control plane (started by check_cross_tenant.sh)
with one real agent registered as team A's bring-your-own-cloud host:

1. builds team A's world with A's credentials: a second team, a member, an
   API key, an online host (the real agent) and a pending one with tags, a
   running sandbox with a file in it, a stopped sandbox, a team template
   snapshotted from the running sandbox;
2. builds team B: a user with its own team, an API key and (when the
   control plane accepts it) a registered host of its own, for the host
   token; B's credentials are its login, its key, its host token and its
   login with `X-Team-Id: <A's team>` (a header that takes an id);
3. enumerates every operation of the document; each path parameter and
   each body field that names an object (`id`, `*_id`, `template`) gets its
   id kind from the document (the collection segment before the parameter,
   the field's name) and a generator for that kind; an id-taking operation
   whose kind has no generator fails the run, so a new route is covered or
   the test says why not;
4. for each id-taking operation, hypothesis draws one of team A's ids of
   each kind (or, for a second parameter, B's own), one of B's credentials
   and random query values and body fields around the ids, and asserts:
   the answer is 404, except where EXEMPT says which other answer is by
   design, and then that answer is the same as for an id that does not
   exist (existence does not leak); no answer contains an id of A's that B
   did not send; A's objects, read with A's credentials, are the same
   before and after (compared per operation);
5. every list operation, called by B with A's pagination cursor, answers
   none of A's objects.

Prints one line per operation and ends with `cross_tenant: N passed, M failed`
(N, M: operations); exits 1 when any failed.
"""

import argparse
import base64
import http.client
import json
import os
import random
import re
import string
import subprocess
import sys
import time
import urllib.parse

from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings, strategies as st

# Why an operation may answer something other than 404 with another team's
# id. Each entry: (method, path template, credential kinds or None for all)
# -> (status, error code, reason). The answer must still be identical for
# an id that exists nowhere, so the entry cannot hide a leak of existence.
EXEMPT = {
    ("GET", "/v1/snapshots", None): (
        200,
        None,
        "a filter over the caller's own snapshots: another team's sandbox id "
        "matches none of them, the same empty list as an id that does not "
        "exist (docs/api.md)",
    ),
    ("PUT", "/v1/admin/users/{user_id}/admin", None): (
        403,
        "forbidden",
        "platform admins only: every other caller is refused before the id "
        "is looked up (docs/api.md)",
    ),
    ("PUT", "/v1/admin/teams/{team_id}/plan", None): (
        403,
        "forbidden",
        "platform admins only: every other caller is refused before the id "
        "is looked up (docs/api.md, \"Pools and usage\")",
    ),
    ("GET", "/v1/admin/teams/{team_id}/pool", None): (
        403,
        "forbidden",
        "platform admins only: every other caller is refused before the id "
        "is looked up (docs/api.md, \"Pools and usage\")",
    ),
    ("POST", "/v1/hosts/{id}/heartbeat", ("b_jwt", "b_key", "b_jwt_xteam")): (
        401,
        "invalid_host_token",
        "an agent route: user credentials are not host tokens (docs/hosts.md)",
    ),
    ("POST", "/v1/hosts/{id}/heartbeat", ("b_host",)): (
        403,
        "host_mismatch",
        "a host token names its own host; any other path id is refused "
        "before it is looked up (docs/hosts.md)",
    ),
    ("DELETE", "/v1/keys/{key_id}", ("b_key",)): (
        403,
        "forbidden",
        "keys are managed with a user login only; an API key is refused "
        "before the id is looked up (docs/api.md)",
    ),
    ("DELETE", "/v1/teams/{team_id}", ("b_key",)): (
        403,
        "forbidden",
        "deleting a team needs a user login; an API key is refused before "
        "the id is looked up (docs/api.md)",
    ),
    ("DELETE", "/v1/users/{user_id}", ("b_key",)): (
        403,
        "forbidden",
        "deleting a user needs a user login; an API key is refused before "
        "the id is looked up (docs/api.md)",
    ),
}

# Path segment before a parameter -> id kind.
SEGMENT_KINDS = {
    "sandboxes": "sandbox",
    "templates": "template",
    "keys": "key",
    "teams": "team",
    "members": "user",
    "users": "user",
    "hosts": "host",
    "tags": "host_tag",
    "builds": "build",
}
# Path segments whose parameter names a platform object, not a team's:
# plans are defined by platform admins for every team, so no other team's
# object is behind the name (their routes are admin-only).
PLATFORM_SEGMENTS = {"plans"}
# Body or query fields that name an existing object, besides `id`/`*_id`.
FIELD_KINDS = {"template": "template"}
# Query parameters that are not object references (credentials, filters).
NOT_REFERENCES = {"token"}

HOST_VOLATILE = ("last_heartbeat_at", "load", "clock_skew_ms", "status", "status_reason")


class Api:
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port

    def call(self, method, path, cred=None, body=None, raw=None, headers=None, timeout=240):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if cred is not None:
            hdrs.update(cred.headers())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            hdrs.setdefault("Content-Type", "application/octet-stream")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        status = resp.status
        payload = b"" if status == 101 else resp.read()
        conn.close()
        try:
            value = json.loads(payload) if payload else None
        except ValueError:
            value = payload
        return status, value, payload

    def ok(self, method, path, cred=None, body=None, want=(200, 201, 204), **kw):
        status, value, payload = self.call(method, path, cred, body, **kw)
        if status not in want:
            raise RuntimeError(f"{method} {path}: {status} {payload[:500]!r}")
        return value


class Cred:
    def __init__(self, name, kind, secret, team=None):
        self.name, self.kind, self.secret, self.team = name, kind, secret, team

    def headers(self):
        if self.kind == "host":
            return {"X-Host-Token": self.secret}
        hdrs = {"Authorization": f"Bearer {self.secret}"}
        if self.team:
            hdrs["X-Team-Id"] = self.team
        return hdrs

    def __repr__(self):
        return self.name


def rand_text(n=12):
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=n))


def nonexistent_like(value):
    """An id of the same shape as `value` that names nothing."""
    prefix, sep, tail = value.rpartition("_")
    if sep and tail:
        return f"{prefix}_{rand_text(len(tail))}"
    return f"{value[:2]}{rand_text(max(4, len(value) - 2))}"


# ---------------------------------------------------------------- world ---


def signup(api, email):
    s = api.ok("POST", "/v1/auth/signup", body={"email": email, "password": "cross-tenant-pw"})
    return s["token"], s["user"]["id"], s["team"]["id"]


def build_world(api, args):
    w = {}
    tag = rand_text(6)
    admin_jwt, _, _ = signup(api, f"admin-{tag}@wrenn.test")  # first user: platform admin
    a_jwt, a_user, a_team = signup(api, f"a-{tag}@wrenn.test")
    c_jwt, c_user, _ = signup(api, f"c-{tag}@wrenn.test")
    b_jwt, b_user, b_team = signup(api, f"b-{tag}@wrenn.test")
    a = Cred("a_jwt", "user", a_jwt)
    b = Cred("b_jwt", "user", b_jwt)
    w["a_email"] = f"a-{tag}@wrenn.test"
    team2 = api.ok("POST", "/v1/teams", a, {"name": f"a-second-{tag}"})["id"]
    api.ok("POST", f"/v1/teams/{a_team}/members", a, {"email": f"c-{tag}@wrenn.test", "role": "member"})
    a_key = api.ok("POST", "/v1/keys", a, {"name": "a-key"})
    b_key = api.ok("POST", "/v1/keys", b, {"name": "b-key"})

    # A's hosts: the real agent, registered as A's BYOC host, and a pending one.
    host = api.ok("POST", "/v1/hosts", a, {"name": "a-agent", "byoc": True, "tags": [f"a-{tag}"]})
    a_host = host["host"]["id"]
    pending = api.ok("POST", "/v1/hosts", a, {"name": "a-pending", "byoc": True, "tags": [f"p-{tag}"]})
    a_pending = pending["host"]["id"]
    agent = start_agent(args, host["registration_token"])
    deadline = time.time() + 120
    while api.ok("GET", f"/v1/hosts/{a_host}", a)["status"] != "online":
        if agent.poll() is not None or time.time() > deadline:
            raise RuntimeError("the agent did not register as team A's host")
        time.sleep(0.5)

    # A's sandboxes: one running with a file, one stopped; a template.
    sbx = api.ok("POST", "/v1/sandboxes", a, {"template": "base", "timeout_secs": 3600, "metadata": {"owner": "a"}})["id"]
    api.ok("PUT", f"/v1/sandboxes/{sbx}/files?path=/home/user/a.txt", a, raw=b"team A's data\n")
    gone = api.ok("POST", "/v1/sandboxes", a, {"template": "base", "timeout_secs": 600})["id"]
    api.ok("DELETE", f"/v1/sandboxes/{gone}", a)
    template = f"atpl-{tag}"
    api.ok("POST", f"/v1/sandboxes/{sbx}/snapshot", a, {"name": template})
    # A's template build, cancelled at once (its record is what B must
    # not reach; no build VM needs to finish).
    build = submit_build(api, a, f"abld-{tag}", "FROM base\nRUN true\n")
    api.ok("POST", f"/v1/templates/builds/{build}/cancel", a, want=(200, 202, 204, 409))
    deadline = time.time() + 120
    while api.ok("GET", f"/v1/templates/builds/{build}", a)["status"] not in ("cancelled", "failed", "succeeded"):
        if time.time() > deadline:
            raise RuntimeError("team A's build did not end after its cancel")
        time.sleep(0.5)
    page = api.ok("GET", "/v1/sandboxes?limit=1", a)
    audit_page = api.ok("GET", "/v1/audit?limit=1", a)

    # B's own host (registered through the API: no agent behind it), for a
    # host token. Optional: a control plane that refuses the address skips it.
    # B's login naming A's team in X-Team-Id: the header is an id too.
    creds = [b, Cred("b_key", "user", b_key["key"]), Cred("b_jwt_xteam", "user", b_jwt, a_team)]
    b_host = None
    bh = api.ok("POST", "/v1/hosts", b, {"name": "b-host", "byoc": True})
    status, reg, _ = api.call("POST", "/v1/hosts/register", body={
        "token": bh["registration_token"], "address": "127.0.0.1:9",
        "specs": {"arch": "x86_64", "cpus": 1, "memory_mb": 1024, "disk_mb": 1024,
                  "backend": "qemu", "accelerator": "kvm", "agent_version": "0.1.0",
                  "tls_cert_sha256": None}})
    if status == 201:
        b_host = bh["host"]["id"]
        creds.append(Cred("b_host", "host", reg["host_token"]))
    else:
        print(f"note: B's host registration answered {status}; no host-token credential")

    w.update(
        a=a, a_key_cred=Cred("a_key", "user", a_key["key"]), c=Cred("c_jwt", "user", c_jwt),
        admin=Cred("admin", "user", admin_jwt), b_creds=creds, agent=agent,
        a_teams=[a_team, team2], a_sandbox=sbx, a_stopped=gone,
        cursors=[x for x in (page.get("next_cursor"), audit_page.get("next_cursor")) if x],
    )
    # Team A's ids by kind (what B must not reach) and B's own (for the
    # other parameter of a two-id path).
    w["a_ids"] = {
        "sandbox": [sbx, gone],
        "template": [template],
        "key": [a_key["id"]],
        "team": [a_team, team2],
        "user": [a_user, c_user],
        "host": [a_host, a_pending],
        "host_tag": [f"a-{tag}", f"p-{tag}"],
        "build": [build],
    }
    w["b_ids"] = {"team": [b_team], "user": [b_user], "host": [b_host] if b_host else []}
    # Strings no answer to B may contain (unless B sent them).
    w["secrets"] = sorted({v for vs in w["a_ids"].values() for v in vs} | {w["a_email"], f"c-{tag}@wrenn.test"})
    return w


def submit_build(api, cred, name, dockerfile):
    """POST /v1/templates/builds (multipart: the `spec` part only); the id."""
    boundary = "wrenn-cross-tenant-boundary"
    spec = json.dumps({"name": name, "dockerfile": dockerfile})
    raw = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"spec\"\r\n"
           f"Content-Type: application/json\r\n\r\n{spec}\r\n--{boundary}--\r\n").encode()
    status, value, payload = api.call(
        "POST", "/v1/templates/builds", cred, raw=raw,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    if status != 202:
        raise RuntimeError(f"POST /v1/templates/builds: {status} {payload[:500]!r}")
    return value["id"]


def start_agent(args, token):
    env = dict(os.environ, AGENT_LISTEN_ADDR=f"127.0.0.1:{args.agent_port}",
               AGENT_TOKEN_FILE=os.path.join(args.work, "host-token"),
               AGENT_SECRET="", AGENT_SECRET_FILE="", AGENT_HEARTBEAT_SECS="2")
    log = open(os.path.join(args.logs, f"cross-tenant-agent-{args.label}.log"), "w")
    proc = subprocess.Popen(
        [os.path.join(args.bin, "wrenn-agent"), "serve", "--register", token,
         "--address", f"127.0.0.1:{args.agent_port}", "--cp-url", args.cp],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    with open(os.path.join(args.work, "agent.pid"), "w") as f:
        f.write(str(proc.pid))
    return proc


def snapshot(api, w):
    """Team A's objects as A's credentials see them."""
    a = w["a"]
    view = {"me": api.ok("GET", "/v1/me", a), "teams": api.ok("GET", "/v1/teams", a)}
    view["c_teams"] = api.ok("GET", "/v1/teams", w["c"])
    for team in w["a_teams"]:
        t = Cred("a_jwt", "user", a.secret, team)
        view[team] = {
            "members": api.ok("GET", f"/v1/teams/{team}/members", a),
            "keys": api.ok("GET", "/v1/keys", t),
            "sandboxes": api.ok("GET", "/v1/sandboxes?limit=200", t),
            "templates": api.ok("GET", "/v1/templates", t),
            "hosts": strip_hosts(api.ok("GET", "/v1/hosts", t)),
            "audit": api.ok("GET", "/v1/audit?limit=200", t),
        }
    for build in w["a_ids"]["build"]:
        view[build] = api.ok("GET", f"/v1/templates/builds/{build}", a)
    for host in w["a_ids"]["host"]:
        view[host] = strip_hosts(api.ok("GET", f"/v1/hosts/{host}", a)), api.ok("GET", f"/v1/hosts/{host}/tags", a)
    for sbx in w["a_ids"]["sandbox"]:
        view[sbx] = api.ok("GET", f"/v1/sandboxes/{sbx}", a)
    sbx = w["a_sandbox"]
    view["files"] = api.ok("GET", f"/v1/sandboxes/{sbx}/files/list?path=/home/user", a)
    _, _, content = api.call("GET", f"/v1/sandboxes/{sbx}/files?path=/home/user/a.txt", a)
    view["file"] = content.decode(errors="replace")
    return view


def strip_hosts(value):
    """Heartbeat bookkeeping changes by itself; everything else must not."""
    if isinstance(value, dict):
        return {k: strip_hosts(v) for k, v in value.items() if k not in HOST_VOLATILE}
    if isinstance(value, list):
        return [strip_hosts(v) for v in value]
    return value


def diff(before, after, where=""):
    if type(before) is not type(after):
        return [f"{where}: {before!r} -> {after!r}"]
    if isinstance(before, dict):
        out = []
        for k in sorted(set(before) | set(after), key=str):
            out += diff(before.get(k), after.get(k), f"{where}.{k}")
        return out
    if isinstance(before, list) and len(before) == len(after):
        out = []
        for i, (x, y) in enumerate(zip(before, after)):
            out += diff(x, y, f"{where}[{i}]")
        return out
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"]


# ----------------------------------------------------------- operations ---


def deref(doc, schema):
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 20:
        node = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
        seen += 1
    return schema


def field_kind(name):
    if name in FIELD_KINDS:
        return FIELD_KINDS[name]
    if name == "id" or name.endswith("_id") or name.endswith("_ids"):
        return name.rsplit("_id", 1)[0] or "id"
    return None


def operations(doc):
    """Every operation, with the id kinds it takes."""
    ops = []
    for path, item in sorted(doc["paths"].items()):
        for method, op in sorted(item.items()):
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            segments = path.strip("/").split("/")
            refs = []  # (where, name, kind)
            for i, seg in enumerate(segments):
                if seg.startswith("{") and segments[i - 1] not in PLATFORM_SEGMENTS:
                    name = seg[1:-1]
                    kind = SEGMENT_KINDS.get(segments[i - 1], f"unknown:{segments[i - 1]}/{name}")
                    refs.append(("path", name, kind))
            params = [p for p in op.get("parameters", []) if p["in"] == "query"]
            for p in params:
                kind = field_kind(p["name"])
                if kind and p["name"] not in NOT_REFERENCES:
                    refs.append(("query", p["name"], kind_or_unknown(kind)))
            content = op.get("requestBody", {}).get("content", {})
            body = None
            if "application/json" in content:
                body = deref(doc, content["application/json"]["schema"])
                for name in sorted(body.get("properties", {})):
                    kind = field_kind(name)
                    if kind:
                        refs.append(("body", name, kind_or_unknown(kind)))
            ops.append({
                "method": method.upper(), "path": path, "op": op, "refs": refs, "query": params,
                "body": body, "raw_body": "application/octet-stream" in content,
                "websocket": "101" in op.get("responses", {}),
                "host_token": any("host_token" in s for s in op.get("security", []) or []),
            })
    return ops


GENERATED_KINDS = {"sandbox", "template", "key", "team", "user", "host", "host_tag"}


def kind_or_unknown(kind):
    return kind if kind in GENERATED_KINDS else f"unknown:{kind}"


def value_strategy(doc, schema, depth=0):
    """Values of a JSON schema (best effort; types and enums respected)."""
    schema = deref(doc, schema or {})
    if "oneOf" in schema or "anyOf" in schema:
        return st.one_of([value_strategy(doc, s, depth + 1) for s in schema.get("oneOf", schema.get("anyOf"))])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema.get("type", "object")
    if isinstance(types, list):
        return st.one_of([value_strategy(doc, dict(schema, type=t), depth + 1) for t in types])
    text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=24)
    if types == "null":
        return st.none()
    if types == "boolean":
        return st.booleans()
    if types == "integer":
        return st.integers(min_value=int(schema.get("minimum", 0)), max_value=100000)
    if types == "number":
        return st.floats(min_value=0, max_value=1e6, allow_nan=False)
    if types == "string":
        return text
    if types == "array":
        if depth > 3:
            return st.just([])
        return st.lists(value_strategy(doc, schema.get("items", {}), depth + 1), max_size=3)
    if depth > 3:
        return st.just({})
    props = schema.get("properties")
    if props is None:
        return st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), text, max_size=3)
    required = set(schema.get("required", []))
    fields = {k: with_valid(k, value_strategy(doc, v, depth + 1)) for k, v in props.items()}
    optional = sorted(set(props) - required)
    return st.fixed_dictionaries(
        {k: fields[k] for k in sorted(required)},
        optional={k: fields[k] for k in optional},
    )


def with_valid(name, strategy):
    return st.one_of(st.just(VALID[name]), strategy) if name in VALID else strategy


def is_exempt(op, cred):
    for (method, path, creds), answer in EXEMPT.items():
        if method == op["method"] and path == op["path"] and (creds is None or cred.name in creds):
            return answer
    return None


def creds_for(op, w):
    if w.get("creds_override"):
        return w["creds_override"]
    if op["host_token"]:
        return w["b_creds"]
    return [c for c in w["b_creds"] if c.kind != "host"]


def request_for(op, ids, query, body):
    path = op["path"]
    for (where, name, _), value in zip(op["refs"], ids):
        if where == "path":
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        elif where == "query":
            query = dict(query, **{name: value})
        elif where == "body":
            body = dict(body or {}, **{name: value})
    if query:
        path += "?" + urllib.parse.urlencode(query)
    return path, body


def answer(api, op, cred, path, body, raw):
    headers = {}
    if op["websocket"]:
        headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}
    status, value, payload = api.call(op["method"], path, cred, body=body,
                                      raw=raw if op["raw_body"] else None, headers=headers,
                                      timeout=60)
    code = value.get("error", {}).get("code") if isinstance(value, dict) else None
    return status, code, payload


class Failure(AssertionError):
    pass


def check_operation(api, doc, w, op, examples, seed):
    refs = op["refs"]
    stats = {"404": 0, "exempt": 0, "validation": 0}

    def id_strategy(i, kind):
        own = w["b_ids"].get(kind, [])
        theirs = st.sampled_from(w["a_ids"][kind])
        # The first reference is always A's; later ones A's or B's own.
        return theirs if i == 0 or not own else st.one_of(theirs, st.sampled_from(own))

    ids_st = st.tuples(*[id_strategy(i, kind) for i, (_, _, kind) in enumerate(refs)])
    query_props = {p["name"]: with_valid(p["name"], value_strategy(doc, p.get("schema")))
                   for p in op["query"] if p["name"] not in NOT_REFERENCES and not field_kind(p["name"])}
    query_req = {p["name"] for p in op["query"] if p.get("required")}
    query_st = st.fixed_dictionaries(
        {k: v for k, v in query_props.items() if k in query_req},
        optional={k: v for k, v in query_props.items() if k not in query_req})
    body_st = value_strategy(doc, op["body"]) if op["body"] else st.none()
    cred_st = st.sampled_from(creds_for(op, w))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
              report_multiple_bugs=False)
    @given(ids=ids_st, query=query_st, body=body_st, cred=cred_st, raw=st.binary(max_size=64))
    def prop(ids, query, body, cred, raw):
        path, full_body = request_for(op, ids, {k: str(v).lower() if isinstance(v, bool) else v
                                                for k, v in query.items()}, body)
        status, code, payload = answer(api, op, cred, path, full_body, raw)
        text = payload.decode(errors="replace")
        leaked = [s for s in w["secrets"] if s in text and s not in ids]
        if leaked:
            raise Failure(f"{cred} {op['method']} {path}: answer names A's {leaked}: {text[:300]}")
        if status == 404:
            stats["404"] += 1
            return
        # Anything else must not depend on whether the id exists.
        fake_ids = tuple(nonexistent_like(v) if v in w["a_ids"][kind] else v
                         for v, (_, _, kind) in zip(ids, refs))
        fake_path, fake_body = request_for(op, fake_ids, {k: str(v).lower() if isinstance(v, bool) else v
                                                          for k, v in query.items()}, body)
        fstatus, fcode, fpayload = answer(api, op, cred, fake_path, fake_body, raw)
        exempt = is_exempt(op, cred)
        if exempt and (status, code) == exempt[:2] and (fstatus, fcode) == (status, code):
            stats["exempt"] += 1
            return
        if status in (400, 422) and (fstatus, fcode) == (status, code):
            # Input refused before the lookup, whatever the id.
            stats["validation"] += 1
            return
        raise Failure(f"{cred} {op['method']} {path} body={json.dumps(full_body)[:200]}: "
                      f"{status} {code} {text[:200]!r}; with a nonexistent id: {fstatus} {fcode}")

    hypothesis_seed(seed)(prop)()
    return stats


def minimal_examples(doc, op, w):
    """A plainly valid request per credential, so that the 404 path is hit."""
    out = []
    for cred in creds_for(op, w):
        ids = tuple(w["a_ids"][kind][0] for _, _, kind in op["refs"])
        query = {p["name"]: VALID.get(p["name"], "x") for p in op["query"] if p.get("required")}
        body = minimal_body(doc, op["body"]) if op["body"] else None
        out.append((cred, ids, query, body))
    return out


# Plainly valid values of fields, by name: drawn besides random ones so
# that requests get past input validation to the lookup.
VALID = {
    "command": "id", "timeout_secs": 30, "name": "n-valid", "path": "/home/user/a.txt",
    "from": "/home/user/a.txt", "to": "/home/user/b.txt", "tags": ["x"], "draining": True,
    "is_admin": True, "email": "nobody@wrenn.test", "role": "member", "template": "base",
    "user": "user", "cols": 80, "rows": 24, "depth": 1, "memory": False,
    "sent_at_ms": 1764460800000,
    "free": {"vcpus": 1, "memory_mb": 1024, "disk_mb": 1024},
    "load": {"sandboxes_running": 0, "sandboxes_paused": 0},
}


def minimal_body(doc, schema):
    schema = deref(doc, schema)
    return {k: VALID.get(k, "x") for k in schema.get("required", [])}


def run_minimal(api, doc, w, op):
    """The plain request of each credential: 404 or its exemption."""
    for cred, ids, query, body in minimal_examples(doc, op, w):
        path, full_body = request_for(op, ids, query, body)
        status, code, payload = answer(api, op, cred, path, full_body, b"x")
        exempt = is_exempt(op, cred)
        if status == 404 or (exempt and (status, code) == exempt[:2]):
            continue
        raise Failure(f"{cred} {op['method']} {path} body={json.dumps(full_body)}: "
                      f"{status} {code} {payload[:300]!r} (want 404)")


def canaries(api, doc, w, ops, base):
    """The checks can fail: A's own credentials on GET /v1/sandboxes/{id}
    must be flagged, and so must a tag A adds to its host. Answers the new
    baseline."""
    op = next(o for o in ops if o["method"] == "GET" and o["path"] == "/v1/sandboxes/{id}")
    w["creds_override"] = [w["a"]]
    try:
        check_operation(api, doc, w, op, 3, 1)
    except Failure:
        pass
    else:
        raise RuntimeError("canary: A reading its own sandbox was not flagged")
    finally:
        w["creds_override"] = None
    host = w["a_ids"]["host"][1]
    api.ok("POST", f"/v1/hosts/{host}/tags", w["a"], {"tags": ["canary"]})
    changed = diff(base, snapshot(api, w))
    api.ok("DELETE", f"/v1/hosts/{host}/tags/canary", w["a"])
    if not changed:
        raise RuntimeError("canary: a tag added to A's host was not noticed")
    # A's audit log now holds the canary's two events: a new baseline.
    return snapshot(api, w)


def list_operations_leak_nothing(api, w, ops):
    bad = []
    for op in ops:
        if op["method"] != "GET" or op["refs"] or op["path"] in ("/health", "/openapi.json"):
            continue
        names = {p["name"] for p in op["query"]}
        for cred in creds_for(op, w):
            for cursor in [None] + w["cursors"]:
                path = op["path"] + (f"?cursor={urllib.parse.quote(cursor)}" if cursor and "cursor" in names else "")
                if cursor and "cursor" not in names:
                    continue
                status, _, payload = api.call("GET", path, cred)
                text = payload.decode(errors="replace")
                leaked = [s for s in w["secrets"] if s in text]
                if leaked:
                    bad.append(f"{cred} GET {path}: {status}, names A's {leaked}")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cp", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--agent-port", type=int, required=True)
    ap.add_argument("--examples", type=int, default=15)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"[{args.label}] seed {seed} (CROSS_TENANT_SEED={seed} to replay)")
    random.seed(seed)
    api = Api(args.cp)
    doc = api.ok("GET", "/openapi.json")
    ops = operations(doc)
    w = build_world(api, args)
    passed = failed = 0
    try:
        unknown = [(op["method"], op["path"], r) for op in ops for r in op["refs"] if r[2].startswith("unknown:")]
        for method, path, ref in unknown:
            print(f"FAIL {method} {path}: takes {ref[0]} '{ref[1]}' of kind {ref[2][8:]!r}, which has no generator")
            failed += 1
        id_ops = [op for op in ops if op["refs"] and not any(r[2].startswith("unknown:") for r in op["refs"])]
        base = snapshot(api, w)
        base = canaries(api, doc, w, ops, base)
        passed += 1
        print("ok   canaries: the checks fail for team A's own credentials and for a change of A's")
        for op in id_ops:
            name = f"{op['method']} {op['path']}"
            try:
                run_minimal(api, doc, w, op)
                stats = check_operation(api, doc, w, op, args.examples, seed)
                changed = diff(base, snapshot(api, w))
                if changed:
                    raise Failure("team A's objects changed: " + "; ".join(changed[:5]))
                print(f"ok   {name}: refs {[(r[1], r[2]) for r in op['refs']]} "
                      f"404={stats['404']} exempt={stats['exempt']} refused-input={stats['validation']}")
                passed += 1
            except Failure as err:
                print(f"FAIL {name}: {err}")
                failed += 1
                base = snapshot(api, w)
        leaks = list_operations_leak_nothing(api, w, ops)
        for leak in leaks:
            print(f"FAIL list: {leak}")
        failed += len(leaks)
        lists = sum(1 for op in ops if op["method"] == "GET" and not op["refs"])
        if not leaks:
            passed += 1
            print(f"ok   {lists} list operations with B's credentials and A's cursors name nothing of A's")
        not_id = [f"{op['method']} {op['path']}" for op in ops if not op["refs"]]
        print(f"[{args.label}] {len(id_ops)} id-taking operations checked; without ids: {len(not_id)}")
        for (method, path, creds), (status, code, why) in EXEMPT.items():
            print(f"  exempt {method} {path} for {creds or 'every credential'}: {status} {code}: {why}")
    finally:
        agent = w.get("agent")
        cleanup(api, w)
        if agent:
            agent.terminate()
            try:
                agent.wait(60)
            except subprocess.TimeoutExpired:
                agent.kill()
    print(f"[{args.label}] cross_tenant: {passed} passed, {failed} failed")
    return 1 if failed else 0


def cleanup(api, w):
    for name in w.get("a_ids", {}).get("template", []):
        api.call("DELETE", f"/v1/templates/{name}", w["a"])
    for sbx in [w.get("a_sandbox")]:
        if sbx:
            api.call("DELETE", f"/v1/sandboxes/{sbx}", w["a"])
    # Sandboxes B may have created through a leak are B's to destroy.
    for cred in w.get("b_creds", []):
        if cred.kind != "user":
            continue
        status, value, _ = api.call("GET", "/v1/sandboxes?limit=200", cred)
        for s in (value or {}).get("sandboxes", []) if status == 200 else []:
            if s["state"] != "stopped":
                api.call("DELETE", f"/v1/sandboxes/{s['id']}", cred)


if __name__ == "__main__":
    sys.exit(main())
