"""The builder instance's role: it may write its own completion signal and nothing else."""
from __future__ import annotations

from provisioning import naming
from provisioning.policy import allow, document, trust
from provisioning.recipe_names import BUILDER_PROFILE, BUILDER_ROLE
from provisioning.recipes.role import InstanceProfile, Role


def builder_policies(ctx, deps):
    # The builder may write its own completion signal and nothing else.
    prefix = naming.bake_signal(ctx.stack).lstrip("/")
    return {"bake-signal": document(allow("WriteBakeSignal", ["ssm:PutParameter"],
                                          [ctx.arn("ssm", f"parameter/{prefix}*")]))}


def builder_role() -> tuple[Role, InstanceProfile]:
    role = Role(BUILDER_ROLE, "image-builder", "cloudsite image builder: writes its bake signal only",
                trust=lambda ctx: trust("ec2.amazonaws.com"), policies=builder_policies)
    return role, InstanceProfile(BUILDER_PROFILE, "image-builder", role)
