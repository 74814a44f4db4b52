"""A private Dovecot IMAP server for the test-suite.

Why: mail intake (IMAP IDLE, MOVE, UIDs, folders) is only trustworthy when tested against a
real IMAP server. This starts Dovecot with its own configuration in a temporary directory
(base_dir, state_dir, logs, Maildirs), plain IMAP on a free loopback port and a passwd-file
user database, so nothing system-wide is touched.

As root (CI), Dovecot's internal/login processes run as the packaged ``dovecot``/``dovenull``
users and mail is stored under an unprivileged uid (``nobody``); otherwise everything runs as
the current user (Dovecot's "rootless" mode).
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers._util import (
    LOOPBACK,
    free_port,
    is_root,
    port_is_open,
    stop_at_exit,
    tail,
    terminate,
)

DOMAIN = "agence.test"
DEFAULT_PASSWORD = "secret"
DEFAULT_USERS: dict[str, str] = {
    f"bot@{DOMAIN}": DEFAULT_PASSWORD,
    f"facilitateur@{DOMAIN}": DEFAULT_PASSWORD,
}
#: Users provisioned ahead of need (see ``DovecotServer.add_user``).
POOL_SIZE = 400


def find_dovecot() -> Path:
    """The ``dovecot`` master binary (Debian installs it in /usr/sbin, often off PATH)."""
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise RuntimeError("dovecot binary not found (install dovecot-core and dovecot-imapd)")


@dataclass(frozen=True)
class _Identity:
    """Which system users run Dovecot's processes and own the mail."""

    internal_user: str
    login_user: str
    mail_uid: int
    mail_gid: int


def _identity() -> _Identity:
    if not is_root():
        me = pwd.getpwuid(os.getuid()).pw_name
        return _Identity(me, me, os.getuid(), os.getgid())
    for name in ("dovecot", "dovenull"):
        pwd.getpwnam(name)  # raise KeyError early with a clear name: the package creates them
    nobody = pwd.getpwnam("nobody")
    return _Identity("dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid)


@dataclass
class ImapAccount:
    """One IMAP mailbox on the test server, with helpers bound to it."""

    server: DovecotServer
    user: str
    password: str
    host: str = LOOPBACK
    port: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def client(self) -> IMAPClient:
        """A logged-in IMAPClient; the caller closes it (or uses ``with``)."""
        return self.server.client(self.user)

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = ()) -> int:
        return self.server.append(self.user, folder, raw, flags)

    def folder_uids(self, folder: str = "INBOX") -> list[int]:
        return self.server.folder_uids(self.user, folder)

    def list_folders(self) -> list[str]:
        return self.server.list_folders(self.user)

    def fetch_raw(self, folder: str = "INBOX") -> dict[int, bytes]:
        return self.server.fetch_raw(self.user, folder)

    def create_folder(self, folder: str) -> None:
        self.server.create_folder(self.user, folder)

    def wait_for_count(self, folder: str, count: int, timeout: float = 10.0) -> list[int]:
        return self.server.wait_for_count(self.user, folder, count, timeout)


class DovecotServer:
    """Dovecot master process with a private config, users and Maildirs."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.binary = find_dovecot()
        self.host = LOOPBACK
        self.port = 0
        self.tmpdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        self.startup_seconds = 0.0
        self._ident = _identity()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._passwd_mtime = 0
        self._pool: list[str] = []
        self._extend_pool()

    # -- paths --------------------------------------------------------------------------------
    def _path(self, *parts: str) -> Path:
        assert self.tmpdir is not None, "server not started"
        return self.tmpdir.joinpath(*parts)

    @property
    def config_path(self) -> Path:
        return self._path("dovecot.conf")

    @property
    def log_path(self) -> Path:
        return self._path("dovecot.log")

    @property
    def mail_root(self) -> Path:
        return self._path("mail")

    def home(self, user: str) -> Path:
        local, _, domain = user.partition("@")
        return self.mail_root / (domain or "_") / local

    # -- configuration ------------------------------------------------------------------------
    def _write_passwd(self) -> None:
        """(Re)write the passwd-file; Dovecot rereads it when its mtime changes."""
        ident = self._ident
        lines = []
        for user, password in self.users.items():
            if ":" in user or ":" in password or "\n" in user + password:
                raise ValueError(f"unsupported character in test user {user!r}")
            lines.append(
                f"{user}:{{PLAIN}}{password}:{ident.mail_uid}:{ident.mail_gid}::{self.home(user)}::"
            )
        passwd = self._path("users.passwd")
        tmp = passwd.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, passwd)
        # Dovecot reloads the file when its mtime (whole seconds) or size changes; two rewrites
        # in the same second can keep both, so force a strictly increasing mtime.
        self._passwd_mtime = max(self._passwd_mtime + 1, int(time.time()))
        os.utime(passwd, (self._passwd_mtime, self._passwd_mtime))

    def _write_config(self) -> None:
        ident = self._ident
        first_valid_uid = min(ident.mail_uid, 500) if ident.mail_uid else 1
        config = f"""\
# Generated by tests/servers/dovecot.py - private test instance, nothing system-wide.
instance_name = clausebot-test-{self.port}
base_dir = {self._path("run")}
state_dir = {self._path("state")}
log_path = {self.log_path}
info_log_path = {self.log_path}
debug_log_path = {self.log_path}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {ident.internal_user}
default_internal_group = {grp.getgrgid(pwd.getpwnam(ident.internal_user).pw_gid).gr_name}
default_login_user = {ident.login_user}
first_valid_uid = {first_valid_uid}
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_privileged_group =
mail_max_userip_connections = 200
imap_idle_notify_interval = 30 secs
mailbox_idle_check_interval = 1 secs
login_trusted_networks = 127.0.0.0/8
shutdown_clients = yes
verbose_proctitle = no
import_environment = TZ

namespace inbox {{
  inbox = yes
  separator = /
  prefix =
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Sent {{
    special_use = \\Sent
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
  mailbox Junk {{
    special_use = \\Junk
  }}
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self._path("users.passwd")}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self._path("users.passwd")}
}}

service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 1
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service imap {{
  process_limit = 256
}}
# No auth penalty: a test that checks a wrong password must not slow down later logins.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
"""
        self.config_path.write_text(config)
        os.chmod(self.config_path, 0o644)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> DovecotServer:
        """Write the config, start ``dovecot -F`` and wait until IMAP answers."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        began = time.monotonic()
        if self.tmpdir is None:
            self.tmpdir = Path(tempfile.mkdtemp(prefix="clausebot-dovecot-"))
            os.chmod(self.tmpdir, 0o755)  # login/auth processes run as other users
            for sub in ("run", "state", "mail"):
                self._path(sub).mkdir()
            os.chmod(self.mail_root, 0o755)
            if is_root():
                os.chown(self.mail_root, self._ident.mail_uid, self._ident.mail_gid)
            self.log_path.touch()
        last_error = ""
        for _attempt in range(5):
            self.port = free_port()
            self._write_config()
            self._write_passwd()
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOVECOT")}
            self.proc = subprocess.Popen(
                [str(self.binary), "-F", "-c", str(self.config_path)],
                cwd=self.tmpdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if self._wait_ready(timeout=20):
                stop_at_exit(self)
                self.startup_seconds = time.monotonic() - began
                return self
            last_error = self._diagnostics()
            terminate(self.proc)
            if "Address already in use" not in last_error:
                break
        self.proc = None
        raise RuntimeError(f"Dovecot failed to start:\n{last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            if port_is_open(self.host, self.port):
                with (
                    contextlib.suppress(Exception),
                    IMAPClient(self.host, port=self.port, ssl=False, timeout=5) as client,
                ):
                    if b"IMAP4REV1" in client.capabilities():
                        return True
            time.sleep(0.05)
        return False

    def _diagnostics(self) -> str:
        output = ""
        if self.proc is not None and self.proc.stdout is not None and self.proc.poll() is not None:
            output = self.proc.stdout.read().decode(errors="replace")
        return f"{output}\n{tail(self.log_path)}"

    def stop(self, remove: bool = True) -> None:
        """Stop the master (it stops its children) and delete the temp dir."""
        terminate(self.proc, timeout=15)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        if remove and self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- users --------------------------------------------------------------------------------
    def _extend_pool(self) -> None:
        """Add ``POOL_SIZE`` unused users to the passwd-file. Lock held."""
        for _ in range(POOL_SIZE):
            user = f"imap{next(self._counter):04d}@{DOMAIN}"
            self.users[user] = DEFAULT_PASSWORD
            self._pool.append(user)

    def add_user(self, user: str | None = None, password: str = DEFAULT_PASSWORD) -> ImapAccount:
        """Return a fresh user with an empty mailbox.

        Dovecot re-reads the passwd-file at most once per second, so users are provisioned in
        advance (a pool, written at start-up): taking one is instant. A chosen name or password
        needs a rewrite; we then wait until Dovecot accepts the login (about a second).
        """
        with self._lock:
            if user is None and password == DEFAULT_PASSWORD:
                if not self._pool:
                    self._extend_pool()
                    self._write_passwd()
                    pending = self._pool[0]
                else:
                    pending = None
                user = self._pool.pop(0)
            else:
                if user is None:
                    user = f"imap{next(self._counter):04d}@{DOMAIN}"
                self.users[user] = password
                self._write_passwd()
                pending = user
        if pending is not None:
            self._wait_for_login(pending)
        return self.account(user)

    def _wait_for_login(self, user: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client(user).logout()
                return
            except LoginError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def account(self, user: str) -> ImapAccount:
        if user not in self.users:
            raise KeyError(f"unknown test IMAP user {user!r}")
        return ImapAccount(self, user, self.users[user], self.host, self.port)

    def remove_user(self, user: str) -> None:
        """Delete the user's Maildir (per-test cleanup). Pool users are never handed out twice."""
        shutil.rmtree(self.home(user), ignore_errors=True)

    # -- IMAP helpers -------------------------------------------------------------------------
    def client(self, user: str) -> IMAPClient:
        """A logged-in IMAPClient for ``user`` (plain IMAP on loopback)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            client.login(user, self.users[user])
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    @contextlib.contextmanager
    def _session(self, user: str) -> Iterator[IMAPClient]:
        client = self.client(user)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def create_folder(self, user: str, folder: str) -> None:
        """Create ``folder`` if it does not exist yet."""
        with self._session(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
                client.subscribe_folder(folder)

    def append(self, user: str, folder: str, raw: bytes, flags: Sequence[str] = ()) -> int:
        """Append a raw RFC 5322 message (creating the folder if needed); return its UID."""
        with self._session(user) as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
                client.subscribe_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags))
            # Dovecot supports UIDPLUS: "[APPENDUID <validity> <uid>] Append completed."
            text = response.decode() if isinstance(response, bytes) else str(response)
            if "APPENDUID" in text:
                return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
            client.select_folder(folder, readonly=True)
            return max(client.search("ALL"))

    def folder_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        """Sorted UIDs of the messages in ``folder`` (empty list if it does not exist)."""
        with self._session(user) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in client.search("ALL"))

    def list_folders(self, user: str) -> list[str]:
        """Names of all folders of ``user`` (decoded from modified UTF-7), sorted."""
        with self._session(user) as client:
            return sorted(str(name) for _flags, _sep, name in client.list_folders())

    def fetch_raw(self, user: str, folder: str = "INBOX") -> dict[int, bytes]:
        """``{uid: raw bytes}`` of every message in ``folder``, by ascending UID."""
        with self._session(user) as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return {}
            data = client.fetch(uids, ["BODY.PEEK[]"])
            return {int(uid): bytes(data[uid][b"BODY[]"]) for uid in sorted(data)}

    def wait_for_count(
        self, user: str, folder: str, count: int, timeout: float = 10.0
    ) -> list[int]:
        """Poll until ``folder`` holds exactly ``count`` messages; return their UIDs."""
        deadline = time.monotonic() + timeout
        uids: list[int] = []
        while time.monotonic() < deadline:
            uids = self.folder_uids(user, folder)
            if len(uids) == count:
                return uids
            time.sleep(0.05)
        raise TimeoutError(f"{user}/{folder}: expected {count} messages, have {len(uids)}")

    def clear(self, user: str) -> None:
        """Empty INBOX and delete every other folder of ``user``."""
        with self._session(user) as client:
            for _flags, _sep, name in sorted(client.list_folders(), key=lambda f: -len(str(f[2]))):
                if str(name).upper() != "INBOX":
                    with contextlib.suppress(Exception):
                        client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()
