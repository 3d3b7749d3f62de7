"""Crash-resume over ``provision_all``: every layer in one graph, a crash after every k-th
mutating call of the whole run, then the same command again must end in the clean stack."""
from devkit.testing import check_crash_resume, emulator_with_zone
from provisioning import layers
from provisioning.config import load_file


def _all_layers_config(stacks_dir):
    from provisioning.tests.pipeline_fixtures import emulated_stack

    return load_file(emulated_stack(stacks_dir / "dev.toml"))


def test_every_k_of_provision_all_resumes_into_the_clean_stack(stacks_dir, fake_builder,
                                                                 moto_ebs_default_key):
    config = _all_layers_config(stacks_dir)
    report = check_crash_resume(config, tuple(layers.layer_names()), mock=emulator_with_zone(config.hosted_zone))
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    assert len(clean.status) == len(layers.resources(config))
    assert clean.mutating_calls >= 150  # network, data, image, compute and pipeline together
    assert report.ks == list(range(1, clean.mutating_calls + 1))  # every k
    assert report.problems == {}, report.describe()
