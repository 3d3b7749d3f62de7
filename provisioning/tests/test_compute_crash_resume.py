"""Crash-resume for the compute layer: for every k, a run that dies after its k-th mutating call,
then a second run, must end in exactly the stack a clean run makes."""
from devkit.testing import check_crash_resume, emulator_with_zone


def test_compute_every_k_resumes_into_the_clean_stack(config, fake_builder):
    report = check_crash_resume(config, "compute", prerequisites=("network", "data", "image"),
                                mock=emulator_with_zone(config.hosted_zone))
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert clean.mutating_calls >= 30
    assert report.ks == list(range(1, clean.mutating_calls + 1))
    assert report.problems == {}, report.describe()
