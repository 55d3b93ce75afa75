"""The sync function: the functions-framework entry point (target `sync`)."""

import os

import functions_framework

from mpifn.endpoints import create_app, server_defaults

server_defaults("sync", os.environ)

sync = functions_framework.http(create_app(functions=["sync"]).view("sync"))
