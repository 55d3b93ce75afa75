"""`python -m mpifn.serve`: the local gateway on 127.0.0.1:8080 (functions-framework + gunicorn)."""

import argparse
from pathlib import Path

from functions_framework import create_app
from functions_framework._http import create_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve sync, finalize and probe under /function/<name>.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    app = create_app(target="gateway", source=str(Path(__file__).with_name("gateway.py")))
    print(
        f"mpifn: serving /function/sync (and /function/sync/customize), /function/finalize, /function/probe "
        f"on http://{args.host}:{args.port}",
        flush=True,
    )
    create_server(app, debug=False).run(args.host, args.port)


if __name__ == "__main__":
    main()
