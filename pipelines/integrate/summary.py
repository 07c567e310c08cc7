"""Views across all counties: one row per enterprise, one row per county."""

from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.extensions import ExtensionArray

from pipelines.integrate.inputs import COUNTY

SATISFIED = {"满意", "基本满意"}
EVALUATED = SATISFIED | {"不满意"}
PROFILE_COLUMNS = ["uscc", "name", COUNTY, "licenses", "licenses_expired", "complaints",
                   "complaints_last_90d", "on_pbf"]


def enterprise_profile(licenses: gpd.GeoDataFrame, complaints: pd.DataFrame,
                       on_farmland: pd.DataFrame, as_of: datetime) -> gpd.GeoDataFrame:
    """One row per credit code holding a licence, in code order: the first name, county and
    point given for it (the first not missing), its licences and those expired by `as_of`'s
    day, the work orders matched to it (of them, those received in the 90 days before
    `as_of`), and whether a licence of it lies on permanent farmland.

    The codes are factorized once and counted with `np.bincount`: a pandas groupby per column
    and a reindex per count hashed a province's million codes five times (2 s of a day's
    publish). `tests/unit/test_summary.py` holds the groupby as the reference."""
    lic = licenses.dropna(subset=["tyshxydm"])
    if lic.empty:
        return gpd.GeoDataFrame({c: [] for c in PROFILE_COLUMNS}, geometry=[],
                                crs=4490).rename_geometry("geom")
    codes, uscc = pd.factorize(lic["tyshxydm"], sort=True)
    n = len(uscc)
    expired = (pd.to_datetime(lic["yxqz"]) < pd.Timestamp(as_of.date())).to_numpy()
    named = complaints.dropna(subset=["uscc"])
    whose = uscc.get_indexer(named["uscc"])  # -1: a code holding no licence
    recent = (pd.to_datetime(named["received_at"]) >=
              pd.Timestamp(as_of - timedelta(days=90))).to_numpy()
    _, first = np.unique(codes, return_index=True)  # every group has a row
    prof = {
        "uscc": uscc.array,
        "name": _first(lic["ztmc"].array, codes, n, first),
        COUNTY: _first(lic[COUNTY].array, codes, n, first),
        "licenses": np.bincount(codes, minlength=n).astype(np.int64),
        "licenses_expired": np.bincount(codes[expired], minlength=n).astype(np.int64),
        "complaints": np.bincount(whose[whose >= 0], minlength=n).astype(np.int64),
        "complaints_last_90d": np.bincount(whose[(whose >= 0) & recent],
                                           minlength=n).astype(np.int64),
        "on_pbf": uscc.isin(set(on_farmland["uscc"])),
    }
    out = gpd.GeoDataFrame(prof, geometry=_first(lic.geometry.array, codes, n, first), crs=4490)
    return out.rename_geometry("geom")


def _first(values: ExtensionArray, codes: npt.NDArray[np.intp], n: int,
           first: npt.NDArray[np.intp]) -> ExtensionArray:
    """Per group 0..n-1 of `codes`, its first value not missing (missing where none), as a
    groupby's `first()` gives it; `first`: each group's first row, whatever its values."""
    missing = np.asarray(values.isna())
    if missing[first].any():  # a group's first row lacks it: its first row having it
        held = np.flatnonzero(~missing)
        groups, at = np.unique(codes[held], return_index=True)
        first = np.full(n, -1, dtype=np.intp)
        first[groups] = held[at]
    return values.take(first, allow_fill=True)


def region_summary(counties: gpd.GeoDataFrame, base_map: pd.DataFrame, licenses: pd.DataFrame,
                   on_farmland: pd.DataFrame, complaints: pd.DataFrame) -> gpd.GeoDataFrame:
    """One row per county, in `counties`' order: its farmland by class, licences (on
    permanent farmland), work orders and their response and satisfaction rates.

    Each frame is grouped by county once: picking each county's rows out of a province's
    million took 24 passes over each (1 s of every publish). `tests/unit/test_summary.py`
    holds the per-county loop as the reference."""
    codes = pd.Index(counties[COUNTY])
    area = base_map.groupby([COUNTY, "class"])["area_mu"].sum()

    def mu(*classes: str) -> list[float]:
        return [round(float(sum(area.get((code, c), 0) for c in classes)), 4) for code in codes]

    def per_county(frame: pd.DataFrame) -> pd.Series:
        return frame[COUNTY].value_counts().reindex(codes, fill_value=0)

    sat = complaints["satisfaction"].where(complaints["satisfaction"].isin(EVALUATED))
    rates = pd.DataFrame({
        COUNTY: complaints[COUNTY],
        **{c: _known(complaints[c]) for c in SLA_COLUMNS},
        "satisfaction": _known(sat.isin(SATISFIED).where(sat.notna())),
    })
    # per county and column: the rows known (not missing) and of them those true
    known = rates.groupby(COUNTY).count().reindex(codes, fill_value=0)
    true = rates.groupby(COUNTY).sum(min_count=0).reindex(codes, fill_value=0)
    out = pd.DataFrame({
        COUNTY: codes, "county_name": counties["county_name"].to_numpy(),
        "pbf_area_mu": mu("pbf_and_hsf", "pbf_only"),
        "hsf_area_mu": mu("pbf_and_hsf", "hsf_only"),
        "hsf_on_pbf_area_mu": mu("pbf_and_hsf"),
        "licenses": per_county(licenses).to_numpy(dtype=np.int64),
        "licenses_on_pbf": per_county(on_farmland).to_numpy(dtype=np.int64),
        "complaints": per_county(complaints).to_numpy(dtype=np.int64),
    })
    for column, name in (*zip(SLA_COLUMNS, SLA_RATES, strict=True),
                         ("satisfaction", "satisfaction_rate")):
        out[name] = [round(t / k, 4) if k else None
                     for t, k in zip(true[column].to_numpy(), known[column].to_numpy(), strict=True)]
    gdf = gpd.GeoDataFrame(out, geometry=counties.geometry.values, crs=4490)
    return gdf.rename_geometry("geom")


SLA_COLUMNS = ("contact_within_2h", "proposal_within_1wd", "solved_within_15wd")
SLA_RATES = ("sla_contact_rate", "sla_proposal_rate", "sla_solved_rate")


def _known(values: pd.Series) -> pd.Series:
    """True, False or missing (a nullable boolean: counted and summed per county)."""
    return values.astype("boolean")
