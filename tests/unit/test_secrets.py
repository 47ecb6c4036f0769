"""Secret masking: what a snapshot, an overrides line or a Hydra file may show of a credential.

On configs composed as a run composes them, with the secrets a user adds on
the command line. That no command, log, MLflow run or Hydra file shows one is
tested through the commands in tests/e2e/test_reliability.py, test_tracking.py
and test_sweeps.py.
"""

import pytest
from omegaconf import OmegaConf

from easy_mlops.config.secrets import (
    MASK,
    is_secret_key,
    mask_overrides,
    mask_url_password,
    redact_files,
    safe_snapshot,
    secret_override_values,
)

SECRETS = {  # override -> the literal secret it carries
    "+secrets.db_password=hunter2-xyz": "hunter2-xyz",
    "+secrets.slack_webhook=hooks.example/T000/B000": "hooks.example/T000/B000",  # secret by its section
    "+deployment.upload.storage_options.key=AKIAEXAMPLEKEY": "AKIAEXAMPLEKEY",
    "+deployment.upload.storage_options.secret=wJalrXUtnFEMI": "wJalrXUtnFEMI",
    "+api_token=tok-5150": "tok-5150",
    "+credentials=[first-cred,second-cred]": "first-cred",
    "+team_id=team-8086": "team-8086",  # secret because a secret reads it: access_key_id below
}
BUILT = [
    "+deployment.upload.storage_options.access_key_id=${team_id}",
    "+team_url='db://admin:${secrets.db_password}@db.internal'",
    "+tracking_uri='https://alice:s3cr3t-pw@mlflow.internal:5000/'",
    "+notes=a plain value",
]


@pytest.fixture
def cfg(compose, monkeypatch):
    monkeypatch.setenv("MY_SESSION_TOKEN", "from-the-environment")
    monkeypatch.setenv("MY_DB_HOST", "db-host-from-the-environment")
    return compose(
        "trainer.problem_type=classification",  # the estimator's _target_ resolves without data
        "deployment=s3",
        "deployment.s3.bucket=models-prod",
        *SECRETS,
        *BUILT,
        "+deployment.upload.storage_options.token=${oc.env:MY_SESSION_TOKEN}",
        "+db_host=${oc.env:MY_DB_HOST}",
    )


def test_which_keys_name_a_secret():
    for key in (
        "key",
        "Key",
        "api_key",
        "APIKEY",
        "passwd",
        "db_password",
        "session_token",
        "private_key_path",
    ):
        assert is_secret_key(key), key
    for key in ("keys", "key_prefix", "keyboard", "monkey", "region", "bucket", "endpoint_url"):
        assert not is_secret_key(key), key


def test_a_snapshot_shows_no_secret_anywhere_and_everything_else_resolved(cfg):
    text = OmegaConf.to_yaml(safe_snapshot(cfg))
    hidden = [
        *SECRETS.values(),
        "second-cred",
        "from-the-environment",
        "db-host-from-the-environment",
        "s3cr3t-pw",
    ]
    for secret in hidden:
        assert secret not in text, secret
    snapshot = OmegaConf.to_container(safe_snapshot(cfg), resolve=False)  # as written in config.yaml
    options = snapshot["deployment"]["upload"]["storage_options"]
    assert (options["key"], options["secret"], snapshot["api_token"], snapshot["team_id"]) == (MASK,) * 4
    assert snapshot["secrets"] == {"db_password": MASK, "slack_webhook": MASK}  # a section: all of it
    assert snapshot["credentials"] == [MASK, MASK]
    # Read from the environment: where from, whatever the key (the conf's own and one added).
    assert options["token"] == "${oc.env:MY_SESSION_TOKEN}" and snapshot["db_host"] == "${oc.env:MY_DB_HOST}"
    assert snapshot["deployment"]["s3"]["region"] == "${oc.env:AWS_DEFAULT_REGION,null}"
    assert options["access_key_id"] == "${team_id}"  # a secret's own interpolation, as written
    assert snapshot["team_url"] == "db://admin:${secrets.db_password}@db.internal"  # built from a secret
    assert snapshot["tracking_uri"] == f"https://alice:{MASK}@mlflow.internal:5000/"
    # The rest is resolved, as the run saw it.
    assert snapshot["notes"] == "a plain value"
    assert snapshot["deployment"]["upload"]["uri"] == "s3://models-prod/models"
    assert snapshot["trainer"]["model"]["n_estimators"] == 10


def test_a_node_copied_by_interpolation_shows_no_secret_of_its_source(compose):
    cfg = compose(
        "trainer.problem_type=classification",
        "+secrets.db_password=hunter2-xyz",
        "+copied=${secrets}",
        "+alias=${copied.db_password}",
        "+mirrors={primary:'https://sync:pw-in-a-url@mirror.internal/'}",
        "+copied_mirrors=${mirrors}",
    )
    snapshot = safe_snapshot(cfg)
    text = OmegaConf.to_yaml(snapshot)
    assert "hunter2-xyz" not in text and "pw-in-a-url" not in text
    written = OmegaConf.to_container(snapshot, resolve=False)
    assert (written["copied"], written["alias"]) == ("${secrets}", "${copied.db_password}")  # built from one
    assert written["copied_mirrors"] == {"primary": f"https://sync:{MASK}@mirror.internal/"}  # copied, masked


def test_overrides_show_secret_values_as_stars_and_everything_else_as_typed(cfg):
    typed = [*SECRETS, *BUILT, "+deployment.upload.storage_options.token=${oc.env:MY_SESSION_TOKEN}"]
    assert mask_overrides(typed, cfg) == [
        "+secrets.db_password=***",
        "+secrets.slack_webhook=***",
        "+deployment.upload.storage_options.key=***",
        "+deployment.upload.storage_options.secret=***",
        "+api_token=***",
        "+credentials=***",
        "+team_id=***",  # read by a secret
        "+deployment.upload.storage_options.access_key_id=***",
        "+team_url='db://admin:***@db.internal'",  # as a URL's password, even an interpolation
        "+tracking_uri='https://alice:***@mlflow.internal:5000/'",
        "+notes=a plain value",
        "+deployment.upload.storage_options.token=${oc.env:MY_SESSION_TOKEN}",  # the variable's name only
    ]
    assert mask_overrides(["++Secrets.x=1", "~api_token", "db_password=a,b", "trainer.test_size=0.3"]) == [
        "++Secrets.x=***",  # the section, in any case
        "~api_token",  # removing one shows nothing
        "db_password=***",  # a sweep over secrets too
        "trainer.test_size=0.3",
    ]


def test_the_literal_secret_values_are_redacted_from_files_the_run_wrote(cfg, tmp_path):
    typed = [*SECRETS, *BUILT]
    values = secret_override_values(typed, cfg)
    assert values == [
        "hunter2-xyz",
        "hooks.example/T000/B000",
        "AKIAEXAMPLEKEY",
        "wJalrXUtnFEMI",
        "tok-5150",
        "[first-cred,second-cred]",
        "team-8086",
        "${team_id}",
        "'db://admin:${secrets.db_password}@db.internal'",
        "'https://alice:s3cr3t-pw@mlflow.internal:5000/'",
    ]
    written = tmp_path / "overrides.yaml"
    written.write_text("".join(f"- {override}\n" for override in typed))
    untouched = tmp_path / "config.yaml"
    untouched.write_text("trainer:\n  test_size: 0.2\n")
    before = untouched.stat().st_mtime_ns
    redact_files([written, untouched, tmp_path / "missing.yaml"], values)
    text = written.read_text()
    assert not any(secret in text for secret in [*SECRETS.values(), "s3cr3t-pw"])
    assert "- +secrets.db_password=***\n" in text and "- +notes=a plain value\n" in text
    assert untouched.stat().st_mtime_ns == before  # nothing to redact: not rewritten


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://alice:s3cr3t@host:5000/path", "https://alice:***@host:5000/path"),
        ("postgresql://:tok@db/x", "postgresql://:***@db/x"),  # a token without a user name
        ("s3://user:p:a:ss@bucket/key", "s3://user:***@bucket/key"),
        ("https://user:p@ss@host/path", "https://user:***@host/path"),  # an @ the user did not escape
        ("see http://a:b@h1/ and http://c:d@h2", "see http://a:***@h1/ and http://c:***@h2"),
        ("https://host/path?next=a:b@c", "https://host/path?next=a:b@c"),  # no user in it
        ("https://user@host/", "https://user@host/"),
        (42, 42),
    ],
)
def test_a_url_shows_its_user_but_not_its_password(text, shown):
    assert mask_url_password(text) == shown
