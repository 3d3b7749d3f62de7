from django.core.management.base import CommandError

from provisioning import layers, leftovers
from provisioning.cli import EXIT_FAILED, EXIT_USAGE, ProvisioningCommand
from provisioning.context import RunOptions
from provisioning.engine import Engine


class Command(ProvisioningCommand):
    help = ("Delete a stack's resources (every layer, or one with --layer), in reverse dependency "
            "order, and wait until they are gone. Refuses without --yes.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--layer", choices=layers.layer_names(), help="only this layer")
        parser.add_argument("--yes", action="store_true", help="really delete")
        parser.add_argument("--allow-prod-data", action="store_true",
                            help="also delete the data layer of a stack whose [database] deletion_protection "
                                 "is on (prod): switches deletion protection off, keeps a final snapshot")

    def resume_hint(self):
        return "Fix that, then run the same teardown again: it deletes what is left."

    def run_options(self):
        # the data recipes may switch deletion protection off (a protected stack needs the flag)
        return RunOptions(allow_prod_data=bool(self.options.get("allow_prod_data")))

    def run(self, options):
        chosen = [options["layer"]] if options["layer"] else None
        if not options["yes"]:
            what = f"layer {options['layer']}" if chosen else "every layer"
            raise CommandError(f"teardown deletes {what} of stack {options['stack']}: run it again with --yes",
                               returncode=EXIT_USAGE)
        ctx = self.context()
        config = ctx.config
        if (chosen is None or "data" in chosen) and config.database.deletion_protection:
            if not options["allow_prod_data"]:
                raise CommandError(
                    f"stack {config.name} protects its data ([database] deletion_protection = true in "
                    f"{config.path.name}): teardown refuses to delete the database, buckets and keys unless "
                    "--allow-prod-data is given as well", returncode=EXIT_USAGE)
        selected = layers.resources(config, chosen)
        everything = layers.resources(config)
        self._refuse_if_depended_on(ctx, selected, everything)
        with ctx.reporter:
            results = Engine(ctx, selected, known=everything).teardown()
        deleted = sum(r.action == "delete" for r in results)
        if not chosen:  # the stack is gone: its lock table goes last (a later run makes it again)
            self.lock.release(drop_table=True)
        remaining = [] if chosen else leftovers.find(ctx)
        if remaining and not options["json"]:
            self.stdout.write(f"still tagged with stack {config.name} after teardown:")
            for item in remaining:
                self.stdout.write(f"  {item}" if item.lingering else f"  LEFT BEHIND: {item.id}")
        self.emit(results, ok=True, region=ctx.region,
                  leftovers=[{"id": i.id, "lingering": i.lingering} for i in remaining], summary=(
            f"torn down {'layer ' + options['layer'] if chosen else 'every layer'} of stack {config.name} "
            f"in {ctx.region}: {deleted} deleted, {len(results) - deleted} already absent"))

    def _refuse_if_depended_on(self, ctx, selected, everything):
        """Another layer built on this one must go first (a VPC cannot go before its database)."""
        names = {r.name for r in selected}
        by_name = {r.name: r for r in everything}
        dependents, grew = set(), True
        while grew:
            grew = False
            for resource in everything:
                if resource.name not in names | dependents and \
                        any(d in names | dependents for d in resource.depends_on):
                    dependents.add(resource.name)
                    grew = True
        still_there = sorted(n for n in dependents if by_name[n].find_all(ctx, {}))
        if still_there:
            layer_names = sorted({n.split(".", 1)[0] for n in still_there})
            raise CommandError(f"{', '.join(still_there)} still exist and depend on this layer; tear down "
                               f"{' and '.join(layer_names)} first (or omit --layer)", returncode=EXIT_FAILED)
