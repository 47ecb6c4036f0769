"""The pyfunc of a deployment's ``mlflow_model/`` (an MLflow "model from code": MLflow copies this file).

Loading it loads the deployment's model and preprocessor from the model's
artifacts; predicting reconciles the input with the training columns and
returns the original labels, as ``make-mlops-easy predict`` does.
"""

from pathlib import Path

import mlflow
import pandas as pd


class DeploymentModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from easy_mlops import serialization
        from easy_mlops.deployment.loading import Deployment

        model_path = Path(context.artifacts["model"])
        model_data = serialization.load(model_path, "model")
        if not isinstance(model_data, dict) or "model" not in model_data:
            model_data = {"model": model_data}
        preprocessor = serialization.load(Path(context.artifacts["preprocessor"]), "preprocessor")
        config = context.model_config or {}
        metadata = {"target_column": config.get("target_column")}
        self.deployment = Deployment(model_path.parent, metadata, model_data, preprocessor)

    def predict(self, context, model_input: pd.DataFrame, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.deployment.predict(frame)


mlflow.models.set_model(DeploymentModel())
