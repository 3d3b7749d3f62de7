"""The network layer: VPC, subnets in three zones, internet gateway, route tables, security groups.

* VPC with DNS support and DNS hostnames on.
* Three public subnets (one per zone, public IPs on launch: the instances reach AWS APIs through
  the internet gateway, there is no NAT gateway) and three private subnets for the database, whose
  route table has no route out of the VPC.
* Security groups: load balancer (443 and 80 from anywhere), app (its port only from the load
  balancer's group; no SSH: Session Manager instead), database (3306 only from the app's group and
  the db-admin function's; no egress), db-admin function (no ingress; egress 3306 to the database
  group only — a rule of its own recipe, since the two groups name each other).
* Outputs under ``/cloudsite/<stack>/network/``.
"""
from __future__ import annotations

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.layer import Layer
from provisioning.layers.network.route_tables import RouteTable
from provisioning.layers.network.security_groups import (
    ALL_OUT,
    GroupRules,
    Rule,
    SecurityGroup,
    flatten,
    permission,
    resolve,
    show,
    sync_rules,
)
from provisioning.layers.network.subnets import Subnet
from provisioning.layers.network.vpc import ANYWHERE, LINGER_TIMEOUT, InternetGateway, Vpc, ec2_find, subnet_cidrs
from provisioning.outputs import Parameters
from provisioning.recipe_names import (
    APP_SG,
    DB_ADMIN_EGRESS,
    DB_ADMIN_SG,
    DB_SG,
    IGW,
    LB_SG,
    PRIVATE_RT,
    PUBLIC_RT,
    VPC,
    ZONES,
    private_subnet,
    public_subnet,
)
from provisioning.resource import Resource

MYSQL_PORT = naming.DB_PORT

__all__ = ["ALL_OUT", "ANYWHERE", "LAYER", "LINGER_TIMEOUT", "MYSQL_PORT", "GroupRules", "InternetGateway",
           "RouteTable", "Rule", "SecurityGroup", "Subnet", "Vpc", "build", "ec2_find", "flatten",
           "permission", "resolve", "show", "subnet_cidrs", "sync_rules"]


def build(config: StackConfig) -> list[Resource]:
    public_cidrs, private_cidrs = subnet_cidrs(config.network.vpc_cidr)
    port = config.network.app_port
    public = [Subnet(public_subnet(i), i, public_cidrs[i], public=True) for i in range(ZONES)]
    private = [Subnet(private_subnet(i), i, private_cidrs[i], public=False) for i in range(ZONES)]
    groups = [
        SecurityGroup(LB_SG, "cloudsite load balancer: HTTPS and HTTP from anywhere",
                      ingress={("tcp", 443, 443, "cidr", ANYWHERE): "HTTPS from anywhere",
                               ("tcp", 80, 80, "cidr", ANYWHERE): "HTTP from anywhere (redirected)"},
                      egress={ALL_OUT: ""}),
        SecurityGroup(APP_SG, "cloudsite app instances: the app port from the load balancer only",
                      ingress={("tcp", port, port, "sg", LB_SG): "app port from the load balancer"},
                      egress={ALL_OUT: ""}),
        SecurityGroup(DB_SG, "cloudsite database: MySQL from the app instances and the db-admin function only",
                      ingress={("tcp", MYSQL_PORT, MYSQL_PORT, "sg", APP_SG): "MySQL from the app",
                               ("tcp", MYSQL_PORT, MYSQL_PORT, "sg", DB_ADMIN_SG): "MySQL from the db-admin function"},
                      egress={}),
        SecurityGroup(DB_ADMIN_SG, "cloudsite db-admin function: MySQL to the database only",
                      ingress={}, egress=None),
        GroupRules(DB_ADMIN_EGRESS, DB_ADMIN_SG, "egress",
                   {("tcp", MYSQL_PORT, MYSQL_PORT, "sg", DB_SG): "MySQL to the database"}),
    ]
    tables = [
        RouteTable(PUBLIC_RT, [s.name for s in public], {ANYWHERE: IGW}),
        RouteTable(PRIVATE_RT, [s.name for s in private], {}),
    ]

    def values(deps):
        ids = lambda names: ",".join(deps[n]["id"] for n in names)  # noqa: E731
        return {
            "vpc-id": deps[VPC]["id"],
            "public-subnet-ids": ids([s.name for s in public]),
            "private-subnet-ids": ids([s.name for s in private]),
            "availability-zones": ",".join(deps[s.name]["zone"] for s in public),
            "lb-security-group-id": deps[LB_SG]["id"],
            "app-security-group-id": deps[APP_SG]["id"],
            "db-security-group-id": deps[DB_SG]["id"],
            "db-admin-security-group-id": deps[DB_ADMIN_SG]["id"],
            # the port the app security group and the target group use: the hooks bind gunicorn
            # to it (deploy/render_env.py writes it as CLOUDSITE_APP_PORT)
            "app-port": str(port),
        }

    resources: list[Resource] = [Vpc(config.network.vpc_cidr), InternetGateway(), *public, *private,
                                 *tables, *groups]
    outputs = Parameters("network", (VPC, *[s.name for s in public + private], LB_SG, APP_SG, DB_SG,
                                     DB_ADMIN_SG, DB_ADMIN_EGRESS), values)
    return [*resources, outputs]


LAYER = Layer("network", build)
