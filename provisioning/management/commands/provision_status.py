from django.core.management.base import CommandError

from provisioning import layers
from provisioning.cli import EXIT_DRIFT, ProvisioningCommand
from provisioning.engine import Engine


class Command(ProvisioningCommand):
    help = ("Show every resource of every layer of a stack: exists or not, drift, outputs, and who holds "
            "its lock. Exit 0 when everything exists and matches the config, 3 when not.")
    lock_mode = "report"  # never waits for nor takes the lock

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--layer", choices=layers.layer_names(), action="append",
                            help="only this layer (repeatable; default: every layer)")

    def run(self, options):
        ctx = self.context()
        engine = Engine(ctx, layers.resources(ctx.config, options["layer"]),
                        known=layers.resources(ctx.config))
        with ctx.reporter:
            results = engine.status()
        bad = [r for r in results if r.action != "ok"]
        if options["json"]:
            self.emit(results, ok=not bad, region=ctx.region)
        else:
            parameters = [r for r in results if r.name.endswith(".outputs") and r.outputs]
            if parameters:
                self.stdout.write("outputs:")
            for result in parameters:
                for key, value in result.outputs.items():
                    self.stdout.write(f"  {key} = {value}")
            self.emit(results, ok=not bad, summary=(
                f"stack {ctx.stack} in {ctx.region}: {len(results) - len(bad)} of {len(results)} "
                "resources exist and match the config"))
        if bad:
            missing = sum(r.action == "missing" for r in bad)
            layer_names = sorted({r.name.split(".", 1)[0] for r in bad})
            raise CommandError(
                f"{missing} missing, {len(bad) - missing} drifted; run "
                + " and ".join(f"provision_{name}" for name in layer_names) + f" --stack {ctx.stack} "
                "to bring them back", returncode=EXIT_DRIFT)
