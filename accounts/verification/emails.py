"""Composing the verification e-mail.

Deliberately free of Django imports: the Lambda in ``deploy/lambda`` bundles this module so the
e-mail sent through SES is the one sent locally, byte for byte.
"""
from html import escape
from urllib.parse import urlencode

SUBJECT = "Verify your cloudsite account"


def verification_link(base_url: str, email: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/v1/user/verify?{urlencode({'email': email, 'token': token})}"


def compose(link: str, ttl_seconds: int) -> dict:
    """Return ``{"subject", "text", "html"}`` for a verification link valid ``ttl_seconds``."""
    minutes = max(1, ttl_seconds // 60)
    validity = f"{minutes} minute{'s' if minutes != 1 else ''}"
    text = (
        "Welcome to cloudsite.\n\n"
        f"Follow this link within {validity} to verify your e-mail address:\n\n{link}\n\n"
        "If you did not sign up, ignore this message.\n"
    )
    html = (
        "<p>Welcome to cloudsite.</p>"
        f'<p>Follow <a href="{escape(link)}">this link</a> within {validity} to verify your '
        "e-mail address.</p><p>If you did not sign up, ignore this message.</p>"
    )
    return {"subject": SUBJECT, "text": text, "html": html}
