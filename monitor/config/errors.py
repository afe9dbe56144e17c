"""Config errors, located: importable without loading the whole model (the CLI stays quick)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Problem:
    line: int  # 1-based; 0 when the whole file is concerned
    column: int
    message: str
    file: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.line == 0:  # about the whole file (not found, unreadable): no position to give
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(Exception):
    """The config is unusable; ``problems`` lists every reason, located."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
