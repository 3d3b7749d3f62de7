"""Argon2id sized for a small instance.

Django's stock Argon2 parameters use ~100 MiB per concurrent hash; a t3.small running two
gunicorn workers plus Celery cannot afford that under a burst of logins. OWASP's minimum for
Argon2id is m=19 MiB, t=2, p=1, which is what this hasher uses. Hashes made with other
parameters still verify and are upgraded on the next successful login.
"""
from django.contrib.auth.hashers import Argon2PasswordHasher


class SmallInstanceArgon2PasswordHasher(Argon2PasswordHasher):
    algorithm = "argon2"  # same encoded format as Django's: old hashes keep verifying
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
