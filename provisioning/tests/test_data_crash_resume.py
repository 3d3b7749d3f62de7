"""Crash-resume for the data layer: for every k, a run that dies after its k-th mutating call,
then a second run, must end in exactly the stack a clean run makes (network built first)."""
import pytest

from devkit.testing import check_crash_resume

pytestmark = pytest.mark.usefixtures("moto_ebs_default_key")


def test_every_k_resumes_into_the_clean_stack(config):
    report = check_crash_resume(config, "data", prerequisites=("network",))
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert clean.inventory["data.kms_keys"] == 3 and clean.inventory["data.db_instances"] == 2
    assert clean.inventory["data.ebs_default_key_is_the_stacks"] is True
    assert clean.mutating_calls >= 40
    assert report.ks == list(range(1, clean.mutating_calls + 1))  # every k
    assert report.problems == {}, report.describe()
