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
    for needed in ("appspec.yml", "requirements.txt", "manage.py", "scripts/after_install.sh",
                   "scripts/systemd/cloudsite-app.service", "cloudsite/settings.py", "deploy/render_env.py",
                   "accounts/verification/emails.py", "deploy/lambda/handler.py"):
        assert needed in names, needed
    for name in names:
        parts = name.split("/")
        assert not {"tests", "bench", ".ci", ".github"} & set(parts), name
        assert not parts[-1].startswith("test_"), name
    assert "requirements-dev.txt" not in names and "Makefile" not in names
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
