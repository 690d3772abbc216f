"""Serves the first seed's Python verification (000_abv/verify_abv_signature.py, verbatim).

python3 harness/abv_receiver.py: POST /api/webhooks/abv-prompts is handled as the seed's
"Usage in FastAPI" does (FastAPI is not in the standard library, so http.server stands in):
the raw body, decoded, and the x-abv-signature header go to verify_abv_signature with the
secret in WEBHOOK_SECRET; 401 when it fails, else the body is parsed and {"status":
"received"} answered. Listens on 127.0.0.1 (PORT, or any free port), prints "listening
<url>", and lists every answer at GET /__seed/requests as {status, body}.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "000_abv"))
from verify_abv_signature import verify_abv_signature  # noqa: E402

WEBHOOK_SECRET = os.environ["WEBHOOK_SECRET"]
answered = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, value, raw=b""):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path != "/__seed/requests":
            with lock:
                answered.append({"status": status, "body": raw.decode("utf-8", "replace")})

    def do_GET(self):
        if self.path != "/__seed/requests":
            return self.answer(404, {"detail": "Not Found"})
        with lock:
            self.answer(200, list(answered))

    def do_POST(self):
        raw_body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/api/webhooks/abv-prompts":
            return self.answer(404, {"detail": "Not Found"}, raw_body)
        x_abv_signature = self.headers.get("x-abv-signature")
        if x_abv_signature is None:
            return self.answer(422, {"detail": "x-abv-signature header missing"}, raw_body)
        if not verify_abv_signature(raw_body.decode(), x_abv_signature, WEBHOOK_SECRET):
            return self.answer(401, {"detail": "Invalid signature"}, raw_body)
        json.loads(raw_body)
        return self.answer(200, {"status": "received"}, raw_body)


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), Handler)
print("listening http://127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
