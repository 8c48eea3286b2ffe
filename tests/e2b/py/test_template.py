"""`Template.build` against Wrenn (issue #16, item 6): a template from
Wrenn's `base` with a file copied from a local context, a RUN, envs, a
working directory and a start command with a ready check, built through
E2B's template API onto Wrenn's builder; then a sandbox of it has the file,
the env and the service up. Needs no public internet."""
import os
import urllib.request

import pytest
from e2b import Template, wait_for_port

from conftest import RUN

TEMPLATE = pytest.mark.needs("e2b-api", "proxy", "template-build")


@TEMPLATE
def test_template_build_when_copy_run_env_workdir_start_then_sandbox_has_them(tmp_path, make_sandbox):
    (tmp_path / "hello.txt").write_text("hello from the context\n")
    name = f"py-tpl-{RUN}"
    template = (
        Template(file_context_path=str(tmp_path))
        .from_template("base")
        .copy("hello.txt", "/srv/app/")
        .run_cmd("echo built-as-$(id -un) > /srv/app/built.txt", user="root")
        .set_envs({"GREETING": "hi there"})
        .set_workdir("/srv/app")
        .set_start_cmd("python3 -m http.server 8000 --directory /srv/app", wait_for_port(8000))
    )
    logs = []
    info = Template.build(template, name, cpu_count=1, memory_mb=512, on_build_logs=logs.append)
    assert info.name == name
    assert any("Starting building" in str(entry) for entry in logs), logs

    sandbox = make_sandbox(template=name)
    assert sandbox.files.read("/srv/app/hello.txt") == "hello from the context\n"
    assert sandbox.files.read("/srv/app/built.txt") == "built-as-root\n"
    assert sandbox.commands.run("echo $GREETING").stdout == "hi there\n"
    # The start command's server is up as the sandbox starts (ready check
    # passed before the snapshot).
    served = sandbox.commands.run("curl -fsS http://127.0.0.1:8000/hello.txt").stdout
    assert served == "hello from the context\n"
    # ... and from outside, through the proxy.
    with urllib.request.urlopen(f"https://{sandbox.get_host(8000)}/hello.txt", timeout=30) as response:
        assert response.read() == b"hello from the context\n"

    # A second build of the same template is all cached and fast.
    again = Template.build(template, name, cpu_count=1, memory_mb=512)
    assert again.name == name
    assert Template.exists(name)
    assert not Template.exists(f"py-tpl-none-{RUN}")

    # Tags: assign, list (build ids parse as UUIDs), start by name:tag, remove.
    assigned = Template.assign_tags(f"{name}:latest", "stable")
    assert assigned.tags == ["stable"]
    tags = {t.tag: t.build_id for t in Template.get_tags(name)}
    assert tags.keys() == {"latest", "stable"}, tags
    assert tags["stable"] == tags["latest"] == assigned.build_id
    tagged = make_sandbox(template=f"{name}:stable")
    assert tagged.files.read("/srv/app/hello.txt") == "hello from the context\n"
    Template.remove_tags(name, "stable")
    assert {t.tag for t in Template.get_tags(name)} == {"latest"}


@TEMPLATE
def test_template_build_when_step_fails_then_build_exception_names_it(tmp_path):
    from e2b import BuildException

    template = Template(file_context_path=str(tmp_path)).from_template("base").run_cmd("echo ok").run_cmd("exit 7")
    with pytest.raises(BuildException) as failed:
        Template.build(template, f"py-tpl-broken-{RUN}", cpu_count=1, memory_mb=512)
    assert "7" in str(failed.value)


@TEMPLATE
def test_template_build_when_from_image_with_credentials_then_sandbox_runs_in_the_image(make_sandbox):
    # tests/e2b/run.sh pushed the image to a local registry: two layers
    # (the second adds /etc/oci-layer2 and whites out /etc/oci-removed),
    # config Env OCI_TEST=from-config.
    image = os.environ["WRENN_TEST_OCI_IMAGE"]
    name = f"py-tpl-oci-{RUN}"
    template = (
        Template()
        .from_image(image, username=os.environ["WRENN_TEST_OCI_USER"], password=os.environ["WRENN_TEST_OCI_PASSWORD"])
        .run_cmd('cat /etc/oci-marker /etc/oci-layer2 > /srv/seen.txt && echo "$OCI_TEST" >> /srv/seen.txt', user="root")
    )
    logs = []
    Template.build(template, name, cpu_count=1, memory_mb=512, on_build_logs=logs.append)
    assert any("pulling" in str(entry) for entry in logs), logs

    sandbox = make_sandbox(template=name)
    assert sandbox.files.read("/srv/seen.txt") == "from-oci-image\nsecond-layer\nfrom-config\n"
    assert sandbox.commands.run("test ! -e /etc/oci-removed && echo gone").stdout == "gone\n"

    # Without the password the registry refuses the pull, and the build
    # says so without registering anything.
    from e2b import BuildException

    with pytest.raises(BuildException) as refused:
        Template.build(Template().from_image(image).run_cmd("true"), f"py-tpl-oci-noauth-{RUN}", cpu_count=1, memory_mb=512)
    assert "registry" in str(refused.value).lower(), refused.value
    assert not Template.exists(f"py-tpl-oci-noauth-{RUN}")
