"""The probe function: the functions-framework entry point (target `probe`)."""

import functions_framework

from mpifn.endpoints import entry_point

probe = functions_framework.http(entry_point("probe"))
