"""Hypothesis profiles for the property tests.

- "ci" (default): 2,000 examples per property, no per-example deadline.
- "fuzz": `make fuzz`; MPIFN_FUZZ_EXAMPLES examples per property (default 50,000).
- "dev": 100 examples, for a quick local run.

Chosen with HYPOTHESIS_PROFILE=<name>; setting MPIFN_FUZZ_EXAMPLES alone selects "fuzz".
The profiles are applied per test through `for_properties(share)`, never globally, so
other test modules keep Hypothesis' own defaults.
"""

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 2000

_COMMON = {
    "deadline": None,
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.data_too_large),
    "print_blob": True,
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, **_COMMON)
settings.register_profile("fuzz", max_examples=int(os.environ.get("MPIFN_FUZZ_EXAMPLES") or 50_000), **_COMMON)
settings.register_profile("dev", max_examples=100, **_COMMON)

PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or ("fuzz" if os.environ.get("MPIFN_FUZZ_EXAMPLES") else "ci")


def for_properties(share: float = 1.0) -> settings:
    """The chosen profile; `share` < 1 for properties that cross a real socket per example."""
    chosen = settings.get_profile(PROFILE)
    return settings(chosen, max_examples=max(1, int(chosen.max_examples * share)))
