"""Licences and 12345 work orders placed on the base map."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contracts import load_region
from pipelines.integrate.inputs import COUNTY, geoms_of
from pipelines.integrate.workdays import ResponseRule, WorkCalendar, evaluate_response_frame


def pbf_hits(points: gpd.GeoDataFrame, pbf: gpd.GeoDataFrame) -> pd.Series:
    """The PBF parcel each point lies in or on (a point on a parcel's edge is on the parcel);
    where parcels overlap, the lowest id, as on the base map. `pbf` should be every parcel,
    not a partition's: a point may sit on a parcel assigned to the neighbouring county, and
    the full frame's spatial index is built once and shared by all partitions."""
    hits = pd.Series(pd.NA, index=points.index, dtype=object)
    if points.empty or pbf.empty:
        return hits
    point, parcel = pbf.sindex.query(geoms_of(points), predicate="intersects")
    if len(point):
        ids = pbf["yjjbnttbbh"].to_numpy(dtype=object)[parcel]
        lowest = pd.Series(ids).groupby(point).min()
        hits.iloc[lowest.index.to_numpy()] = lowest.to_numpy()
    return hits


def licenses_on_farmland(licenses: gpd.GeoDataFrame, pbf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    on = pbf_hits(licenses, pbf)
    rows = licenses[on.notna()]
    out = gpd.GeoDataFrame({
        "uscc": rows["tyshxydm"].values, "name": rows["ztmc"].values,
        "license_type": rows["zzlx"].values, "license_no": rows["zzbh"].values,
        "pbf_id": on[on.notna()].values, COUNTY: rows[COUNTY].values,
    }, geometry=rows.geometry.values, crs=4490)
    return out.rename_geometry("geom")


def normalise_name(name: object) -> str | None:
    """Company names compare after folding full-width forms, brackets and spaces."""
    if not isinstance(name, str):
        return None
    folded = unicodedata.normalize("NFKC", name).replace("(", "（").replace(")", "）")
    return "".join(folded.split()) or None


def _strings(values: pd.Series) -> pa.Array:
    """A text column as one Arrow array (null where missing or not text), without a Python
    object per row for the Arrow-backed strings the warehouse reads."""
    if values.dtype == object:  # hand-made frames: anything that is not text is no name
        values = values.where(values.map(lambda v: isinstance(v, str)), None)
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def normalised_names(values: pd.Series) -> pa.Array:
    """`normalise_name` of each value, called once per distinct value (a province's orders
    repeat the same businesses' names)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    folded = pa.array([normalise_name(u) for u in uniques], type=pa.large_string())
    return folded.take(pa.array(codes, mask=codes < 0))


@dataclass(frozen=True)
class Registers:
    """The licence register as work orders are matched against it: made once per run's
    inputs, not once per partition (a province's million licence names, normalised). Arrow
    arrays, so that matching a million orders is a hash lookup in C, not a Python list."""

    codes: pa.Array  # every credit code, once
    names: pa.Array  # each normalised name that names one credit code ...
    named: pa.Array  # ... and that code

    @classmethod
    def of(cls, licenses: pd.DataFrame) -> Registers:
        code = _strings(licenses["tyshxydm"])
        table = pa.table({"name": normalised_names(licenses["ztmc"]), "code": code})
        table = table.filter(pc.is_valid(table["name"]))
        # a name shared by several credit codes is ambiguous: it names no one
        per_name = table.group_by("name", use_threads=False).aggregate(
            [("code", "count_distinct"), ("code", "first")])
        one = per_name.filter(pc.equal(per_name["code_count_distinct"], 1))
        return cls(pc.unique(code.drop_null()), one["name"].combine_chunks(),
                   one["code_first"].combine_chunks())

    # Hash tables of the codes and names, made once per register: `pc.is_in` and
    # `pc.index_in` hash their whole value set on every call, 0.3 s for a province's million
    # codes, paid twice by each county's partition; a pandas Index keeps its table.
    @cached_property
    def code_index(self) -> pd.Index:
        return pd.Index(pd.array(self.codes, dtype="str"))

    @cached_property
    def name_index(self) -> pd.Index:
        return pd.Index(pd.array(self.names, dtype="str"))

    def ready(self) -> Registers:
        """The register with its hash tables made (before forking workers that share it)."""
        self.code_index.get_indexer(pd.array([], dtype="str"))
        self.name_index.get_indexer(pd.array([], dtype="str"))
        return self

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the hash tables (`code_index`, `name_index`): made again where
        needed."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def match_uscc(complaints: pd.DataFrame, licenses: pd.DataFrame,
               registers: Registers | None = None) -> pd.Series:
    """The business a work order names: by credit code, else by exact normalised name."""
    reg = registers or Registers.of(licenses)
    code = _strings(complaints["sjqyxydm"])
    known = reg.code_index.get_indexer(pd.array(code, dtype="str")) >= 0
    by_code = pc.if_else(pa.array(known, type=pa.bool_()), code, None)
    at = reg.name_index.get_indexer(pd.array(normalised_names(complaints["sjqymc"]), dtype="str"))
    by_name = reg.named.take(pa.array(at, mask=at < 0, type=pa.int64()))
    return pd.Series(pd.array(pc.coalesce(by_code, by_name), dtype="str"),
                     index=complaints.index)


# The columns of `complaints_enriched` judged at `as_of` (`response_results`): the others are
# the order's own, its licence's and its parcel's, whenever it is judged.
RESPONSE_RESULTS = ("contact_within_2h", "proposal_within_1wd", "solved_within_15wd",
                    "sla_calendar_unknown")


def response_results(complaints: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """The `RESPONSE_RESULTS` of each work order judged at `as_of`, indexed like it."""
    rule = ResponseRule.from_region(load_region().response_rule)
    sla = evaluate_response_frame(complaints[["pdsj", "sclxsj", "blyjsj", "bjsj"]], as_of, rule,
                                  WorkCalendar())
    return sla[list(RESPONSE_RESULTS)]


def complaints_enriched(complaints: gpd.GeoDataFrame, licenses: gpd.GeoDataFrame,
                        pbf: gpd.GeoDataFrame, as_of: datetime,
                        registers: Registers | None = None) -> gpd.GeoDataFrame:
    sla = response_results(complaints, as_of)
    on_pbf = pbf_hits(complaints, pbf)
    out = gpd.GeoDataFrame({
        "order_id": complaints["gdbh"].values,
        "received_at": complaints["slsj"].values,
        COUNTY: complaints[COUNTY].values,
        "order_type": complaints["gdlx"].values,
        "handler": complaints["zbdw"].values,
        "uscc": match_uscc(complaints, licenses, registers).values,
        "on_pbf": on_pbf.notna().values,
        "contact_within_2h": sla["contact_within_2h"].values,
        "proposal_within_1wd": sla["proposal_within_1wd"].values,
        "solved_within_15wd": sla["solved_within_15wd"].values,
        "sla_calendar_unknown": sla["sla_calendar_unknown"].values,
        "result": complaints["bljg"].values,
        "satisfaction": complaints["myd"].values,
        "caller_token": complaints["ldrdh_token"].values,
        "caller_phone_masked": complaints["ldrdh_masked"].values,
    }, geometry=complaints.geometry.values, crs=4490)
    return out.rename_geometry("geom")
