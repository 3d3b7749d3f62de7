"""The image bake (deploy/bootstrap.py): what each base installs, the interpreter it records, the
instance test's switch. Parts of the rendered script run here for real, under bash, with IMDSv2
served on loopback (through AWS_EC2_METADATA_SERVICE_ENDPOINT) and the AWS CLI, wget and the
package tools stubbed; /tmp, /etc/cloudsite and the log move into the test's directory. The whole
bake runs in the lead's Debian 13 chroot test."""
import http.server
import os
import re
import subprocess
import sys
import threading

import pytest

from deploy import bootstrap
from deploy.bootstrap import BASES, SKIP_AWS_DOWNLOADS, bake_script, boot_script

# what every base must bring for `pip install -r requirements.txt` (mysqlclient, pycurl) and the agents
NEEDED = {
    "debian-13": ["python3", "python3-venv", "python3-pip", "python3-dev", "build-essential", "pkg-config",
                  "default-libmysqlclient-dev", "libcurl4-openssl-dev", "libssl-dev", "curl", "wget",
                  "ca-certificates", "ruby", "awscli"],
    "ubuntu-24.04": ["python3", "python3-venv", "python3-pip", "python3-dev", "build-essential", "pkg-config",
                     "default-libmysqlclient-dev", "libcurl4-openssl-dev", "libssl-dev", "curl", "wget",
                     "ca-certificates", "ruby"],
    "al2023": ["python3.11", "python3.11-pip", "python3.11-devel", "gcc", "pkgconf-pkg-config",
               "mariadb105-devel", "libcurl-devel", "openssl-devel", "curl", "wget", "ca-certificates", "ruby"],
}
INTERPRETER = {"debian-13": "PYTHON=$(command -v python3)", "ubuntu-24.04": "PYTHON=$(command -v python3)",
               "al2023": "PYTHON=$(command -v python3.11)"}
SKIP_LINES = [f"bake: skipped the CodeDeploy agent ({SKIP_AWS_DOWNLOADS})",
              f"bake: skipped the CloudWatch agent ({SKIP_AWS_DOWNLOADS})",
              f"bake: skipped the RDS CA bundle ({SKIP_AWS_DOWNLOADS})"]


def installed_words(script: str) -> set[str]:
    """The words of the package step's install commands (continuation lines joined)."""
    step = script[script.index("# 0. "):script.index("# 2. the interpreter")].replace("\\\n", " ")
    return {word for line in step.splitlines() if " install " in line for word in line.split()}


@pytest.mark.parametrize("base", BASES)
def test_each_base_installs_the_build_dependencies_and_records_its_interpreter(base):
    script = bake_script("dev", "us-east-1", base)
    assert set(NEEDED[base]) <= installed_words(script), set(NEEDED[base]) - installed_words(script)
    assert INTERPRETER[base] in script.splitlines()
    lines = script.splitlines()
    assert 'printf \'%s\\n\' "$PYTHON" > /etc/cloudsite/python.new' in lines
    assert "chmod 0644 /etc/cloudsite/python.new" in lines
    assert "mv /etc/cloudsite/python.new /etc/cloudsite/python" in lines
    assert "snap install" not in script or base == "ubuntu-24.04"
    assert "useradd" in script and "|| true" not in script


def test_al2023_records_python311_not_its_python39():
    script = bake_script("dev", "us-east-1", "al2023")
    assert "PYTHON=$(command -v python3.11)" in script and "command -v python3)" not in script


def test_the_cloudwatch_agent_comes_from_the_bases_own_source():
    assert "/debian/amd64/latest/amazon-cloudwatch-agent.deb" in bake_script("dev", "us-east-1", "debian-13")
    assert "/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb" in bake_script("dev", "us-east-1", "ubuntu-24.04")
    assert "dnf -y install amazon-cloudwatch-agent" in bake_script("dev", "us-east-1", "al2023")


def test_an_unknown_base_is_refused():
    with pytest.raises(ValueError, match="unknown image base"):
        bake_script("dev", "us-east-1", "centos-7")


def test_user_data_never_sets_the_switch():
    """Only the instance test sets CLOUDSITE_BAKE_SKIP_AWS_DOWNLOADS: neither the builder's user data
    (every base) nor the launch template's assigns or exports it."""
    scripts = [bake_script("dev", "us-east-1", base) for base in BASES] + [
        boot_script(stack="dev", region="us-east-1", account="123456789012", partition="aws",
                    domain="dev.example.com")]
    for script in scripts:
        assert not re.search(rf"\b{SKIP_AWS_DOWNLOADS}=", script)
        assert not re.search(rf"(export|declare|env)\s[^\n]*{SKIP_AWS_DOWNLOADS}", script)


# --- parts of the rendered script, run -----------------------------------------------------------
@pytest.fixture
def imds():
    """IMDSv2 on loopback: a token for PUT /latest/api/token, the instance id only with it."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self._answer(200 if ok else 400, b"tok-123")

        def do_GET(self):
            ok = (self.path == "/latest/meta-data/instance-id"
                  and self.headers.get("X-aws-ec2-metadata-token") == "tok-123")
            self._answer(200 if ok else 401, b"i-0fake")

        def _answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
if [ "$(basename "$0")" = wget ]; then
  while [ $# -gt 0 ]; do [ "$1" = -O ] && out="$2"; shift; done
  printf '#!/bin/sh\\necho "ran $0 $*" >> "$STUB_LOG"\\n' > "$out"
  /bin/chmod +x "$out"
fi
"""


def run_part(tmp_path, imds, script: str, sections: list[tuple[str, str]], prelude: str = "", **env):
    """The script's header (IMDS, signal, trap, fail, skipped) and the given sections, run; never
    its package steps (they would install on this machine)."""
    header = (script[:script.index("# 0. ")]
              + script[script.index("# the metadata and the signal"):script.index("# 1. packages")])
    body = "".join(script[script.index(start):script.index(end)] for start, end in sections)
    moved = lambda part: (part.replace("/tmp/", f"{tmp_path}/tmp/").replace("/etc/cloudsite/", f"{tmp_path}/etc/")  # noqa: E731
                          .replace("/var/log/cloudsite-bake.log", str(tmp_path / "bake.log")))
    text = moved(header) + prelude + moved(body)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    (tmp_path / "etc").mkdir(exist_ok=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("aws", "wget", "dpkg", "systemctl", "usermod", "dnf", "chmod"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    (tmp_path / "part.sh").write_text(text)
    done = subprocess.run(["bash", str(tmp_path / "part.sh")], capture_output=True, text=True, timeout=120, env={
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_LOG": str(tmp_path / "stubs.log"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds, **env})
    stubs = (tmp_path / "stubs.log").read_text().splitlines() if (tmp_path / "stubs.log").exists() else []
    return done, stubs


AWS_STEPS = [("# 4. from AWS's own buckets", "# instances made from this image")]
INTERPRETER_STEP = [("# 2. the interpreter", "# 3. the service user")]


def test_the_switch_skips_exactly_the_three_aws_downloads(tmp_path, imds):
    script = bake_script("dev", "us-east-1", "debian-13")
    done, stubs = run_part(tmp_path, imds, script, AWS_STEPS, **{SKIP_AWS_DOWNLOADS: "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("bake: skipped")] == SKIP_LINES
    # nothing downloaded, installed or enabled; the agent's user (made as its package would) still
    # joins the log group
    assert stubs == ["usermod -a -G cloudsite-logs cwagent"]


def test_without_the_switch_the_three_downloads_run(tmp_path, imds):
    script = bake_script("dev", "eu-west-1", "debian-13")
    done, stubs = run_part(tmp_path, imds, script, AWS_STEPS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped" not in done.stdout
    urls = [call.split()[-1] for call in stubs if call.startswith("wget")]
    assert urls == ["https://aws-codedeploy-eu-west-1.s3.eu-west-1.amazonaws.com/latest/install",
                    "https://amazoncloudwatch-agent-eu-west-1.s3.eu-west-1.amazonaws.com/debian/amd64/latest/amazon-cloudwatch-agent.deb",
                    bootstrap.RDS_CA_BUNDLE_URL]
    assert f"ran {tmp_path}/tmp/codedeploy-install auto" in stubs
    assert "systemctl enable codedeploy-agent" in stubs and "usermod -a -G cloudsite-logs cwagent" in stubs


def test_a_too_old_interpreter_fails_the_bake_through_its_signal(tmp_path, imds):
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9.18\n[ \"$1\" = -c ] && case \"$2\" in *sys.exit*) exit 1;; esac\nexit 0\n")
    old.chmod(0o755)
    script = bake_script("dev", "us-east-1", "al2023")
    done, stubs = run_part(tmp_path, imds, script, INTERPRETER_STEP, prelude=f"PYTHON={old}\n")
    assert done.returncode == 1
    message = f"{old} is Python 3.9.18; the app needs 3.11 or newer"
    assert f"bake: {message}" in done.stdout  # the bake sends both streams to its log and stdout
    assert stubs == ["aws ssm put-parameter --region us-east-1 --name /cloudsite/dev/image/bake/i-0fake "
                     f"--type String --overwrite --value failed: {message}"]


def test_a_good_interpreter_passes_the_check(tmp_path, imds):
    script = bake_script("dev", "us-east-1", "debian-13")
    done, stubs = run_part(tmp_path, imds, script, INTERPRETER_STEP, prelude=f"PYTHON={sys.executable}\n")
    assert done.returncode == 0, done.stdout + done.stderr
    version = ".".join(map(str, sys.version_info[:3]))
    assert f"bake: interpreter {sys.executable} (Python {version})" in done.stdout
    assert stubs == [] and not (tmp_path / "tmp" / "cloudsite-venv-check").exists()
