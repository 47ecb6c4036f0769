"""Typed schemas for every config group, registered in Hydra's ConfigStore.

The YAML presets in ``conf/`` list these schemas (``base_<group>``) in their
defaults, so a misspelt key or a value of the wrong type fails at composition
time, before any data is read. Defaults that the guide promises (output
directory, step sequences, thresholds) are declared here once.

The dataclasses are frozen: the composed config becomes instances of them once,
at the composition root (:mod:`easy_mlops.config.experiment`), and nothing
changes them afterwards. The nodes Hydra composes from them are writable.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

# omegaconf.MISSING, spelt out: commands that only read a default (``list`` reads
# ``DeploymentConfig.output_dir``) do not import OmegaConf for it (a test checks they agree).
MISSING = "???"

STEPS = "easy_mlops.deployment.steps"
OBSERVERS = "easy_mlops.observability.steps"


@dataclass(frozen=True)
class DataConfig:
    """Where the training table comes from: a bundled dataset or a file."""

    dataset: str | None = None  # a scikit-learn bundled dataset: iris, wine, breast_cancer, diabetes
    path: str | None = None  # a CSV, TSV, JSON, JSON Lines or Parquet file
    target: str | None = None  # defaults to the last column
    sep: str | None = None  # a CSV file's separator; null: detected among , ; tab |
    decimal: str | None = None  # . or , in a CSV file's numbers; null: detected (12,5 beside ;)
    encoding: str | None = None  # the text's encoding (latin-1, cp1252...); null: UTF-8


@dataclass(frozen=True)
class PreprocessingConfig:
    """scikit-learn transformers applied per column kind, in order, keyed by name.

    Identifier-like columns (nearly every value distinct: a customer id) are
    left out of the features, with a warning, unless listed in ``keep_columns``;
    ``drop_columns`` are never features.
    """

    numeric: dict[str, Any] = field(default_factory=dict)
    categorical: dict[str, Any] = field(default_factory=dict)
    drop_identifiers: bool = True
    keep_columns: list[str] = field(default_factory=list)  # never left out as identifiers
    drop_columns: list[str] = field(default_factory=list)  # never features, e.g. [notes]


class ProblemType(StrEnum):
    auto = "auto"  # detected from the target column
    classification = "classification"
    regression = "regression"


class Serialization(StrEnum):
    joblib = "joblib"
    skops = "skops"  # model.skops and preprocessor.skops load without unpickling


@dataclass(frozen=True)
class TrainerConfig:
    """The estimator and how it is fitted and evaluated.

    ``model._target_`` usually interpolates ``estimators.<problem_type>``, so one
    preset serves classification and regression; ``problem_type`` is filled in
    from the target column when left at ``auto``.
    """

    estimators: dict[str, str] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    problem_type: ProblemType = ProblemType.auto
    test_size: float = 0.2
    random_state: int = 42
    cv_folds: int | None = None  # cross-validate on the training split with this many folds; 0 or null: off


def default_deployment_steps() -> dict[str, Any]:
    """The guide's step sequence; each entry reads the flat keys beside ``steps``."""
    return {
        "create_directory": {
            "_target_": f"{STEPS}.CreateDeploymentDirectoryStep",
            "prefix": "${...deployment_prefix}",
        },
        # filename null: model.joblib or model.skops, by format
        "save_model": {
            "_target_": f"{STEPS}.SaveModelStep",
            "filename": None,
            "format": "${...serialization}",
        },
        "save_preprocessor": {
            "_target_": f"{STEPS}.SavePreprocessorStep",
            "filename": None,
            "format": "${...serialization}",
        },
        "save_profile": {"_target_": f"{STEPS}.SaveProfileStep", "filename": "profile.json"},
        # Before the metadata, so the MLflow model's files are checksummed with the rest.
        "mlflow_model": {"_target_": f"{STEPS}.MlflowModelStep", "enabled": "${...mlflow_model}"},
        "save_metadata": {
            "_target_": f"{STEPS}.SaveMetadataStep",
            "filename": "${...metadata_filename}",
        },
        "endpoint_script": {
            "_target_": f"{STEPS}.EndpointScriptStep",
            "enabled": "${...create_endpoint}",
            "filename": "${...endpoint_filename}",
            "template": "${...endpoint_template}",
        },
        "upload": {
            "_target_": f"{STEPS}.UploadStep",
            "uri": "${...upload.uri}",
            "storage_options": "${...upload.storage_options}",
        },
    }


@dataclass(frozen=True)
class S3Config:
    """Where ``deployment=s3`` ships deployments; credentials come from the AWS chain."""

    bucket: str | None = None  # required by the s3 preset (???)
    prefix: str = "models"
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class UploadConfig:
    """Copy each finished deployment to ``<uri>/<deployment name>/`` (any fsspec URL)."""

    uri: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentConfig:
    """The guide's ``deployment`` section plus the step pipeline it drives."""

    output_dir: str = "./models"
    deployment_prefix: str = "deployment"
    metadata_filename: str = "metadata.json"
    create_endpoint: bool = False
    endpoint_filename: str = "predict.py"
    endpoint_template: str | None = None
    version: str = "1.0.0"
    deployment_time: str | None = None
    serialization: Serialization = Serialization.joblib
    mlflow_model: bool = False  # also write mlflow_model/ (an MLflow pyfunc); on whenever tracking is
    upload: UploadConfig = field(default_factory=UploadConfig)
    s3: S3Config = field(default_factory=S3Config)
    steps: dict[str, Any] = field(default_factory=default_deployment_steps)


DRIFT_KEYS = (
    "enabled",
    "window",
    "numeric_stat",
    "psi_warning",
    "psi_threshold",
    "threshold",
    "min_rows",
    "dataset_drift_share",
    "significance",
)


def default_observability_steps() -> dict[str, Any]:
    """The guide's observability steps, switched by the flat keys beside ``steps``."""
    return {
        "metrics_logger": {
            "_target_": f"{OBSERVERS}.MetricsLoggerStep",
            "enabled": "${...track_metrics}",
        },
        "predictions_logger": {
            "_target_": f"{OBSERVERS}.PredictionsLoggerStep",
            "enabled": "${...log_predictions}",
        },
        "metric_threshold": {
            "_target_": f"{OBSERVERS}.MetricThresholdStep",
            "default_threshold": "${...alert_threshold}",
            "metric_thresholds": "${...metric_thresholds}",
            "metric_directions": "${...metric_directions}",
        },
        "drift": {
            "_target_": f"{OBSERVERS}.DriftStep",
            **{key: f"${{...drift.{key}}}" for key in DRIFT_KEYS},
        },
    }


@dataclass(frozen=True)
class DriftConfig:
    """How the ``drift`` step compares live inputs and predictions with the training profile."""

    enabled: bool = True
    window: str = "all"  # all, or the last hours or days: 24h, 7d
    # A numeric statistic's name in observability/drift_statistics.py, the one list of them
    # (checked there when the monitor is built, before any data is read).
    numeric_stat: str = "psi"
    psi_warning: float = 0.1
    psi_threshold: float = 0.25  # a feature drifted at or above it
    threshold: float = 0.1  # the same for wasserstein, ks and categorical features (jensen-shannon)
    min_rows: int = 100  # below it: "insufficient data", never an alert
    dataset_drift_share: float = 0.5  # dataset drift when this share of features drifted
    # Bounds the chance that a window without drift raises a drift alert: each score must also pass
    # what sampling alone reaches at the window's rows (this chance split among the features and predictions).
    significance: float = 0.01


@dataclass(frozen=True)
class ObservabilityConfig:
    """The guide's ``observability`` section plus the step pipeline it drives."""

    track_metrics: bool = True
    log_predictions: bool = True
    alert_threshold: float = 0.8
    metric_thresholds: dict[str, float] = field(default_factory=dict)
    metric_directions: dict[str, str] = field(default_factory=dict)
    drift: DriftConfig = field(default_factory=DriftConfig)
    steps: dict[str, Any] = field(default_factory=default_observability_steps)
    # Where every machine's logs of a deployment meet (easy_mlops/log_shipping.py): an absolute path
    # (a shared file system) or an fsspec URL, one folder per deployment under it. null: the
    # deployment's own logs/, and <its remote folder>/logs/segments once uploaded to object storage.
    log_uri: str | None = None
    ship_every_rows: int = 10_000  # a server ships its spool after this many rows,
    ship_every_s: float = 10.0  # or this many seconds, whichever comes first, and when it stops


@dataclass(frozen=True)
class ServeConfig:
    """``make-mlops-easy serve``: where the HTTP server listens, how it batches, who may call it."""

    host: str = "127.0.0.1"  # loopback: put a proxy or load balancer in front to expose it
    port: int = 8000  # 0: any free port (the URL printed says which)
    workers: int = 1  # processes answering on the one port
    # Chosen in bench/SERVE_RESULTS.md: at 64 concurrent single-row requests, waiting 1 ms for
    # more rows (only when others are queued; an idle server never waits) gave 16 % more req/s
    # than 0 ms and no more than 2 ms; 256 or 1024 rows per batch made no difference.
    max_batch_rows: int = 1024  # rows of concurrent requests scored in one predict at the most
    max_wait_ms: float = 1.0  # extra wait for more rows while other requests are queued
    max_body_mb: float = 50.0
    timeout_s: float = 30.0  # a request still waiting for its batch after this gets a 503
    token_env: str | None = None  # name of the variable holding the bearer token; null: no token


@dataclass(frozen=True)
class TrackingConfig:
    """Where each run is recorded besides its deployment: nowhere (``tracking=none``) or MLflow.

    ``_target_`` is the tracker class; null means off, and then nothing of
    MLflow is imported.
    """

    _target_: str | None = None
    uri: str | None = None  # null: $MLFLOW_TRACKING_URI, else ./mlruns
    experiment: str | None = None  # null: the data's name (file stem or dataset)
    run_name: str | None = None  # null: the deployment's name
    register_model: str | None = None  # a registered model name: each deployment becomes a new version
    log_artifacts: bool = True  # metadata.json, config.yaml, overrides.yaml and the MLflow model


@dataclass(frozen=True)
class Config:
    """The whole experiment: one node per stage, in the order data flows."""

    data: DataConfig = field(default_factory=DataConfig)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    deploy: bool = True
    # Module prefixes whose classes a ``_target_`` may name, on top of
    # easy_mlops and scikit-learn.
    trusted_modules: list[str] = field(default_factory=list)
    # The metric a run is judged by: what a sweeper optimises, the leaderboard
    # ranks and `list` shows; null: accuracy (classification) or r2_score.
    optimized_metric: str | None = None
    debug: bool = False  # tracebacks for user errors (python -m easy_mlops.run debug=true)


def check_values(cfg: Any) -> None:
    """The ranges a type cannot say, checked at composition, before any data is read."""
    from easy_mlops.errors import ConfigError

    test_size = cfg.trainer.test_size
    if not 0 < test_size < 1:
        raise ConfigError(f"config key 'trainer.test_size': {test_size} must be between 0 and 1")
    folds = cfg.trainer.cv_folds
    if folds is not None and (folds < 0 or folds == 1):
        raise ConfigError(f"config key 'trainer.cv_folds': {folds} must be at least 2 (0 or null: off)")
    serve = cfg.get("serve")
    if serve is not None:
        for key, value, low in (
            ("port", serve.port, 0),
            ("workers", serve.workers, 1),
            ("max_batch_rows", serve.max_batch_rows, 1),
            ("max_wait_ms", serve.max_wait_ms, 0),
        ):
            if value < low:
                raise ConfigError(f"config key 'serve.{key}': {value} must be at least {low}")
        for key, value in (("max_body_mb", serve.max_body_mb), ("timeout_s", serve.timeout_s)):
            if value <= 0:
                raise ConfigError(f"config key 'serve.{key}': {value} must be more than 0")
        if serve.port > 65535:
            raise ConfigError(f"config key 'serve.port': {serve.port} is not a port (0 to 65535)")


# Maps keyed by metric name take any key (``metric_thresholds.accuracy=0.85``
# without ``+``); their values stay typed and every other node stays strict.
OPEN_MAPS: dict[type, tuple[str, ...]] = {ObservabilityConfig: ("metric_thresholds", "metric_directions")}


def schema_node(schema: type) -> "DictConfig":
    """``schema`` as a config node, writable (the dataclass is frozen, the node it composes is not),
    with its metric-name maps open to new keys."""
    from omegaconf import OmegaConf

    node = OmegaConf.structured(schema)
    writable(node)
    for name in OPEN_MAPS.get(schema, ()):
        OmegaConf.set_struct(node[name], False)
    return node


def writable(node: "DictConfig") -> None:
    """Let overrides and presets change ``node`` and every node below it (a frozen dataclass makes
    OmegaConf mark them read-only)."""
    from omegaconf import DictConfig, OmegaConf

    OmegaConf.set_readonly(node, None)
    for key in node:
        child = node[key] if not OmegaConf.is_missing(node, key) else None
        if isinstance(child, DictConfig):
            writable(child)


def register_configs() -> None:
    """Store the schemas under ``base_*`` names for the YAML presets to extend.

    Called before each composition; a schema is stored once per process, as storing a
    config again warns from Hydra 1.4 on. Reading a deployment's snapshot needs the
    schemas, not Hydra.
    """
    from hydra.core.config_store import ConfigStore
    from hydra.core.object_type import ObjectType

    store = ConfigStore.instance()
    schemas = {
        "base_config": Config,
        "data/base_data": DataConfig,
        "preprocessing/base_preprocessing": PreprocessingConfig,
        "trainer/base_trainer": TrainerConfig,
        "deployment/base_deployment": DeploymentConfig,
        "observability/base_observability": ObservabilityConfig,
        "serve/base_serve": ServeConfig,
        "tracking/base_tracking": TrackingConfig,
    }
    for path, schema in schemas.items():
        if store.get_type(f"{path}.yaml") is ObjectType.NOT_FOUND:
            group, _, name = path.rpartition("/")
            store.store(group=group or None, name=name, node=schema_node(schema))
