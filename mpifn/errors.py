"""The ways a request can be refused, each with its HTTP status."""


class RequestError(ValueError):
    """The request itself cannot be understood (HTTP 400); nothing may change."""


class InvalidSpec(ValueError):
    """The MPIJob was understood but its spec is wrong; each problem names its field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Forbidden(ValueError):
    """Understood, but not allowed (HTTP 403): e.g. a probe request without a valid signature."""


class Misconfigured(RuntimeError):
    """The function's own setup is wrong (HTTP 500); the message names the setting, never a secret."""
