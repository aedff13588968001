"""Long-form table I/O of :class:`~gazekit.scanpaths.Scanpaths`: one row per fixation, CSV / Parquet / JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gazekit._atomic import atomic_path, write_text
from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.scanpaths._columns import FIX_PREFIX, SCANPATH_NUMERIC_COLUMNS, SP_PREFIX, STRING_ATTRS


class _TableMixin:
    """``Scanpaths.to_table`` / ``from_table`` / ``save`` / ``load``."""

    def to_table(self):
        """Long-form pandas table: one row per fixation (see ``TABLE_COLUMNS``); empty scanpaths are one row
        with ``index == -1`` and NaN fixation values so that nothing is lost."""
        import pandas as pd

        cpu = self.to("cpu")
        lengths = cpu.lengths.numpy()
        b = len(cpu)
        rows_per = np.maximum(lengths, 1)
        sp_index = np.repeat(np.arange(b), rows_per)
        fix_index = np.concatenate([np.arange(n) if n else np.array([-1]) for n in lengths]) if b else np.zeros(0, int)
        safe = np.maximum(fix_index, 0)
        empty = fix_index < 0

        def per_fix(t: Tensor) -> np.ndarray:
            if not b or t.shape[1] == 0:  # no scanpath, or only empty ones
                return np.full(len(sp_index), np.nan)
            values = t.numpy()[sp_index, safe]
            return np.where(empty, np.nan, values)

        data = {name: [getattr(cpu, name)[i] for i in sp_index] for name in STRING_ATTRS}
        data["index"] = fix_index.astype(np.int64)
        data["x"], data["y"] = per_fix(cpu.x), per_fix(cpu.y)
        data["t_start_ms"], data["duration_ms"] = per_fix(cpu.t_start), per_fix(cpu.duration)
        sp_numeric = np.concatenate(
            [cpu.target_box.numpy(), cpu.image_size.numpy(), cpu.ppd.numpy()[:, None], cpu.screen.numpy()], axis=1
        ) if b else np.zeros((0, len(SCANPATH_NUMERIC_COLUMNS)))
        for k, name in enumerate(SCANPATH_NUMERIC_COLUMNS):
            data[name] = sp_numeric[sp_index, k]
        for k, v in cpu.fixation_attrs.items():
            data[FIX_PREFIX + k] = per_fix(v)
        for k, v in cpu.scanpath_attrs.items():
            data[SP_PREFIX + k] = [v[i] for i in sp_index]
        return pd.DataFrame(data)

    @classmethod
    def from_table(cls, table, *, source: object = None) -> "Scanpaths":
        """Inverse of :meth:`to_table`. Scanpaths keep the order of their first row; fixations are ordered by
        ``index``. Missing or mistyped columns raise :class:`DataFormatError` naming the row and column.
        Vectorised (no per-scanpath Python loop): reading a cached 80k-fixation table takes well under a second."""
        import pandas as pd

        df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
        missing = [c for c in STRING_ATTRS + ("index", "x", "y") if c not in df.columns]
        if missing:
            raise DataFormatError(f"missing required column(s) {missing}; found {list(df.columns)}", file=source,
                                  field=missing[0])
        df = df.reset_index(drop=True)
        strings = {c: _as_strings(df[c]) for c in STRING_ATTRS}
        numeric = ["index", "x", "y", "t_start_ms", "duration_ms", *SCANPATH_NUMERIC_COLUMNS]
        numeric += [c for c in df.columns if str(c).startswith(FIX_PREFIX)]
        values: dict[str, np.ndarray] = {}
        for c in numeric:
            if c not in df.columns:
                values[c] = np.full(len(df), math.nan)
                continue
            converted = pd.to_numeric(df[c], errors="coerce")
            if converted.isna().any():
                bad = converted.isna() & ~_is_blank(df[c])
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataFormatError(f"value {df[c].iloc[row]!r} is not a number", file=source,
                                          record=f"row {row}", field=str(c))
            values[c] = converted.to_numpy(dtype=np.float64, na_value=math.nan)
        index = values["index"]
        if np.isnan(index).any():
            row = int(np.flatnonzero(np.isnan(index))[0])
            raise DataFormatError("fixation index is missing", file=source, record=f"row {row}", field="index")
        # scanpath id of each row, numbered in order of first appearance
        group = pd.DataFrame(strings).groupby(list(STRING_ATTRS), sort=False, dropna=False).ngroup().to_numpy()
        b = int(group.max()) + 1 if len(group) else 0
        order = np.lexsort((index, group))  # rows sorted by scanpath, then fixation index
        g_sorted, idx_sorted = group[order], index[order]
        starts = np.searchsorted(g_sorted, np.arange(b))
        rows_per = np.bincount(group, minlength=b)
        real = idx_sorted >= 0
        n_real = np.bincount(g_sorted[real], minlength=b)
        mixed = (n_real > 0) & (n_real < rows_per)
        if mixed.any():
            k = int(np.flatnonzero(mixed)[0])
            row = int(order[starts[k]:starts[k] + rows_per[k]][idx_sorted[starts[k]:starts[k] + rows_per[k]] < 0][0])
            raise DataFormatError("a scanpath has both an empty-scanpath row (index -1) and fixations",
                                  file=source, record=f"row {row}", field="index")
        rank = np.arange(len(order)) - np.repeat(starts, rows_per)  # position of each sorted row in its scanpath
        wrong = real & (idx_sorted != rank)
        if wrong.any():
            k = int(g_sorted[np.flatnonzero(wrong)[0]])
            idx = idx_sorted[starts[k]:starts[k] + rows_per[k]]
            key = tuple(strings[c][int(order[starts[k]])] for c in STRING_ATTRS)
            raise DataFormatError(f"fixation indices of scanpath {key} are not 0..{len(idx) - 1}: "
                                  f"{idx[:10].tolist()}", file=source, record=f"row {int(order[starts[k]])}",
                                  field="index")
        length = int(n_real.max()) if b else 0
        rs, ps = g_sorted[real], rank[real].astype(np.int64)

        def padded(column: np.ndarray) -> Tensor:
            out = np.zeros((b, length), dtype=np.float64)
            out[rs, ps] = column[order][real]
            return torch.from_numpy(out)

        first = np.full(b, -1, dtype=np.int64)
        first[group[::-1]] = np.arange(len(group))[::-1]  # first row (original order) of each scanpath
        sp = np.stack([values[c][first] for c in SCANPATH_NUMERIC_COLUMNS], axis=1) if b else \
            np.zeros((0, len(SCANPATH_NUMERIC_COLUMNS)))
        sp_cols = [c for c in df.columns if str(c).startswith(SP_PREFIX)]
        return cls(
            x=padded(values["x"]), y=padded(values["y"]), t_start=padded(values["t_start_ms"]),
            duration=padded(values["duration_ms"]), lengths=torch.from_numpy(n_real.astype(np.int64)),
            **{c: [strings[c][i] for i in first] for c in STRING_ATTRS},
            target_box=torch.from_numpy(sp[:, 0:4].copy()), image_size=torch.from_numpy(sp[:, 4:6].copy()),
            ppd=torch.from_numpy(sp[:, 6].copy()), screen=torch.from_numpy(sp[:, 7:12].copy()),
            fixation_attrs={str(c)[len(FIX_PREFIX):]: padded(values[c]) for c in df.columns
                            if str(c).startswith(FIX_PREFIX)},
            scanpath_attrs={str(c)[len(SP_PREFIX):]: [s[i] for i in first] for c in sp_cols
                            for s in [_as_strings(df[c])]},
        )

    def save(self, path: str | Path) -> Path:
        """Write the long-form table to ``.csv``, ``.parquet`` or ``.json`` (chosen by suffix), losslessly."""
        return write_table(self.to_table(), path)

    @classmethod
    def load(cls, path: str | Path) -> "Scanpaths":
        """Read a table written by :meth:`save`."""
        return cls.from_table(read_table(path), source=path)


def _is_blank(series) -> "np.ndarray":
    """True where a value is absent: NaN/None, or text that is empty, "nan" or "null" (any case)."""
    if series.dtype.kind in "fiub":
        return series.isna()
    is_text = series.map(type).eq(str)
    lowered = series.where(is_text, "x").astype(str).str.strip().str.lower()
    return series.isna() | (is_text & lowered.isin(("", "nan", "null")))


def _as_strings(series) -> list[str]:
    """Column values as strings; None/NaN become "" (absent)."""
    return series.astype(object).where(series.notna(), "").astype(str).tolist()


def write_table(df, path: str | Path) -> Path:
    """Write a long-form table losslessly: CSV (shortest round-trip float text), Parquet, or JSON records.

    The write is atomic (:mod:`gazekit._atomic`): ``path`` ends up holding its old content or the whole table."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq", ".json"):
        raise InvalidInputError(f"unsupported table format {suffix!r} for {str(path)!r}: use .csv, .parquet or .json")
    if suffix == ".json":
        # pandas' to_json rounds floats to 15 digits; json.dumps keeps Python's shortest round-trip repr.
        records = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                   for row in df.to_dict(orient="records")]
        write_text(path, json.dumps({"format": "gazekit-scanpaths", "version": 1, "columns": list(df.columns),
                                     "rows": records}, default=_json_default))
        return path
    with atomic_path(path) as tmp:  # a killed run leaves the old file or the new one, never a truncated table
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
    return path


def _json_default(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if math.isnan(float(v)) else float(v)
    raise TypeError(f"cannot write {type(v).__name__} to JSON")


def read_table(path: str | Path):
    """Read a long-form table written by :func:`write_table` (strings stay strings, blanks become NaN)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataFormatError("file does not exist", file=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".json":
            doc = json.loads(path.read_text())
            if isinstance(doc, dict) and "rows" in doc:
                return pd.DataFrame(doc["rows"], columns=doc.get("columns"))
            if isinstance(doc, list):
                return pd.DataFrame(doc)
            raise DataFormatError("expected a gazekit table (an object with 'rows') or a list of records",
                                  file=path)
    except DataFormatError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataFormatError(f"cannot parse as {suffix[1:]}: {err}", file=path) from err
    except Exception as err:  # pyarrow raises its own error types for corrupt files
        if type(err).__module__.startswith("pyarrow"):
            raise DataFormatError(f"cannot parse as parquet: {err}", file=path) from err
        raise
    raise InvalidInputError(f"unsupported table format {suffix!r} for {str(path)!r}: use .csv, .parquet or .json")
