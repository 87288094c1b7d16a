"""Errors that the command line reports as one line with exit status 2."""


class HeterocatError(ValueError):
    """Bad input or a refused request; the message is shown to the user as is."""
