"""Datasets: readers for the canonical on-disk formats, the catalog of known datasets, and protocols."""

from oneclass.data.catalog import DATASETS, load_dataset, verify_dataset
from oneclass.data.protocols import PROTOCOLS, Split, make_split

__all__ = ["DATASETS", "PROTOCOLS", "Split", "load_dataset", "make_split", "verify_dataset"]
