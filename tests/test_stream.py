"""Streamed ``fit_many``: an iterable of batches, results written to Parquet or CSV as each batch
finishes, equal to one ``fit_many`` over the concatenation, and memory bounded by a batch."""

import numpy as np
import pytest

import jaxmle as jm

pq = pytest.importorskip("pyarrow.parquet")
pd = pytest.importorskip("pandas")

N_BATCHES, BATCH, N = 5, 200, 20


def normal_batches(n_batches=N_BATCHES, batch=BATCH, n=N, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(rng.uniform(-1, 1, (batch, 1)), 2.0, (batch, n)) for _ in range(n_batches)]


def read(path):
    if str(path).endswith(".csv"):
        return pd.read_csv(path)
    return pq.read_table(path).to_pandas()


def assert_rows_equal(frame, res, first=0):
    """The file's rows are the fits of ``res`` (estimates to 1e-12, statuses equal)."""
    np.testing.assert_array_equal(frame["dataset"], np.arange(first, first + len(res)))
    for name in ("loc", "scale"):
        np.testing.assert_allclose(frame[name], res.params[name], rtol=1e-12, atol=0)
        np.testing.assert_allclose(frame[f"se({name})"], res.se[name], rtol=1e-12, atol=0)
    np.testing.assert_allclose(frame["loglik"], res.loglik, rtol=1e-12)
    np.testing.assert_array_equal(frame["nobs"], res.nobs)
    np.testing.assert_array_equal(frame["n_iter"], res.n_iter)
    assert list(frame["status"]) == list(res.status_name)
    np.testing.assert_array_equal(frame["converged"], np.asarray(res.converged))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_streamed_file_equals_one_fit_many_over_the_concatenation(tmp_path, suffix):
    batches = normal_batches()
    whole = jm.fit_many(jm.Normal(), np.concatenate(batches))
    out = tmp_path / f"fits{suffix}"
    summary = jm.fit_many(jm.Normal(), (b for b in batches), out=out)
    assert (summary.n_fits, summary.n_batches) == (N_BATCHES * BATCH, N_BATCHES)
    assert summary.n_converged == int(np.sum(whole.converged))
    assert sum(summary.status_counts.values()) == summary.n_fits
    frame = read(out)
    assert list(frame.columns[:3]) == ["dataset", "loc", "scale"]
    assert_rows_equal(frame, whole)
    if suffix == ".parquet":
        assert pq.ParquetFile(out).num_row_groups == N_BATCHES  # one row group per batch


def test_with_out_a_list_is_batches_and_a_stacked_pytree_is_one_batch(tmp_path):
    batches = normal_batches(n_batches=2)
    whole = jm.fit_many(jm.Normal(), np.concatenate(batches))
    jm.fit_many(jm.Normal(), batches, out=tmp_path / "list.parquet")
    assert_rows_equal(read(tmp_path / "list.parquet"), whole)
    summary = jm.fit_many(jm.Normal(), np.concatenate(batches), out=tmp_path / "one.csv")
    assert summary.n_batches == 1
    assert_rows_equal(read(tmp_path / "one.csv"), whole)
    # A list of single datasets is a list of batches here: the error says how to write one.
    ragged = [np.arange(1.0, 6.0), np.arange(2.0, 9.0)]
    with pytest.raises(ValueError, match=r"batch 0: .*pass \[datasets\]"):
        jm.fit_many(jm.Normal(), ragged, out=tmp_path / "bad.parquet")
    res = jm.fit_many(jm.Normal(), [ragged], out=tmp_path / "ragged.parquet")
    assert res.n_fits == 2


def test_an_iterator_without_out_returns_the_joined_result():
    batches = normal_batches(n_batches=3)
    whole = jm.fit_many(jm.Normal(), np.concatenate(batches))
    joined = jm.fit_many(jm.Normal(), iter(batches))
    assert isinstance(joined, jm.FitResult) and joined.batch_shape == whole.batch_shape
    np.testing.assert_array_equal(joined.params["loc"], whole.params["loc"])
    np.testing.assert_array_equal(joined.status, whole.status)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_an_exception_midway_leaves_a_valid_file_of_the_finished_batches(tmp_path, suffix):
    batches = normal_batches()

    def failing():
        for k, batch in enumerate(batches):
            if k == 3:
                raise RuntimeError("disk on fire")
            yield batch

    out = tmp_path / f"fits{suffix}"
    with pytest.raises(RuntimeError, match="disk on fire"):
        jm.fit_many(jm.Normal(), failing(), out=out)
    frame = read(out)  # a complete file (Parquet footer written) with batches 0, 1, 2
    assert len(frame) == 3 * BATCH
    assert_rows_equal(frame, jm.fit_many(jm.Normal(), np.concatenate(batches[:3])))
    if suffix == ".parquet":
        assert pq.ParquetFile(out).num_row_groups == 3


def test_status_errors_weights_per_batch_and_messages_with_global_indices(tmp_path):
    batches = normal_batches(n_batches=2, batch=50)
    batches[1][7, 3] = np.nan  # dataset 57 of the stream
    rng = np.random.default_rng(1)
    weights = [rng.integers(1, 3, b.shape).astype(float) for b in batches]
    out = tmp_path / "fits.parquet"
    summary = jm.fit_many(jm.Normal(), iter(batches), weights=weights, errors="status", out=out)
    assert summary.status_counts["invalid data"] == 1
    frame = read(out)
    whole = jm.fit_many(
        jm.Normal(), np.concatenate(batches), weights=np.concatenate(weights), errors="status"
    )
    assert_rows_equal(frame, whole)
    # The message names the dataset by its index in the stream (its `dataset` column), as one
    # fit_many over the concatenation does, not by its index in its batch (7).
    assert frame["message"][57] == whole.messages[57]
    assert frame["message"][57].startswith("dataset 57: Normal: data contains 1 non-finite")
    assert (frame["message"].drop(57) == "").all()
    joined = jm.fit_many(jm.Normal(), iter(batches), weights=weights, errors="status")
    assert list(joined.messages) == list(whole.messages)  # the same without out=
    with pytest.raises(ValueError, match="weights ran out at batch 1"):
        jm.fit_many(jm.Normal(), iter(batches), weights=weights[:1], out=out)


def test_out_must_name_a_parquet_or_csv_file(tmp_path):
    with pytest.raises(ValueError, match="out must name"):
        jm.fit_many(jm.Normal(), iter(normal_batches(1)), out=tmp_path / "fits.xlsx")


def recorded(batches, taken):
    """The batches, each one's index appended to ``taken`` when the stream reads it."""
    for k, batch in enumerate(batches):
        taken.append(k)
        yield batch


def test_out_in_a_missing_directory_is_refused_before_any_batch_is_read(tmp_path):
    taken = []
    out = tmp_path / "no_such_dir" / "fits.parquet"
    with pytest.raises(FileNotFoundError, match=r"out=.*no_such_dir.* does not exist"):
        jm.fit_many(jm.Normal(), recorded(normal_batches(2), taken), out=out)
    assert taken == []


def logit_batches(n_batches=2, batch=3, n=40, seed=3):
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        X = np.stack([np.column_stack([np.ones(n), rng.normal(size=n)]) for _ in range(batch)])
        yield {"X": X, "y": (rng.uniform(size=(batch, n)) < 0.5).astype(float)}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_parameter_named_like_a_column_of_the_file_is_refused_before_any_fit(tmp_path, suffix):
    """Coefficients named `dataset` and `nobs` would overwrite those columns (the `dataset`
    column holding beta_0, the coefficient `nobs` lost): refused before a batch is read."""
    taken, out = [], tmp_path / f"fits{suffix}"
    model = jm.Logit(names=["dataset", "nobs"])
    with pytest.raises(ValueError, match=r"'dataset', 'nobs'.*names="):
        jm.fit_many(model, recorded(logit_batches(), taken), out=out)
    assert taken == [] and not out.exists()
    # Other names keep the usual layout.
    jm.fit_many(jm.Logit(names=["const", "x"]), logit_batches(), out=out)
    assert list(read(out).columns[:5]) == ["dataset", "const", "x", "se(const)", "se(x)"]


def test_a_formula_column_named_like_a_column_of_the_file_is_refused_before_writing(tmp_path):
    """Names that come from the data (a formula's columns) are checked on the first batch's
    result, before anything is written."""
    pytest.importorskip("formulaic")
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"site": np.repeat([0, 1], 30), "status": rng.normal(size=60)})
    frame["y"] = 1.0 + frame["status"] + rng.normal(size=60)
    out = tmp_path / "fits.parquet"
    with pytest.raises(ValueError, match=r"'status'.*rename"):
        jm.fit_many(jm.LinearRegression(), iter([frame]), formula="y ~ status", by="site", out=out)
    assert not out.exists()


def _rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="Linux /proc")
def test_memory_stays_bounded_by_a_batch_whatever_the_stream_length(tmp_path):
    """200 batches of 1,000 datasets (80 MB of data in all, 0.4 MB a batch) streamed to Parquet:
    the resident memory grows by far less than the data (a stream that kept its batches or their
    results would grow by more than 80 MB)."""

    def generate(n_batches, seed):
        rng = np.random.default_rng(seed)
        for _ in range(n_batches):
            yield rng.normal(0.0, 1.0, (1000, 50))

    out = tmp_path / "fits.parquet"
    jm.fit_many(jm.Normal(), generate(3, 0), out=out)  # compiles, warms the allocator
    before = _rss_kib()
    summary = jm.fit_many(jm.Normal(), generate(200, 1), out=out)
    growth_mib = (_rss_kib() - before) / 1024
    assert summary.n_fits == 200_000
    assert growth_mib < 40, growth_mib


def test_a_stream_of_data_frames_split_by_a_column_writes_the_labels(tmp_path):
    pytest.importorskip("formulaic")
    rng = np.random.default_rng(2)

    def frames():
        for k in range(2):
            df = pd.DataFrame(
                {"site": np.repeat([2 * k, 2 * k + 1], 50), "x": rng.normal(size=100)}
            )
            df["y"] = 1.0 + 2.0 * df["x"] + rng.normal(size=100)
            yield df

    out = tmp_path / "fits.parquet"
    jm.fit_many(jm.LinearRegression(), frames(), formula="y ~ x", by="site", out=out)
    frame = read(out)
    assert list(frame.columns[:4]) == ["dataset", "site", "Intercept", "x"]
    assert list(frame["site"]) == [0, 1, 2, 3]
