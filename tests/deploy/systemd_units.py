"""Read deploy/systemd's unit files the way systemd does, far enough to start their commands
by hand: sections, repeated keys, line continuations, Environment=, EnvironmentFile= and
the `${VAR}` / `$VAR` expansion of ExecStart."""

from __future__ import annotations

import re
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD = DEPLOY / "systemd"


@dataclass
class Unit:
    """One unit file: `sections[section][key]` lists every value the key was given."""

    name: str
    sections: dict[str, dict[str, list[str]]]

    def values(self, section: str, key: str) -> list[str]:
        return self.sections.get(section, {}).get(key, [])

    def value(self, section: str, key: str, default: str | None = None) -> str | None:
        found = self.values(section, key)
        return found[-1] if found else default

    @property
    def kill_signal(self) -> signal.Signals:
        return signal.Signals[self.value("Service", "KillSignal", "SIGTERM") or "SIGTERM"]

    @property
    def stop_timeout(self) -> float:
        return float(self.value("Service", "TimeoutStopSec", "90") or 90)

    def environment(self, environment_files: dict[str, Path]) -> dict[str, str]:
        """Environment= then EnvironmentFile= (files read from `environment_files[path]`)."""
        env: dict[str, str] = {}
        for line in self.values("Service", "Environment"):
            for assignment in shlex.split(line):
                key, _, value = assignment.partition("=")
                env[key] = value
        for path in self.values("Service", "EnvironmentFile"):
            optional = path.startswith("-")
            target = environment_files[path.lstrip("-")]
            if optional and not target.exists():
                continue
            loaded = dotenv_values(target, interpolate=False)
            env.update({key: value or "" for key, value in loaded.items()})
        return env

    def exec_start(self, env: dict[str, str]) -> list[str]:
        """ExecStart as argv, with systemd's variable expansion."""
        (line,) = self.values("Service", "ExecStart")
        argv: list[str] = []
        for word in shlex.split(line.lstrip("@-:+!")):
            whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
            if whole:  # $VAR: split on whitespace into words
                argv.extend(env.get(whole.group(1), "").split())
                continue
            argv.append(
                re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), word)
            )
        return argv


def read_unit(name: str) -> Unit:
    """deploy/systemd/<name>.service, parsed."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in (SYSTEMD / f"{name}.service").read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{name}: {line!r} outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return Unit(name, sections)
