"""Our pipeline composed inside a user's own running Hydra app, which gets its Hydra back.

The public-API checks themselves: tests/unit/test_hydra_api.py.
"""

import json
import sys

from helpers import run_process

APP = """
import json
import sys

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig

from easy_mlops.config.compose import compose_config


@hydra.main(version_base="1.3", config_path=sys.argv.pop(1), config_name="app")
def app(cfg):
    ours = compose_config(["trainer.test_size=0.3"], config={"deployment": {"version": "7.0.0"}})
    mine = compose("app", overrides=["greeting=again"])  # only works if the app's Hydra is back
    print(json.dumps({
        "test_size": ours.trainer.test_size,
        "version": ours.deployment.version,
        "greeting": [cfg.greeting, mine.greeting],
        "job": HydraConfig.get().job.name,
    }))


app()
"""


def test_composing_inside_a_running_hydra_app_gives_the_app_its_hydra_back(tmp_path):
    """A user's own ``@hydra.main`` app that builds our pipeline, then composes its own config again."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "app.yaml").write_text("greeting: hello\n")
    (tmp_path / "app.py").write_text(APP)
    result = run_process(
        [sys.executable, "app.py", str(conf), "hydra.run.dir=run", "hydra.output_subdir=null"],
        tmp_path,
        env={"EASY_MLOPS_CACHE": str(tmp_path / "cache")},  # composed in the app, not read back
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "test_size": 0.3,
        "version": "7.0.0",
        "greeting": ["hello", "again"],
        "job": "app",
    }
