"""commands.run / background processes through the e2b SDK."""
import hashlib
import time

import pytest
from e2b import CommandExitException, InvalidArgumentException, TimeoutException


@pytest.mark.vm
def test_run_captures_stdout_stderr_and_exit_code(sandbox):
    result = sandbox.commands.run("echo out; echo err >&2")
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.exit_code == 0


@pytest.mark.vm
def test_run_nonzero_exit_raises_with_exact_code(sandbox):
    with pytest.raises(CommandExitException) as info:
        sandbox.commands.run("echo bad >&2; exit 42")
    assert info.value.exit_code == 42
    assert info.value.stderr == "bad\n"


def test_run_passes_env_vars(sandbox):
    result = sandbox.commands.run("echo $A-$B", envs={"A": "x y", "B": "é"})
    assert result.stdout == "x y-é\n"


def test_run_uses_cwd(sandbox, workdir):
    result = sandbox.commands.run("pwd", cwd=f"/home/user/{workdir}")
    assert result.stdout == f"/home/user/{workdir}\n"


def test_run_relative_cwd_resolves_against_home(sandbox, workdir):
    assert sandbox.commands.run("pwd", cwd=workdir).stdout == f"/home/user/{workdir}\n"


@pytest.mark.vm
def test_run_default_user_is_user_with_login_env(sandbox):
    out = sandbox.commands.run('id -un; echo "$HOME $USER $LOGNAME $SHELL"; pwd').stdout
    assert out.splitlines() == ["user", "/home/user user user /bin/bash", "/home/user"]


def test_run_as_root(sandbox):
    assert sandbox.commands.run("id -u; echo $HOME", user="root").stdout == "0\n/root\n"


def test_run_user_gets_supplementary_groups(sandbox):
    groups = sandbox.commands.run("id -G").stdout.split()
    assert groups and all(g.isdigit() for g in groups)
    assert "0" not in groups


def test_run_timeout_raises(sandbox):
    start = time.time()
    with pytest.raises(TimeoutException):
        sandbox.commands.run("sleep 30", timeout=2)
    assert time.time() - start < 20


def test_run_missing_cwd_is_an_error(sandbox):
    with pytest.raises(Exception) as info:
        sandbox.commands.run("true", cwd="/definitely/not/here")
    assert "not" in str(info.value).lower()


def test_run_unknown_user_is_invalid_argument(sandbox):
    with pytest.raises(InvalidArgumentException):
        sandbox.commands.run("true", user="no-such-user-xyz")


def test_run_streams_callbacks_in_order(sandbox):
    seen = []
    sandbox.commands.run("for i in 1 2 3; do echo $i; sleep 0.1; done", on_stdout=seen.append)
    assert "".join(seen) == "1\n2\n3\n"


@pytest.mark.vm
def test_loud_output_arrives_complete_and_in_order(sandbox):
    # ~6.9 MB of numbered lines: any loss or reordering changes the digest.
    result = sandbox.commands.run("seq 1 1000000", timeout=120)
    expected = "".join(f"{i}\n" for i in range(1, 1000001))
    assert hashlib.sha256(result.stdout.encode()).hexdigest() == hashlib.sha256(expected.encode()).hexdigest()


@pytest.mark.vm
def test_background_connect_send_stdin_and_kill(sandbox):
    handle = sandbox.commands.run("cat", background=True, stdin=True)
    pids = [p.pid for p in sandbox.commands.list()]
    assert handle.pid in pids
    sandbox.commands.send_stdin(handle.pid, "ping\n")
    attached = sandbox.commands.connect(handle.pid)
    sandbox.commands.send_stdin(handle.pid, "pong\n")
    time.sleep(0.5)
    assert sandbox.commands.kill(handle.pid) is True
    with pytest.raises(CommandExitException) as info:
        attached.wait()
    assert info.value.exit_code == -1
    assert "pong" in info.value.stdout
    assert handle.pid not in [p.pid for p in sandbox.commands.list()]


def test_close_stdin_ends_cat(sandbox):
    handle = sandbox.commands.run("cat", background=True, stdin=True)
    sandbox.commands.send_stdin(handle.pid, "bye\n")
    sandbox.commands.close_stdin(handle.pid)
    result = handle.wait()
    assert result.stdout == "bye\n"


def test_kill_unknown_pid_returns_false(sandbox):
    assert sandbox.commands.kill(999999) is False


def test_list_shows_command_config(sandbox):
    handle = sandbox.commands.run("sleep 30", background=True, envs={"K": "V"})
    try:
        info = next(p for p in sandbox.commands.list() if p.pid == handle.pid)
        assert info.cmd == "/bin/bash"
        assert info.args[-1] == "sleep 30"
        assert info.envs.get("K") == "V"
    finally:
        sandbox.commands.kill(handle.pid)


def test_disconnect_then_reconnect_gets_later_output(sandbox):
    handle = sandbox.commands.run("sleep 1; echo later", background=True)
    handle.disconnect()
    result = sandbox.commands.connect(handle.pid).wait()
    assert result.stdout == "later\n"


def test_other_clients_keep_working_while_process_ignores_stdin(sandbox):
    handle = sandbox.commands.run("sleep 60", background=True, stdin=True)
    try:
        assert sandbox.commands.run("echo alive").stdout == "alive\n"
    finally:
        sandbox.commands.kill(handle.pid)
