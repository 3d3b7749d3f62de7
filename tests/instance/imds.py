"""An IMDSv2 stand-in on loopback: a session token first (PUT), then the metadata the scripts read.

The bake and the hooks find it through ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, the variable botocore
and the AWS CLI read too. Like an instance launched with ``HttpTokens=required`` it answers 401 to
a metadata request without a valid token.
"""
from __future__ import annotations

import http.server
import secrets
import threading


class Imds:
    def __init__(self, region: str, instance_id: str = "i-0instancetest0000"):
        self.region, self.instance_id = region, instance_id
        self.tokens: set[str] = set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code, body=b""):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._answer(400)
                token = secrets.token_urlsafe(24)
                outer.tokens.add(token)
                self._answer(200, token.encode())

            def do_GET(self):
                if self.headers.get("X-aws-ec2-metadata-token") not in outer.tokens:
                    return self._answer(401)
                values = {"/latest/meta-data/instance-id": outer.instance_id,
                          "/latest/meta-data/placement/region": outer.region}
                if self.path not in values:
                    return self._answer(404)
                self._answer(200, values[self.path].encode())

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
