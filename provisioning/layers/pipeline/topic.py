"""The verification topic: the ``sns`` KMS key's statements, the SNS topic encrypted with it, and its
subscription delivering to the verification Lambda."""
from __future__ import annotations

from provisioning import naming
from provisioning.errors import absent_on, tolerate
from provisioning.layers.pipeline.arns import function_arn, topic_arn
from provisioning.recipe_names import LAMBDA, PERMISSION, SNS_KEY, SUBSCRIPTION, TOPIC
from provisioning.resource import Drift, Resource, planned


# --- KMS key for the topic -------------------------------------------------------------------
def sns_key_statements(ctx) -> list[dict]:
    """SNS encrypts and decrypts the messages of this account's topics for delivery."""
    return [{"Sid": "SnsForThisAccount", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
             "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}}}]


# --- SNS topic -------------------------------------------------------------------------------
class Topic(Resource):
    name, service, kind = TOPIC, "sns", "SNS topic"
    depends_on = (SNS_KEY,)

    def find_all(self, ctx, deps):
        attributes = absent_on(lambda: ctx.client("sns").get_topic_attributes(TopicArn=topic_arn(ctx))["Attributes"],
                               "NotFound", "NotFoundException")
        if attributes is None:
            return []
        return [{"id": attributes["TopicArn"], "arn": attributes["TopicArn"],
                 "kms": attributes.get("KmsMasterKeyId") or None}]

    def _key(self, deps) -> str:
        key = deps.get(SNS_KEY)
        return key["arn"] if key else planned(SNS_KEY)

    def create(self, ctx, deps):
        arn = ctx.client("sns").create_topic(
            Name=naming.topic(ctx.stack), Attributes={"KmsMasterKeyId": self._key(deps)},
            Tags=ctx.tags(self.name))["TopicArn"]
        return {"id": arn, "arn": arn, "kms": self._key(deps)}

    def drift(self, ctx, state, deps):
        want = self._key(deps)
        return [] if state["kms"] == want else [Drift("KmsMasterKeyId", state["kms"], want)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("sns").set_topic_attributes(TopicArn=state["arn"], AttributeName="KmsMasterKeyId",
                                               AttributeValue=self._key(deps))
        return {**state, "kms": self._key(deps)}

    def delete(self, ctx, state):
        with tolerate("NotFound", "NotFoundException"):
            ctx.client("sns").delete_topic(TopicArn=state["arn"])

    def outputs(self, state):
        return {"topic-arn": state["arn"]}


class Subscription(Resource):
    """The topic delivers to the function. Subscriptions have no tags: found by topic and endpoint."""
    name, service, kind = SUBSCRIPTION, "sns", "SNS subscription"
    depends_on = (TOPIC, LAMBDA, PERMISSION)

    def find_all(self, ctx, deps):
        sns = ctx.client("sns")
        subscriptions = absent_on(lambda: [
            s for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn(ctx))
            for s in page["Subscriptions"]], "NotFound", "NotFoundException")
        if subscriptions is None:
            return []
        return [{"id": s["SubscriptionArn"]} for s in subscriptions
                if s["Protocol"] == "lambda" and s["Endpoint"] == function_arn(ctx)
                and s["SubscriptionArn"] not in ("PendingConfirmation", "Deleted")]

    def create(self, ctx, deps):
        arn = ctx.client("sns").subscribe(TopicArn=topic_arn(ctx), Protocol="lambda",
                                          Endpoint=function_arn(ctx), ReturnSubscriptionArn=True)
        return {"id": arn["SubscriptionArn"]}

    def delete(self, ctx, state):
        with tolerate("NotFound", "NotFoundException"):
            ctx.client("sns").unsubscribe(SubscriptionArn=state["id"])
