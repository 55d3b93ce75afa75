"""The finalize function: the functions-framework entry point (target `finalize`)."""

import os

import functions_framework

from mpifn.endpoints import create_app, server_defaults

server_defaults("finalize", os.environ)

finalize = functions_framework.http(create_app(functions=["finalize"]).view("finalize"))
