"""Per-client-address rate limits for the public endpoints (DRF throttling on the default cache).

Each throttle has a scope whose rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]``; the
client address is DRF's ``get_ident`` (``NUM_PROXIES`` hops of X-Forwarded-For behind the load
balancer), the same one the failed sign-in throttle counts by.
"""
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ClientAddressThrottle(SimpleRateThrottle):
    """Counts every request to the view per client address, signed in or not."""

    def get_rate(self):
        # SimpleRateThrottle.THROTTLE_RATES is read once, at import: take the live settings, so a
        # changed REST_FRAMEWORK (tests, override_settings) is honoured.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SignUpThrottle(ClientAddressThrottle):
    """Every sign-up costs an Argon2 hash and an e-mail from the stack's domain."""

    scope = "signup"


class VerifyThrottle(ClientAddressThrottle):
    """Bounds guessing of verification tokens through the link endpoint."""

    scope = "verify"


def rate_problems() -> list[str]:
    """The configured rates DRF cannot parse (every request of the view would be a 500) or that
    would refuse every request (a count of 0); ``None`` switches a scope off and is fine."""
    problems = []
    for scope, rate in api_settings.DEFAULT_THROTTLE_RATES.items():
        count, _, period = str(rate).partition("/")
        if rate is not None and not (count.isdigit() and int(count) > 0 and period[:1] in ("s", "m", "h", "d")):
            problems.append(f"throttle rate {scope}={rate!r}: expected '<count>/<second|minute|hour|day>'")
    return problems
