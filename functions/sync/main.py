"""The sync function: the functions-framework entry point (target `sync`)."""

import functions_framework

from mpifn.endpoints import create_app

sync = functions_framework.http(create_app(functions=["sync"]).view("sync"))
