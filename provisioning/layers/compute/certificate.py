"""``compute.certificate`` (ACM, DNS validation) and ``compute.certificate-validation``."""
from __future__ import annotations

import hashlib

from provisioning import naming
from provisioning.config import StackConfig
from provisioning.errors import StackError, absent_on, tolerate
from provisioning.recipe_names import CERTIFICATE, HOSTED_ZONE, VALIDATION
from provisioning.resource import Drift, Resource
from provisioning.retry import delete_once_free, wait_until, waiter_config
from provisioning.route53 import change_records, find_public_zone, record_change, record_sets


def find_certificate(ctx, domain: str) -> dict | None:
    acm = ctx.client("acm")
    pages = acm.get_paginator("list_certificates").paginate(CertificateStatuses=[
        "PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT", "FAILED"])
    for summary in (s for page in pages for s in page["CertificateSummaryList"]):
        if summary["DomainName"] != domain:
            continue
        tags = {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(
            CertificateArn=summary["CertificateArn"]).get("Tags", [])}
        if tags.get(naming.STACK_TAG) == ctx.stack and tags.get(naming.RESOURCE_TAG) == CERTIFICATE:
            cert = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
            records = [o["ResourceRecord"] for o in cert.get("DomainValidationOptions", []) if o.get("ResourceRecord")]
            return {"id": cert["CertificateArn"], "arn": cert["CertificateArn"], "status": cert["Status"],
                    "records": records}
    return None


def certificate_token(stack: str, domain: str, attempt: int) -> str:
    """ACM's IdempotencyToken (``\\w{1,32}``): the same for the same stack, domain and attempt."""
    return hashlib.sha256(f"cloudsite|{stack}|{domain}|{attempt}".encode()).hexdigest()[:32]


class Certificate(Resource):
    """The site's ACM certificate (DNS validation), tagged at the request.

    ACM's ``IdempotencyToken`` outlives the certificate (ACM API reference, RequestCertificate: "If
    you call RequestCertificate multiple times with the same idempotency token within one hour, ACM
    recognizes that you are requesting only one certificate and will issue only one"): within that
    hour ACM answers with the first request's ARN, deleted since or not. So the token is not the stack's
    alone: it is the ``attempt``-th of a fixed sequence per stack and domain (``certificate_token``),
    and the request goes down the sequence past every token whose certificate is gone (a teardown
    and apply within the hour, or a certificate deleted by hand). Nothing is stored, so nothing can
    be lost: a crash-retry walks the same sequence and gets back the certificate its crashed run
    requested (in case ListCertificates does not show it yet) instead of a second one; a new domain
    starts a sequence of its own.
    """
    name, service, kind = CERTIFICATE, "acm", "ACM certificate"
    TOKEN_ATTEMPTS = 10   # certificates of one stack and domain deleted within one hour
    DESCRIBE_TRIES = 3    # a certificate just requested is described at once; a lag is ridden out

    def __init__(self, domain: str):
        self.domain = domain

    def find_all(self, ctx, deps):
        cert = find_certificate(ctx, self.domain)
        return [cert] if cert else []

    def create(self, ctx, deps):
        arn = self._request(ctx)
        state = {}

        def records_ready():  # ACM fills in the validation record a few seconds after the request
            state.update(find_certificate(ctx, self.domain) or {})
            return bool(state.get("records"))
        wait_until(records_ready, what=f"the DNS validation record of {arn}", timeout=120, delay=2, clock=ctx.clock)
        return state

    def _request(self, ctx) -> str:
        acm = ctx.client("acm")
        for attempt in range(self.TOKEN_ATTEMPTS):
            arn = acm.request_certificate(
                DomainName=self.domain, ValidationMethod="DNS",
                IdempotencyToken=certificate_token(ctx.stack, self.domain, attempt),
                Options={"CertificateTransparencyLoggingPreference": "ENABLED"},
                Tags=ctx.tags(self.name))["CertificateArn"]
            if self._exists(ctx, arn):
                return arn
            ctx.reporter.note(f"{self.name}: ACM answered with {arn}, deleted within the hour; requesting anew")
        raise StackError(f"ACM keeps answering with certificates for {self.domain} deleted within the last hour "
                         f"({self.TOKEN_ATTEMPTS} of them); run the command again in an hour")

    def _exists(self, ctx, arn: str) -> bool:
        acm = ctx.client("acm")
        for attempt in range(self.DESCRIBE_TRIES):
            if absent_on(lambda: acm.describe_certificate(CertificateArn=arn), "ResourceNotFoundException") is not None:
                return True
            if attempt + 1 < self.DESCRIBE_TRIES:
                ctx.clock.sleep(2)
        return False

    def drift(self, ctx, state, deps):
        bad = ("EXPIRED", "REVOKED", "FAILED", "VALIDATION_TIMED_OUT", "INACTIVE")
        if state["status"] in bad:
            return [Drift("status", state["status"], "ISSUED", fixable=False)]
        return []

    def delete(self, ctx, state):
        acm = ctx.client("acm")
        # in use for a while after its listener is deleted
        delete_once_free(lambda: acm.delete_certificate(CertificateArn=state["arn"]),
                         gone="ResourceNotFoundException", busy=["ResourceInUseException"], timeout=600,
                         clock=ctx.clock)

    def outputs(self, state):
        return {"certificate-arn": state["arn"]}


class CertificateValidation(Resource):
    """The DNS validation records in the zone, then the certificate issued (a bounded wait)."""

    name, service, kind = VALIDATION, "route53", "certificate validation records"
    depends_on = (CERTIFICATE, HOSTED_ZONE)
    WAIT = waiter_config(15, 40)  # ten minutes; a re-run waits again

    def __init__(self, config: StackConfig):
        self.domain, self.zone = config.domain, config.hosted_zone

    def find_all(self, ctx, deps):
        cert, zone = find_certificate(ctx, self.domain), find_public_zone(ctx, self.zone)
        if not cert or not zone or not cert["records"]:
            return []
        found = [r for want in cert["records"] for r in record_sets(ctx, zone["id"], want["Name"], want["Type"])]
        if not found:
            return []
        return [{"id": found[0]["Name"], "zone": zone["id"], "certificate": cert["arn"], "status": cert["status"],
                 "records": [{"Name": r["Name"], "Type": r["Type"], "Value": v["Value"]}
                             for r in found for v in r.get("ResourceRecords", [])]}]

    def _changes(self, action, records):
        return [record_change(action, r["Name"], r["Type"], [r["Value"]], ttl=300) for r in records]

    def _validate(self, ctx, deps):
        cert, zone = deps[CERTIFICATE], deps[HOSTED_ZONE]
        change_records(ctx, zone["id"], self._changes("UPSERT", cert["records"]), f"ACM validation for {self.domain}")
        ctx.reporter.start(self.name, f"waiting for ACM to issue {self.domain}")
        acm = ctx.client("acm")
        try:
            acm.get_waiter("certificate_validated").wait(CertificateArn=cert["arn"], WaiterConfig=self.WAIT)
        except Exception as error:
            if type(error).__name__ != "WaiterError":
                raise
            raise StackError(f"the certificate for {self.domain} is not issued yet ({error}); check that the "
                             f"zone {self.zone} is the one the domain is delegated to, then run again") from None
        return {"id": cert["records"][0]["Name"], "zone": zone["id"], "certificate": cert["arn"], "status": "ISSUED",
                "records": [{"Name": r["Name"], "Type": r["Type"], "Value": r["Value"]} for r in cert["records"]]}

    def create(self, ctx, deps):
        return self._validate(ctx, deps)

    def drift(self, ctx, state, deps):
        cert = deps.get(CERTIFICATE) or {}
        drift = []
        want = sorted((r["Name"], r["Value"]) for r in cert.get("records", []))
        if want and sorted((r["Name"], r["Value"]) for r in state["records"]) != want:
            drift.append(Drift("validation records", "differ", "as ACM asks"))
        if state["status"] != "ISSUED":
            drift.append(Drift("certificate", state["status"], "ISSUED"))
        return drift

    def reconcile(self, ctx, state, drift, deps):
        return self._validate(ctx, deps)

    def delete(self, ctx, state):
        with tolerate("InvalidChangeBatch"):
            change_records(ctx, state["zone"], self._changes("DELETE", state["records"]), "cloudsite teardown")
