"""One file per method, each imported on first use (`oneclass.registry`)."""
