"""GitHub's OIDC claims, built from the workflow files; then the provisioned trust policies judged
against them: each workflow job assumes exactly its role, and nothing else assumes any."""
import json
import urllib.parse
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


# --- the provisioned trust policies, judged against those tokens -------------------------------
# Which role each workflow's role-to-assume secret holds (README, CI): the pipeline outputs
# ci-role-arn and image-role-arn.
ROLE_OF_SECRET = {"CLOUDSITE_CI_ROLE_ARN": "ci", "CLOUDSITE_IMAGE_ROLE_ARN": "image"}
GITHUB = "token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def trusts():
    """``{role name: trust policy}`` of every role that trusts GitHub's OIDC provider, read back
    from IAM after provisioning those roles (and what they depend on) in moto."""
    from moto import mock_aws

    from devkit.testing import make_context, write_stack
    from provisioning import layers
    from provisioning.config import load_file
    from provisioning.engine import Engine
    from provisioning.layers import pipeline

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        import tempfile

        config = load_file(write_stack(Path(tempfile.mkdtemp()), "dev"))
        assert config.pipeline.github_repository == REPOSITORY
        every = layers.resources(config)
        github_roles = [r for r in every if r.name.startswith("pipeline.role.")
                        and pipeline.OIDC in r.depends_on]
        wanted = {r.name for r in github_roles} | {pipeline.OIDC}
        engine = Engine(make_context(config), [r for r in every if r.name in wanted], known=every)
        engine.apply()
        iam = boto3_client("iam")
        found = {}
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                trust = iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"]
                trust = json.loads(urllib.parse.unquote(trust)) if isinstance(trust, str) else trust
                if GITHUB in json.dumps(trust):
                    found[role["RoleName"]] = {"arn": role["Arn"], "trust": trust}
        providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        (provider,) = [p["Arn"] for p in providers if p["Arn"].endswith(f"oidc-provider/{GITHUB}")]
        yield {"roles": found, "provider": provider, "stack": config.name}


def boto3_client(service):
    import boto3

    return boto3.client(service, region_name="us-east-1")


def assumable(trusts, claims: dict) -> set[str]:
    """The roles whose trust lets a token with these claims call AssumeRoleWithWebIdentity. The
    request context has what IAM takes from a GitHub token: its aud and sub (IAM User Guide,
    "Available keys for AWS OIDC federation"); a policy on any other key fails the evaluator."""
    from provisioning.permissions.evaluator import Principal, evaluate

    context = {f"{GITHUB}:aud": claims["aud"], f"{GITHUB}:sub": claims["sub"]}
    principal = Principal("Federated", trusts["provider"])
    return {name for name, role in trusts["roles"].items()
            if evaluate({"trust": role["trust"]}, "sts:AssumeRoleWithWebIdentity", role["arn"], context,
                        principal=principal)}


def role_name(trusts, secret: str) -> str:
    from provisioning import naming

    return naming.role(trusts["stack"], ROLE_OF_SECRET[secret])


def test_every_role_github_may_assume_is_one_a_workflow_uses(trusts):
    used = {role_name(trusts, t.role_secret) for t in oidc.tokens(REPOSITORY, WORKFLOWS) if t.role_secret}
    assert set(trusts["roles"]) == used, "a GitHub-trusting role no workflow uses, or a workflow's role missing"


@pytest.mark.parametrize("token", [t for t in oidc.tokens(REPOSITORY, WORKFLOWS) if t.role_secret],
                         ids=lambda t: f"{t.workflow}:{t.job}:{t.run.event}")
def test_each_workflow_job_assumes_exactly_its_role(trusts, token):
    assert token.may_request, "the job cannot ask GitHub for a token (permissions: id-token: write)"
    assert assumable(trusts, token.claims) == {role_name(trusts, token.role_secret)}, token.claims["sub"]


@pytest.mark.parametrize("token", [t for t in oidc.tokens(REPOSITORY, WORKFLOWS) if not t.role_secret],
                         ids=lambda t: f"{t.workflow}:{t.job}:{t.run.event}")
def test_the_test_workflow_gets_no_token_and_its_claims_assume_nothing(trusts, token):
    assert not token.may_request
    assert assumable(trusts, token.claims) == set()


def job_claims(**changes):
    """The deploy job's claims, with one thing changed."""
    run = changes.pop("run", MAIN)
    repository = changes.pop("repository", REPOSITORY)
    return oidc.claims(repository, changes.pop("workflow", "deploy.yml"), run, **changes)


@pytest.mark.parametrize("what, claims", [
    ("a pull request", job_claims(run=Run("pull_request", "refs/pull/7/merge"))),
    ("main without an environment (the subject before environments)", job_claims()),
    ("another branch without an environment", job_claims(run=Run("push", "refs/heads/feature"))),
    ("a tag", job_claims(run=Run("push", "refs/tags/v1"))),
    ("another repository's production", job_claims(repository="attacker/cloudsite", environment="production")),
    ("another repository's image", job_claims(repository="attacker/cloudsite", environment="image")),
    ("a fork's pull request", job_claims(repository="attacker/cloudsite",
                                         run=Run("pull_request", "refs/pull/7/merge"))),
    ("an environment no role trusts", job_claims(environment="staging")),
    ("GitHub's default audience (the owner's URL)", job_claims(environment="production",
                                                             audience="https://github.com/cloudsite")),
])
def test_nothing_else_assumes_any_role(trusts, what, claims):
    assert assumable(trusts, claims) == set(), what


def test_in_an_environment_the_branch_is_not_in_the_subject(trusts):
    """What the trust policy cannot see: a job that declares environment: production gets the same
    subject on any branch or pull request. Only the environment's deployment branch rule (main
    only; README, CI) stops a job of another branch before it runs, so it must be configured."""
    for run in (Run("push", "refs/heads/feature"), Run("pull_request", "refs/pull/7/merge")):
        claims = job_claims(run=run, environment="production")
        assert assumable(trusts, claims) == {role_name(trusts, "CLOUDSITE_CI_ROLE_ARN")}
