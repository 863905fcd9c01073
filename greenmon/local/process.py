"""Daemon processes started by greenmon, or found again from their pid file."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pwd
import re
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from greenmon.errors import ServiceError
from greenmon.local.ports import port_open

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_MARK = "=== greenmon started "
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _proc_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` (field 22 of /proc/PID/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces; fields after it are safe to split
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def running_as_root() -> bool:
    return os.geteuid() == 0


def hand_over(path: Path, user: str, *, recursive: bool = False) -> None:
    """As root: chown ``path`` to ``user`` and make its parents traversable by it.

    Does nothing when not root (services then run as the current user).
    """
    if not running_as_root():
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise ServiceError(f"system user {user!r} does not exist") from exc
    targets = [path]
    if recursive and path.is_dir():
        targets.extend(path.rglob("*"))
    for target in targets:
        os.chown(target, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == entry.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid == entry.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            log.warning("making %s traversable for user %s (chmod +x)", parent, user)
            os.chmod(parent, stat.S_IMODE(st.st_mode) | bit)


def tail(path: Path | None, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file since greenmon last started the service."""
    if path is None:
        return ""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    data = _ANSI.sub("", data)
    start = data.rfind(_MARK)
    if start >= 0:
        data = data[start:].split("\n", 1)[-1]
    return "\n".join(data.splitlines()[-lines:])


class ManagedProcess:
    """A local service process: spawned by us (``start``) or re-attached (``from_pid_file``)."""

    def __init__(
        self,
        name: str,
        pid: int,
        *,
        pid_file: Path | None = None,
        log_file: Path | None = None,
        popen: subprocess.Popen[bytes] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        start_time: str | None = None,
    ) -> None:
        self.name = name
        self.pid = pid
        self.pid_file = pid_file
        self.log_file = log_file
        self.stop_signal = stop_signal
        self._popen = popen
        self._start_time = start_time if start_time is not None else _proc_start_time(pid)

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, alive={self.alive()})"

    # --- creation -------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        pid_file: Path | None = None,
        log_file: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        die_with_parent: bool = False,
        prepare_log: Callable[[Path], None] | None = None,
    ) -> ManagedProcess:
        """Spawn ``argv`` in its own session, stdout+stderr appended to ``log_dir/NAME.log``.

        ``env`` is added to the current environment. ``die_with_parent`` kills the
        child when this process dies (for test fixtures; not for ``services up``).
        """
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_file or log_dir / f"{name}.log"
        log_path.touch(exist_ok=True)
        if prepare_log is not None:
            prepare_log(log_path)
        # PR_SET_PDEATHSIG fires when the forking *thread* exits: main thread only
        die_with_parent = die_with_parent and threading.current_thread() is threading.main_thread()
        full_env = dict(os.environ)
        full_env.update(env or {})
        log.info("starting %s: %s", name, " ".join(argv))
        with log_path.open("ab") as out:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            out.write(f"{_MARK}{name} at {stamp} ===\n".encode())
            out.flush()
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if die_with_parent else None,  # noqa: PLW1509
                )
            except OSError as exc:
                raise ServiceError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        proc = cls(
            name,
            popen.pid,
            pid_file=pid_file,
            log_file=log_path,
            popen=popen,
            stop_signal=stop_signal,
        )
        if pid_file is not None:
            proc.write_pid_file()
        return proc

    @classmethod
    def from_pid_file(
        cls,
        name: str,
        pid_file: Path,
        *,
        log_file: Path | None = None,
        expect_cmd: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> ManagedProcess | None:
        """The live process a pid file names, or None (missing file, dead or reused pid).

        The file holds the pid on its first line and, when greenmon wrote it, the
        process start time on the second (guards against pid reuse). ``expect_cmd``
        must then occur in the process's command line.
        """
        try:
            lines = pid_file.read_text().splitlines()
            pid = int(lines[0].strip())
        except (OSError, ValueError, IndexError):
            return None
        # postmaster.pid has the data directory on line 2: only digits are a start time
        start_time = lines[1] if len(lines) > 1 and lines[1].isdigit() else None
        actual = _proc_start_time(pid)
        if actual is None or (start_time is not None and start_time != actual):
            return None
        if expect_cmd is not None:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                return None
            if expect_cmd.encode() not in cmdline:
                return None
        proc = cls(name, pid, pid_file=pid_file, log_file=log_file, stop_signal=stop_signal)
        return proc if proc.alive() else None

    def write_pid_file(self) -> None:
        if self.pid_file is None:
            return
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{self.pid}\n{self._start_time or ''}\n")

    def remove_pid_file(self) -> None:
        if self.pid_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()

    # --- state ----------------------------------------------------------------------
    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def alive(self) -> bool:
        """True while the process runs (zombies and reused pids count as dead)."""
        if self._popen is not None:
            return self._popen.poll() is None
        if _proc_start_time(self.pid) != self._start_time:
            return False
        return _proc_state(self.pid) not in (None, "Z", "X")

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_file, lines)

    def wait_port(self, host: str, port: int, timeout: float = 15.0) -> None:
        """Wait until ``host:port`` accepts connections; ServiceError if the process dies first."""
        deadline = time.monotonic() + timeout
        while True:
            if port_open(host, port):
                return
            if not self.alive():
                raise ServiceError(
                    f"{self.name} exited (code {self.returncode}) before listening on "
                    f"{host}:{port}; last log lines:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} does not listen on {host}:{port} after {timeout:.0f} s; "
                    f"last log lines:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    # --- signals --------------------------------------------------------------------
    def _signal(self, sig: signal.Signals) -> None:
        """Signal the process group when the process leads one, else the process."""
        try:
            if os.getpgid(self.pid) == self.pid:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def _wait_dead(self, timeout: float) -> bool:
        if self._popen is not None:
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the process to exit (``stop_signal``), SIGKILL after ``timeout`` seconds."""
        if self.alive():
            log.info("stopping %s (pid %s)", self.name, self.pid)
            self._signal(self.stop_signal)
            if not self._wait_dead(timeout):
                log.warning("%s did not exit in %.0f s; killing it", self.name, timeout)
                self._signal(signal.SIGKILL)
                self._wait_dead(5.0)
        self.remove_pid_file()

    def kill(self) -> None:
        """SIGKILL the process (and its group) at once, as a crash would; keeps the pid file."""
        if self.alive():
            log.info("killing %s (pid %s)", self.name, self.pid)
            self._signal(signal.SIGKILL)
            self._wait_dead(5.0)
