"""The db-admin Lambda, in the database's private subnets: its role, its log group, the function."""
from __future__ import annotations

from provisioning import naming
from provisioning.policy import allow, document, trust
from provisioning.recipe_names import DB_ADMIN_FUNCTION, DB_ADMIN_LOGS, DB_ADMIN_ROLE, DB_ADMIN_SG, DEPLOY_BUCKET
from provisioning.recipes.lambda_function import LambdaFunction, zip_code
from provisioning.recipes.log_group import LogGroup
from provisioning.recipes.role import Role
from provisioning.resource import Resource, planned

DB_ADMIN_TIMEOUT = 60         # seconds: connect (10 s at most) and a few statements
DB_ADMIN_LOG_RETENTION_DAYS = 30


def db_admin_log_group(stack: str) -> str:
    return f"/aws/lambda/{naming.db_admin_function(stack)}"


def db_admin_role(subnets: list[str]) -> Role:
    """Lambda's execution role for the db-admin function: the network interfaces a function in a
    VPC needs (AWSLambdaVPCAccessExecutionRole's EC2 actions, scoped where EC2 allows it) and its
    own log group. The function calls no AWS API, so nothing else."""

    def policies(ctx, deps) -> dict | None:
        if any(deps.get(name) is None for name in (*subnets, DB_ADMIN_SG)):
            return None
        subnet_arns = [ctx.arn("ec2", f"subnet/{deps[name]['id']}") for name in subnets]
        group = ctx.arn("ec2", f"security-group/{deps[DB_ADMIN_SG]['id']}")
        interfaces = ctx.arn("ec2", "network-interface/*")
        log_group = ctx.arn("logs", f"log-group:{db_admin_log_group(ctx.stack)}")
        return {"db-admin": document(
            allow("CreateInterfacesInItsSubnetsWithItsGroup", ["ec2:CreateNetworkInterface"],
                  [interfaces, *subnet_arns, group]),
            # Lambda developer guide (VPC access): DescribeNetworkInterfaces only works on "*";
            # DescribeSubnets has no resource-level permissions
            allow("DescribeNetworking", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], "*"),
            # the same guide: DeleteNetworkInterface needs the interface's id or all of the
            # account's EC2 resources in the region, which Lambda's own interfaces fall under
            allow("DeleteItsInterfaces", ["ec2:DeleteNetworkInterface"], [ctx.arn("ec2", "*/*")]),
            allow("AddressesOnItsInterfaces", ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
                  [interfaces]),
            allow("WriteItsLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group}:*"]),
        )}

    return Role(DB_ADMIN_ROLE, "db-admin", "cloudsite db-admin Lambda: its network interfaces and its logs",
                trust=lambda ctx: trust("lambda.amazonaws.com", ctx.account_id), policies=policies,
                depends_on=(*subnets, DB_ADMIN_SG))


def db_admin_code():
    """The db-admin zip (``deploy/db_admin``, PyMySQL, the RDS CA bundle), its digest and CodeSha256."""
    from deploy.db_admin_zip import build_db_admin_zip

    return zip_code(build_db_admin_zip())


class DbAdminFunction(LambdaFunction):
    """In the database's subnets with its own group (which only reaches the database on 3306); no
    environment at all: the credentials come in each invocation's event."""
    name = DB_ADMIN_FUNCTION
    role_purpose, timeout = "db-admin", DB_ADMIN_TIMEOUT
    description = "db-admin (SQL that needs the master user, inside the VPC)"

    def __init__(self, subnets: list[str]):
        from deploy.db_admin_zip import HANDLER, RUNTIME

        self.handler, self.runtime, self.subnets = HANDLER, RUNTIME, subnets
        self.depends_on = (DB_ADMIN_ROLE, DB_ADMIN_LOGS, DEPLOY_BUCKET, DB_ADMIN_SG, *subnets)

    def function_name(self, ctx) -> str:
        return naming.db_admin_function(ctx.stack)

    def code(self):
        from provisioning.layers import data

        return data.db_admin_code()  # the package's, looked up at call time (tests replace it)

    def vpc(self, ctx, deps):
        return {"subnets": [(deps.get(s) or {}).get("id") or planned(s) for s in self.subnets],
                "security_groups": [(deps.get(DB_ADMIN_SG) or {}).get("id") or planned(DB_ADMIN_SG)]}


def db_admin_recipes(subnets: list[str]) -> list[Resource]:
    """The function's role, its log group and the function."""
    return [db_admin_role(subnets), LogGroup(DB_ADMIN_LOGS, db_admin_log_group, DB_ADMIN_LOG_RETENTION_DAYS),
            DbAdminFunction(subnets)]
