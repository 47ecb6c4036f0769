"""A composed config is kept and read back as Hydra composed it, until anything it depends on changes."""

import io
import pickle
import shutil

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

import easy_mlops.config.compose as compose_module
from easy_mlops.config import compose_cache
from easy_mlops.config.compose import compose_config, config_dir
from easy_mlops.config.config import TrainerConfig

OVERRIDES = ["trainer=logistic_regression", "deployment.version=2.0.0"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache of this test's own; returns where its entries go."""
    monkeypatch.setenv("EASY_MLOPS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "configs"


def entries(cache_dir):
    return sorted(cache_dir.glob("*.pickle")) if cache_dir.is_dir() else []


def test_a_repeated_composition_is_read_back_as_composed(cache):
    composed = compose_config(OVERRIDES)
    [entry] = entries(cache)
    kept = compose_config(OVERRIDES)

    assert OmegaConf.to_yaml(kept) == OmegaConf.to_yaml(composed)
    assert kept.trainer.model.C == 1.0 and kept.deployment.version == "2.0.0"
    # Still the schema's typed nodes, strict like Hydra's result.
    assert OmegaConf.get_type(kept, "trainer") is TrainerConfig and OmegaConf.is_struct(kept)
    with pytest.raises(ValidationError):
        kept.trainer.test_size = "a fifth"
    # What a command changes in its config is its own: the next one reads the kept config.
    kept.trainer.problem_type = "classification"
    assert compose_config(OVERRIDES).trainer.problem_type == composed.trainer.problem_type
    assert entries(cache) == [entry]


def test_each_config_is_kept_apart(cache):
    assert compose_config(["trainer.test_size=0.3"]).trainer.test_size == 0.3
    assert compose_config(["trainer.test_size=0.4"]).trainer.test_size == 0.4
    assert compose_config(["trainer.test_size=0.3"]).trainer.test_size == 0.3
    assert len(entries(cache)) == 2


def test_an_edit_to_conf_composes_afresh(cache, tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf)
    monkeypatch.setattr(compose_module, "config_dir", lambda: conf)
    assert compose_config(OVERRIDES).trainer.model.C == 1.0

    preset = conf / "trainer" / "logistic_regression.yaml"
    preset.write_text(preset.read_text().replace("C: 1.0", "C: 0.5"))  # same size, same second
    assert compose_config(OVERRIDES).trainer.model.C == 0.5
    assert len(entries(cache)) == 2


def test_an_edit_to_a_guide_file_composes_afresh(cache, tmp_path):
    guide_file = tmp_path / "config.yaml"
    guide_file.write_text("deployment:\n  version: 1.0.0\n")
    assert compose_config(config_file=guide_file).deployment.version == "1.0.0"
    guide_file.write_text("deployment:\n  version: 1.0.1\n")
    assert compose_config(config_file=guide_file).deployment.version == "1.0.1"


def test_an_environment_variable_is_read_by_each_command(cache, monkeypatch):
    overrides = ["deployment.version=${oc.env:MODEL_VERSION}"]
    monkeypatch.setenv("MODEL_VERSION", "1.1.0")
    assert compose_config(overrides).deployment.version == "1.1.0"
    monkeypatch.setenv("MODEL_VERSION", "1.2.0")
    assert compose_config(overrides).deployment.version == "1.2.0"
    assert len(entries(cache)) == 1


def test_overrides_of_hydra_itself_are_not_kept(cache):
    """``hydra.searchpath`` may add config from anywhere: such a composition is never read back."""
    assert compose_cache.composition_key(["hydra.searchpath=[pkg://elsewhere]"], {}, config_dir()) is None
    assert compose_cache.composition_key(["hydra/launcher=joblib"], {}, config_dir()) is None
    assert compose_cache.composition_key(["+hydra.job.env_set.A=1"], {}, config_dir()) is None
    assert compose_cache.composition_key([], {"hydra": {"searchpath": []}}, config_dir()) is None
    compose_config(["hydra.job.chdir=false"])
    assert entries(cache) == []


class Planted:
    """What a planted entry would run on loading, were it unpickled with the standard unpickler."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (shutil.copyfile, (__file__, str(self.marker)))


def test_a_damaged_or_planted_entry_is_composed_again_never_run(cache, tmp_path):
    compose_config(OVERRIDES)
    [entry] = entries(cache)

    entry.write_bytes(b"\x80\x05 not a pickle")
    assert compose_config(OVERRIDES).trainer.model.C == 1.0
    assert compose_cache.load(entry.stem) is not None  # replaced by the composition

    marker = tmp_path / "ran"
    entry.write_bytes(pickle.dumps(Planted(marker)))
    assert compose_config(OVERRIDES).trainer.model.C == 1.0
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="shutil.copyfile is not a config type"):
        compose_cache._ConfigUnpickler(io.BytesIO(pickle.dumps(Planted(marker)))).load()
    assert not marker.exists()


def test_a_cache_that_cannot_be_written_costs_only_the_composition(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    monkeypatch.setenv("EASY_MLOPS_CACHE", str(blocked))
    assert compose_config(OVERRIDES).trainer.model.C == 1.0
    assert compose_config(OVERRIDES).trainer.model.C == 1.0


def test_the_least_recently_used_entries_go_first(cache, monkeypatch):
    monkeypatch.setattr(compose_cache, "MAX_ENTRIES", 2)
    for size in (0.3, 0.4):
        compose_config([f"trainer.test_size={size}"])
    compose_config(["trainer.test_size=0.3"])  # read back: now the most recent
    compose_config(["trainer.test_size=0.5"])  # a third: 0.4 goes
    kept = {compose_cache.load(entry.stem).trainer.test_size for entry in entries(cache)}
    assert kept == {0.3, 0.5}
