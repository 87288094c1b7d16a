"""Errors that the command line reports as one line with exit status 2."""


class HeterocatError(ValueError):
    """Bad input or a refused request; the message is shown to the user as is."""


class TaskBusy(HeterocatError):
    """A task that another process is running now (it holds the task folder's lock): a runner
    waits for it instead of counting it failed."""


def os_error_text(err: OSError) -> str:
    """One line for a file-system error: what failed and on which path."""
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or type(err).__name__}{where}" if err.strerror else str(err).splitlines()[0]
