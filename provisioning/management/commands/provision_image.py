from provisioning.cli import LayerCommand


class Command(LayerCommand):
    layer = "image"

    @property
    def help(self):
        return ("Bake the app's AMI when there is none or the bake script changed (--rebake: bake a fresh one, "
                "e.g. for a new base image); keep [image] retention images; --plan shows what would change.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--rebake", action="store_true", help="bake a new image even if one is up to date")

    def recipes(self, config):
        from provisioning import layers

        found = layers.resources(config, [self.layer])
        if self.options.get("rebake"):
            for recipe in found:
                if recipe.name == "image.ami":
                    recipe.force = True
        return found
