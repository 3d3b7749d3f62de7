"""The CodeDeploy bundle: what is in it, what is not, and the same bytes every time."""
import io
import os
import zipfile

from deploy.bundle import ROOT, build_bundle


def test_bundle_contents():
    bundle = build_bundle()
    names = set(bundle.files)
    archive = zipfile.ZipFile(io.BytesIO(bundle.data))
    assert set(archive.namelist()) == names
    for needed in ("appspec.yml", "requirements.lock", "requirements-build.lock", "manage.py",
                   "scripts/after_install.sh", "scripts/systemd/cloudsite-app.service", "cloudsite/settings.py",
                   "deploy/render_env.py",
                   "accounts/verification/emails.py", "deploy/lambda/handler.py"):
        assert needed in names, needed
    for name in names:
        parts = name.split("/")
        assert not {"tests", "bench", ".ci", ".github"} & set(parts), name
        assert not parts[-1].startswith("test_"), name
    assert "requirements-dev.txt" not in names and "Makefile" not in names
    assert "requirements-build.txt" not in names  # the lock's input, not what the instance installs
    for info in archive.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = (info.external_attr >> 16) & 0o777
        assert mode in (0o644, 0o755), info.filename
        if info.filename.endswith(".sh"):
            assert mode == 0o755, info.filename
    assert bundle.key == f"bundles/{bundle.sha256}.zip"


def test_bundle_is_reproducible(tmp_path):
    first = build_bundle()
    # touching a file (new mtime) changes nothing; the bytes and the hash are the same
    os.utime(ROOT / "manage.py")
    second = build_bundle()
    assert first.data == second.data and first.sha256 == second.sha256


DEVELOPMENT_FILES = {"conftest.py", "testing.py", "emulator.py", "serial_moto.py", "live.py"}


def test_bundle_ships_no_development_module():
    names = build_bundle().files
    for name in names:
        parts = name.split("/")
        assert not {"devkit", "tests", "bench"} & set(parts[:-1]), name
        assert parts[-1] not in DEVELOPMENT_FILES, name
    assert not {"requirements-bench.txt", "pyproject.toml", "deploy/actionlint.cjs"} & set(names)


def test_the_app_loads_from_the_bundle_without_devkit(tmp_path):
    """The bundle as an instance unpacks it: devkit is not importable there, INSTALLED_APPS lacks
    it and ``manage.py check`` passes."""
    import subprocess
    import sys

    zipfile.ZipFile(io.BytesIO(build_bundle().data)).extractall(tmp_path)
    assert not (tmp_path / "devkit").exists()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE") and not k.startswith(("AWS_", "CLOUDSITE_"))}
    env.update(DJANGO_SECRET_KEY="bundle-test", CLOUDSITE_VAR_DIR=str(tmp_path / "var"))
    probe = ("import importlib.util, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'cloudsite.settings'; "
             "import django; django.setup(); from django.conf import settings; "
             "print(importlib.util.find_spec('devkit'), [a for a in settings.INSTALLED_APPS if 'devkit' in a])")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["None", "[]"], done.stdout + done.stderr
    check = subprocess.run([sys.executable, "manage.py", "check"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # and in the checkout the kit is an app (manage.py local_cloud)
    here = subprocess.run([sys.executable, "manage.py", "help", "local_cloud"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert here.returncode == 0 and "local_cloud" in here.stdout, here.stdout + here.stderr
