"""Renders the text files the operator ships in the job's ConfigMap."""

from functools import lru_cache
from typing import Any

import jinja2


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mpifn", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        # The templates ship inside the package and never change under a running function.
        auto_reload=False,
    )


def render(template: str, **values: Any) -> str:
    try:
        return _rendered(template, tuple(sorted(values.items())))
    except TypeError:  # an unhashable value: render it uncached
        return _environment().get_template(template).render(**values)


@lru_cache(maxsize=512)
def _rendered(template: str, values: tuple[tuple[str, Any], ...]) -> str:
    """Rendering is pure, and a resync renders the same files with the same values."""
    return _environment().get_template(template).render(**dict(values))
