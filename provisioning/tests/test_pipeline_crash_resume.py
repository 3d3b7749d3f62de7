"""Crash-resume for the pipeline layer: for every k, a run that dies after its k-th mutating call,
then a second run, must end in exactly the stack a clean run makes."""
from devkit.testing import check_crash_resume, emulator_with_zone
from provisioning.config import load_file
from provisioning.tests.pipeline_fixtures import PREREQUISITE_LAYERS, emulated_stack


def test_every_k_of_the_pipeline_layer_resumes_into_the_clean_stack(stacks_dir, fake_builder,
                                                                    moto_ebs_default_key):
    config = load_file(emulated_stack(stacks_dir / "dev.toml"))
    report = check_crash_resume(config, "pipeline", prerequisites=PREREQUISITE_LAYERS,
                                mock=emulator_with_zone(config.hosted_zone))
    clean = report.clean
    assert set(clean.status.values()) == {"ok"} and clean.rerun_mutating_calls == 0
    # the verification Lambda (and the data layer's db-admin function, a prerequisite); the Celery
    # queue, its dead-letter queue, the Lambda's failure destination
    assert clean.inventory["pipeline.functions"] == 2 and clean.inventory["pipeline.queues"] == 3
    assert clean.mutating_calls >= 30
    assert report.ks == list(range(1, clean.mutating_calls + 1))  # every k
    assert report.problems == {}, report.describe()
