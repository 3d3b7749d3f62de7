"""The data layer's test helpers: apply, status and teardown of a layer, each on a Context of its
own, returning the results by recipe name (and the call counter where calls are counted)."""
from devkit.testing import engine_for, make_context
from provisioning.calls import CallCounter
from provisioning.config import load_file
from provisioning.context import RunOptions


def apply(config, layer="data", **kwargs):
    counter = CallCounter()
    ctx = make_context(config, hooks=[counter], **kwargs)
    results = {r.name: r for r in engine_for(ctx, [layer]).apply()}
    return results, counter


def status(config):
    return {r.name: r for r in engine_for(make_context(config), ["data"]).status()}


def teardown(config, allow=False):
    counter = CallCounter()
    ctx = make_context(config, hooks=[counter], options=RunOptions(allow_prod_data=allow))
    return {r.name: r for r in engine_for(ctx, ["data"]).teardown()}, counter


def with_settings(stacks_dir, name="dev", text=""):
    """The stack file ``name`` (a copy of dev's when new) with ``text`` appended, loaded."""
    path = stacks_dir / f"{name}.toml"
    if name != "dev" and not path.exists():
        path.write_text((stacks_dir / "dev.toml").read_text().replace('"dev', f'"{name}'))
    path.write_text(path.read_text() + text)
    return load_file(path)


def bucket(built, purpose="app"):
    """The name of the bucket a data layer's results hold."""
    return built[f"data.bucket.{purpose}"].state["name"]
