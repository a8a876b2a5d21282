"""Errors a user can act on. The CLI prints their message on one line and exits with status 2."""


class OneClassError(Exception):
    """Base of every error caused by user input: a bad argument, file, image or dataset."""


class InputError(OneClassError, ValueError):
    """Images or labels passed to a detector have the wrong shape, type or values."""


class DataError(OneClassError):
    """A dataset or file on disk is missing, truncated or not what it claims to be."""


class ModelFileError(OneClassError):
    """A saved model directory is missing, corrupt, or was not written by oneclass."""
