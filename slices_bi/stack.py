"""The child processes of `slices-bi up`: started in order, stopped in reverse, none left.

Each child runs in a process group of its own, so that a terminal's Ctrl-C reaches `up`
alone and `up` decides the order: the API first (no new work), the worker (it hands its
runs in flight back to Prefect), the Prefect server, devcloud last. Each group gets
SIGTERM and `STOP_SECONDS` to go; a group still there after that gets SIGKILL (and `up`
says so). Every descendant seen while the stack ran is checked at the end.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import psutil

# Seconds each part gets to stop after SIGTERM before it is killed.
STOP_SECONDS = {"api": 3.0, "worker": 5.0, "prefect-server": 5.0, "devcloud": 3.0}


class StackError(RuntimeError):
    """`up` cannot start: a one-line reason for the person who ran it."""


@contextmanager
def single_instance(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir`'s lock for the life of the stack; StackError when another `up` has it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "up.lock"
    handle: IO[str] = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise StackError(
            f"another slices-bi up (pid {holder}) is running on {data_dir.resolve()}; "
            "stop it first (Ctrl-C in its terminal)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def check_ports_free(ports: dict[str, tuple[str, int]]) -> None:
    """StackError naming the first of `ports` ({part: (host, port)}) something listens on."""
    for part, (host, port) in ports.items():
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((host, port)) == 0:
                raise StackError(
                    f"port {port} ({part}) is in use on {host}: another slices-bi up or "
                    "another program; stop it or choose another port (see README, Configuration)"
                )


@dataclass
class Stack:
    """The running parts, in start order."""

    log_dir: Path
    env: dict[str, str]
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    descendants: dict[int, psutil.Process] = field(default_factory=dict)

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start a part in its own process group, its output appended to logs/<name>.log."""
        log_path = self.log_dir / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.children.append((name, process))
        print(f"  {name:<14} pid {process.pid:<7} log {log_path}")
        return process

    def note_descendants(self) -> None:
        """Remember every process below the parts (runs that spawn, servers that fork)."""
        for _name, process in self.children:
            try:
                leader = psutil.Process(process.pid)
                for proc in [leader, *leader.children(recursive=True)]:
                    self.descendants.setdefault(proc.pid, proc)
            except psutil.NoSuchProcess:
                continue

    def dead(self) -> list[str]:
        return [name for name, process in self.children if process.poll() is not None]

    def wait_http(self, name: str, url: str, timeout: float) -> None:
        """Wait until `url` answers below 500; StackError when a part died or time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := self.dead():
                raise StackError(f"{', '.join(dead)} exited while starting; see its log")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise StackError(f"{name} did not answer at {url} within {timeout:.0f} s; see its log")

    def wait_file(self, name: str, path: Path, timeout: float) -> None:
        """Wait until `name` wrote `path`; StackError when a part died or time ran out."""
        deadline = time.monotonic() + timeout
        while not path.exists():
            if dead := self.dead():
                raise StackError(f"{', '.join(dead)} exited while starting; see its log")
            if time.monotonic() > deadline:
                raise StackError(f"{name} was not ready within {timeout:.0f} s; see its log")
            time.sleep(0.25)

    def stop(self) -> list[str]:
        """Stop the parts in reverse order; returns the names of those that had to be killed."""
        self.note_descendants()
        killed: list[str] = []
        for name, process in reversed(self.children):
            if not _stop_group(process, STOP_SECONDS.get(name, 5.0)):
                killed.append(name)
        for proc in self.descendants.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
                    killed.append(f"pid {proc.pid}")
            except psutil.NoSuchProcess:
                continue
        self.children.clear()
        return killed


def _stop_group(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGTERM the process group of `process`; SIGKILL it after `seconds`. True: it went."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
            return False
    _signal_group(process.pid, signal.SIGTERM)  # anything the leader left behind
    return True


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
