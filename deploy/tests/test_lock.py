"""The locks the instances install (scripts/after_install.sh, pip's hash-checking mode): every
package pinned with its hashes, and in step with the pins they are made from (``make lock``)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# (the file that is locked, its lock)
LOCKS = [("requirements.txt", "requirements.lock"), ("requirements-build.txt", "requirements-build.lock")]
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)"
                   r"(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")
HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}(?: \\)?$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_entries(text: str) -> dict[str, tuple[str, int]]:
    """``{name: (version, number of hashes)}``; fails on any line pip would not take in
    hash-checking mode (an unpinned requirement, an option, a URL)."""
    entries, current = {}, None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if HASH.match(line):
            assert current, f"line {number}: a hash before any requirement"
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
            continue
        entry = ENTRY.match(line)
        assert entry, f"line {number} is not 'name==version [; marker] \\': {line!r}"
        current = normalize(entry["name"])
        assert current not in entries, f"{current} is locked twice"
        entries[current] = (entry["version"], 0)
    return entries


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            found[normalize(name.split("[")[0])] = version.strip()
    return found


@pytest.mark.parametrize(("source", "lock"), LOCKS)
def test_every_locked_package_is_pinned_with_its_hashes(source, lock):
    entries = lock_entries((ROOT / lock).read_text())
    assert entries
    unhashed = [name for name, (_, hashes) in entries.items() if hashes == 0]
    assert unhashed == [], f"{lock}: no --hash for {unhashed}"


@pytest.mark.parametrize(("source", "lock"), LOCKS)
def test_the_lock_is_in_step_with_its_pins(source, lock):
    """A pin changed in requirements.txt without ``make lock`` would not reach the instances."""
    entries = lock_entries((ROOT / lock).read_text())
    for name, version in pins((ROOT / source).read_text()).items():
        assert name in entries, f"{source} pins {name}, {lock} lacks it: run make lock"
        assert entries[name][0] == version, (f"{source} pins {name}=={version}, {lock} has "
                                             f"{entries[name][0]}: run make lock")


def test_the_lock_carries_the_upgraded_pillow_and_drf():
    entries = lock_entries((ROOT / "requirements.lock").read_text())
    assert entries["pillow"][0] == "13.0.0" and entries["djangorestframework"][0] == "3.18.3"
    assert "setuptools" in lock_entries((ROOT / "requirements-build.lock").read_text())


def test_the_parser_rejects_what_hash_checking_mode_refuses():
    with pytest.raises(AssertionError, match="is not 'name==version"):
        lock_entries("django>=5.2 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    assert lock_entries("six==1.17.0 \\\n    --hash=sha256:" + "a" * 64 + "\n") == {"six": ("1.17.0", 1)}
    assert lock_entries("six==1.17.0\n")["six"] == ("1.17.0", 0)  # then flagged as unhashed
