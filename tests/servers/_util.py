"""Small helpers shared by the real test servers (ports, users, process handling).

Why a module of its own: every server needs a free loopback port, a way to wait until it
accepts connections and, because CI runs as root, a way to run daemons as an unprivileged
system user. Keeping this in one place keeps each server module about its own protocol.
"""

from __future__ import annotations

import atexit
import contextlib
import mailbox
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

LOOPBACK = "127.0.0.1"


class Stoppable(Protocol):
    def stop(self) -> None: ...


_LIVE: weakref.WeakSet[Stoppable] = weakref.WeakSet()


def stop_at_exit(server: Stoppable) -> None:
    """Make sure ``server.stop()`` runs when the interpreter exits.

    Fixtures stop servers in teardown; this is the safety net for an aborted run (an exception
    outside a fixture, Ctrl-C), because daemons started in their own session would otherwise
    outlive the test process.
    """
    _LIVE.add(server)


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free right now on ``host``.

    The kernel picks it (bind to port 0); there is a tiny race until the server binds it,
    which callers absorb by retrying their start-up on "address in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.02,
    on_timeout: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` until it is true; raise a helpful ``TimeoutError`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    detail = on_timeout() if on_timeout is not None else ""
    raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}\n{detail}".rstrip())


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "condition",
             interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return it (a subprocess's
    output line, a list of replies); raise a helpful ``AssertionError`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")


@contextlib.contextmanager
def running(args: list[str], **popen: Any) -> Iterator[subprocess.Popen]:
    """``clausebot run`` (or any command) as a child process, killed on the way out if the test
    did not stop it: a failed wait must not leave a service polling behind."""
    proc = subprocess.Popen(args, **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def stop(proc: subprocess.Popen, timeout: float = 60) -> str | None:
    """SIGTERM, as systemd stops the service, then wait for it; its stderr when piped."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return err


CLI = [sys.executable, "-m", "clausebot.cli"]
"""The ``clausebot`` command, run with this interpreter."""


def demo_service(data: Path, **extra: str) -> tuple[dict[str, str], str]:
    """``clausebot demo`` in ``data``: the environment a ``clausebot run`` of it needs, and the
    demo's output (its invitation codes)."""
    env = service_env(data, **extra)
    demo = subprocess.run([*CLI, "demo"], env=env, capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0, demo.stderr
    return env, demo.stdout


def deliver(data: Path, *, sender: str, subject: str, message_id: str, body: str) -> None:
    """A message in the service's incoming Maildir, as a mail server would leave it."""
    (data / "mail").mkdir(parents=True, exist_ok=True)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "clauses@agence.invalid"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content(body)
    mailbox.Maildir(data / "mail" / "incoming", create=True).add(msg)


def service_env(data: Path, **extra: str) -> dict[str, str]:
    """The environment of a `clausebot` subprocess: no CLAUSEBOT_* of the caller's, the data
    directory given, unbuffered output, plus ``extra`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUSEBOT_")}
    env.update(CLAUSEBOT_DATA_DIR=str(data), PYTHONUNBUFFERED="1", **extra)
    return env


def is_root() -> bool:
    """True when we run with euid 0 (how CI runs)."""
    return os.geteuid() == 0


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the passwd entry of ``name``, creating a system user when it is missing (root only)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if not is_root():
        raise RuntimeError(f"system user {name!r} is missing and we are not root to create it")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(name)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """``chown -R`` in Python (used to hand a temp dir to an unprivileged daemon user)."""
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for entry in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(root, entry), uid, gid, follow_symlinks=False)


def terminate(
    proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10
) -> None:
    """Stop a child process politely, then firmly; never raise if it is already gone."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=timeout)


def tail(path: Path, lines: int = 40) -> str:
    """Last lines of a log file, for error messages that explain a failed start."""
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:])
