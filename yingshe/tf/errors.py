"""``tf.errors``: TensorFlow's exception classes.

Eager op errors of the core (``ShapeError``, ``DTypeError``, ``IndexError``) reach a
TensorFlow program as ``InvalidArgumentError``; a Session's missing feed is an
``InvalidArgumentError`` too, and reading an uninitialised Variable is a
``FailedPreconditionError`` (as in TensorFlow).
"""

from __future__ import annotations

__all__ = ["OpError", "CancelledError", "UnknownError", "InvalidArgumentError",
           "DeadlineExceededError", "NotFoundError", "AlreadyExistsError",
           "PermissionDeniedError", "ResourceExhaustedError", "FailedPreconditionError",
           "AbortedError", "OutOfRangeError", "UnimplementedError", "InternalError",
           "UnavailableError", "DataLossError", "UnauthenticatedError"]


class OpError(Exception):
    """Base of TensorFlow's runtime errors: ``OpError(node_def, op, message)`` or
    ``OpError(message)``; ``.message`` holds the text."""

    def __init__(self, *args) -> None:
        if len(args) >= 3:
            node_def, op, message = args[:3]
        else:
            node_def, op, message = None, None, (args[0] if args else "")
        super().__init__(message)
        self.node_def = node_def
        self.op = op
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def _make(name: str, doc: str):
    return type(name, (OpError,), {"__doc__": doc, "__module__": __name__})


CancelledError = _make("CancelledError", "An operation was cancelled.")
UnknownError = _make("UnknownError", "An unknown error.")
InvalidArgumentError = _make("InvalidArgumentError",
                             "An op got an invalid argument (shapes, dtypes, a missing feed).")
DeadlineExceededError = _make("DeadlineExceededError", "A deadline expired.")
NotFoundError = _make("NotFoundError", "A requested entity was not found.")
AlreadyExistsError = _make("AlreadyExistsError", "An entity already exists.")
PermissionDeniedError = _make("PermissionDeniedError", "Permission denied.")
ResourceExhaustedError = _make("ResourceExhaustedError", "A resource was exhausted.")
FailedPreconditionError = _make("FailedPreconditionError",
                                "The system is not in a state to run the op (e.g. an "
                                "uninitialised Variable was read).")
AbortedError = _make("AbortedError", "An operation was aborted.")
OutOfRangeError = _make("OutOfRangeError", "An operation iterated past the valid range.")
UnimplementedError = _make("UnimplementedError", "The operation is not implemented.")
InternalError = _make("InternalError", "An internal error.")
UnavailableError = _make("UnavailableError", "The runtime is unavailable.")
DataLossError = _make("DataLossError", "Unrecoverable data loss.")
UnauthenticatedError = _make("UnauthenticatedError", "Not authenticated.")
