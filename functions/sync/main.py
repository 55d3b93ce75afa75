"""The sync function: the functions-framework entry point (target `sync`)."""

import functions_framework

from mpifn.endpoints import entry_point

sync = functions_framework.http(entry_point("sync"))
