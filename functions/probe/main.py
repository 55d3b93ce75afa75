"""The probe function: the functions-framework entry point (target `probe`)."""

import functions_framework

from mpifn.endpoints import create_app

probe = functions_framework.http(create_app(functions=["probe"]).view("probe"))
