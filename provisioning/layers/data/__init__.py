"""The data layer, moving into a package (issue 15): for this one commit the whole layer is still
``rds.py``, and the package is that module, so ``data.X`` and monkeypatching ``data.X`` are
unchanged. The next commit cuts it into one module a resource."""
import sys

from provisioning.layers.data import rds

sys.modules[__name__] = rds
