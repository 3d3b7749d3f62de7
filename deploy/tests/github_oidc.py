"""The claims GitHub puts in a job's OIDC token, built from the workflow files (for the trust tests).

From GitHub's "OpenID Connect reference" (docs.github.com/actions/reference/security/oidc):

* ``sub``: ``repo:<owner>/<repo>:environment:<name>`` when the job references an environment; else
  ``repo:<owner>/<repo>:pull_request`` for a ``pull_request`` event; else
  ``repo:<owner>/<repo>:ref:<ref>`` (``refs/heads/<branch>`` or ``refs/tags/<tag>``). A ``:``
  inside a value is written ``%3A``. (Repositories made after 2026-07-15 use
  ``<owner>@<id>/<repo>@<id>`` in place of ``<owner>/<repo>``: pass that as the repository.)
* ``aud``: what the job asks for; ``aws-actions/configure-aws-credentials`` asks for
  ``sts.amazonaws.com`` unless its ``audience`` input says otherwise (the action's ``action.yml``).
* ``ref``, ``ref_type``, ``environment``, ``event_name``, ``repository``, ``repository_owner``,
  ``workflow_ref`` and ``job_workflow_ref`` (the reusable workflow's file for a called job).

A job may ask for a token only with ``permissions: id-token: write`` (its own permissions, else
its workflow's; a called workflow's own permissions narrow the caller's). The events and refs a
workflow runs on come from its ``on:``; a workflow that only has ``workflow_call`` runs as part of
its callers. Anything this module cannot read exactly (a branch glob, an expression in an
environment name) raises ``Unsupported``, so the test fails rather than guessing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

ISSUER = "https://token.actions.githubusercontent.com"
AWS_ACTION = "aws-actions/configure-aws-credentials"
AWS_ACTION_AUDIENCE = "sts.amazonaws.com"  # the action's default `audience` input
DEFAULT_BRANCH = "main"  # schedule runs on it; workflow_dispatch from it unless someone picks another
WORKFLOWS_DIR = ".github/workflows"


class Unsupported(Exception):
    """A workflow shape these tests cannot turn into claims exactly."""


@dataclass(frozen=True)
class Run:
    """One way a workflow starts: ``github.event_name`` and ``github.ref``."""
    event: str
    ref: str


@dataclass(frozen=True)
class Token:
    """The OIDC token one job of one run would get, and the role secret it then assumes."""
    workflow: str
    job: str
    run: Run
    may_request: bool  # id-token: write
    role_secret: str | None  # NAME of role-to-assume: ${{ secrets.NAME }}; None: no AWS step
    claims: dict = field(hash=False)


def load(path: Path) -> dict:
    workflow = yaml.safe_load(Path(path).read_text())
    if True in workflow:  # YAML 1.1 reads the key "on" as True
        workflow["on"] = workflow.pop(True)
    return workflow


def load_all(directory: Path) -> dict[str, dict]:
    return {path.name: load(path) for path in sorted(Path(directory).glob("*.yml"))}


def _escape(value: str) -> str:
    return value.replace(":", "%3A")


def subject(repository: str, run: Run, environment: str | None) -> str:
    if environment:
        return f"repo:{repository}:environment:{_escape(environment)}"
    if run.event == "pull_request":
        return f"repo:{repository}:pull_request"
    return f"repo:{repository}:ref:{_escape(run.ref)}"


def ref_type(ref: str) -> str | None:
    if ref.startswith("refs/heads/"):
        return "branch"
    if ref.startswith("refs/tags/"):
        return "tag"
    return None  # refs/pull/<n>/merge


def claims(repository: str, workflow_file: str, run: Run, *, environment: str | None = None,
           audience: str = AWS_ACTION_AUDIENCE, called_file: str | None = None) -> dict:
    """The token's claims for a job of ``workflow_file`` (or of the reusable ``called_file`` it calls)."""
    found = {
        "iss": ISSUER, "aud": audience, "sub": subject(repository, run, environment),
        "repository": repository, "repository_owner": repository.split("/", 1)[0].split("@", 1)[0],
        "ref": run.ref, "event_name": run.event,
        "workflow_ref": f"{repository}/{WORKFLOWS_DIR}/{workflow_file}@{run.ref}",
        "job_workflow_ref": f"{repository}/{WORKFLOWS_DIR}/{called_file or workflow_file}@{run.ref}",
    }
    if ref_type(run.ref):
        found["ref_type"] = ref_type(run.ref)
    if environment:
        found["environment"] = environment
    if run.event == "pull_request":
        found.update(base_ref=DEFAULT_BRANCH, head_ref="a-pull-request-branch")
    return found


def _literal(value: str, what: str) -> str:
    if any(c in value for c in "*?[!") or "${{" in value:
        raise Unsupported(f"{what} {value!r} is a pattern or an expression")
    return value


def runs(workflow: dict) -> list[Run]:
    """Every (event, ref) the workflow's ``on:`` starts it for (a reusable workflow's: none)."""
    triggers = workflow.get("on") or {}
    if isinstance(triggers, str):
        triggers = {triggers: None}
    elif isinstance(triggers, list):
        triggers = {name: None for name in triggers}
    found = []
    for event, config in triggers.items():
        config = config or {}
        if event == "push":
            branches = config.get("branches")
            tags = config.get("tags")
            if branches is None and tags is None:
                raise Unsupported("push without a branches or tags filter runs on any ref")
            found += [Run("push", f"refs/heads/{_literal(b, 'branch')}") for b in branches or []]
            found += [Run("push", f"refs/tags/{_literal(t, 'tag')}") for t in tags or []]
        elif event == "pull_request":
            found.append(Run("pull_request", "refs/pull/1/merge"))
        elif event in ("schedule", "workflow_dispatch"):
            found.append(Run(event, f"refs/heads/{DEFAULT_BRANCH}"))
        elif event == "workflow_call":
            continue
        else:
            raise Unsupported(f"event {event!r}")
    return found


def may_request_token(permissions) -> bool:
    if permissions == "write-all":
        return True
    if isinstance(permissions, dict):
        return permissions.get("id-token") == "write"
    return False  # read-all, none, or the default GITHUB_TOKEN permissions: no id-token


def environment_name(job: dict) -> str | None:
    value = job.get("environment")
    if isinstance(value, dict):
        value = value.get("name")
    return _literal(value, "environment") if value else None


def aws_step(job: dict) -> dict | None:
    steps = [s for s in job.get("steps", []) if s.get("uses", "").split("@", 1)[0] == AWS_ACTION]
    if len(steps) > 1:
        raise Unsupported("more than one configure-aws-credentials step in a job")
    return steps[0] if steps else None


def role_secret(step: dict | None) -> str | None:
    if step is None:
        return None
    value = (step.get("with") or {}).get("role-to-assume", "")
    prefix, suffix = "${{ secrets.", " }}"
    if not (value.startswith(prefix) and value.endswith(suffix)):
        raise Unsupported(f"role-to-assume {value!r}: expected ${{{{ secrets.NAME }}}}")
    return value[len(prefix):-len(suffix)]


def _called(uses: str) -> str:
    prefix = f"./{WORKFLOWS_DIR}/"
    if not uses.startswith(prefix):
        raise Unsupported(f"a job calls {uses!r}: only this repository's reusable workflows")
    return uses[len(prefix):]


def _job_tokens(repository, file, run, name, job, inherited, workflows, called=None) -> list[Token]:
    permissions = job.get("permissions", inherited)
    if "uses" in job:
        target = _called(job["uses"])
        reusable = workflows[target]
        # a called workflow's own permissions can only narrow the caller's (GitHub, "Reusing workflows")
        narrowed = reusable.get("permissions", permissions)
        return [token for inner_name, inner_job in reusable.get("jobs", {}).items()
                for token in _job_tokens(repository, file, run, f"{name}/{inner_name}", inner_job, narrowed,
                                         workflows, called=target)]
    step = aws_step(job)
    audience = ((step or {}).get("with") or {}).get("audience", AWS_ACTION_AUDIENCE)
    return [Token(file, name, run, may_request_token(permissions), role_secret(step),
                  claims(repository, file, run, environment=environment_name(job), audience=audience,
                         called_file=called))]


def tokens(repository: str, workflows: dict[str, dict]) -> list[Token]:
    """The token of every job of every run of every workflow (called workflows' jobs included)."""
    found = []
    for file, workflow in workflows.items():
        for run in runs(workflow):
            for name, job in workflow.get("jobs", {}).items():
                found += _job_tokens(repository, file, run, name, job, workflow.get("permissions"), workflows)
    return found
