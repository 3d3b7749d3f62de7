"""The registry of layers. A layer is a name, a function building its recipes from the stack
config, and an inventory for tests (what exists in the account, tags or not).

Recipes depend on each other by logical name across layers ("data.db-subnet-group" may depend on
"network.subnet.private-1"), so any selection of layers forms one graph for the engine. A new layer
is one module that calls ``register`` and one import line at the bottom of this file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from provisioning.config import StackConfig
from provisioning.resource import Resource


@dataclass(frozen=True)
class Layer:
    name: str
    build: Callable[[StackConfig], list[Resource]]
    # Counts of what exists in the account for this stack, tagged or not (crash-resume tests).
    inventory: Callable[..., dict] | None = None


LAYERS: dict[str, Layer] = {}


def register(layer: Layer) -> Layer:
    if layer.name in LAYERS:
        raise ValueError(f"layer {layer.name} registered twice")
    LAYERS[layer.name] = layer
    return layer


def layer_names() -> list[str]:
    return list(LAYERS)


def resources(config: StackConfig, layers: list[str] | None = None) -> list[Resource]:
    """The recipes of the given layers (all registered layers by default), in registry order."""
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


# Layers, in the order they are built.
from provisioning.layers import network  # noqa: E402,F401
from provisioning.layers import data  # noqa: E402,F401
from provisioning.layers import image  # noqa: E402,F401
from provisioning.layers import compute  # noqa: E402,F401
from provisioning.layers import pipeline  # noqa: E402,F401  (after data and compute)
