"""The instance test (``make test-instance``): a real Debian 13 root, the bake, the hooks, a proxy.

Test machinery only: it lives under ``tests/``, which the CodeDeploy bundle never ships.
"""
