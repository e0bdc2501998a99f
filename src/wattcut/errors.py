"""One exception root for wattcut, split by who can fix the problem.

``UserInputError`` means the user can fix it (a config, a path, a flag); the CLI prints
its message as one paragraph and exits with code 2. ``VariantsFailedError`` means a study
finished without some of its variants (recorded with their reasons): exit code 3. Anything
else that escapes is a bug in wattcut and exits with code 1.
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


class VariantsFailedError(WattcutError):
    """A study finished, but some variant trials failed (exit code 3).

    The failures are recorded in the store and the report; the baseline and every other
    variant are kept. A rerun of the same command runs only the failed trials.
    """

    exit_code = 3

    def __init__(self, failures: list[dict], out: str) -> None:
        self.failures = failures
        listed = "; ".join(
            f"{f['variant']} (trial {f['trial_index'] + 1}, {f['stage']}): {f['reason']}" for f in failures
        )
        self.problem = f"{len(failures)} variant trial(s) failed: {listed}."
        self.fix = (
            f"The baseline and every other variant are stored and reported in {out}. Fix the cause and run the same "
            "command again: only the failed trials run."
        )
        super().__init__(f"{self.problem} {self.fix}")


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return a ' Did you mean "x"?' hint for a misspelt name, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""
