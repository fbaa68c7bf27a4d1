"""Every fault of the catalog, made for real: the one-line message, the exit status and what is
left on disk (`tests/faults/catalog.py`; the same cases make `docs/faults.md`)."""

import re

import pytest

from tests.faults.catalog import World, faults


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize("fault", [
    pytest.param(f, id=f.id, marks=[pytest.mark.slow] if f.slow else [])
    for f in faults(include_table_only=False)])
def test_fault(world, fault):
    outcome = fault.run(world)
    assert re.search(fault.expect, outcome.message), (outcome.message, outcome.stderr[-2000:])
    assert outcome.code == fault.code, (outcome.code, outcome.message, outcome.stderr[-2000:])
    assert "Traceback" not in outcome.stderr
    if fault.disk:
        assert re.search(fault.disk, outcome.disk), outcome.disk


def test_series_of_texts_are_raw_text():
    """A pandas Series reaches `predict` as its values (checked on a stand-in class when pandas
    is not installed: the check reads the class's module, never imports pandas)."""
    import numpy as np

    from keras_bert_kit.text.raw_text import text_array

    class Series:
        __module__ = "pandas.core.series"

        def __init__(self, values):
            self.values = values

        def to_numpy(self):
            return np.array(self.values, dtype=object)

    assert text_array(Series(["a", b"\xff"])).tolist() == [b"a", b"\xff"]
    assert text_array(Series([])).shape == (0,)
    assert text_array(Series([1, 2])) is None
    try:
        import pandas
    except ImportError:
        return
    assert text_array(pandas.Series(["a", b"\xff"])).tolist() == [b"a", b"\xff"]
