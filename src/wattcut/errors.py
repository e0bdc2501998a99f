"""One exception root for wattcut, split by who can fix the problem.

``UserInputError`` means the user can fix it (a config, a path, a flag); the CLI prints
its message as one paragraph and exits with code 2. Anything else that escapes is a bug
in wattcut and exits with code 1.
"""

from __future__ import annotations


class WattcutError(Exception):
    """Root of every error wattcut raises on purpose."""


class UserInputError(WattcutError):
    """Bad input the user can fix. The message names the problem and the fix.

    Args:
        problem: What is wrong, naming the offending value.
        fix: What to do about it (a flag, a setting, a command).
    """

    exit_code = 2

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return a ' Did you mean "x"?' hint for a misspelt name, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""
