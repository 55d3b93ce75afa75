"""The finalize function: the functions-framework entry point (target `finalize`)."""

import functions_framework

from mpifn.endpoints import entry_point

finalize = functions_framework.http(entry_point("finalize"))
