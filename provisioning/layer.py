"""A layer: a name and a function building its recipes from the stack config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from provisioning.config import StackConfig
from provisioning.resource import Resource


@dataclass(frozen=True)
class Layer:
    name: str
    build: Callable[[StackConfig], list[Resource]]
