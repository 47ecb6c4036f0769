"""Runtime details the commands' start-up relies on: the schemas' ``MISSING`` marker, settled jobs."""


def test_the_schemas_missing_marker_is_omegaconfs():
    """Spelt out so that reading a default does not import OmegaConf; it must stay the same string."""
    import omegaconf

    from easy_mlops.config import config

    assert config.MISSING == omegaconf.MISSING


def test_a_settled_job_leaves_its_garbage_collectable_after_it():
    """What is alive when a job settles is left out of collections; after the job a cycle it left goes."""
    import gc
    import weakref

    from easy_mlops.runtime import settled

    class Node:
        pass

    cycle = Node()
    cycle.self = cycle
    alive = weakref.ref(cycle)
    with settled():
        assert gc.get_freeze_count() > 0
        del cycle
        gc.collect()
        assert alive() is not None, "frozen: not collected during the job"
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None, "after the job the cycle is collected"
