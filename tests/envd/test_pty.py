"""PTY sessions through the e2b SDK."""
import threading
import time

import pytest
from e2b.sandbox.commands.command_handle import PtySize


class Session:
    """A PTY whose output is collected on a background thread."""

    def __init__(self, sandbox, rows=24, cols=80):
        self.sandbox = sandbox
        self.handle = sandbox.pty.create(PtySize(rows=rows, cols=cols))
        self.pid = self.handle.pid
        self.chunks = []
        self.error = None
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self):
        try:
            self.handle.wait(on_pty=self.chunks.append)
        except Exception as e:  # exit code != 0 or kill
            self.error = e

    def output(self):
        return b"".join(self.chunks)

    def read_until(self, needle, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if needle in self.output():
                return True
            time.sleep(0.1)
        return False

    def join(self, timeout=15):
        self.thread.join(timeout)
        assert not self.thread.is_alive()


@pytest.mark.vm
def test_pty_echoes_input_and_has_term(sandbox):
    s = Session(sandbox)
    try:
        sandbox.pty.send_stdin(s.pid, b"echo T=$TERM; tty\n")
        assert s.read_until(b"T=xterm-256color"), s.output()
        assert s.read_until(b"/dev/pts/"), s.output()
    finally:
        sandbox.pty.kill(s.pid)


def test_pty_resize_changes_stty_size(sandbox):
    s = Session(sandbox)
    try:
        sandbox.pty.resize(s.pid, PtySize(rows=33, cols=111))
        sandbox.pty.send_stdin(s.pid, b"stty size\n")
        assert s.read_until(b"33 111"), s.output()
    finally:
        sandbox.pty.kill(s.pid)


def test_pty_kill_ends_session(sandbox):
    s = Session(sandbox)
    assert sandbox.pty.kill(s.pid) is True
    s.join()
    assert getattr(s.error, "exit_code", None) == -1
    assert s.pid not in [p.pid for p in sandbox.commands.list()]


def test_pty_exit_reports_code(sandbox):
    s = Session(sandbox)
    sandbox.pty.send_stdin(s.pid, b"exit 7\n")
    s.join()
    assert getattr(s.error, "exit_code", None) == 7
