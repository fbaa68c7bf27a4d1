"""`UserError`: the one exception type for mistakes a user can fix (a file, a flag, a tensor).

Library code raises it (or a subclass) with a message that names the file / line / tensor /
flag and says what to do; the command line prints it as one line,
`kbk <command>: error: <message>`, and exits with status 2 (a traceback only with `--debug`).
It subclasses `ValueError`, so callers that caught `ValueError` keep working.

Example:
>>> try:
...     raise UserError("data.tsv line 3: label '1.0' is not one of 0, 1")
... except ValueError as error:
...     print(error)
data.tsv line 3: label '1.0' is not one of 0, 1
"""


class UserError(ValueError):
    """A mistake in what the user gave (data, checkpoint, flag, path): one line says what to do."""
