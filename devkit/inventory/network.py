"""Test machinery: counts for the crash-resume tests."""
from __future__ import annotations

from provisioning.layers.network.security_groups import flatten
from provisioning.outputs import parameter_path


def inventory(ctx) -> dict:
    """Counts of everything of the layer's kinds in the region, tagged or not, and of the stack's
    parameters: two runs from the same empty emulator must end with equal counts (tests)."""
    ec2 = ctx.client("ec2")
    tables = ec2.describe_route_tables()["RouteTables"]
    groups = ec2.describe_security_groups()["SecurityGroups"]
    return {
        "vpcs": len(ec2.describe_vpcs()["Vpcs"]),
        "subnets": len(ec2.describe_subnets()["Subnets"]),
        "internet_gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "route_tables": len(tables),
        "routes": sum(len(t.get("Routes", [])) for t in tables),
        "associations": sum(len(t.get("Associations", [])) for t in tables),
        "security_groups": len(groups),
        "rules": sum(len(flatten(g.get("IpPermissions", []))) + len(flatten(g.get("IpPermissionsEgress", [])))
                     for g in groups),
        "parameters": sum(len(page["Parameters"]) for page in ctx.client("ssm").get_paginator(
            "get_parameters_by_path").paginate(Path=parameter_path(ctx.stack, "network"))),
    }
