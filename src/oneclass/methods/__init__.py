"""One file per method. Importing this package registers every detector."""

from oneclass.methods import ae, cae, dsvdd, ocsvm, vae  # noqa: F401
