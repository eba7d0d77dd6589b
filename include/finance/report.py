"""Aligned text tables for task logs and the `make run` summary."""

from __future__ import annotations


def text_table(rows: list[dict], columns: dict[str, str]) -> str:
    """`rows` as a text table: one column per key of `columns`, formatted with its spec (`""`, `".4f"`, ...).

    Text columns are left-aligned and numbers right-aligned; a missing value prints as `-`."""
    cells = [[("-" if row.get(key) is None else format(row[key], spec)) for key, spec in columns.items()]
             for row in rows]
    widths = [max([len(key), *(len(line[i]) for line in cells)]) for i, key in enumerate(columns)]
    numeric = [all(isinstance(row.get(key), (int, float)) for row in rows if row.get(key) is not None)
               for key in columns]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(list(columns)), *(line(values) for values in cells)])


MODEL_COLUMNS = {"model": "", "cv_r2": ".4f", "cv_r2_std": ".3f", "r2_train": ".3f", "r2_test": ".3f", "fit_seconds": ".2f"}


def model_table(results: list[dict]) -> str:
    """The models' metrics, best cross-validated R2 first: the table that ends finance_ml's log."""
    return text_table(sorted(results, key=lambda r: -r["cv_r2"]), MODEL_COLUMNS)
