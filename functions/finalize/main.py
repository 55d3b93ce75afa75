"""The finalize function: the functions-framework entry point (target `finalize`)."""

import functions_framework

from mpifn.endpoints import create_app

finalize = functions_framework.http(create_app(functions=["finalize"]).view("finalize"))
