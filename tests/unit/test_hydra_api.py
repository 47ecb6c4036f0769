"""Hydra and OmegaConf through their public API only, on Hydra 1.3 and ready for 1.4.

Private names (``_return_value``, ``_set_parent``, ``hydra._internal``) and
internals behind public-looking names (``ConfigStore.repo``,
``GlobalHydra.initialize`` with Hydra's internal object) change between
releases without notice; Hydra 1.4 changes several. What they were used for
still works, and nothing warns: Hydra 1.3 warns without ``version_base``, 1.4
for any ``version_base``, a config stored twice and a target that no trusted
code whitelisted (see :mod:`easy_mlops.config.hydra_versions`).
"""

import ast
import gc
import re
import warnings
import weakref
from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore
from hydra.core.object_type import ObjectType
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from easy_mlops.config.compose import GIVEN_GROUP, compose_config
from easy_mlops.config.config import DeploymentConfig
from easy_mlops.config.guide_format import section_config
from easy_mlops.config.instantiate import instantiate
from easy_mlops.errors import ConfigError

from helpers import ROOT

SRC = ROOT / "src"


# Internals that public-looking names reach: ConfigStore's dict of stored configs, and
# GlobalHydra.initialize / Hydra.config_loader, which take or give Hydra's internal Hydra object.
INTERNAL_ATTRIBUTES = {"repo", "initialize", "config_loader"}
PRIVATE_MODULE = re.compile(r"\b(hydra|omegaconf)\._")


def private_uses(src: Path) -> list[str]:
    """``file:line: code`` for each use of another package's private or internal API under ``src``.

    A private attribute (one leading underscore) is ours when some module under
    ``src`` defines it (a function, a class, an assignment); any other belongs
    to a library. Hydra's and OmegaConf's private modules are caught as text too,
    so a name in a string (``import_module("hydra._internal...")``) is found.
    """
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(src.rglob("*.py"))}
    ours = {name for tree in trees.values() for name in defined_names(tree)}
    found = []
    for path, tree in trees.items():
        where = path.relative_to(src.parent)
        uses = [node for node in ast.walk(tree) if reaches_in(node, ours)]
        found += [f"{where}:{node.lineno}: {ast.unparse(node)}" for node in uses]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PRIVATE_MODULE.search(line):
                found.append(f"{where}:{number}: {line.strip()}")
    return sorted(set(found))


def defined_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return names


def reaches_in(node: ast.AST, ours: set[str]) -> bool:
    """Whether ``node`` reads another package's private name or one of the known internals."""

    def private(name: str) -> bool:
        return name.startswith("_") and not name.endswith("__") and name not in ours

    if isinstance(node, ast.Attribute):
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        internal = node.attr in INTERNAL_ATTRIBUTES and owner != "hydra"  # hydra.initialize: compose API
        return (private(node.attr) and owner not in ("self", "cls")) or internal
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "setattr", "hasattr"):
        name = node.args[1] if len(node.args) > 1 else None
        return isinstance(name, ast.Constant) and isinstance(name.value, str) and private(name.value)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        imported = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
        modules = [module or "" for module in imported]
        return any(part.startswith("_") for module in modules for part in module.split("."))
    return False


def test_the_package_uses_no_private_hydra_or_omegaconf_api():
    assert private_uses(SRC) == []


def test_the_scan_finds_each_kind_of_private_use(tmp_path):
    """The check above can fail: each way of reaching an internal is reported, our own names are not."""
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "uses.py").write_text(
        "import hydra\n"
        "from hydra._internal.utils import _locate\n"
        "from hydra import initialize_config_dir\n"
        "class Log:\n"
        "    def _append(self, rows): self._rows = rows\n"
        "def read(job_return, section, store, global_hydra, log):\n"
        "    section._set_parent(None)\n"
        "    store.repo.pop('x')\n"
        "    global_hydra.initialize(global_hydra.hydra)\n"
        "    log._append([])\n"
        "    hydra.initialize(config_path=None)\n"
        "    name = 'omegaconf._utils'\n"
        "    return getattr(job_return, '_return_value')\n"
    )
    lines = sorted(int(use.split(":", 2)[1]) for use in private_uses(tmp_path / "src"))
    assert lines == [2, 7, 8, 9, 12, 13]


def test_a_section_copy_is_resolved_typed_and_detached():
    """What the deployer and monitor read: interpolations resolved, assignments validated,
    and nothing of the composed config kept (its errors name the section's own keys)."""
    cfg = compose_config(["+team_id=acme", "deployment.version=${team_id}-2"])
    section = section_config(DeploymentConfig, cfg.deployment, "deployment")
    composed = weakref.ref(cfg)
    del cfg
    gc.collect()

    assert section.version == "acme-2" and OmegaConf.get_type(section) is DeploymentConfig
    assert composed() is None  # the section does not keep the composed config alive
    with pytest.raises(ValidationError) as error:
        section.create_endpoint = "sometimes"
    assert error.value.full_key == "create_endpoint"


def stored_given_configs() -> set[str]:
    store = ConfigStore.instance()
    return set(store.list(GIVEN_GROUP)) if store.get_type(GIVEN_GROUP) is ObjectType.GROUP else set()


def test_a_guide_config_composed_again_is_not_stored_again(tmp_path, monkeypatch):
    """Hydra's ConfigStore cannot forget a config: the same one is stored once, however often composed."""
    given = {"trainer": {"test_size": 0.3141}, "deployment": {"version": "3.1.4"}}
    for attempt in range(2):
        monkeypatch.setenv("EASY_MLOPS_CACHE", str(tmp_path / f"cache{attempt}"))  # composed, not read back
        cfg = compose_config(["trainer.test_size=0.27"], config=given)
        assert (cfg.trainer.test_size, cfg.deployment.version) == (0.27, "3.1.4")  # the command line wins
        if attempt == 0:
            stored = stored_given_configs()
    assert stored_given_configs() == stored

    other = compose_config([], config={"trainer": {"test_size": 0.2718}})
    assert other.trainer.test_size == 0.2718 and other.deployment.version != "3.1.4"
    assert len(stored_given_configs() - stored) == 1


def test_composing_again_warns_nothing(tmp_path, monkeypatch):
    """Each composition initialises Hydra and registers the schemas: neither warns, the second time either."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for attempt in range(2):
            monkeypatch.setenv("EASY_MLOPS_CACHE", str(tmp_path / f"cache{attempt}"))  # not read back
            cfg = compose_config(["trainer=logistic_regression"], config={"deployment": {"version": "2.7.1"}})
            assert cfg.deployment.version == "2.7.1"


def test_a_target_hydra_builds_is_whitelisted_and_a_bad_argument_is_one_line():
    """A node with Hydra's own keys goes through ``hydra.utils.instantiate``: on 1.4 with our allowlist
    as its execution whitelist, and the target's own error (which 1.4 no longer wraps) as one line."""
    node = {"_target_": "sklearn.ensemble.RandomForestClassifier", "n_estimators": 5, "_partial_": True}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert instantiate(node, "trainer.model")().n_estimators == 5
        with pytest.raises(ConfigError) as error:
            instantiate({**node, "_partial_": False, "n_estimatorz": 5}, "trainer.model")
    assert str(error.value).startswith("config key 'trainer.model': TypeError: ")
    assert "'n_estimatorz'" in str(error.value) and "\n" not in str(error.value)
