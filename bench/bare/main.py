"""The baseline: a bare functions-framework function answering a constant JSON body of
BENCH_BARE_BYTES bytes (the size of the sync response it is compared with)."""

import json
import os

import functions_framework

_SIZE = int(os.environ.get("BENCH_BARE_BYTES", "64"))
BODY = json.dumps({"pad": "x" * max(0, _SIZE - 11)}).encode()


@functions_framework.http
def bare(request):
    request.get_data()
    return BODY, 200, {"Content-Type": "application/json"}
