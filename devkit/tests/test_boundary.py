"""The product never imports the development kit: outside devkit/, the test trees and the benches
(none of them shipped), only cloudsite/settings.py names it, in its guarded INSTALLED_APPS line
(and deploy/bundle.py, to leave it out)."""
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# not product code: the kit itself, the benches and pytest's set-up (the test trees are any */tests/)
DEVELOPMENT = ("devkit/", "bench/")
# the settings' guard (find_spec) and its app; the bundle's list of what it leaves out
ALLOWED = {"cloudsite/settings.py": {'"devkit"', '"devkit.apps.DevkitConfig"'}, "deploy/bundle.py": {'"devkit"'}}


def product_modules():
    listed = subprocess.run(["git", "ls-files", "-z", "*.py"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in sorted(n for n in listed.decode().split("\0") if n):
        parts = name.split("/")
        if name.startswith(DEVELOPMENT) or "tests" in parts[:-1] or parts[-1] == "conftest.py":
            continue
        yield name


def devkit_references(source: str):
    """Imports of devkit, and string constants naming it (``-m devkit.x``, ``import_module``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "devkit"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "devkit":
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.split(".")[0] == "devkit":
            found.append(repr(node.value).replace("'", '"'))
    return found


def test_no_product_module_imports_devkit():
    modules = list(product_modules())
    assert "cloudsite/settings.py" in modules and "provisioning/engine.py" in modules
    offenders = {}
    for name in modules:
        found = set(devkit_references((ROOT / name).read_text()))
        found -= ALLOWED.get(name, set())
        if found:
            offenders[name] = sorted(found)
    assert not offenders, f"product code names the development kit (never shipped): {offenders}"


def test_the_settings_name_devkit_only_behind_the_guard():
    found = devkit_references((ROOT / "cloudsite/settings.py").read_text())
    assert sorted(found) == sorted(ALLOWED["cloudsite/settings.py"])


def test_the_check_sees_an_import():
    assert devkit_references("from devkit import live\nimport devkit.testing\nx = 'devkit.serial_moto'\n") == [
        "from devkit import ...", "import devkit.testing", '"devkit.serial_moto"']
