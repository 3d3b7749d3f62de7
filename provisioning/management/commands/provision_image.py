from provisioning.cli import LayerCommand
from provisioning.context import RunOptions


class Command(LayerCommand):
    layer = "image"

    @property
    def help(self):
        return ("Bake the app's AMI when there is none or the bake script changed (--rebake: bake a fresh one, "
                "e.g. for a new base image); keep [image] retention images; --plan shows what would change.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--rebake", action="store_true", help="bake a new image even if one is up to date")

    def run_options(self):
        return RunOptions(rebake=bool(self.options.get("rebake")))
