"""SES: the stack's domain identity (Easy DKIM, MAIL FROM subdomain) and its DNS records (DKIM
CNAMEs, MAIL FROM MX and SPF TXT) in the domain's public hosted zone."""
from __future__ import annotations

from provisioning.errors import StackError, absent_on, tolerate
from provisioning.recipe_names import HOSTED_ZONE, MAIL_DNS, SES_IDENTITY
from provisioning.resource import Drift, Resource
from provisioning.route53 import all_record_sets, change_records, find_public_zone, record_change


class SesIdentity(Resource):
    """The stack's domain as an SES identity (Easy DKIM) with a MAIL FROM subdomain."""
    name, service, kind = SES_IDENTITY, "sesv2", "SES domain identity"

    def find_all(self, ctx, deps):
        domain = ctx.config.domain
        identity = absent_on(lambda: ctx.client("sesv2").get_email_identity(EmailIdentity=domain), "NotFoundException")
        if identity is None:
            return []
        return [self._state(ctx, identity)]

    def _state(self, ctx, identity) -> dict:
        domain, ses = ctx.config.domain, ctx.client("ses")
        tokens = identity.get("DkimAttributes", {}).get("Tokens") or ses.get_identity_dkim_attributes(
            Identities=[domain])["DkimAttributes"].get(domain, {}).get("DkimTokens", [])
        mail_from = ses.get_identity_mail_from_domain_attributes(
            Identities=[domain])["MailFromDomainAttributes"].get(domain, {})
        return {"id": domain, "dkim_tokens": sorted(tokens), "mail_from": mail_from.get("MailFromDomain") or None,
                "verified": bool(identity.get("VerifiedForSendingStatus"))}

    def create(self, ctx, deps):
        sesv2, domain = ctx.client("sesv2"), ctx.config.domain
        with tolerate("AlreadyExistsException"):
            sesv2.create_email_identity(EmailIdentity=domain, Tags=ctx.tags(self.name))
        return self._state(ctx, sesv2.get_email_identity(EmailIdentity=domain))

    def drift(self, ctx, state, deps):
        want = ctx.config.mail_from_domain
        return [] if state["mail_from"] == want else [Drift("MAIL FROM domain", state["mail_from"], want)]

    def reconcile(self, ctx, state, drift, deps):
        ctx.client("ses").set_identity_mail_from_domain(
            Identity=state["id"], MailFromDomain=ctx.config.mail_from_domain,
            BehaviorOnMXFailure="UseDefaultValue")
        return {**state, "mail_from": ctx.config.mail_from_domain}

    def delete(self, ctx, state):
        with tolerate("NotFoundException"):
            ctx.client("sesv2").delete_email_identity(EmailIdentity=state["id"])

    def outputs(self, state):
        return {"identity": state["id"], "verified": state["verified"]}


class MailRecords(Resource):
    """DKIM CNAMEs, and the MAIL FROM domain's MX and SPF TXT, in the public hosted zone. The SPF
    record goes on the MAIL FROM subdomain (which SES's envelope sender uses, and this stack owns
    whole), so no TXT record at the apex that other services share is overwritten."""
    name, service, kind = MAIL_DNS, "route53", "DNS records"

    def __init__(self):
        self.depends_on = (SES_IDENTITY, HOSTED_ZONE)

    def wanted(self, ctx, deps) -> dict[tuple[str, str], list[str]]:
        identity = deps.get(SES_IDENTITY)
        domain, mail_from = ctx.config.domain, ctx.config.mail_from_domain
        tokens = identity["dkim_tokens"] if identity else ["(to be created)"]
        records = {(f"{t}._domainkey.{domain}.", "CNAME"): [f"{t}.dkim.amazonses.com"] for t in tokens}
        records[(f"{mail_from}.", "MX")] = [f"10 feedback-smtp.{ctx.region}.amazonses.com"]
        records[(f"{mail_from}.", "TXT")] = ['"v=spf1 include:amazonses.com ~all"']
        return records

    def _ours(self, ctx, name: str, kind: str) -> bool:
        domain, mail_from = ctx.config.domain, ctx.config.mail_from_domain
        return ((kind == "CNAME" and name.endswith(f"._domainkey.{domain}.")) or
                (name == f"{mail_from}." and kind in ("MX", "TXT")))

    def find_all(self, ctx, deps):
        zone = find_public_zone(ctx, ctx.config.hosted_zone)
        if zone is None:
            return []
        zone_id = zone["id"]
        records = {key: sorted(r["Value"] for r in record.get("ResourceRecords", []))
                   for key, record in self._current(ctx, zone_id).items()}
        return [{"id": zone_id, "records": records}] if records else []

    def _current(self, ctx, zone_id: str) -> dict[tuple[str, str], dict]:
        """This stack's mail records in the zone, as Route53 holds them (a DELETE must match)."""
        return {(record["Name"], record["Type"]): record for record in all_record_sets(ctx, zone_id)
                if self._ours(ctx, record["Name"], record["Type"])}

    def _change(self, ctx, zone_id: str, changes: list[dict]) -> None:
        change_records(ctx, zone_id, changes, f"cloudsite {ctx.stack}: SES DKIM and MAIL FROM")

    @staticmethod
    def _record(action: str, name: str, kind: str, values: list[str]) -> dict:
        return record_change(action, name, kind, values, ttl=1800)

    def create(self, ctx, deps):
        zone = find_public_zone(ctx, ctx.config.hosted_zone)
        if zone is None:
            raise StackError(f"no public hosted zone {ctx.config.hosted_zone}: "
                             "create it (and delegate the domain to it), then run the command again")
        want = self.wanted(ctx, deps)
        self._change(ctx, zone["id"], [self._record("UPSERT", n, k, v) for (n, k), v in sorted(want.items())])
        return {"id": zone["id"], "records": want}

    def drift(self, ctx, state, deps):
        want = self.wanted(ctx, deps)
        have = state["records"]
        return [Drift(f"{kind} {name}", have.get((name, kind)), want.get((name, kind)))
                for name, kind in sorted(set(want) | set(have)) if have.get((name, kind)) != want.get((name, kind))]

    def reconcile(self, ctx, state, drift, deps):
        want, have = self.wanted(ctx, deps), state["records"]
        changes = [self._record("UPSERT", n, k, v) for (n, k), v in sorted(want.items()) if have.get((n, k)) != v]
        current = self._current(ctx, state["id"]) if set(have) - set(want) else {}
        changes += [{"Action": "DELETE", "ResourceRecordSet": record}
                    for key, record in sorted(current.items()) if key not in want]
        self._change(ctx, state["id"], changes)
        return {**state, "records": want}

    def delete(self, ctx, state):
        # The TTL is part of a DELETE's identity: read the records back as they are.
        changes = [{"Action": "DELETE", "ResourceRecordSet": record}
                   for _, record in sorted(self._current(ctx, state["id"]).items())]
        with tolerate("InvalidChangeBatch"):
            self._change(ctx, state["id"], changes)
