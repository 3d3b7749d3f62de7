"""The image layer (``provision_image``): the builder's IAM role and instance profile, and the baked AMI.

The bake, all in boto3:

1. the base image from AWS's public SSM parameter (Debian 13 by default, Amazon Linux 2023, or
   Ubuntu 24.04 LTS);
2. a builder instance in the stack's first public subnet (the app security group: no ingress at all,
   egress to fetch packages), IMDSv2 only, an encrypted gp3 root volume, tagged ``image.builder`` at
   launch, user data ``deploy.bootstrap.bake_script``;
3. wait: running, both status checks ok, then the completion signal the script writes to SSM
   (``ok`` or ``failed: ...``), for at most ``[image] bake_timeout_minutes``;
4. stop, wait stopped, ``create_image`` (the root volume is encrypted, so are its snapshot and the
   AMI), tagged at creation with the source commit and the bake's fingerprint; wait
   ``image_available``;
5. in ``finally``: the signal parameter is deleted and the builder terminated, so a failed bake
   leaves no builder running; a builder left by a crashed run is terminated by the next run.

The recipe's state is the newest baked image. It drifts when the bake script, base kind or builder
type changed (``fingerprint``), when ``--rebake`` asks for a fresh one (new base image, security
updates), when more than ``[image] retention`` images exist (the oldest are deregistered and
their snapshots deleted), and when a crashed run left a builder behind.
"""
from __future__ import annotations

from provisioning.config import StackConfig
from provisioning.layer import Layer
from provisioning.layers.image.ami import COMMIT_TAG, Ami, live_builders, read_bake_signal, source_commit
from provisioning.layers.image.builder import builder_policies, builder_role
from provisioning.recipe_names import BUILDER
from provisioning.resource import Resource

__all__ = ["BUILDER", "COMMIT_TAG", "LAYER", "Ami", "build", "builder_policies", "live_builders",
           "read_bake_signal", "source_commit"]


def build(config: StackConfig) -> list[Resource]:
    role, profile = builder_role()
    return [role, profile, Ami(config)]


LAYER = Layer("image", build)
