"""What exists in the account of each layer's kinds, tagged or not: the crash-resume tests compare
a resumed stack's counts with a clean run's (a duplicate or an untagged orphan shows as a count
that differs). Test machinery: it lives here, never in the product."""
from __future__ import annotations

from devkit.inventory import compute, data, image, network, pipeline

INVENTORIES = {"network": network.inventory, "data": data.inventory, "image": image.inventory,
               "compute": compute.inventory,
               "pipeline": pipeline.inventory}


def counts(ctx, layer_names) -> dict:
    """``{"<layer>.<kind>": count}`` for the given layers."""
    found = {}
    for name in layer_names:
        found.update({f"{name}.{key}": value for key, value in INVENTORIES[name](ctx).items()})
    return found
