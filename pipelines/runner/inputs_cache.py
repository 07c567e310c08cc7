"""Where each input row lies, kept for the next integration run: only rows added since are
located again.

Every run reads the current rows of the four input datasets and locates each in its county
(`integrate.load_inputs`: a spatial join of representative points, a quarter of the read's
client CPU at 0.3x). A run with a staging store also stages, as a part of its own
(`.located`), each row's `_version_id` and county, and what they were located against (the
setup and the counties); the next run reads the rows fresh, takes the county of every row
the published run located, and locates only the others. A row's content never changes while
it is current (a load adds versions and closes old ones), so its county does not either
while the counties stay the same; other counties, another setup (`wh.meta("setup")`), no
cache, or `--full` locate every row, as `load_inputs` does.

The rows themselves are not cached (a first version did, in `.located/<frame>`): staged as
GeoParquet they cost as much to decode as the warehouse's own read (ADBC, binary COPY into
Arrow). Measured at 0.3x, the plan with cached rows took 10-13 client CPU s against 10-11
reading fresh, after a day's work orders and after one county's parcels alike.
"""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.contracts import Contract
from pipelines.integrate.inputs import COUNTY, Inputs, input_columns, input_contracts, locate
from pipelines.warehouse import Warehouse
from pipelines.warehouse.counties import current_counties
from pipelines.warehouse.staging import StagingStore

LOCATED = ".located"  # the part holding the run's counties of rows, and what they were against
VERSION = "_version_id"
Versions = npt.NDArray[np.int64]


def cache_key(setup: str, counties: gpd.GeoDataFrame) -> tuple[str, str]:
    """(setup, counties digest): counties cached under another setup, or located against
    other counties (codes, names, shapes, order: `locate` takes the first county a point
    lies in), are not used."""
    digest = hashlib.sha256()
    for column in (COUNTY, "county_name"):
        digest.update("\x1f".join(map(str, counties[column])).encode("utf-8") + b"\x1e")
    for wkb in shapely.to_wkb(np.asarray(counties.geometry.array, dtype=object)):
        digest.update(b"\x1e" if wkb is None else wkb)
    return setup, digest.hexdigest()


def load_inputs(wh: Warehouse, staging: StagingStore, run_id: str,
                full: bool = False) -> Inputs:
    """`integrate.load_inputs(wh)`, locating only the rows the published run did not, and
    each row's county staged for the next run."""
    counties = current_counties(wh).reset_index(drop=True)
    key = cache_key(wh.meta("setup") or "", counties)
    source = staging.published()
    known = {} if full or source is None or source == run_id else \
        _read_cache(staging, source, key)
    frames: dict[str, gpd.GeoDataFrame] = {}
    places: dict[str, gpd.GeoDataFrame] = {}
    for name, contract in input_contracts().items():
        rows = wh.read_current_versions(contract, input_columns(name, contract))
        ids = rows[VERSION].to_numpy(dtype=np.int64)
        frame = rows.drop(columns=[VERSION]).reset_index(drop=True)
        frame = frame.set_crs(4490, allow_override=True)
        frame[COUNTY] = _counties_of(frame, ids, contract, counties, known.get(name))
        frames[name] = frame
        places[name] = gpd.GeoDataFrame({VERSION: ids, COUNTY: frame[COUNTY].to_numpy()},
                                        geometry=[None] * len(ids), crs=4490)
    places["key"] = gpd.GeoDataFrame({"setup": [key[0]], "counties": [key[1]]},
                                     geometry=[None], crs=4490)
    staging.write(run_id, LOCATED, places)
    return Inputs(counties=counties, **frames)


def _read_cache(staging: StagingStore, source: str, key: tuple[str, str]
                ) -> dict[str, gpd.GeoDataFrame]:
    """`source`'s counties of rows by frame, when located under this setup and counties."""
    found = staging.read(source, LOCATED) or {}
    stamp = found.pop("key", None)
    if stamp is None or len(stamp) != 1 or (str(stamp["setup"].iloc[0]),
                                            str(stamp["counties"].iloc[0])) != key:
        return {}
    return found


def _counties_of(frame: gpd.GeoDataFrame, ids: Versions, contract: Contract,
                 counties: gpd.GeoDataFrame, known: gpd.GeoDataFrame | None) -> pd.Series:
    """`locate`'s answer for each row: the cached county of a version located before, the
    others located now."""
    if known is None or not len(known) or not len(frame):
        return locate(frame, counties, stated=contract.county_column)
    at = pd.Index(known[VERSION].to_numpy(dtype=np.int64)).get_indexer(ids)  # ids: unique
    hit = at >= 0
    out = locate(frame[~hit], counties, stated=contract.county_column).reindex(frame.index)
    out[hit] = known[COUNTY].to_numpy(dtype=object)[at[hit]]
    return out
