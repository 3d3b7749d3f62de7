"""The resource graph, generated from the engine's own order, for provisioning/README.md.

``render(config)`` gives, for a stack config, every layer's recipes in the order
``Engine.order()`` walks the whole stack, each with its kind and what it depends on. It uses only
the layers' registry (``resources``, ``layer_names``), the recipes' ``name``/``kind``/``depends_on``
and ``Engine.order()``: no AWS, no Context (the engine only stores it).

    .venv/bin/python -m provisioning.graph            # print the graph (the dev stack's)
    .venv/bin/python -m provisioning.graph --write    # regenerate it in provisioning/README.md
    make graph                                        # the same
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provisioning.config import StackConfig, load_stack
from provisioning.engine import Engine
from provisioning.layers import layer_names, resources

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- graph:start -->", "<!-- graph:end -->"
STACK = "dev"
REGENERATE = ".venv/bin/python -m provisioning.graph --write  (or: make graph)"


def render(config: StackConfig) -> str:
    """The markdown: one table per layer, its recipes in the engine's order for the whole stack
    (the number is the position in that order), each with the recipes it depends on."""
    recipes = resources(config)
    by_name = {r.name: r for r in recipes}
    order = Engine(None, recipes).order()
    position = {name: i for i, name in enumerate(order, 1)}
    lines = [f"The `{config.name}` stack: {len(order)} recipes in {len(layer_names())} layers, "
             "numbered in the order the engine applies them (independent ones run concurrently; "
             "teardown walks it backwards).", ""]
    for layer in layer_names():
        names = [n for n in order if n.startswith(layer + ".")]
        lines += [f"### {layer} ({len(names)})", "", "| # | recipe | kind | depends on |", "|---|---|---|---|"]
        for name in names:
            deps = ", ".join(f"`{d}`" for d in sorted(by_name[name].depends_on, key=position.get)) or "—"
            lines.append(f"| {position[name]} | `{name}` | {by_name[name].kind or '—'} | {deps} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def replace_between_markers(text: str, generated: str) -> str:
    try:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"{README}: the markers {START} and {END} are missing") from None
    return f"{head}{START}\n{generated}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.graph", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"regenerate the graph in {README.name}")
    args = parser.parse_args(argv)
    generated = render(load_stack(STACK))
    if not args.write:
        sys.stdout.write(generated)
        return 0
    text = README.read_text()
    updated = replace_between_markers(text, generated)
    if updated != text:
        README.write_text(updated)
        print(f"{README}: graph regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
