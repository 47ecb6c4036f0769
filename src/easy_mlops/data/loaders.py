"""Read tables from files or scikit-learn's bundled datasets.

Every failure is a :class:`DataError` naming the file, so the CLI can print one
line; nothing here writes anything.
"""

import codecs
import csv
from pathlib import Path
from typing import Any

import pandas as pd

from easy_mlops.errors import ConfigError, DataError
from easy_mlops.files import file_fingerprint

BUNDLED_DATASETS = ("iris", "wine", "breast_cancer", "diabetes")
FILE_FORMATS = {".csv": "CSV", ".json": "JSON", ".jsonl": "JSON Lines", ".parquet": "Parquet"}
# Separators a CSV file is sniffed for, and how many bytes of it are read to decide.
SEPARATORS = ",;\t|"
SNIFF_BYTES = 64 * 1024


def check_data_file(path: str | Path) -> None:
    """What can be said about a data file without reading it: present, a file, a known format, not empty."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")
    if suffix not in FILE_FORMATS:
        raise DataError(
            f"{path}: unknown data format '{suffix or '(no extension)'}'; "
            f"use one of {', '.join(FILE_FORMATS)}"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: data file is empty")


def load_table(path: str | Path, sep: str | None = None) -> pd.DataFrame:
    """Read a CSV, JSON (records or lines), JSON Lines or Parquet file by its extension.

    A CSV file's separator is ``sep``, or else detected among ``, ; tab |``
    (a comma when undecided); other formats ignore ``sep``.
    """
    check_data_file(path)
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        frame = _read(path, suffix, sep)
    except DataError:
        raise
    except PermissionError as exc:
        raise DataError(f"{path}: cannot read data file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        where = first_invalid_utf8(path)
        position = f" (byte {where[0]}, line {where[1]})" if where else ""
        raise DataError(f"{path}: not valid UTF-8 text{position}; re-save it as UTF-8") from exc
    except ImportError as exc:
        raise DataError(
            f"{path}: reading {FILE_FORMATS[suffix]} needs pyarrow (pip install pyarrow)"
        ) from exc
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot parse as {FILE_FORMATS[suffix]}: {detail}") from exc
    if frame.empty or len(frame.columns) == 0:
        raise DataError(f"{path}: no rows or no columns")
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise DataError(f"{path}: duplicate column names: {', '.join(map(str, duplicated))}")
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _read(path: Path, suffix: str, sep: str | None) -> pd.DataFrame:
    if suffix == ".csv":
        # data.sep='\t' from a shell arrives as backslash-t: pandas would take it for a regex.
        sep = "\t" if sep == "\\t" else sep or sniff_separator(path)
        # pandas renames repeated headers to "a.1"; catch them from the raw header.
        header = pd.read_csv(path, sep=sep, nrows=1, header=None, encoding="utf-8").iloc[0].astype(str)
        repeated = sorted(set(header[header.duplicated()]))
        if repeated:
            raise DataError(f"{path}: duplicate column names: {', '.join(repeated)}")
        return pd.read_csv(path, sep=sep, encoding="utf-8")
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True, encoding="utf-8")
    if suffix == ".json":
        with path.open("rb") as handle:
            first = handle.read(1)
            while first.isspace():
                first = handle.read(1)
        return pd.read_json(path, lines=first != b"[", encoding="utf-8")
    return pd.read_parquet(path)


def sniff_separator(path: Path) -> str:
    """The separator of a CSV file, from its first complete lines; a comma when undecided.

    Only the sample is sniffed (by :class:`csv.Sniffer`), so pandas keeps its
    fast C parser for the whole file.
    """
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    if len(sample) == SNIFF_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n")]  # no half line at the end
    try:
        return csv.Sniffer().sniff(sample.decode("utf-8", errors="replace"), delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","


def first_invalid_utf8(path: Path, chunk_size: int = 1 << 20) -> tuple[int, int] | None:
    """``(byte offset, line number)`` of the first byte that is not UTF-8, or None.

    Only called once reading failed: pandas reports positions within its own
    read buffer, not within the file.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = newlines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(chunk_size)
            # Bytes of an unfinished character, held back from the last chunk (never a newline).
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                position = offset - pending + exc.start
                return position, newlines + chunk[: max(position - offset, 0)].count(b"\n") + 1
            if not chunk:
                return None
            offset += len(chunk)
            newlines += chunk.count(b"\n")


def load_bundled(name: str) -> pd.DataFrame:
    """A scikit-learn bundled dataset as one frame; class targets become their names."""
    from sklearn import datasets

    if name not in BUNDLED_DATASETS:
        raise ConfigError(
            f"config key 'data.dataset': unknown dataset '{name}'; "
            f"bundled datasets are {', '.join(BUNDLED_DATASETS)}"
        )
    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    if "target_names" in bunch:
        names = list(bunch.target_names)
        frame["target"] = [str(names[index]) for index in frame["target"]]
    return frame


def load_dataset(data_cfg: Any) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Load the configured table and name its target column.

    Returns the frame, the target column and a description of the source
    (dataset name, or the file's path, size and SHA-256) for the metadata.
    """
    dataset, path = data_cfg.get("dataset"), data_cfg.get("path")
    if not dataset and not path:
        raise ConfigError(
            "config key 'data.path' is required: data=csv data.path=FILE (or a bundled dataset: data=iris)"
        )
    if dataset and path:
        # Usually data.path given without data=csv, over the default preset's dataset.
        raise ConfigError(
            f"config key 'data.path' is set but the data preset is the bundled dataset '{dataset}' "
            f"(data.dataset={dataset}): add data=csv to train on data.path"
        )
    if dataset:
        frame = load_bundled(dataset)
        source: dict[str, Any] = {"dataset": dataset}
    else:
        sep = data_cfg.get("sep")
        if sep is not None and len(sep) != 1 and sep != "\\t":
            raise ConfigError(f"config key 'data.sep': {sep!r} must be one character, e.g. ';' or '\\t'")
        frame = load_table(path, sep)
        source = {"path": str(Path(path).resolve()), **file_fingerprint(path)}
    target = data_cfg.get("target") or frame.columns[-1]
    if target not in frame.columns:
        where = path or dataset
        raise DataError(
            f"{where}: target column '{target}' not found; columns are {', '.join(map(str, frame.columns))}"
            + separator_hint(frame.columns)
        )
    if len(frame.columns) < 2:
        raise DataError(
            f"{path or dataset}: needs at least one feature column besides '{target}'"
            + separator_hint(frame.columns)
        )
    return frame, str(target), source


def separator_hint(columns: Any) -> str:
    """Advice when a column name still holds a separator: the file was split on the wrong one."""
    for sep in SEPARATORS.replace(",", ""):
        if any(sep in str(column) for column in columns):
            shown = "\\t" if sep == "\t" else sep
            # Quoted twice: Hydra needs the value quoted, the shell the whole override.
            return f" — the file looks separated by '{shown}': add \"data.sep='{shown}'\""
    return ""
