"""Errors raised while loading datasets."""
from typing import Any, Optional


class DataError(ValueError):
    """A bad row in a source file, located by file, 1-based line and field."""

    def __init__(self, file: str, line: int, field: Optional[str], expected: str, got: Any):
        self.file = file
        self.line = line
        self.field = field
        self.expected = expected
        self.got = got
        where = f"{file}, line {line}" + (f", field '{field}'" if field is not None else "")
        super().__init__(f"{where}: expected {expected}, got {got!r}")


class ContractError(ValueError):
    """A Dataset that breaks the data contract."""


class DownloadError(OSError):
    """A dataset archive that could not be downloaded or verified."""
