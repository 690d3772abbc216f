"""A minimal promptd webhook receiver: Python standard library only.

    PROMPTD_WEBHOOK_SECRET=whsec_... PORT=9000 python3 receiver.py

Listens on 127.0.0.1:$PORT (default 9000), accepts POST /hook, verifies the Standard
Webhooks signature (401 if it fails), skips events it has already processed (200) and
answers 204 once an event is processed.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("PROMPTD_WEBHOOK_SECRET", "")
PORT = int(os.environ.get("PORT", "9000"))
TOLERANCE = 5 * 60  # seconds a signature's timestamp may be off: replay protection
MAX_BODY = 4 << 20

if not SECRET.startswith("whsec_"):
    sys.exit("set PROMPTD_WEBHOOK_SECRET to the webhook's secret (whsec_...)")
# Standard Webhooks key: the base64-decoded part after "whsec_".
KEY = base64.b64decode(SECRET[len("whsec_"):])

# Event ids already processed. In production keep them in a database or Redis, so that
# they survive restarts and are shared by every replica.
processed_ids = set()


def verify_standard_webhooks(headers, body: bytes) -> bool:
    """webhook-signature lists "v1,<base64 HMAC-SHA256>" entries (two during a secret
    rotation); the message is "<webhook-id>.<webhook-timestamp>.<raw body>"."""
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (msg_id and ts.isdigit() and signatures):
        return False
    if abs(time.time() - int(ts)) > TOLERANCE:
        return False
    mac = hmac.new(KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256)
    expected = base64.b64encode(mac.digest())
    for entry in signatures.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig.encode(), expected):
            return True
    return False


def verify_promptd_signature(raw_body: bytes, header: str, secret: str) -> bool:
    """Not used here: the x-promptd-signature check ("t=<unix>,s=<hex>", keyed with the
    secret string itself) for receivers ported from the first seed's product."""
    try:
        t, s = (part.split("=", 1)[1] for part in header.split(",", 1))
        received = bytes.fromhex(s)
    except (ValueError, IndexError):
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(received, expected) and t.isdigit() and abs(time.time() - int(t)) <= TOLERANCE


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/hook":
            return self.reply(404, "not found")
        length = int(self.headers.get("content-length") or 0)
        if not 0 <= length <= MAX_BODY:
            return self.reply(413, "body too large")
        body = self.rfile.read(length)  # the raw bytes: verify before parsing
        if not verify_standard_webhooks(self.headers, body):
            return self.reply(401, "invalid signature")
        try:
            event = json.loads(body)
        except ValueError:
            return self.reply(400, "invalid JSON")

        event_id = event["id"]
        if event_id in processed_ids:
            print(f"duplicate {event_id}", flush=True)
            return self.reply(200, "already processed")
        prompt = event.get("prompt") or {}
        # Your logic here: notify a channel, trigger a deploy, sync a catalogue...
        print(f"processed {event_id} {event['type']}.{event['action']} "
              f"{prompt.get('name', '-')} v{prompt.get('version', '-')}", flush=True)
        processed_ids.add(event_id)  # only once processing succeeded
        self.send_response(204)
        self.end_headers()

    def reply(self, code, message):
        data = (message + "\n").encode()
        self.send_response(code)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # keep stdout for the event lines
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


if __name__ == "__main__":
    # One request at a time, so the check-then-add on processed_ids cannot race.
    server = HTTPServer(("127.0.0.1", PORT), Receiver)
    print(f"listening on http://127.0.0.1:{PORT}/hook", file=sys.stderr, flush=True)
    server.serve_forever()
