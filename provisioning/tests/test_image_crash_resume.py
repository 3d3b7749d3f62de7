"""Crash-resume for the image layer: for every k, a run that dies after its k-th mutating call,
then a second run, must end in exactly the stack a clean run makes."""
from devkit.testing import check_crash_resume


def test_image_every_k_resumes_into_the_clean_stack(config, fake_builder):
    report = check_crash_resume(config, "image", prerequisites=("network", "data"))
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert clean.inventory["image.images"] == 1 and clean.inventory["image.live_instances"] == 0
    assert report.ks == list(range(1, clean.mutating_calls + 1))
    assert report.problems == {}, report.describe()
