import pytest

from devkit.testing import write_stack
from provisioning.config import AUTO, DEFAULT_STACKS_DIR, ConfigError, UnknownStack, load_file, load_stack


def test_the_repository_stacks_load():
    dev, prod = load_stack("dev"), load_stack("prod")
    assert (dev.name, dev.network.availability_zones, dev.profile) == ("dev", AUTO, "cloudsite-dev")
    assert prod.role_arn.startswith("arn:aws:iam::") and len(prod.network.availability_zones) == 3
    assert prod.compute.min_size <= prod.compute.max_size
    assert dev.path == DEFAULT_STACKS_DIR / "dev.toml"


def _with(tmp_path, text):
    path = tmp_path / "dev.toml"
    path.write_text(text)
    return path


BASE = '[stack]\nname = "dev"\ndomain = "dev.example.com"\n[network]\nvpc_cidr = "10.20.0.0/16"\n'


@pytest.mark.parametrize("text, expected", [
    (BASE.replace('"10.20.0.0/16"', '"10.20.0.0/8"'), '[network] vpc_cidr: expected an IPv4 CIDR between /16 and /24'),
    (BASE.replace('"10.20.0.0/16"', '"8.8.0.0/16"'), "in a private range"),
    (BASE + 'availability_zones = ["eu-west-1a", "eu-west-1a", "eu-west-1b"]\n',
     "[network] availability_zones: expected \"auto\""),
    (BASE + "vpc_cdir = 1\n", "[network] unknown key 'vpc_cdir' (expected one of: vpc_cidr,"),
    (BASE.replace('domain = "dev.example.com"\n', ""), "[stack] domain: missing (required)"),
    (BASE.replace('name = "dev"', 'name = "prod"'), "[stack] name: expected 'dev' (the file's name)"),
    (BASE + "[compute]\nmin_size = 3\nmax_size = 2\n", "[compute] min_size: expected at most max_size (2), got 3"),
    (BASE + "[compute]\nmin_size = true\n", "[compute] min_size: expected an integer from 0 to 100, got True"),
    (BASE + "[nettwork]\n", "unknown section [nettwork]"),
    (BASE.replace("[stack]", '[stack]\nrole_arn = "admin"'), '[stack] role_arn: expected a role ARN such as'),
    ("[stack\n", "not valid TOML"),
])
def test_errors_name_file_key_and_expected_form(tmp_path, text, expected):
    path = _with(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "\n" not in message


def test_the_image_base_is_debian_13_by_default_and_in_every_stack_file(tmp_path):
    from provisioning.naming import BASE_IMAGES

    assert load_file(_with(tmp_path, BASE)).image.base == "debian-13"
    for name in ("dev", "prod", "local"):
        assert load_stack(name).image.base == "debian-13", name
    assert BASE_IMAGES["debian-13"] == "/aws/service/debian/release/13/latest/amd64"
    for base in ("al2023", "ubuntu-24.04"):  # still choices
        assert load_file(_with(tmp_path, BASE + f'[image]\nbase = "{base}"\n')).image.base == base
    with pytest.raises(ConfigError, match=r"\[image\] base: .*debian-13"):
        load_file(_with(tmp_path, BASE + '[image]\nbase = "debian-12"\n'))


def test_unknown_stack_lists_the_known_ones(tmp_path):
    write_stack(tmp_path, "dev")
    with pytest.raises(UnknownStack, match=r"no stack 'qa': .*qa.toml does not exist \(stacks in .*: dev\)"):
        load_stack("qa", tmp_path)
    with pytest.raises(UnknownStack):
        load_stack("../etc/passwd", tmp_path)


def test_flags_override_region_profile_and_role(tmp_path):
    config = load_file(write_stack(tmp_path, "dev", zones='["us-east-1a", "us-east-1b", "us-east-1d"]'))
    assert config.network.availability_zones == ("us-east-1a", "us-east-1b", "us-east-1d")
    changed = config.with_overrides(region="eu-west-1", profile="other",
                                    role_arn="arn:aws:iam::123456789012:role/x")
    assert (changed.region, changed.profile, changed.role_arn) == ("eu-west-1", "other",
                                                                   "arn:aws:iam::123456789012:role/x")
    assert config.with_overrides(region="").region is None
    assert config.with_overrides().region == "us-east-1"
    with pytest.raises(ConfigError, match="role_arn: expected a role ARN"):
        config.with_overrides(role_arn="nope")
