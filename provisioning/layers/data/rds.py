"""The RDS MySQL instances: the primary (storage encrypted with the RDS key, the stack's master
secret) and a read replica in another zone; neither publicly accessible."""
from __future__ import annotations

import time

from botocore.exceptions import ClientError

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, absent_on, error_code
from provisioning.layers.data.protection import allow_unprotecting
from provisioning.recipe_names import DB_SG, MASTER_SECRET, PARAMETER_GROUP, PRIMARY, RDS_KEY, REPLICA, SUBNET_GROUP
from provisioning.recipes.secret import GeneratedSecret
from provisioning.resource import Drift, Resource, planned
from provisioning.retry import delete_once_free, waiter_config

MYSQL_FAMILY = "mysql8.4"
MYSQL_VERSION = "8.4"         # RDS picks the current 8.4 minor version; minor upgrades are automatic
# CreateDBInstance EngineLifecycleSupport (RDS API reference): the default enrols the instance in
# RDS Extended Support, billed once the major version leaves standard support; disabled, RDS
# upgrades it instead. A stack that wants to pay for the extra time changes this on purpose.
ENGINE_LIFECYCLE = "open-source-rds-extended-support-disabled"
# RDS: 5-20 minutes for an instance, as long again for a replica; deletion takes minutes too.
DB_CREATE_WAIT = waiter_config(30, 80)     # 40 minutes
DB_REPLICA_WAIT = waiter_config(30, 120)   # 60 minutes
DB_MODIFY_WAIT = waiter_config(30, 80)
DB_DELETE_WAIT = waiter_config(30, 80)
DB_BUSY = ("creating", "modifying", "backing-up", "configuring-enhanced-monitoring",
           "configuring-log-exports", "upgrading", "rebooting", "resetting-master-credentials",
           "renaming", "storage-optimization", "starting", "maintenance", "configuring-iam-database-auth")


class DbInstance(Resource):
    service, kind = "rds", "RDS MySQL instance"
    replica = False

    def __init__(self, config: StackConfig):
        self.db = config.database

    def identifier(self, ctx) -> str:
        return naming.db_instance(ctx.stack, replica=self.replica)

    @staticmethod
    def _state(db) -> dict:
        endpoint = db.get("Endpoint") or {}
        pending = db.get("PendingModifiedValues") or {}
        return {
            "id": db["DBInstanceIdentifier"], "arn": db["DBInstanceArn"],
            "endpoint": endpoint.get("Address"), "port": endpoint.get("Port") or db.get("DbInstancePort"),
            "status": db["DBInstanceStatus"], "zone": db.get("AvailabilityZone"),
            "class": pending.get("DBInstanceClass", db["DBInstanceClass"]),
            "engine": db.get("Engine"), "engine_version": db.get("EngineVersion", ""),
            "public": db.get("PubliclyAccessible", False),
            "deletion_protection": db.get("DeletionProtection", False),
            "backup_retention": pending.get("BackupRetentionPeriod", db.get("BackupRetentionPeriod")),
            "encrypted": db.get("StorageEncrypted", False), "kms_key": db.get("KmsKeyId"),
            "parameter_group": [g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])],
            "security_groups": sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])
                                      if g.get("Status", "active") in ("active", "adding")),
            "subnet_group": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "master_user": db.get("MasterUsername"),
            "managed_password": bool((db.get("MasterUserSecret") or {}).get("SecretArn")),
            "lifecycle": db.get("EngineLifecycleSupport"),
            "resource_id": db.get("DbiResourceId"),
            "source": db.get("ReadReplicaSourceDBInstanceIdentifier"),
            "tags": {t["Key"]: t["Value"] for t in db.get("TagList", [])},
        }

    def describe(self, ctx, identifier: str) -> dict | None:
        found = absent_on(lambda: ctx.client("rds").describe_db_instances(
            DBInstanceIdentifier=identifier)["DBInstances"], "DBInstanceNotFound")
        return self._state(found[0]) if found else None

    def find_all(self, ctx, deps):
        state = self.describe(ctx, self.identifier(ctx))
        return [state] if state else []

    def wait_available(self, ctx, identifier: str, config: dict, doing: str) -> dict:
        minutes = config["Delay"] * config["MaxAttempts"] // 60
        ctx.reporter.start(self.name, f"{doing} (RDS takes minutes; waiting up to {minutes} min)")
        ctx.client("rds").get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=identifier, WaiterConfig=config)
        return self.describe(ctx, identifier)

    # what both instances must match
    def common_wanted(self, ctx, deps) -> dict:
        sg = deps.get(DB_SG)
        return {"class": self.db.instance_class, "public": False,
                "deletion_protection": self.db.deletion_protection,
                "parameter_group": [naming.db_parameter_group(ctx.stack)],
                "security_groups": [sg["id"] if sg else planned(DB_SG)]}

    def wanted(self, ctx, deps) -> dict:
        return self.common_wanted(ctx, deps)

    MODIFY = {"class": "DBInstanceClass", "public": "PubliclyAccessible",
              "deletion_protection": "DeletionProtection", "backup_retention": "BackupRetentionPeriod",
              "lifecycle": "EngineLifecycleSupport"}

    def drift(self, ctx, state, deps):
        drift = []
        if state["status"] == "deleting":
            return [Drift("status", "deleting", "available", fixable=False)]
        if state["status"] != "available":
            drift.append(Drift("status", state["status"], "available"))
        if state["engine"] != "mysql" or state["engine_version"].split(".")[:2] != MYSQL_VERSION.split("."):
            # a major upgrade (new parameter group family, EngineVersion, AllowMajorVersionUpgrade)
            # is a planned operation of its own, not a reconcile
            drift.append(Drift("engine", f"{state['engine']} {state['engine_version']}", f"mysql {MYSQL_VERSION}",
                               fixable=False))
        for setting, want in self.wanted(ctx, deps).items():
            if state.get(setting) != want:
                drift.append(Drift(setting, state.get(setting), want))
        want_tags = {t["Key"]: t["Value"] for t in ctx.tags(self.name)}
        if any(state["tags"].get(k) != v for k, v in want_tags.items()):
            drift.append(Drift("tags",
                               sorted(f"{k}={v}" for k, v in state["tags"].items() if k.startswith("cloudsite:")),
                               sorted(f"{k}={v}" for k, v in want_tags.items() if k.startswith("cloudsite:"))))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        rds, settings = ctx.client("rds"), {d.setting: d for d in drift}
        if state["status"] == "stopped":
            rds.start_db_instance(DBInstanceIdentifier=state["id"])
        if "tags" in settings:
            rds.add_tags_to_resource(ResourceName=state["arn"], Tags=ctx.tags(self.name))
        changes = {self.MODIFY[s]: d.want for s, d in settings.items() if s in self.MODIFY}
        if "parameter_group" in settings:
            changes["DBParameterGroupName"] = settings["parameter_group"].want[0]
        if "security_groups" in settings:
            changes["VpcSecurityGroupIds"] = settings["security_groups"].want
        if "master password" in settings:
            changes.update(self.own_password(ctx))
        if changes:
            if state["status"] != "available":
                self.wait_available(ctx, state["id"], DB_MODIFY_WAIT, "waiting before modifying")
            ctx.reporter.start(self.name, "modifying")
            rds.modify_db_instance(DBInstanceIdentifier=state["id"], ApplyImmediately=True, **changes)
        if changes or state["status"] != "available":
            return self.wait_available(ctx, state["id"], DB_MODIFY_WAIT, "waiting until available")
        return self.describe(ctx, state["id"])

    def delete(self, ctx, state):
        rds, identifier = ctx.client("rds"), state["id"]
        if state["status"] != "deleting":
            if state["deletion_protection"]:
                allow_unprotecting(ctx, identifier)
                if state["status"] != "available":
                    self.wait_available(ctx, identifier, DB_MODIFY_WAIT, "waiting before deleting")
                rds.modify_db_instance(DBInstanceIdentifier=identifier, DeletionProtection=False,
                                       ApplyImmediately=True)
            snapshot = self.final_snapshot(ctx, identifier)
            arguments = ({"SkipFinalSnapshot": False, "FinalDBSnapshotIdentifier": snapshot,
                          "DeleteAutomatedBackups": False} if snapshot else
                         {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True})
            # a busy instance (backing up, modifying) refuses deletion for a while
            delete_once_free(lambda: rds.delete_db_instance(DBInstanceIdentifier=identifier, **arguments),
                             gone="DBInstanceNotFound", busy=["InvalidDBInstanceState"], timeout=1800, delay=30,
                             clock=ctx.clock)
            if snapshot:
                ctx.reporter.note(f"{self.name}: final snapshot {snapshot} kept; delete it when no longer needed")
        minutes = DB_DELETE_WAIT["Delay"] * DB_DELETE_WAIT["MaxAttempts"] // 60
        ctx.reporter.start(self.name, f"deleting (RDS takes minutes; waiting up to {minutes} min)")
        rds.get_waiter("db_instance_deleted").wait(DBInstanceIdentifier=identifier, WaiterConfig=DB_DELETE_WAIT)

    def create_once(self, ctx, identifier: str, create) -> None:
        """``create()``; an instance of that name already there (a crashed run made it) is this
        recipe's, unless it is being deleted (a teardown): then the user waits it out."""
        try:
            create()
        except ClientError as error:
            if error_code(error) != "DBInstanceAlreadyExists":
                raise
            state = self.describe(ctx, identifier)
            if state and state["status"] == "deleting":
                raise StackError(f"{identifier} is still being deleted; "
                                 "run the command again when it is gone") from None

    def final_snapshot(self, ctx, identifier: str) -> str | None:
        return None

    def own_password(self, ctx) -> dict:
        return {}

    def outputs(self, state):
        return {"endpoint": state["endpoint"], "port": state["port"]}


class DbPrimary(DbInstance):
    name = PRIMARY
    kind = "RDS MySQL primary"
    depends_on = (RDS_KEY, PARAMETER_GROUP, SUBNET_GROUP, DB_SG, MASTER_SECRET)

    def __init__(self, config: StackConfig, master: GeneratedSecret):
        super().__init__(config)
        self.master = master

    def wanted(self, ctx, deps):
        want = self.common_wanted(ctx, deps)
        want["backup_retention"] = self.db.backup_retention_days
        want["subnet_group"] = naming.db_subnet_group(ctx.stack)
        want["lifecycle"] = ENGINE_LIFECYCLE
        return want

    def drift(self, ctx, state, deps):
        drift = super().drift(ctx, state, deps)
        key = deps.get(RDS_KEY)
        want_key = key["arn"] if key else planned(RDS_KEY)
        if not state["encrypted"] or state["kms_key"] not in (want_key, key and key["id"]):
            drift.append(Drift("storage encryption", state["kms_key"] if state["encrypted"] else "off",
                               want_key, fixable=False))
        if state["master_user"] != naming.DB_MASTER_USER:
            drift.append(Drift("master user", state["master_user"], naming.DB_MASTER_USER, fixable=False))
        if state["managed_password"]:
            # RDS refuses a read replica of a primary whose master password it manages (RDS User
            # Guide, "Limitations for Secrets Manager integration with Amazon RDS")
            drift.append(Drift("master password", "managed by RDS",
                               f"the stack's secret {self.master.secret_name(ctx.stack)}"))
        fixed = {"subnet_group"}
        return [Drift(d.setting, d.have, d.want, fixable=False) if d.setting in fixed else d for d in drift]

    def own_password(self, ctx) -> dict:
        """ModifyDBInstance (RDS API reference, ManageMasterUserPassword): turning RDS's management
        off requires MasterUserPassword; RDS then deletes its secret and uses this password."""
        return {"ManageMasterUserPassword": False, "MasterUserPassword": self.master.read(ctx)["password"]}

    def create(self, ctx, deps):
        rds, identifier = ctx.client("rds"), self.identifier(ctx)
        key = deps[RDS_KEY]["arn"]
        master = self.master.read(ctx)
        self.create_once(ctx, identifier, lambda: rds.create_db_instance(
            DBInstanceIdentifier=identifier, Engine="mysql", EngineVersion=MYSQL_VERSION,
            EngineLifecycleSupport=ENGINE_LIFECYCLE,
            AutoMinorVersionUpgrade=True, DBInstanceClass=self.db.instance_class,
            AllocatedStorage=self.db.allocated_storage, StorageType="gp3",
            StorageEncrypted=True, KmsKeyId=key,
            # the stack's own secret, not ManageMasterUserPassword: RDS makes no read replica
            # of a primary whose password it manages
            MasterUsername=master["username"], MasterUserPassword=master["password"],
            DBName=naming.DB_NAME, Port=naming.DB_PORT,
            DBSubnetGroupName=deps[SUBNET_GROUP]["id"], DBParameterGroupName=deps[PARAMETER_GROUP]["id"],
            VpcSecurityGroupIds=[deps[DB_SG]["id"]], PubliclyAccessible=False,
            AvailabilityZone=ctx.availability_zones()[0],
            BackupRetentionPeriod=self.db.backup_retention_days,
            DeletionProtection=self.db.deletion_protection, CopyTagsToSnapshot=True,
            Tags=ctx.tags(self.name)))
        return self.wait_available(ctx, identifier, DB_CREATE_WAIT, "creating")

    def final_snapshot(self, ctx, identifier):
        if not self.db.final_snapshot:
            return None
        return f"{identifier}-final-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


class DbReplica(DbInstance):
    name = REPLICA
    kind = "RDS MySQL read replica"
    replica = True
    depends_on = (PRIMARY, PARAMETER_GROUP, DB_SG)

    def zone(self, ctx, deps) -> str:
        primary = deps.get(PRIMARY)
        zones = ctx.availability_zones()
        taken = primary["zone"] if primary else zones[0]
        return next(z for z in zones if z != taken)

    def wanted(self, ctx, deps):
        want = self.common_wanted(ctx, deps)
        primary = deps.get(PRIMARY)
        want["source"] = primary["id"] if primary else planned(PRIMARY)
        return want

    def drift(self, ctx, state, deps):
        drift = super().drift(ctx, state, deps)
        primary = deps.get(PRIMARY)
        if primary and state["zone"] == primary["zone"]:
            drift.append(Drift("zone", state["zone"], f"not {primary['zone']} (the primary's)", fixable=False))
        return [Drift(d.setting, d.have, d.want, fixable=False) if d.setting == "source" else d for d in drift]

    def create(self, ctx, deps):
        rds, identifier = ctx.client("rds"), self.identifier(ctx)
        # same region: encrypted with the source's key, in the source's subnet group, with the
        # source's master user (a replica has no password of its own to manage)
        self.create_once(ctx, identifier, lambda: rds.create_db_instance_read_replica(
            DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=deps[PRIMARY]["id"],
            DBInstanceClass=self.db.instance_class, AvailabilityZone=self.zone(ctx, deps),
            Port=naming.DB_PORT, AutoMinorVersionUpgrade=True, PubliclyAccessible=False,
            # no DBParameterGroupName: CreateDBInstanceReadReplica (RDS API reference) does not
            # take one for a same-Region MySQL replica; it inherits the source's group
            VpcSecurityGroupIds=[deps[DB_SG]["id"]],
            DeletionProtection=self.db.deletion_protection, CopyTagsToSnapshot=True,
            Tags=ctx.tags(self.name)))
        return self.wait_available(ctx, identifier, DB_REPLICA_WAIT, "creating (a replica takes as long again)")
