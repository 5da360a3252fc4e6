from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.errors import MaterializerError, UnsafeArtifactError
from shipyard.pipeline.materializers import Metrics, load_value, save_value
from shipyard.store.artifacts import LocalArtifactStore


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "arts")


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 2.5, "text", [1, "a", None], {"a": [1, 2], "b": {"c": 1.5}}, (1, 2)],
)
def test_json_values_round_trip(store: LocalArtifactStore, value: object) -> None:
    info = save_value(value, store)
    assert info["type"] == "json" and not info["unsafe"]
    assert load_value(info["digest"], store) == value
    assert type(load_value(info["digest"], store)) is type(value)


def test_metrics_come_back_as_metrics(store: LocalArtifactStore) -> None:
    info = save_value(Metrics(auc=0.9), store)
    back = load_value(info["digest"], store)
    assert isinstance(back, Metrics) and back == {"auc": 0.9}


def test_numpy_array_and_scalar(store: LocalArtifactStore) -> None:
    arr = np.arange(12, dtype="float32").reshape(3, 4)
    back = load_value(save_value(arr, store)["digest"], store)
    assert back.dtype == np.float32 and np.array_equal(back, arr)
    scalar = load_value(save_value(np.int16(7), store)["digest"], store)
    assert scalar == 7 and scalar.dtype == np.int16


def test_object_arrays_are_refused(store: LocalArtifactStore) -> None:
    with pytest.raises(MaterializerError, match="dtype object"):
        save_value(np.array([object()]), store)


def test_arrow_and_pandas_tables(store: LocalArtifactStore) -> None:
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})
    info = save_value(table, store)
    assert info["properties"] == {"rows": 3, "columns": ["a", "b"]}
    assert load_value(info["digest"], store).equals(table)
    df = pd.DataFrame({"a": [1.5, 2.5], "b": ["u", "v"]})
    pd.testing.assert_frame_equal(load_value(save_value(df, store)["digest"], store), df)


def test_paths_are_copied_in(store: LocalArtifactStore, tmp_path: Path) -> None:
    f = tmp_path / "report.txt"
    f.write_text("hello")
    back = load_value(save_value(f, store)["digest"], store)
    assert back.name == "report.txt" and back.read_text() == "hello"
    d = tmp_path / "folder"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "x.csv").write_text("a,b\n")
    back = load_value(save_value(d, store)["digest"], store)
    assert (back / "sub" / "x.csv").read_text() == "a,b\n"
    with pytest.raises(MaterializerError, match="does not exist"):
        save_value(tmp_path / "missing", store)


def test_sklearn_models_use_skops_not_pickle(store: LocalArtifactStore) -> None:
    x = np.random.default_rng(0).normal(size=(50, 2))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    info = save_value(model, store)
    assert info["type"] == "sklearn.skops"
    files = list(Path(store.path(info["digest"])).iterdir())
    assert {f.name for f in files} == {"model.skops", "_manifest.json"}
    back = load_value(info["digest"], store)
    assert np.array_equal(back.predict(x), model.predict(x))


class Opaque:
    def __init__(self, v: int) -> None:
        self.v = v


def test_unknown_types_need_an_explicit_opt_in(store: LocalArtifactStore) -> None:
    with pytest.raises(MaterializerError, match="allow_pickle"):
        save_value(Opaque(1), store)
    info = save_value(Opaque(1), store, allow_pickle=True)
    assert info["unsafe"] and info["type"] == "pickle"
    assert store.manifest(info["digest"])["unsafe"] is True
    with pytest.raises(UnsafeArtifactError, match="pickle"):
        load_value(info["digest"], store)
    assert load_value(info["digest"], store, allow_pickle=True).v == 1


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_a_pickle_disguised_as_a_safe_type_is_never_unpickled(
    store: LocalArtifactStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .npy that holds a pickle payload is refused by NumPy's allow_pickle=False."""
    with store.staging() as folder:
        (folder / "array.npy").write_bytes(pickle.dumps(_Boom()))
        stored = store.put(
            folder, {"type": "numpy.ndarray", "python_type": "numpy.ndarray", "properties": {}}
        )
    with pytest.raises(ValueError):
        load_value(stored.digest, store)
    assert "pwned" not in capsys.readouterr().out


def test_non_finite_floats_are_refused_for_json(store: LocalArtifactStore) -> None:
    with pytest.raises(MaterializerError, match="nan"):
        save_value({"x": float("nan")}, store)


def test_the_same_model_gives_the_same_digest(tmp_path: Path) -> None:
    """skops names files after id() and stamps times; stored bytes must not depend on either."""
    from sklearn.ensemble import RandomForestClassifier

    x = np.random.default_rng(1).normal(size=(80, 3))
    y = x[:, 0] > 0
    digests = set()
    models = []  # kept alive, so that no id() is reused between the two
    for i in range(2):
        model = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
        models.append(model)
        store = LocalArtifactStore(tmp_path / f"s{i}")
        info = save_value(model, store)
        digests.add(info["digest"])
        back = load_value(info["digest"], store)
        assert np.array_equal(back.predict_proba(x), model.predict_proba(x))
    assert len(digests) == 1
