"""drf-spectacular extension: document CachedBasicAuthentication as HTTP Basic."""
from drf_spectacular.authentication import BasicScheme


class CachedBasicScheme(BasicScheme):
    target_class = "accounts.authentication.CachedBasicAuthentication"
