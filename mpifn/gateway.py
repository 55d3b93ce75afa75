"""All three functions in one process under the OpenFaaS gateway layout
/function/<name>, for `make run`, curl and the end-to-end tests: the functions-framework
source mpifn.serve loads."""

import functions_framework

from mpifn.endpoints import create_app

gateway = functions_framework.http(create_app().gateway)
