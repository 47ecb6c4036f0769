"""Read tables from files or scikit-learn's bundled datasets.

Every failure is a :class:`DataError` naming the file, so the CLI can print one
line; nothing here writes anything.
"""

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from easy_mlops.config.config import DataConfig
from easy_mlops.errors import ConfigError, DataError, NoRowsError
from easy_mlops.files import file_fingerprint

BUNDLED_DATASETS = ("iris", "wine", "breast_cancer", "diabetes")
FILE_FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".json": "JSON",
    ".jsonl": "JSON Lines",
    ".parquet": "Parquet",
}
TEXT_TABLES = (".csv", ".tsv")
# Separators a CSV file is sniffed for, and how many bytes of it are read to decide.
SEPARATORS = ",;\t|"
SNIFF_BYTES = 64 * 1024
# Numbers written with a decimal comma (12,5 or 1.234,5), and with a decimal point.
COMMA_DECIMAL = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+),\d+")
GROUPED_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
POINT_DECIMAL = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")


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
        raise NoRowsError(f"{path}: data file is empty")


def load_table(
    path: str | Path, sep: str | None = None, decimal: str | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read a CSV, TSV, JSON (records or lines), JSON Lines or Parquet file by its extension.

    See :func:`read_table`; this is the frame alone.
    """
    return read_table(path, sep, decimal, encoding)[0]


def read_table(
    path: str | Path, sep: str | None = None, decimal: str | None = None, encoding: str | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table of a data file and how its text was read (``sep``, ``decimal``, ``encoding``).

    A CSV file's separator is ``sep``, or else detected among ``, ; tab |``
    (a comma when undecided; a TSV file's is a tab); its decimal mark is
    ``decimal``, or else a comma when the separator is not one and numbers
    are written ``12,5``. Text is ``encoding`` (UTF-8 by default). Parquet
    files ignore all three.
    """
    path, suffix, encoding = Path(path), Path(path).suffix.lower(), encoding or "utf-8"
    with reading(path, encoding):
        text_format = _text_format(path, sep, decimal, encoding)
        frame = _read(path, suffix, text_format, encoding)
    frame = _checked(frame, path)
    if suffix != ".parquet" and codecs.lookup(encoding).name != "utf-8":
        text_format["encoding"] = encoding
    return frame, text_format


def iter_table(
    path: str | Path, chunk_rows: int, encoding: str | None = None, columns: Sequence[str] = ()
) -> Iterator[pd.DataFrame]:
    """A data file's table ``chunk_rows`` rows at a time, read as :func:`read_table` reads it whole:
    what a file larger than memory is scored in.

    CSV, TSV and JSON Lines are parsed a chunk at a time, Parquet read a row
    group's batch at a time, and a JSON array a chunk of records at a time.
    JSON records may leave keys out: in a whole read a key that some record
    holds is a column, with gaps where others leave it out. So a chunk whose
    records all leave out one of ``columns`` (the columns the caller needs)
    gets it as a column of gaps; one that no record of the file holds is
    missing, said once the last chunk was read.
    """
    path, suffix, encoding = Path(path), Path(path).suffix.lower(), encoding or "utf-8"
    with reading(path, encoding):
        text_format = _text_format(path, None, None, encoding)
        records = suffix not in TEXT_TABLES and suffix != ".parquet"
        if suffix in TEXT_TABLES:
            _check_header(path, text_format["sep"], encoding)
            chunks: Iterator[pd.DataFrame] = pd.read_csv(
                path,
                sep=text_format["sep"],
                decimal=text_format.get("decimal", "."),
                thousands=text_format.get("thousands"),
                encoding=encoding,
                chunksize=chunk_rows,
            )
        elif suffix == ".parquet":
            chunks = _parquet_batches(path, chunk_rows)
        elif _is_json_lines(path, suffix):
            chunks = pd.read_json(path, lines=True, encoding=encoding, dtype=False, chunksize=chunk_rows)
        else:
            chunks = _json_array_chunks(path, chunk_rows, encoding)
        rows, never_held = 0, set(columns) if records else set()
        for chunk in chunks:
            if not len(chunk):  # a Parquet file's empty row group is no more than that
                continue
            chunk = _checked(chunk, path)
            chunk.index = pd.RangeIndex(rows, rows + len(chunk))  # errors name the file's row
            rows += len(chunk)
            if records:
                never_held -= set(chunk.columns)
                gaps = {name: np.nan for name in columns if name not in chunk.columns}
                chunk = chunk.assign(**gaps) if gaps else chunk
            yield chunk
        if not rows:
            raise NoRowsError(f"{path}: no rows or no columns")
        if never_held:
            missing = ", ".join(name for name in columns if name in never_held)
            raise DataError(f"{path}: missing feature column(s): {missing}")


# Text of a JSON array read at a time, and the most one record may take.
JSON_BLOCK = 1 << 20
JSON_RECORD_LIMIT = 64 << 20


def _json_array_chunks(path: Path, chunk_rows: int, encoding: str) -> Iterator[pd.DataFrame]:
    """A JSON array file's records, ``chunk_rows`` at a time, each chunk parsed as a whole read
    parses the array: memory is bounded by a chunk, not the file."""
    with path.open(encoding=encoding, newline="") as handle:
        texts: list[str] = []
        for text in json_array_records(handle):
            texts.append(text)
            if len(texts) == chunk_rows:
                yield pd.read_json(io.StringIO(f"[{','.join(texts)}]"), dtype=False)
                texts = []
        if texts:
            yield pd.read_json(io.StringIO(f"[{','.join(texts)}]"), dtype=False)


def json_array_records(handle: Any, block: int = JSON_BLOCK) -> Iterator[str]:
    """The text of each element of the JSON array in ``handle``, read ``block`` characters at a time
    (the standard library's decoder finds where each ends). A :class:`ValueError` names the
    record where the text stops being a JSON array."""
    text, decoder, number = _TextBuffer(handle, block), json.JSONDecoder(), 0
    if text.next_char() != "[":
        raise ValueError("not a JSON array")
    text.at += 1
    if text.next_char() == "]":
        text.at += 1
    else:
        while True:
            number += 1
            yield text.json_value(decoder, f"record {number:,}")
            separator = text.next_char()
            if separator not in (",", "]"):
                found = repr(separator) if separator else "the end of the file"
                raise ValueError(f"expected ',' or ']' after record {number:,}, found {found}")
            text.at += 1
            if separator == "]":
                break
    if text.next_char():
        raise ValueError(f"text after the array: {text.text[text.at : text.at + 20]!r}")


class _TextBuffer:
    """A text file read a block at a time, and a position in what was read."""

    def __init__(self, handle: Any, block: int) -> None:
        self.handle, self.block, self.text, self.at = handle, block, "", 0

    def more(self) -> bool:
        """Read another block, dropping what lies behind the position; False at the end of the file."""
        block = self.handle.read(self.block)
        self.text, self.at = self.text[self.at :] + block, 0
        return bool(block)

    def next_char(self) -> str:
        """The next character that is not JSON white space, where the position moves to ('' at the
        end of the file)."""
        while True:
            while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
                self.at += 1
            if self.at < len(self.text) or not self.more():
                return self.text[self.at : self.at + 1]

    def json_value(self, decoder: json.JSONDecoder, what: str) -> str:
        """The text of the JSON value after the position, which moves past it."""
        self.next_char()
        while True:
            try:
                _, end = decoder.raw_decode(self.text, self.at)
            except json.JSONDecodeError as exc:
                if len(self.text) - self.at > JSON_RECORD_LIMIT or not self.more():
                    raise ValueError(f"{what}: {exc.msg}") from None
                continue
            if end == len(self.text) and self.more():
                continue  # a number may go on in the next block
            value, self.at = self.text[self.at : end], end
            return value


def _parquet_batches(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


@contextmanager
def reading(path: Path, encoding: str) -> Iterator[None]:
    """Turn what reading a data file can raise into one :class:`DataError` line naming the file."""
    check_data_file(path)
    suffix = path.suffix.lower()
    try:
        yield
    except DataError:
        raise
    except PermissionError as exc:
        raise DataError(f"{path}: cannot read data file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: {undecodable(path, encoding, exc)}") from exc
    except LookupError as exc:
        raise ConfigError(f"config key 'data.encoding': unknown encoding {encoding!r}") from exc
    except ImportError as exc:
        raise DataError(
            f"{path}: reading {FILE_FORMATS[suffix]} needs pyarrow (pip install pyarrow)"
        ) from exc
    except (ValueError, pd.errors.ParserError, OSError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot parse as {FILE_FORMATS[suffix]}: {detail}") from exc


def _text_format(path: Path, sep: str | None, decimal: str | None, encoding: str) -> dict[str, str]:
    """How a CSV or TSV file's text is read (see :func:`csv_format`); nothing for other formats."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_TABLES:
        return {}
    return csv_format(path, sep, decimal, encoding, default_sep="\t" if suffix == ".tsv" else None)


def _checked(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A table with rows, columns and unique column names, named as text."""
    if len(frame) == 0:
        raise NoRowsError(f"{path}: no rows or no columns")
    if len(frame.columns) == 0:
        raise DataError(f"{path}: no rows or no columns")
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise DataError(f"{path}: duplicate column names: {', '.join(map(str, duplicated))}")
    frame.columns = [str(column) for column in frame.columns]
    return frame


def undecodable(path: Path, encoding: str, exc: UnicodeDecodeError) -> str:
    """Where a file stops being ``encoding`` text, and what to do about it."""
    if codecs.lookup(encoding).name != "utf-8":
        return f"not valid {encoding} text ({exc.reason}); set data.encoding to the file's encoding"
    where = first_invalid_utf8(path)
    position = f" at byte offset {where[0]} (0x{where[2]:02X}), line {where[1]}" if where else ""
    return (
        f"not valid UTF-8{position}; re-save it as UTF-8, or set its encoding: data.encoding=latin-1 "
        "(or cp1252, ...)"
    )


def _read(path: Path, suffix: str, text_format: dict[str, str], encoding: str) -> pd.DataFrame:
    if suffix in TEXT_TABLES:
        sep, decimal = text_format["sep"], text_format.get("decimal", ".")
        _check_header(path, sep, encoding)
        thousands = text_format.get("thousands")
        return pd.read_csv(path, sep=sep, decimal=decimal, thousands=thousands, encoding=encoding)
    # dtype=False: true/null stays booleans and gaps (pandas would make it 1.0/NaN, a number).
    if suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=_is_json_lines(path, suffix), encoding=encoding, dtype=False)


def _check_header(path: Path, sep: str, encoding: str) -> None:
    """Refuse repeated column names, caught from the raw header: pandas would rename them ``a.1``."""
    header = pd.read_csv(path, sep=sep, nrows=1, header=None, encoding=encoding).iloc[0].astype(str)
    repeated = sorted(set(header[header.duplicated()]))
    if repeated:
        raise DataError(f"{path}: duplicate column names: {', '.join(repeated)}")


def _is_json_lines(path: Path, suffix: str) -> bool:
    """A ``.jsonl`` file, or a ``.json`` file that is not one array (records one per line)."""
    if suffix == ".jsonl":
        return True
    with path.open("rb") as handle:
        first = handle.read(1)
        while first.isspace():
            first = handle.read(1)
    return first != b"["


def csv_format(
    path: Path, sep: str | None, decimal: str | None, encoding: str, default_sep: str | None = None
) -> dict[str, str]:
    """``{"sep": ..., "decimal": ...}`` (and ``thousands`` for ``1.234,5``) of a CSV or TSV file:
    given, or detected from its first 64 KiB."""
    # data.sep='\t' from a shell arrives as backslash-t: pandas would take it for a regex.
    sep = "\t" if sep == "\\t" else sep
    sample = None
    if sep is None:
        sample = read_sample(path, encoding)
        sep = default_sep or sniff_separator(path, sample)
    found = {"sep": sep, "decimal": decimal or "."}
    if decimal is None and sep != ",":
        found.update(decimal_mark(sample if sample is not None else read_sample(path, encoding), sep))
    elif decimal == "," and sep != ",":
        found["thousands"] = "."
    return found


def read_sample(path: Path, encoding: str) -> str:
    """The first complete lines of a text file, at most 64 KiB of it."""
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    if len(sample) == SNIFF_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n")]  # no half line at the end
    return sample.decode(encoding, errors="replace")


def decimal_mark(sample: str, sep: str) -> dict[str, str]:
    """``{"decimal": ","}`` (with ``thousands`` when numbers group them) when some column of
    ``sample`` holds numbers written with a decimal comma and no column holds them with a point."""
    try:
        columns = pd.read_csv(io.StringIO(sample), sep=sep, dtype=str, keep_default_na=True)
    except (ValueError, pd.errors.ParserError):
        return {}
    comma = grouped = point = False
    for name in columns:
        values = columns[name].dropna().str.strip()
        if values.empty:
            continue
        integer = values.str.fullmatch(INTEGER)
        is_comma, is_point = values.str.fullmatch(COMMA_DECIMAL), values.str.fullmatch(POINT_DECIMAL)
        if (is_comma | integer).all() and is_comma.any():
            comma = True
            grouped = grouped or bool(values.str.fullmatch(GROUPED_THOUSANDS).any())
        elif (is_point | integer).all() and is_point.any():
            point = True
    if not comma or point:
        return {}
    return {"decimal": ",", "thousands": "."} if grouped else {"decimal": ","}


def sniff_separator(path: Path, sample: str | None = None) -> str:
    """The separator of a CSV file, from its first complete lines; a comma when undecided.

    Only the sample is sniffed (by :class:`csv.Sniffer`), so pandas keeps its
    fast C parser for the whole file.
    """
    sample = read_sample(path, "utf-8") if sample is None else sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","


def first_invalid_utf8(path: Path, chunk_size: int = 1 << 20) -> tuple[int, int, int] | None:
    """``(byte offset, line number, the byte)`` of the first byte that is not UTF-8, or None.

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
                line = newlines + chunk[: max(position - offset, 0)].count(b"\n") + 1
                return position, line, exc.object[exc.start]  # the buffer: held-back bytes, then the chunk
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


def load_dataset(data_cfg: DataConfig) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Load the configured table and name its target column.

    Returns the frame, the target column and a description of the source
    (dataset name, or the file's path, size, SHA-256 and how its text was
    read: ``format``) for the metadata.
    """
    dataset, path = data_cfg.dataset, data_cfg.path
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
        sep, decimal = data_cfg.sep, data_cfg.decimal
        if sep is not None and len(sep) != 1 and sep != "\\t":
            raise ConfigError(f"config key 'data.sep': {sep!r} must be one character, e.g. ';' or '\\t'")
        if decimal is not None and decimal not in (".", ","):
            raise ConfigError(f"config key 'data.decimal': {decimal!r} must be '.' or ','")
        frame, text_format = read_table(path, sep, decimal, data_cfg.encoding)
        source = {"path": str(Path(path).resolve()), **file_fingerprint(path), "format": text_format}
    target = data_cfg.target or frame.columns[-1]
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
