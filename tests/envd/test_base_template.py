"""The `base` template as e2b users expect it (E2B's base image: `python`,
`pip`, `git`, `curl`, `sudo` without a password for `user`, whose home is
/home/user). Only meaningful inside a VM of the image: run.sh sets
ENVD_IN_VM=1 for the `vm` run."""
import os

import pytest

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("ENVD_IN_VM") != "1", reason="checks the base image, inside a VM"),
]


def _run(sandbox, command, **kwargs):
    out = sandbox.commands.run(command, **kwargs)
    assert out.exit_code == 0, (command, out.stderr)
    return out.stdout.strip()


@pytest.mark.parametrize(
    "command, starts",
    [
        ("python --version", "Python 3."),
        ("python3 --version", "Python 3."),
        ("pip --version", "pip "),
        ("git --version", "git version "),
        ("curl --version", "curl "),
        ("node --version", "v"),
    ],
)
def test_base_has_the_tools(sandbox, command, starts):
    assert _run(sandbox, command).startswith(starts)


def test_base_runs_commands_as_user_in_home(sandbox):
    assert _run(sandbox, "whoami") == "user"
    assert _run(sandbox, "echo $HOME") == "/home/user"
    assert _run(sandbox, "pwd") == "/home/user"


def test_base_user_may_sudo_without_password(sandbox):
    assert _run(sandbox, "sudo -n whoami") == "root"


def test_base_pip_installs_for_the_user_without_network(sandbox):
    # pip works (no network needed): it lists what is installed.
    assert "pip" in _run(sandbox, "pip list --disable-pip-version-check 2>/dev/null").lower()
