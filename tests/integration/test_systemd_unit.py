"""The shipped systemd unit: ``systemd-analyze verify`` accepts it and it keeps its hardening.

systemd-analyze is required: where it is missing the test installs Debian's
``systemd`` package (the CI runs as root) and fails, never skips, if it cannot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.settings import Settings

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "syncd.service"
ENV_EXAMPLE = REPO / "systemd" / "syncd.env.example"

Unit = dict[str, list[tuple[str, str]]]


def _run(args: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing text output; the caller checks the result."""
    return subprocess.run(
        args,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


def parse_unit(text: str) -> Unit:
    """Sections of a unit file as ordered (key, value) lists, the way systemd reads them."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            # A trailing backslash continues the value on the next line.
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"assignment outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    """Every value assigned to key in section, in order."""
    return [v for k, v in unit.get(section, []) if k == key]


def last(unit: Unit, section: str, key: str) -> str | None:
    """The effective value of a single-valued key (the last assignment wins)."""
    found = values(unit, section, key)
    return found[-1] if found else None


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text())


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    """The path of systemd-analyze, installing Debian's systemd package if needed."""
    found = shutil.which("systemd-analyze")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.fail("systemd-analyze is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        pytest.fail(
            "systemd-analyze is not installed and installing it needs root: "
            "apt-get install --no-install-recommends systemd"
        )
    install = [apt, "install", "-y", "--no-install-recommends", "systemd"]
    result = _run(install, timeout=900, DEBIAN_FRONTEND="noninteractive")
    if result.returncode != 0:
        # The package lists may be missing (a slim image) or stale.
        _run([apt, "update"], timeout=900, DEBIAN_FRONTEND="noninteractive")
        result = _run(install, timeout=900, DEBIAN_FRONTEND="noninteractive")
    found = shutil.which("systemd-analyze")
    if result.returncode != 0 or found is None:
        pytest.fail(
            "systemd-analyze is required and installing Debian's systemd package failed "
            f"(exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return found


def _installed_unit(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart= names an executable that exists here.

    verify checks that every command is executable; the shipped path
    (/opt/syncd/...) is the operator's to adjust, so point it at the syncd
    entry point of this environment, keeping the arguments.
    """
    executable = Path(sys.executable).parent / "syncd"
    if not os.access(executable, os.X_OK):
        executable = Path(sys.executable)
    text = UNIT.read_text()
    text, count = re.subn(
        r"^ExecStart=(\S+)", f"ExecStart={executable}", text, count=1, flags=re.MULTILINE
    )
    assert count == 1, "no ExecStart= line in the unit"
    copy = tmp_path / "syncd.service"
    copy.write_text(text)
    return copy


def test_systemd_analyze_verify_is_clean(systemd_analyze: str, tmp_path: Path) -> None:
    copy = _installed_unit(tmp_path)
    result = _run([systemd_analyze, "verify", "--man=no", str(copy)], SYSTEMD_LOG_COLOR="0")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Unknown keys and unparsable values are only warnings (exit code 0):
    # any line about this unit is a defect.
    complaints = [line for line in output.splitlines() if "syncd.service" in line]
    assert complaints == [], output


def test_systemd_analyze_verify_catches_a_broken_unit(systemd_analyze: str, tmp_path: Path) -> None:
    # The check above would pass vacuously if verify never looked at the file.
    copy = _installed_unit(tmp_path)
    copy.write_text(copy.read_text().replace("Type=notify\n", "Type=notify\nNoSuchKey=1\n"))
    result = _run([systemd_analyze, "verify", "--man=no", str(copy)])
    assert "NoSuchKey" in result.stdout + result.stderr


def test_hardening_exposure_is_low(systemd_analyze: str, tmp_path: Path) -> None:
    copy = _installed_unit(tmp_path)
    result = _run([systemd_analyze, "security", "--offline=yes", "--no-pager", str(copy)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Overall exposure level for syncd\.service: (\d+(?:\.\d+)?)", output)
    assert match, output
    # 0 is fully locked down, 10 is unprotected; a network daemon that must
    # reach the PMS APIs ends up around 1.6.
    assert float(match.group(1)) <= 2.5, output


def test_service_type_and_lifecycle(unit: Unit) -> None:
    svc = "Service"
    assert last(unit, svc, "Type") == "notify"
    assert last(unit, svc, "NotifyAccess") == "main"
    assert last(unit, svc, "WatchdogSec") == "30s"
    assert last(unit, svc, "TimeoutStopSec") == "45s"
    assert last(unit, svc, "Restart") == "on-failure"
    assert last(unit, svc, "RestartSec") == "5s"
    assert last(unit, svc, "ExecReload") == "/bin/kill -HUP $MAINPID"
    exec_start = last(unit, svc, "ExecStart")
    assert exec_start is not None
    assert exec_start.split()[0].startswith("/"), "ExecStart= needs an absolute path"
    assert exec_start.split()[1:3] == ["serve", "--migrate"]
    assert values(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_identity_state_and_environment(unit: Unit) -> None:
    svc = "Service"
    assert last(unit, svc, "DynamicUser") == "yes" or last(unit, svc, "User")
    assert last(unit, svc, "StateDirectory") == "syncd"
    assert last(unit, svc, "StateDirectoryMode") == "0700"
    assert last(unit, svc, "UMask") == "0077"
    assert "-/etc/syncd/syncd.env" in values(unit, svc, "EnvironmentFile")
    assert "SYNCD_LOG_FORMAT=json" in values(unit, svc, "Environment")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("CapabilityBoundingSet", ""),
    ],
)
def test_hardening_directive(unit: Unit, key: str, expected: str) -> None:
    assert last(unit, "Service", key) == expected


def test_system_call_filter(unit: Unit) -> None:
    filters = values(unit, "Service", "SystemCallFilter")
    assert "@system-service" in filters
    denied = {name for f in filters if f.startswith("~") for name in f[1:].split()}
    assert {"@privileged", "@resources"} <= denied


def test_env_example_names_only_real_settings() -> None:
    names = set(re.findall(r"^#?\s*(SYNCD_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    known = {f"SYNCD_{field.upper()}" for field in Settings.model_fields} | {"SYNCD_CONFIG"}
    assert names - known == set()
    expected = {
        "SYNCD_DATABASE_URL",
        "SYNCD_SECRET_KEY",
        "SYNCD_SECRET_KEY_FILE",
        "SYNCD_HTTP_HOST",
        "SYNCD_HTTP_PORT",
        "SYNCD_LOG_LEVEL",
    }
    assert expected <= names


def test_env_example_values_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    # Uncommenting any example line must give a working setting.
    for match in re.finditer(r"^#?(SYNCD_[A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE):
        name, value = match.groups()
        if name == "SYNCD_CONFIG" or not value:
            continue
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.http_port == 8080
    assert settings.stop_timeout_seconds < 45
