"""Errors a user can act on. The CLI prints their message on one line and exits with status 2; the service maps
their types (never their text) to HTTP statuses."""


class OneClassError(Exception):
    """Base of every error caused by user input: a bad argument, file, image or dataset."""


class InputError(OneClassError, ValueError):
    """Images, labels or a hyper-parameter passed to a detector have the wrong shape, type or values."""


class NotFittedError(OneClassError, AttributeError):
    """A detector was asked to score, decide, save or export before `fit` (as scikit-learn's NotFittedError)."""


class DataError(OneClassError):
    """A dataset or file on disk is missing, truncated or not what it claims to be."""


class UnreadableImageError(DataError):
    """An image file or upload that no decoder can read (not an image, truncated, an unknown format)."""


class ImageTooLargeError(DataError):
    """An image with more pixels than oneclass decodes (a guard against decompression bombs)."""


class ModelFileError(OneClassError):
    """A saved model directory is missing, corrupt, or was not written by oneclass."""
