"""One file per method. Importing this package registers every detector."""

from oneclass.methods import ada, adacl, ae, alocc, cae, dsvdd, g2d, ocsvm, oled, vae  # noqa: F401
