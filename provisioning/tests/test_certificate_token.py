"""ACM's IdempotencyToken: one per certificate wanted, the same across a crash-retry, never a
deleted certificate back (ACM API reference, RequestCertificate: "If you call RequestCertificate
multiple times with the same idempotency token within one hour, ACM recognizes that you are
requesting only one certificate and will issue only one")."""
import re

import pytest
from botocore.stub import Stubber

from provisioning.errors import StackError
from provisioning.layers import compute

DOMAIN = "dev.example.com"
ARN = "arn:aws:acm:us-east-1:123456789012:certificate/{}"


def test_tokens_are_acms_form_and_differ_by_stack_domain_and_attempt():
    tokens = {compute.certificate_token(stack, domain, attempt)
              for stack in ("dev", "prod") for domain in (DOMAIN, "www.example.com") for attempt in range(3)}
    assert len(tokens) == 12 and all(re.fullmatch(r"\w{1,32}", t) for t in tokens)
    assert compute.certificate_token("dev", DOMAIN, 0) == compute.certificate_token("dev", DOMAIN, 0)


def request(ctx, attempt):
    return {"DomainName": DOMAIN, "ValidationMethod": "DNS",
            "IdempotencyToken": compute.certificate_token("dev", DOMAIN, attempt),
            "Options": {"CertificateTransparencyLoggingPreference": "ENABLED"}, "Tags": ctx.tags(compute.CERTIFICATE)}


def test_a_deleted_certificate_answered_for_a_token_is_skipped(ctx):
    """A teardown and apply within the hour: ACM answers the first token with the deleted
    certificate; the next token of the sequence asks for a new one. The exact requests."""
    acm = Stubber(ctx.client("acm"))
    acm.add_response("request_certificate", {"CertificateArn": ARN.format("old")}, request(ctx, 0))
    for _ in range(compute.Certificate.DESCRIBE_TRIES):
        acm.add_client_error("describe_certificate", "ResourceNotFoundException", "not found",
                             expected_params={"CertificateArn": ARN.format("old")})
    acm.add_response("request_certificate", {"CertificateArn": ARN.format("new")}, request(ctx, 1))
    acm.add_response("describe_certificate", {"Certificate": {"CertificateArn": ARN.format("new")}},
                     {"CertificateArn": ARN.format("new")})
    with acm:
        assert compute.Certificate(DOMAIN)._request(ctx) == ARN.format("new")
    acm.assert_no_pending_responses()
    assert "deleted within the hour" in ctx.reporter.stream.getvalue()


def test_a_certificate_described_after_a_lag_is_kept(ctx):
    """A crash-retry: the first token's certificate (the crashed run's) is the one, even when
    ACM needs a moment to describe it; no second certificate is requested."""
    acm = Stubber(ctx.client("acm"))
    acm.add_response("request_certificate", {"CertificateArn": ARN.format("mine")}, request(ctx, 0))
    acm.add_client_error("describe_certificate", "ResourceNotFoundException", "not yet")
    acm.add_response("describe_certificate", {"Certificate": {"CertificateArn": ARN.format("mine")}})
    with acm:
        assert compute.Certificate(DOMAIN)._request(ctx) == ARN.format("mine")
    acm.assert_no_pending_responses()


def test_a_bounded_number_of_deleted_certificates_then_advice(ctx, monkeypatch):
    monkeypatch.setattr(compute.Certificate, "TOKEN_ATTEMPTS", 2)
    monkeypatch.setattr(compute.Certificate, "DESCRIBE_TRIES", 1)
    acm = Stubber(ctx.client("acm"))
    for attempt in range(2):
        acm.add_response("request_certificate", {"CertificateArn": ARN.format(attempt)}, request(ctx, attempt))
        acm.add_client_error("describe_certificate", "ResourceNotFoundException", "not found")
    with acm, pytest.raises(StackError, match="run the command again in an hour"):
        compute.Certificate(DOMAIN)._request(ctx)


def test_a_crash_retry_that_cannot_see_the_certificate_yet_gets_the_same_one(ctx):
    """The run after a crash requests again when ListCertificates does not show its certificate
    yet: the same token answers with the same certificate, so there is one. (moto cannot replay a
    deleted certificate's token, it fails; the skip is tested with the Stubber above.)"""
    cert = compute.Certificate(DOMAIN)
    first = cert.create(ctx, {})
    again = cert.create(ctx, {})
    assert again["arn"] == first["arn"]
    assert len(ctx.client("acm").list_certificates()["CertificateSummaryList"]) == 1
