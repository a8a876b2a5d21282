"""One file per method. Importing this package registers every detector."""

from oneclass.methods import adacl, ae, alocc, cae, dsvdd, ocsvm, oled, vae  # noqa: F401
