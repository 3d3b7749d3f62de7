"""The CodeDeploy agent's part, done by the test: unpack a revision, run its hooks in appspec order.

What the agent does on an EC2 instance for an in-place deployment (CodeDeploy User Guide, "AppSpec
'hooks' section" and "Environment variable availability for hooks"):
- the bundle is unpacked under ``deployment-root/<group id>/<deployment id>/deployment-archive``;
- ``ApplicationStop`` runs from the *last successful* revision's archive (nothing on a first one);
- ``BeforeInstall``, then Install (the agent's own step: the previous revision's installed files are
  removed, the ``files`` section's sources copied to their destinations), then ``AfterInstall``,
  ``ApplicationStart``, ``ValidateService`` from the new archive;
- each script runs as its ``runas`` user, killed at its ``timeout``, with ``LIFECYCLE_EVENT``,
  ``DEPLOYMENT_ID``, ``APPLICATION_NAME``, ``DEPLOYMENT_GROUP_NAME`` and ``DEPLOYMENT_GROUP_ID`` added
  to the agent's own environment.
"""
from __future__ import annotations

import io
import shutil
import stat
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

AGENT_ROOT = "/opt/codedeploy-agent/deployment-root"
BEFORE_INSTALL = ("ApplicationStop", "BeforeInstall")
AFTER_INSTALL = ("AfterInstall", "ApplicationStart", "ValidateService")


class HookFailed(AssertionError):
    pass


def unzip(data: bytes, target: Path) -> None:
    """Unpack with the modes the bundle records (the scripts are executable)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            path = target / info.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(info))
            mode = (info.external_attr >> 16) & 0o7777
            if mode:
                path.chmod(mode)


@dataclass
class HookRun:
    event: str
    seconds: float
    output: str


@dataclass
class Agent:
    """One instance's agent: ``deploy(bundle)`` runs a whole deployment and returns its hook runs."""
    root: "object"  # tests.instance.rootfs.DebianRoot
    application: str
    group: str
    group_id: str
    environment: dict  # the agent process's own environment (its systemd unit's)
    last_archive: str | None = None
    installed: list[str] = field(default_factory=list)

    def archive_dir(self, deployment_id: str) -> str:
        return f"{AGENT_ROOT}/{self.group_id}/{deployment_id}/deployment-archive"

    def appspec(self, archive: str) -> dict:
        return yaml.safe_load(self.root.host_path(f"{archive}/appspec.yml").read_text())

    def unpack(self, data: bytes, deployment_id: str) -> str:
        archive = self.archive_dir(deployment_id)
        unzip(data, self.root.host_path(archive))
        return archive

    def hook(self, archive: str, event: str, deployment_id: str) -> HookRun | None:
        scripts = self.appspec(archive).get("hooks", {}).get(event) or []
        started, output = time.monotonic(), []
        for script in scripts:
            env = {**self.environment, "LIFECYCLE_EVENT": event, "DEPLOYMENT_ID": deployment_id,
                   "APPLICATION_NAME": self.application, "DEPLOYMENT_GROUP_NAME": self.group,
                   "DEPLOYMENT_GROUP_ID": self.group_id}
            user = script.get("runas", "root")
            argv = self.root.command([f"{archive}/{script['location']}"], env,
                                     None if user == "root" else user)
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=script.get("timeout", 3600))
            except subprocess.TimeoutExpired as error:
                raise HookFailed(f"{event} ({script['location']}) timed out after {error.timeout}s") from None
            output.append(done.stdout + done.stderr)
            if done.returncode:
                raise HookFailed(f"{event} ({script['location']}) failed with exit code {done.returncode}:\n"
                                 + (done.stdout + done.stderr)[-4000:])
        return HookRun(event, time.monotonic() - started, "".join(output)) if scripts else None

    def install(self, archive: str) -> None:
        """The agent's Install step: remove what the last revision installed, copy the new files."""
        for name in self.installed:
            self.root.host_path(name).unlink(missing_ok=True)
        self.installed = []
        source_root = self.root.host_path(archive)
        for entry in self.appspec(archive).get("files", []):
            source = source_root / entry["source"].lstrip("/")
            destination = entry["destination"]
            for path in sorted(source.rglob("*")) if source.is_dir() else [source]:
                if not path.is_file():
                    continue
                inside = f"{destination}/{path.relative_to(source)}" if source.is_dir() else destination
                target = self.root.host_path(inside)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                target.chmod(stat.S_IMODE(path.stat().st_mode))
                self.installed.append(inside)

    def deploy(self, data: bytes, deployment_id: str, *, after_install=None) -> list[HookRun]:
        """A whole deployment. ``after_install(agent, archive, deployment_id)``, when given, runs
        the AfterInstall event instead (the test runs two instances' hooks at once there)."""
        archive = self.unpack(data, deployment_id)
        runs = []
        if self.last_archive:
            runs.append(self.hook(self.last_archive, "ApplicationStop", deployment_id))
        runs.append(self.hook(archive, "BeforeInstall", deployment_id))
        started = time.monotonic()
        self.install(archive)
        runs.append(HookRun("Install", time.monotonic() - started, ""))
        for event in AFTER_INSTALL:
            if event == "AfterInstall" and after_install:
                runs.append(after_install(self, archive, deployment_id))
            else:
                runs.append(self.hook(archive, event, deployment_id))
        self.last_archive = archive
        return [run for run in runs if run]
