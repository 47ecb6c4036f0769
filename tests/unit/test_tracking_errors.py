"""What tracking says when it fails, and how it reads a tracking URI."""

from pathlib import Path


def test_tracking_errors_are_whole_sentences():
    from easy_mlops.tracking import tracking_failure, tracking_uri

    wrapped = RuntimeError("The store refused the run because\nits experiment was deleted; restore it first.")
    assert tracking_failure(wrapped) == (
        "The store refused the run because its experiment was deleted; restore it first."
    )
    assert tracking_uri("http://host:5000") == "http://host:5000"
    assert tracking_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"
    assert tracking_uri("databricks") == "databricks"
    assert tracking_uri("file:./mlruns") == (Path.cwd() / "mlruns").as_uri()
