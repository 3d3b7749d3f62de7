"""deploy/ (what builds the bundle, the bake and the Lambda zips) knows of provisioning only its
AWS names: nothing of the recipes, layers or engine (issue 15)."""
import ast
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent


def provisioning_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "provisioning":
            found |= {f"{node.module}.{a.name}" if node.module == "provisioning" else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "provisioning"}
    return found


def test_deploy_imports_only_provisioning_naming():
    sources = [p for p in DEPLOY.rglob("*.py") if "tests" not in p.relative_to(DEPLOY).parts]
    assert len(sources) > 5
    used = {str(p.relative_to(DEPLOY)): provisioning_imports(p) for p in sources}
    assert {name for names in used.values() for name in names} == {"provisioning.naming"}, used
