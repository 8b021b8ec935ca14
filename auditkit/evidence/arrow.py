"""Tables as Arrow and back: tuple columns as lists, tag dicts as JSON text, for the snapshot's Parquet files."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LIST_COLUMNS = ("source_prefixes", "source_ports", "destination_prefixes", "destination_ports", "source_asgs",
                "destination_asgs", "sources", "destinations", "field_errors", "attached_ids", "hidden_by",
                # topology tables (see auditkit.engine.topology)
                "pools", "nat_rules", "nat_pools", "asgs", "prefixes", "frontend_ids", "pool_ids",
                # the layers beyond NSGs (see auditkit.engine.layer_records)
                "source_groups", "destination_groups", "public_ip_ids", "public_addresses", "ip_groups",
                "protocols", "addresses", "backend_addresses")
TEXT_COLUMNS = ("direction", "access", "protocol")
JSON_COLUMNS = ("tags", "endpoints")
_SEP = "\x1f"  # ASCII unit separator: never part of an address, port or id


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A table as Arrow: tuple columns as lists, tag dicts as JSON text (their keys vary by NSG)."""
    columns = {}
    for c in frame.columns:
        values = frame[c]
        if c in LIST_COLUMNS:
            try:
                columns[c] = pa.array(values.to_numpy(dtype=object), type=pa.list_(pa.string()))
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[c] = pa.array([list(v) for v in values], type=pa.list_(pa.string()))
        elif c in JSON_COLUMNS:
            columns[c] = pa.array(_json_texts(values.to_numpy(dtype=object)), pa.string())
        elif c in TEXT_COLUMNS:
            objs = values.to_numpy(dtype=object)
            try:
                columns[c] = pa.array(objs, pa.string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[c] = pa.array([v if isinstance(v, str) else None for v in objs], pa.string())
        else:
            columns[c] = pa.array(values.to_numpy(dtype=object) if values.dtype == object else values, from_pandas=True)
    return pa.table(columns)


def _json_texts(values: np.ndarray) -> list:
    """Each value as JSON text with sorted keys, written once per distinct object (the rules of one
    NSG share its tags dict)."""
    codes, first = pd.factorize(np.fromiter(map(id, values), dtype=np.int64, count=len(values)))
    texts = np.empty(len(first), dtype=object)
    starts = np.unique(codes, return_index=True)[1]
    for k, i in zip(range(len(first)), starts, strict=True):
        v = values[i]
        try:
            texts[k] = orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode("utf-8")
        except TypeError:
            texts[k] = json.dumps(v, sort_keys=True, ensure_ascii=False)
    return texts[codes].tolist()


def _decoded(values: np.ndarray, decode: Any) -> np.ndarray:
    """Apply ``decode`` once per distinct value: list and tag columns repeat a few values a million times."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = np.empty(len(uniques) + 1, dtype=object)
    out[:-1] = [decode(u) for u in uniques]
    out[-1] = decode(None)
    return out[codes]


def _tuple_of(joined: Any) -> tuple:
    return tuple(joined.split(_SEP)) if isinstance(joined, str) and joined else ()


def from_arrow(table: pa.Table, arrow_strings: bool = False) -> pd.DataFrame:
    """The inverse of ``to_arrow``: lists back to tuples, JSON text back to dicts.

    ``arrow_strings`` keeps text columns in Arrow (no Python string per cell): for derived
    tables read many at a time.
    """
    data = {}
    for name in table.column_names:
        col = table.column(name)
        if name in LIST_COLUMNS:
            # Join each list in Arrow (C++), then split only the distinct joined values.
            joined = pc.binary_join(col, _SEP).to_numpy(zero_copy_only=False)
            empty = pc.list_value_length(col).to_numpy(zero_copy_only=False)
            joined = np.where(empty == 0, None, joined)
            data[name] = pd.Series(_decoded(joined, _tuple_of), dtype=object)
        elif name in JSON_COLUMNS:
            data[name] = pd.Series(_decoded(col.to_numpy(zero_copy_only=False),
                                            lambda v: json.loads(v) if v else {}), dtype=object)
        elif arrow_strings and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            data[name] = pd.Series(pd.arrays.ArrowStringArray(col.combine_chunks().cast(pa.large_string())))
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_null(col.type):
            values = col.to_numpy(zero_copy_only=False).astype(object)
            if col.null_count:
                values[pc.is_null(col).to_numpy(zero_copy_only=False)] = None
            data[name] = pd.Series(values, dtype=object)
        elif pa.types.is_integer(col.type) and col.null_count:
            data[name] = pd.Series(col.to_pandas(), dtype="Int64")
        else:
            data[name] = col.to_pandas()
    frame = pd.DataFrame(data)
    if "priority" in frame:
        frame["priority"] = frame["priority"].astype("Int64")
    return frame

