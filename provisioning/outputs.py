"""A layer's outputs as SSM parameters under ``/cloudsite/<stack>/<layer>/``.

Later layers and instances read them (at boot or deploy time). A recipe like any other: found by
its path, created tagged, values reconciled, deleted with the layer. Nothing secret goes here.
"""
from __future__ import annotations

from typing import Callable

from provisioning.errors import tolerate
from provisioning.resource import Deps, Drift, Resource


def parameter_path(stack: str, layer: str) -> str:
    return f"/cloudsite/{stack}/{layer}/"


class Parameters(Resource):
    service = "ssm"
    kind = "SSM parameters"

    def __init__(self, layer: str, depends_on: tuple[str, ...],
                 values: Callable[[Deps], dict[str, str]]):
        self.layer = layer
        self.name = f"{layer}.outputs"
        self.depends_on = depends_on
        self._values = values

    def wanted(self, deps: Deps) -> dict[str, str] | None:
        if any(deps.get(d) is None for d in self.depends_on):
            return None
        return self._values(deps)

    def find_all(self, ctx, deps):
        path = parameter_path(ctx.stack, self.layer)
        pages = ctx.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=path)
        values = {p["Name"][len(path):]: p["Value"] for page in pages for p in page["Parameters"]}
        return [{"id": path, "values": values}] if values else []

    def create(self, ctx, deps):
        # Each parameter is created tagged by reconcile (put_parameter cannot tag and overwrite).
        return {"id": parameter_path(ctx.stack, self.layer), "values": {}}

    def drift(self, ctx, state, deps):
        want = self.wanted(deps)
        if want is None:
            return [Drift("values", "-", "known once the layer's resources exist")]
        have = state["values"]
        return [Drift(key, have.get(key), want.get(key)) for key in sorted(set(want) | set(have))
                if have.get(key) != want.get(key)]

    def reconcile(self, ctx, state, drift, deps):
        ssm, path = ctx.client("ssm"), state["id"]
        want, have = self.wanted(deps), dict(state["values"])
        for key, value in sorted(want.items()):
            if key not in have:
                try:
                    ssm.put_parameter(Name=path + key, Value=value, Type="String",
                                      Tags=ctx.tags(self.name))
                except ssm.exceptions.ParameterAlreadyExists:
                    ssm.put_parameter(Name=path + key, Value=value, Type="String", Overwrite=True)
            elif have[key] != value:
                ssm.put_parameter(Name=path + key, Value=value, Type="String", Overwrite=True)
            have[key] = value
        extra = sorted(set(have) - set(want))
        self._delete_names(ssm, [path + key for key in extra])
        for key in extra:
            del have[key]
        return {"id": path, "values": have}

    def delete(self, ctx, state):
        self._delete_names(ctx.client("ssm"), [state["id"] + key for key in state["values"]])

    @staticmethod
    def _delete_names(ssm, names: list[str]) -> None:
        for start in range(0, len(names), 10):  # the API takes ten at a time
            with tolerate("ParameterNotFound"):
                ssm.delete_parameters(Names=names[start:start + 10])

    def outputs(self, state):
        return {state["id"] + key: value for key, value in sorted(state["values"].items())}
