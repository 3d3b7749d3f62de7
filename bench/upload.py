"""Benchmark (not a test): picture uploads through the API versus a direct boto3 upload.

Starts a ``moto_server`` and the app under gunicorn (one sync worker) on loopback, creates a
verified user, a bucket and a KMS key, then for 64 MiB and 256 MiB pictures (a real PNG header
followed by padding) prints:

* the worker's peak RSS growth during the upload (VmHWM from /proc, reset before each upload
  through /proc/<pid>/clear_refs, minus VmRSS just before);
* the API upload's seconds (client sending the multipart body until the 201);
* the seconds of a direct ``boto3`` ``upload_fileobj`` of the same file to the same endpoint, and
  the ratio of API throughput to direct throughput.

Usage: ``python bench/upload.py [--sizes 64,256]``. Nothing touches real AWS: fake credentials,
loopback endpoint. Every process it starts is stopped on exit.
"""
import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devkit import live  # noqa: E402

MiB = 1024 * 1024
USERNAME, PASSWORD = "bench@example.com", "bench-password-that-is-long"
BUCKET = "cloudsite-bench-media"


def png_header() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_picture(path: Path, size: int) -> None:
    header = png_header()
    block = b"\0" * MiB
    with open(path, "wb") as out:
        out.write(header)
        left = size - len(header)
        while left > 0:
            out.write(block[:min(left, MiB)])
            left -= MiB


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256", help="picture sizes in MiB, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) * MiB for s in args.sizes.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="cloudsite-bench-upload-"))
    try:
        with live.moto_server(workdir / "moto.log") as endpoint:
            s3, kms = live.s3_and_kms(endpoint)
            s3.create_bucket(Bucket=BUCKET)
            kms_key = kms.create_key()["KeyMetadata"]["KeyId"]
            env = live.app_environment(
                workdir, endpoint, BUCKET, kms_key,
                CLOUDSITE_UPLOAD_MAX_BYTES=str(max(sizes) + MiB),
                CLOUDSITE_AUTH_CACHE_TTL="300", LOG_LEVEL="WARNING",
            )
            live.manage(env, "migrate", "--noinput", "-v0")
            live.create_verified_user(env, USERNAME, PASSWORD)
            auth = live.basic(USERNAME, PASSWORD)
            with live.gunicorn(env, workdir / "gunicorn.log") as (port, master):
                (worker,) = live.worker_pids(master.pid)
                warm = png_header()  # loads Pillow, boto3 and the S3 client in the worker
                status, _, body = live.post_multipart(port, "/v1/user/self/pic", auth, "warm.png",
                                                      warm, len(warm))
                assert status == 201, body
                print(f"moto_server {endpoint}, gunicorn 1 sync worker (pid {worker}) on "
                      f"127.0.0.1:{port}, upload limit {max(sizes) + MiB} bytes")
                print(f"{'size':>8} {'RSS before':>11} {'peak growth':>12} {'API s':>7} "
                      f"{'direct s':>9} {'API MB/s':>9} {'direct MB/s':>12} {'ratio':>6}")
                for size in sizes:
                    picture = workdir / f"picture-{size // MiB}.png"
                    make_picture(picture, size)
                    direct_s = direct_upload(s3, picture, kms_key)
                    if not reset_peak(worker):
                        print("warning: cannot reset VmHWM; growth is measured from the warm-up peak")
                    before = status_kib(worker, "VmRSS")
                    started = time.perf_counter()
                    with open(picture, "rb") as source:
                        status, _, body = live.post_multipart(
                            port, "/v1/user/self/pic", auth, picture.name, source, size)
                    api_s = time.perf_counter() - started
                    assert status == 201, body
                    peak = status_kib(worker, "VmHWM")
                    growth_mib = (peak - before) / 1024
                    api_rate, direct_rate = size / MiB / api_s, size / MiB / direct_s
                    print(f"{size // MiB:>5} MiB {before / 1024:>8.1f} MiB {growth_mib:>8.1f} MiB "
                          f"{api_s:>7.2f} {direct_s:>9.2f} {api_rate:>9.1f} {direct_rate:>12.1f} "
                          f"{api_rate / direct_rate:>6.2f}")
                    picture.unlink()
                live.request(port, "DELETE", "/v1/user/self/pic", auth)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def direct_upload(s3, picture: Path, kms_key: str) -> float:
    """A plain boto3 ``upload_fileobj`` (default transfer settings) of the same file, timed."""
    key = f"direct/{picture.name}"
    started = time.perf_counter()
    with open(picture, "rb") as source:
        s3.upload_fileobj(source, BUCKET, key, ExtraArgs={
            "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key, "ContentType": "image/png"})
    elapsed = time.perf_counter() - started
    s3.delete_object(Bucket=BUCKET, Key=key)
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
