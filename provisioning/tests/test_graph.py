"""provisioning/README.md's resource graph is the engine's own, for the dev stack, as it is now."""
import re

from provisioning import graph
from provisioning.config import load_stack
from provisioning.layers import layer_names, resources


def test_the_readme_graph_is_up_to_date():
    text = graph.README.read_text()
    expected = graph.replace_between_markers(text, graph.render(load_stack(graph.STACK)))
    assert text == expected, f"provisioning/README.md's graph is stale: run {graph.REGENERATE}"


def test_every_recipe_is_in_the_graph_once():
    config = load_stack(graph.STACK)
    rendered = graph.render(config)
    rows = re.findall(r"^\| \d+ \| `([^`]+)` \|", rendered, flags=re.M)
    assert sorted(rows) == sorted(r.name for r in resources(config))
    for layer in layer_names():
        assert f"### {layer} (" in rendered
