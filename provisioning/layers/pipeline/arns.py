"""The pipeline's AWS names as ARNs (``provisioning.naming`` gives the names), so every recipe finds
its resource without the state of another."""
from __future__ import annotations

from provisioning import naming


def bucket_name(ctx, purpose: str = "deploy") -> str:
    return naming.bucket(ctx.stack, purpose, ctx.account_id, ctx.region)


def role_arn(ctx, purpose: str) -> str:
    return ctx.arn("iam", f"role/{naming.role(ctx.stack, purpose)}", region=False)


def topic_arn(ctx) -> str:
    return ctx.arn("sns", naming.topic(ctx.stack))


def function_arn(ctx) -> str:
    return ctx.arn("lambda", f"function:{naming.lambda_function(ctx.stack)}")


def queue_arn(ctx, dead_letter: bool = False) -> str:
    return ctx.arn("sqs", naming.queue(ctx.stack, dead_letter))


def failure_queue_arn(ctx) -> str:
    return ctx.arn("sqs", naming.lambda_failure_queue(ctx.stack))
