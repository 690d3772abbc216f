"""A driver for Go tests of the first seed's verification function.

The function itself is the seed's code, verbatim, kept once in
examples/seed-receivers/000_abv/verify_abv_signature.py (the seed receivers' run uses it
too). Reads JSON lines {"body": str, "header": str, "secret": str} on stdin and prints
"true" or "false" for each.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "examples", "seed-receivers", "000_abv"))
from verify_abv_signature import verify_abv_signature  # noqa: E402

if __name__ == "__main__":
    for line in sys.stdin:
        case = json.loads(line)
        print("true" if verify_abv_signature(case["body"], case["header"], case["secret"]) else "false", flush=True)
