"""Loading training and scoring tables."""

from easy_mlops.data.loaders import BUNDLED_DATASETS, load_dataset, load_table

__all__ = ["BUNDLED_DATASETS", "load_dataset", "load_table"]
