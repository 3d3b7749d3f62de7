"""GitHub's OIDC claims, built from the workflow files; then the provisioned trust policies judged
against them: each workflow job assumes exactly its role, and nothing else assumes any."""
from pathlib import Path

import pytest
import yaml

from deploy.tests import github_oidc as oidc
from deploy.tests.github_oidc import Run, Unsupported

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = oidc.load_all(ROOT / ".github" / "workflows")
REPOSITORY = "cloudsite/cloudsite"  # the stacks' github_repository
MAIN = Run("push", "refs/heads/main")


def workflow(text: str) -> dict:
    parsed = yaml.safe_load(text)
    parsed["on"] = parsed.pop(True)
    return parsed


# --- the subject, as GitHub's "Example subject claims" spell it --------------------------------
@pytest.mark.parametrize("run, environment, expected", [
    (MAIN, "Production", "repo:octo-org/octo-repo:environment:Production"),
    (Run("pull_request", "refs/pull/7/merge"), "Production", "repo:octo-org/octo-repo:environment:Production"),
    (Run("pull_request", "refs/pull/7/merge"), None, "repo:octo-org/octo-repo:pull_request"),
    (Run("push", "refs/heads/demo-branch"), None, "repo:octo-org/octo-repo:ref:refs/heads/demo-branch"),
    (Run("push", "refs/tags/demo-tag"), None, "repo:octo-org/octo-repo:ref:refs/tags/demo-tag"),
    (MAIN, "Production:V1", "repo:octo-org/octo-repo:environment:Production%3AV1"),
])
def test_the_subject_follows_githubs_examples(run, environment, expected):
    assert oidc.subject("octo-org/octo-repo", run, environment) == expected


def test_the_claims_of_a_job():
    found = oidc.claims(REPOSITORY, "deploy.yml", MAIN, environment="production")
    assert found == {
        "iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com",
        "sub": "repo:cloudsite/cloudsite:environment:production", "repository": REPOSITORY,
        "repository_owner": "cloudsite", "ref": "refs/heads/main", "ref_type": "branch", "event_name": "push",
        "environment": "production",
        "workflow_ref": "cloudsite/cloudsite/.github/workflows/deploy.yml@refs/heads/main",
        "job_workflow_ref": "cloudsite/cloudsite/.github/workflows/deploy.yml@refs/heads/main"}
    called = oidc.claims(REPOSITORY, "deploy.yml", MAIN, called_file="test.yml")
    assert called["job_workflow_ref"] == "cloudsite/cloudsite/.github/workflows/test.yml@refs/heads/main"
    assert called["sub"] == "repo:cloudsite/cloudsite:ref:refs/heads/main" and "environment" not in called
    immutable = oidc.claims("octo-org@123456/octo-repo@456789", "deploy.yml", MAIN)
    assert immutable["sub"] == "repo:octo-org@123456/octo-repo@456789:ref:refs/heads/main"
    assert immutable["repository_owner"] == "octo-org"


# --- this repository's workflows -----------------------------------------------------------------
def summary(tokens):
    return sorted((t.workflow, t.job, t.run.event, t.may_request, t.role_secret, t.claims["sub"], t.claims["aud"])
                  for t in tokens)


def test_the_tokens_of_this_repositorys_workflows():
    assert summary(oidc.tokens(REPOSITORY, WORKFLOWS)) == [
        ("deploy.yml", "deploy", "push", True, "CLOUDSITE_CI_ROLE_ARN",
         "repo:cloudsite/cloudsite:environment:production", "sts.amazonaws.com"),
        # the tests, called by deploy.yml: contents: read only, so no token at all
        ("deploy.yml", "test/test", "push", False, None, "repo:cloudsite/cloudsite:ref:refs/heads/main",
         "sts.amazonaws.com"),
        ("image.yml", "bake", "schedule", True, "CLOUDSITE_IMAGE_ROLE_ARN",
         "repo:cloudsite/cloudsite:environment:image", "sts.amazonaws.com"),
        ("image.yml", "bake", "workflow_dispatch", True, "CLOUDSITE_IMAGE_ROLE_ARN",
         "repo:cloudsite/cloudsite:environment:image", "sts.amazonaws.com"),
        ("lambda.yml", "update", "push", True, "CLOUDSITE_CI_ROLE_ARN",
         "repo:cloudsite/cloudsite:environment:production", "sts.amazonaws.com"),
        ("test.yml", "test", "pull_request", False, None, "repo:cloudsite/cloudsite:pull_request",
         "sts.amazonaws.com"),
    ]


AWS_JOB = """
on:
  push:
    branches: [main, release]
    tags: [v1]
permissions: {permissions}
jobs:
  go:
    runs-on: ubuntu-latest
    {job_extra}
    steps:
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          role-to-assume: ${{{{ secrets.SOME_ROLE_ARN }}}}
          aws-region: us-east-1
          {with_extra}
"""


def aws_workflow(permissions="{id-token: write}", job_extra="", with_extra=""):
    return workflow(AWS_JOB.format(permissions=permissions, job_extra=job_extra, with_extra=with_extra))


def test_every_branch_and_tag_of_a_push_filter_is_a_run():
    tokens = oidc.tokens("o/r", {"x.yml": aws_workflow()})
    assert [t.claims["sub"] for t in tokens] == [
        "repo:o/r:ref:refs/heads/main", "repo:o/r:ref:refs/heads/release", "repo:o/r:ref:refs/tags/v1"]
    assert [t.claims.get("ref_type") for t in tokens] == ["branch", "branch", "tag"]
    assert {t.role_secret for t in tokens} == {"SOME_ROLE_ARN"}


def test_the_audience_is_the_actions_default_unless_the_step_sets_one():
    (default, *_) = oidc.tokens("o/r", {"x.yml": aws_workflow()})
    assert default.claims["aud"] == "sts.amazonaws.com"
    (custom, *_) = oidc.tokens("o/r", {"x.yml": aws_workflow(with_extra="audience: api://something")})
    assert custom.claims["aud"] == "api://something"


@pytest.mark.parametrize("permissions, job_extra, may", [
    ("{id-token: write}", "", True),
    ("write-all", "", True),
    ("{contents: read}", "", False),
    ("read-all", "", False),
    ("{contents: read}", "permissions: {id-token: write}", True),  # the job's own win
    ("{id-token: write}", "permissions: {contents: read}", False),
])
def test_a_token_needs_id_token_write(permissions, job_extra, may):
    tokens = oidc.tokens("o/r", {"x.yml": aws_workflow(permissions, job_extra)})
    assert {t.may_request for t in tokens} == {may}


def test_a_called_workflows_permissions_narrow_the_callers():
    caller = workflow("on:\n  push:\n    branches: [main]\npermissions: {id-token: write}\n"
                      "jobs:\n  call:\n    uses: ./.github/workflows/inner.yml\n")
    open_inner = workflow("on: workflow_call\njobs:\n  j:\n    runs-on: x\n    steps: []\n")
    closed_inner = workflow("on: workflow_call\npermissions: {contents: read}\njobs:\n  j:\n    runs-on: x\n"
                            "    steps: []\n")
    (inherits,) = oidc.tokens("o/r", {"c.yml": caller, "inner.yml": open_inner})
    assert inherits.may_request and inherits.job == "call/j"
    assert inherits.claims["job_workflow_ref"] == "o/r/.github/workflows/inner.yml@refs/heads/main"
    assert inherits.claims["workflow_ref"] == "o/r/.github/workflows/c.yml@refs/heads/main"
    (narrowed,) = oidc.tokens("o/r", {"c.yml": caller, "inner.yml": closed_inner})
    assert not narrowed.may_request


def test_an_environment_can_be_a_mapping():
    (token, *_) = oidc.tokens("o/r", {"x.yml": aws_workflow(job_extra="environment: {name: image, url: x}")})
    assert token.claims["sub"] == "repo:o/r:environment:image" and token.claims["environment"] == "image"


@pytest.mark.parametrize("text", [
    "on:\n  push:\n    branches: ['release/*']\njobs: {}\n",
    "on: push\njobs: {}\n",
    "on: [issues]\njobs: {}\n",
])
def test_what_cannot_be_read_exactly_fails_loudly(text):
    with pytest.raises(Unsupported):
        oidc.tokens("o/r", {"x.yml": workflow(text)})


def test_an_expression_as_environment_or_role_fails_loudly():
    with pytest.raises(Unsupported):
        oidc.tokens("o/r", {"x.yml": aws_workflow(job_extra="environment: ${{ inputs.env }}")})
    broken = aws_workflow()
    broken["jobs"]["go"]["steps"][0]["with"]["role-to-assume"] = "arn:aws:iam::123456789012:role/x"
    with pytest.raises(Unsupported):
        oidc.tokens("o/r", {"x.yml": broken})
