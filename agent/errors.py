"""Errors the CLI turns into a clear message and an exit code (0 ok, 1 check failed, 2 bad input)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a missing piece the user can fix; the message says what to do."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class MissingExtra(UserError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, package: str, what: str):
        super().__init__(f"{what} needs the '{extra}' extra ({package} is not installed): "
                         f"pip install 'viva[{extra}]'")
        self.extra = extra
        self.package = package
