"""Which of our modules the composed config travels through during one training run.

"Config at the edges" is measured by it: every call of a function of an ``easy_mlops``
module that receives an OmegaConf node (a DictConfig or ListConfig) as an argument is
one stay of the config in that module. The run is what ``make-mlops-easy train`` does
once the config is composed: the composition root makes it the typed experiment, and
the experiment runs. Run: ``python bench/config_walk.py`` (trains iris with the default
config in a temporary directory; prints the modules and the number of calls in each).
"""

import collections
import sys
import tempfile
from pathlib import Path


def main() -> None:
    from omegaconf import DictConfig, ListConfig

    from easy_mlops.config.experiment import build_experiment
    from easy_mlops.pipeline import compose_experiment, run_experiment

    nodes = (DictConfig, ListConfig)
    stays: collections.Counter[str] = collections.Counter()

    def profile(frame, event, arg):  # noqa: ANN001 - sys.setprofile's signature
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("easy_mlops"):
            return
        code = frame.f_code
        for name in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]:
            if isinstance(frame.f_locals.get(name), nodes):
                stays[module] += 1
                return

    with tempfile.TemporaryDirectory() as work:
        overrides = [f"deployment.output_dir={Path(work) / 'models'}", "trainer.model.n_estimators=5"]
        cfg = compose_experiment(overrides)
        sys.setprofile(profile)
        try:
            run_experiment(build_experiment(cfg))
        finally:
            sys.setprofile(None)
    for module, calls in sorted(stays.items()):
        print(f"{calls:5d}  {module}")
    below = {module: calls for module, calls in stays.items() if not module.startswith("easy_mlops.config")}
    print(f"{len(stays)} modules, {sum(stays.values())} calls receiving a config node")
    count = f"{len(below)} modules, {sum(below.values())} calls"
    print(f"below the composition root (outside easy_mlops.config): {count}")


if __name__ == "__main__":
    main()
