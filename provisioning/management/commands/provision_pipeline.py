from provisioning.cli import LayerCommand


class Command(LayerCommand):
    layer = "pipeline"
