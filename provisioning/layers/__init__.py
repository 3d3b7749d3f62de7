"""The stack's layers, in the order they are built. A layer is a name and a function building its
recipes from the stack config (``provisioning.layer.Layer``).

Recipes depend on each other by logical name across layers (``provisioning.recipe_names``:
"data.db-subnet-group" depends on "network.subnet.private-1"), so any selection of layers forms one
graph for the engine. A new layer is one module with a ``LAYER`` and one line in ``LAYERS``.
"""
from __future__ import annotations

from provisioning.config import StackConfig
from provisioning.layers import compute, data, image, network, pipeline
from provisioning.resource import Resource

LAYERS = {layer.name: layer for layer in (network.LAYER, data.LAYER, image.LAYER, compute.LAYER, pipeline.LAYER)}


def layer_names() -> list[str]:
    return list(LAYERS)


def resources(config: StackConfig, layers: list[str] | None = None) -> list[Resource]:
    """The recipes of the given layers (all of them by default), in the layers' order."""
    chosen = layers if layers is not None else list(LAYERS)
    out: list[Resource] = []
    for name in chosen:
        if name not in LAYERS:
            raise KeyError(f"unknown layer {name!r} (layers: {', '.join(LAYERS)})")
        built = LAYERS[name].build(config)
        for resource in built:
            if not resource.name.startswith(name + "."):
                raise ValueError(f"{resource.name}: a {name} recipe's name starts with '{name}.'")
        out.extend(built)
    return out
