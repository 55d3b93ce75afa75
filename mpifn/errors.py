"""The two ways a hook request can be wrong."""


class RequestError(ValueError):
    """The request itself cannot be understood (HTTP 400); nothing may change."""


class InvalidSpec(ValueError):
    """The MPIJob was understood but its spec is wrong; each problem names its field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
