from provisioning import layers
from provisioning.cli import LayerCommand

# What a user needs after a full apply, by the output's key (layer outputs in SSM).
HEADLINE = ("compute/url", "compute/load-balancer-dns", "data/db-endpoint",
            "data/db-replica-endpoint", "data/app-bucket", "pipeline/topic-arn")


class Command(LayerCommand):
    """Every layer in one dependency graph: a resource starts as soon as what it needs exists."""

    layer = "all"
    help = ("Create or update every layer of a stack in one dependency graph, independent resources "
            "concurrently; --plan shows what would change.")

    def recipes(self, config):
        return layers.resources(config)

    def emit(self, results, *, ok, summary="", **extra):
        super().emit(results, ok=ok, summary=summary, **extra)
        if ok and summary and not self.options["json"] and not self.options["plan"]:
            outputs = {key: value for result in results for key, value in result.outputs.items()}
            for wanted in HEADLINE:
                for key, value in outputs.items():
                    if key.endswith("/" + wanted):
                        self.stdout.write(f"  {wanted:<26} {value}")
