"""Column-wise preprocessing built from scikit-learn transformers.

:class:`Preprocessor` is the transformer the pipeline fits and deploys;
:class:`DataPreprocessor` is the guide's name for it, with the guide's
``prepare_data`` and ``load_data``.
"""

from easy_mlops.preprocessing.preprocessor import DataPreprocessor
from easy_mlops.preprocessing.transformer import Preprocessor

__all__ = ["DataPreprocessor", "Preprocessor"]
