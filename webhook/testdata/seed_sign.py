"""Signs like the first seed: the expected signature its verify_abv_signature computes.

Reads JSON lines {"body": str, "t": str, "secret": str} on stdin and prints, for each, the
x-promptd-signature value "t=<t>,s=<hex>", computed with the seed's own expression, so that
Go tests can check the Go verifier against an independent signer.
"""
import hashlib
import hmac
import json
import sys

if __name__ == "__main__":
    for line in sys.stdin:
        case = json.loads(line)
        timestamp, raw_body, secret = case["t"], case["body"], case["secret"]
        # Verbatim from the seed's verify_abv_signature:
        message = f"{timestamp}.{raw_body}".encode("utf-8")
        expected_sig_hex = hmac.new(
            secret.encode("utf-8"), message, hashlib.sha256
        ).hexdigest()
        print(f"t={timestamp},s={expected_sig_hex}", flush=True)
