"""An integration run's inputs, kept for the next run: read and located only where the core
data changed since.

Every run reads the current rows of the four input datasets and locates each in its county
(`integrate.load_inputs`). A run with a staging store also stages what it read, located, as
parts of its own (`.located/<frame>`: the rows with their `_version_id` and county, and
`.located`: what they were located against), and the next run starts from the published
run's: per dataset it asks the warehouse for the current `_version_id`s (one integer a row),
keeps the cached rows still current, reads and locates only the rows added since (a dataset's
loads commit in the order of their version ids, `Warehouse.read_current_after`), and stages
the result; a dataset with no change is taken over server-side (`StagingStore.adopt`),
never decoded and encoded again.

A row's content never changes while it is current (a load adds versions and closes old
ones), so a cached row equals the row read fresh. What a row is located against can change:
new counties locate every cached row again (no re-read); a changed setup (contracts,
`wh.meta("setup")`), a cache missing or not matching the warehouse (a version id below the
last one seen that was not seen, a row added while the ids were read), or `--full` reads
everything fresh, as `load_inputs` does.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.contracts import Contract
from pipelines.integrate.inputs import COUNTY, Inputs, input_contracts, located
from pipelines.warehouse import Warehouse
from pipelines.warehouse.counties import current_counties
from pipelines.warehouse.staging import StagingStore

log = logging.getLogger(__name__)

LOCATED = ".located"  # the part naming what the cached rows were located against
VERSION = "_version_id"
Versions = npt.NDArray[np.int64]


def located_part(name: str) -> str:
    """The part holding one Inputs frame's located rows (`.located/<frame>`)."""
    return f"{LOCATED}/{name}"


def cache_key(setup: str, counties: gpd.GeoDataFrame) -> tuple[str, str]:
    """(setup, counties digest): rows cached under another setup are not used; rows located
    against other counties (codes, names, shapes, order: `locate` takes the first county
    a point lies in) are located again."""
    digest = hashlib.sha256()
    for column in (COUNTY, "county_name"):
        digest.update("\x1f".join(map(str, counties[column])).encode("utf-8") + b"\x1e")
    for wkb in shapely.to_wkb(np.asarray(counties.geometry.array, dtype=object)):
        digest.update(b"\x1e" if wkb is None else wkb)
    return setup, digest.hexdigest()


@dataclass
class _Frame:
    """One Inputs frame with the `_version_id` of each row, and whether it is the cached
    frame as it was (then taken over, not staged again)."""

    rows: gpd.GeoDataFrame  # with VERSION first, as read
    unchanged: bool = False


def load_inputs(wh: Warehouse, staging: StagingStore, run_id: str,
                full: bool = False) -> Inputs:
    """`integrate.load_inputs(wh)`, from the published run's cache where it holds, and the
    result staged as this run's cache for the next run."""
    counties = current_counties(wh).reset_index(drop=True)
    key = cache_key(wh.meta("setup") or "", counties)
    source = staging.published()
    cached: dict[str, gpd.GeoDataFrame] = {}
    same_counties = False
    if not full and source is not None and source != run_id:
        cached, same_counties = _read_cache(staging, source, key)
    frames: dict[str, _Frame] = {}
    how: dict[str, str] = {}
    for name, contract in input_contracts().items():
        found = cached.pop(name, None)  # let go of the cached rows once followed
        frame = None if found is None else _follow(wh, contract, found, counties,
                                                    same_counties)
        del found
        how[name] = "read" if frame is None else "cached" if frame.unchanged else "followed"
        if frame is None:
            frame = _Frame(_located(wh.read_current_after(contract, None), contract, counties))
        frames[name] = frame
    _stage(staging, run_id, source, key, frames)
    log.info("integration inputs: %s", ", ".join(f"{n} {h}" for n, h in how.items()))
    return Inputs(counties=counties,
                  **{name: f.rows.drop(columns=[VERSION]) for name, f in frames.items()})


def _located(rows: gpd.GeoDataFrame, contract: Contract,
             counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows read with their VERSION, located as `integrate.load_inputs` locates them."""
    return located(rows.drop(columns=[COUNTY], errors="ignore"), contract, counties)


def _read_cache(staging: StagingStore, source: str, key: tuple[str, str]
                ) -> tuple[dict[str, gpd.GeoDataFrame], bool]:
    """The cached frames of `source` when its setup is this one, and whether they were
    located against the same counties."""
    names = list(input_contracts())
    found = staging.read_parts(source, [LOCATED, *map(located_part, names)])
    stamp = found.get(LOCATED, {}).get("key")
    if stamp is None or len(stamp) != 1 or str(stamp["setup"].iloc[0]) != key[0]:
        return {}, False
    cached = {name: found[located_part(name)]["rows"] for name in names
              if "rows" in found.get(located_part(name), {})}
    return cached, str(stamp["counties"].iloc[0]) == key[1]


def _follow(wh: Warehouse, contract: Contract, cached: gpd.GeoDataFrame,
            counties: gpd.GeoDataFrame, same_counties: bool) -> _Frame | None:
    """The dataset's current rows from `cached` and the rows added since; None when the
    cache does not match the warehouse (then it is read fresh)."""
    seen = cached[VERSION].to_numpy(dtype=np.int64)
    current = wh.current_versions(contract)
    kept = np.isin(seen, current)
    added = np.setdiff1d(current, seen)
    last = int(seen.max()) if len(seen) else 0
    if len(added) and int(added.min()) <= last:
        log.warning("inputs cache of %s: version %d below the last seen (%d) was never "
                    "seen; read again", contract.dataset, int(added.min()), last)
        return None
    if same_counties and kept.all() and not len(added):
        return _Frame(cached, unchanged=True)
    new = wh.read_current_after(contract, last)
    if not np.array_equal(np.sort(new[VERSION].to_numpy(dtype=np.int64)), added) \
            or list(new.columns) != [c for c in cached.columns if c != COUNTY]:
        return None  # a load committed meanwhile, or other columns: read all of it again
    rest = cached if kept.all() else cached[kept]
    if same_counties:
        rows = _as_read(rest, _located(new, contract, counties))
    else:
        rows = _located(_as_read(rest.drop(columns=[COUNTY]), new), contract, counties)
    return _Frame(rows)


def _as_read(rest: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`rest` followed by `new`, with each column's dtype the one a read of all of them
    gives. Both warehouses read through Arrow, whose integer and boolean columns become
    float64 and object in pandas when they hold a null: so the dtype follows the rows, and
    cached rows typed by rows since ended (or new rows by a null-free day) would differ from
    a fresh read. `new` is read now, so its integer and boolean dtypes tell the column's kind
    even when empty; other dtypes of an empty read say nothing of the rows (the GeoPackage's
    timestamps are timezone-aware only when a value says so): `rest`'s stay."""
    if not len(new):
        both = rest.reset_index(drop=True)
    elif not len(rest):
        both = new.reset_index(drop=True)
    else:
        both = pd.concat([rest, new], ignore_index=True)
    for column, dtype in new.dtypes.items():
        values = both[column]
        kind_of_column = dtype == np.int64 or dtype == np.bool_
        if values.dtype == dtype or not (len(new) or kind_of_column):
            continue
        if kind_of_column:
            # the column's kind without a null; with one, what Arrow gives pandas for it
            nulls = values.isna().any()
            both[column] = values.astype(dtype if not nulls else
                                         np.float64 if dtype == np.int64 else object)
        else:
            both[column] = values.astype(dtype)
    if not isinstance(both, gpd.GeoDataFrame):
        both = gpd.GeoDataFrame(both, geometry=new.geometry.name)
    return both.set_crs(4490, allow_override=True)


def _stage(staging: StagingStore, run_id: str, source: str | None, key: tuple[str, str],
           frames: dict[str, _Frame]) -> None:
    """The run's cache: unchanged frames taken over from `source` within the store, the
    others written; the key last (a reader without it uses nothing)."""
    same = [located_part(n) for n, f in frames.items() if f.unchanged]
    if same and source is not None:
        staging.adopt(run_id, source, same)
    staging.write_parts(run_id, {located_part(n): {"rows": f.rows}
                                 for n, f in frames.items() if not f.unchanged})
    staging.write(run_id, LOCATED, {"key": gpd.GeoDataFrame(
        {"setup": [key[0]], "counties": [key[1]]}, geometry=[None], crs=4490)})
