"""The one exception type users of zhnlp need to catch."""


class ZhnlpError(Exception):
    """A problem the user can fix; the message is one sentence that names the fix."""
