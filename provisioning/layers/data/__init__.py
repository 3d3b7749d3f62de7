"""The data layer: KMS keys, EBS default encryption, S3 buckets, RDS MySQL primary and replica,
the DynamoDB token table, and the layer's outputs.

* KMS: customer-managed keys for S3, RDS and EBS, rotation on, aliases ``alias/cloudsite/<stack>/<purpose>``.
  A key is found by its alias (the tagging API only for a key a crash left without one); a key
  pending deletion is never "found", so an apply after a teardown makes a new key and re-points
  the alias. Teardown removes the alias, then schedules the key's deletion with the shortest
  window AWS allows (7 days) — unless something still needs the key: the RDS key is kept while a
  DB snapshot (the final one) or retained automated backup is encrypted with it, the EBS key while
  a baked AMI's snapshots are; teardown says so, and the alias stays so a re-apply finds the key.
* EBS encryption by default with the EBS key as the default key: an ACCOUNT-AND-REGION setting
  (every new volume in the region, whatever made it). Teardown resets the default key to the
  AWS-managed ``aws/ebs`` and leaves encryption by default on.
* S3: the app bucket (SSE-KMS with the S3 key and bucket keys, the four public-access blocks,
  object ownership enforced, a bucket policy denying requests without TLS — ``[data]
  tls_only_bucket_policy`` —, a lifecycle rule aborting incomplete multipart uploads) and the
  deploy bucket (the same, plus versioning and a rule expiring old versions). Names carry the
  stack, account and region (``naming.bucket``). Teardown empties them, every version and delete
  marker included.
* RDS MySQL 8.4 (8.0 is past RDS standard support; extended support is off, so its cost is a
  decision, not a default): a parameter group (``require_secure_transport=1``, utf8mb4), a subnet
  group over the private subnets, the primary (storage encrypted with the RDS key) and a read
  replica in another zone. Neither is publicly accessible.
* Database credentials: two Secrets Manager secrets, generated here, encrypted with the RDS key and
  never printed: the master user's (given to RDS at creation; RDS refuses a read replica of a
  primary whose password it manages itself) and the app user's, which the app connects as.
* The db-admin Lambda, in the database's private subnets (no route out; it calls no AWS API): its
  role (network interfaces and its log group only), log group, and the function, whose code is
  ``deploy/db_admin``. The app-user recipe invokes it with both secrets' credentials to create the
  app user with exactly its grants; a tag on the app secret records the grant set and the instance
  it was applied to, so "exists" is observable without SQL.
* DynamoDB: the verification token table (on demand, ``token`` hash key, TTL on ``ttl``,
  point-in-time recovery).
* Outputs under ``/cloudsite/<stack>/data/``: everything the app's settings need, no secret.

``[database] deletion_protection`` (prod): RDS and DynamoDB deletion protection on, and teardown
refuses this layer unless ``--allow-prod-data`` is given; ``final_snapshot`` keeps a final
snapshot of the primary.
"""
from __future__ import annotations

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.layer import Layer

# the recipes, one AWS resource (or one tight family) a module; re-exported for the tests
from provisioning.layers.data.credentials import (
    DbAppUser,
    credentials_secret,
    grants_version,
    invoke_db_admin,
    new_password,
)
from provisioning.layers.data.db_admin import DbAdminFunction, db_admin_code, db_admin_recipes
from provisioning.layers.data.dynamodb import TokenTable
from provisioning.layers.data.ebs import EbsDefaultEncryption
from provisioning.layers.data.kms import KmsKey, ebs_statements, images_using, kms_keys, rds_backups_using
from provisioning.layers.data.rds import (
    DB_CREATE_WAIT,
    DB_REPLICA_WAIT,
    ENGINE_LIFECYCLE,
    MYSQL_FAMILY,
    DbInstance,
    DbPrimary,
    DbReplica,
)
from provisioning.layers.data.rds_groups import DbParameterGroup, DbSubnetGroup
from provisioning.layers.data.s3 import Bucket, empty_bucket
from provisioning.outputs import Parameters
from provisioning.recipe_names import (
    APP_BUCKET,
    APP_SECRET,
    APP_USER,
    DB_ADMIN_FUNCTION,
    DEPLOY_BUCKET,
    EBS_KEY,
    MASTER_SECRET,
    PARAMETER_GROUP,
    PRIMARY,
    RDS_KEY,
    REPLICA,
    S3_KEY,
    SUBNET_GROUP,
    TOKEN_TABLE,
    private_subnets,
)
from provisioning.resource import Drift, Resource


def build(config: StackConfig) -> list[Resource]:
    data = config.data
    keys = kms_keys()
    # both versioned: an overwritten or deleted picture stays recoverable for noncurrent_version_days
    buckets = [Bucket(purpose, versioned=True, tls_only=data.tls_only_bucket_policy,
                      abort_days=data.abort_multipart_days, noncurrent_days=data.noncurrent_version_days)
               for purpose in ("app", "deploy")]
    master = credentials_secret(MASTER_SECRET, "master", naming.DB_MASTER_USER,
                                "the RDS master user (for the db-admin function's invocations only)")
    app = credentials_secret(APP_SECRET, "app", naming.DB_APP_USER, "the app's database user")
    primary, replica = DbPrimary(config, master), DbReplica(config)
    subnets = private_subnets()

    def values(deps):
        return {
            "app-bucket": deps[APP_BUCKET]["name"],
            "deploy-bucket": deps[DEPLOY_BUCKET]["name"],
            "s3-key-arn": deps[S3_KEY]["arn"],
            "rds-key-arn": deps[RDS_KEY]["arn"],
            "ebs-key-arn": deps[EBS_KEY]["arn"],
            "db-endpoint": deps[PRIMARY]["endpoint"] or "(not yet known)",
            "db-replica-endpoint": deps[REPLICA]["endpoint"] or "(not yet known)",
            "db-port": str(deps[PRIMARY]["port"] or naming.DB_PORT),
            "db-name": naming.DB_NAME,
            "db-user": naming.DB_APP_USER,
            # where the passwords live (Secrets Manager secrets {"username", "password"}), not the passwords
            "db-app-secret-arn": deps[APP_SECRET]["arn"],
            "db-master-secret-arn": deps[MASTER_SECRET]["arn"],
            "db-admin-function": deps[DB_ADMIN_FUNCTION]["id"],
            "token-table": deps[TOKEN_TABLE]["name"],
        }

    outputs = Parameters("data", (S3_KEY, RDS_KEY, EBS_KEY, APP_BUCKET, DEPLOY_BUCKET, PRIMARY, REPLICA,
                                  MASTER_SECRET, APP_SECRET, DB_ADMIN_FUNCTION, APP_USER, TOKEN_TABLE), values)
    return [*keys, EbsDefaultEncryption(keys[2]), *buckets, DbParameterGroup(),
            DbSubnetGroup(subnets), master, app, primary, replica, *db_admin_recipes(subnets), DbAppUser(master, app),
            TokenTable(config), outputs]


LAYER = Layer("data", build)

__all__ = [
    "APP_SECRET", "APP_USER", "DB_ADMIN_FUNCTION", "DB_CREATE_WAIT", "DB_REPLICA_WAIT", "ENGINE_LIFECYCLE", "LAYER",
    "MASTER_SECRET", "MYSQL_FAMILY", "PARAMETER_GROUP", "PRIMARY", "RDS_KEY", "REPLICA", "SUBNET_GROUP", "Bucket",
    "DbAdminFunction", "DbAppUser", "DbInstance", "DbParameterGroup", "DbPrimary", "DbReplica", "DbSubnetGroup",
    "Drift", "EbsDefaultEncryption", "KmsKey", "TokenTable", "build", "credentials_secret", "db_admin_code",
    "db_admin_recipes", "ebs_statements", "empty_bucket", "grants_version", "images_using",
    "invoke_db_admin", "kms_keys", "new_password", "rds_backups_using",
]
