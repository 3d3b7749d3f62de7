"""``manage.py deploy_lambda --stack dev``: update the verification Lambda's code when its zip changed.

What CI runs on a merge that touches the Lambda's sources: build the zip reproducibly, compare its
hash with the function's ``CodeSha256``, and only when they differ update the code (the zip goes
directly: the CI role may update this function's code and nothing else) and wait until the
function is updated. ``--plan`` says whether it would.
"""
from __future__ import annotations

from django.core.management.base import CommandError

from provisioning import naming
from provisioning.cli import EXIT_FAILED, ProvisioningCommand
from provisioning.layers.pipeline import lambda_code
from provisioning.retry import waiter_config


class Command(ProvisioningCommand):
    help = "Update the verification Lambda's code if the reproducible zip's hash differs."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--plan", action="store_true", help="say whether the code would change")

    def run(self, options):
        ctx = self.context(dry_run=options["plan"])
        client, name = ctx.client("lambda"), naming.lambda_function(ctx.stack)
        data, _, sha256 = lambda_code()
        try:
            current = client.get_function_configuration(FunctionName=name)["CodeSha256"]
        except client.exceptions.ResourceNotFoundException:
            raise CommandError(f"no function {name}: run provision_pipeline --stack {ctx.stack} first",
                               returncode=EXIT_FAILED) from None
        if current == sha256:
            self.stdout.write(f"{name} already runs {sha256}: nothing to do")
            return
        if options["plan"]:
            self.stdout.write(f"{name}: code {current} -> {sha256} (plan only: nothing changed)")
            return
        client.update_function_code(FunctionName=name, ZipFile=data)
        client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=waiter_config(2, 90))
        self.stdout.write(f"{name}: code updated {current} -> {sha256}")
