"""Development kit: the machinery the tests, benches and ``make cloud`` use, never the product.

It is never shipped to instances (``deploy/bundle.py`` leaves ``devkit/`` out) and no product
module imports it; ``cloudsite/settings.py`` adds it to INSTALLED_APPS only when it is importable,
so ``manage.py local_cloud`` works in a checkout and the app loads without it on an instance.

* ``devkit.live``: real processes on loopback (a ``moto_server``, gunicorn, ``manage.py``);
* ``devkit.serial_moto``: moto, one request at a time, in-process and behind its server;
* ``devkit.emulator``: stand-ins for what moto cannot run (the builder's bake, Lambda, the
  db-admin function against MariaDB);
* ``devkit.testing``: the provisioning tests' helpers (contexts, stacks, the crash-resume check);
* ``manage.py local_cloud`` (``make cloud``): the whole ``local`` stack in a ``moto_server``.
"""
