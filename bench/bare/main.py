"""The baselines: a bare functions-framework function answering a constant JSON body of
BENCH_BARE_BYTES bytes (the size of the sync response it is compared with).

With BENCH_BARE_FLOOR=1 it also pays the JSON floor of sync: it decodes the request
and encodes a response of the same size, as any JSON function must."""

import json
import os

import functions_framework

_SIZE = int(os.environ.get("BENCH_BARE_BYTES", "64"))
_FLOOR = os.environ.get("BENCH_BARE_FLOOR") == "1"
_RESPONSE = {"pad": "x" * max(0, _SIZE - 11)}
BODY = json.dumps(_RESPONSE).encode()


@functions_framework.http
def bare(request):
    data = request.get_data()
    if _FLOOR:
        json.loads(data)
        body = json.dumps(_RESPONSE, sort_keys=True).encode()
        return body, 200, {"Content-Type": "application/json"}
    return BODY, 200, {"Content-Type": "application/json"}
