"""Column-wise preprocessing built from scikit-learn transformers."""

from easy_mlops.preprocessing.preprocessor import DataPreprocessor

__all__ = ["DataPreprocessor"]
