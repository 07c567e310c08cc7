"""Dataset contracts: `schemas/<dataset>.yml` says everything about a dataset once.

The reader's header mapping, the Great Expectations suite, the warehouse DDL and the README's
dataset table are all derived from these models (see `pipelines.codegen`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

FieldType = Literal["string", "integer", "number", "date", "datetime"]
PiiKind = Literal["name", "id_number", "phone"]
Cadence = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
CADENCE_DAYS: dict[str, int] = {
    "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366,
}


class _Strict(BaseModel):
    # A contract key we do not understand is an error, never silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    min: float | None = None
    max: float | None = None
    strict_min: bool = False


class FieldSpec(_Strict):
    code: str
    label: str
    type: FieldType = "string"
    required: bool = False
    aliases: tuple[str, ...] = ()
    pattern: str | None = None
    domain: tuple[str, ...] | None = None
    domain_ref: Literal["county_codes"] | None = None
    range: Range | None = None
    check: Literal["uscc", "id_card"] | None = None
    pii: PiiKind | None = None
    free_text: bool = False
    unit: str | None = None

    @property
    def column(self) -> str:
        """Canonical warehouse column: the standard code in lower case."""
        return self.code.lower()


class AreaCheck(_Strict):
    field: str
    unit: Literal["m2", "mu"]
    tolerance: float


class Coordinates(_Strict):
    lon: str
    lat: str
    crs_field: str | None = None
    # The system coordinates are in when the file does not say (hotline geocoders use GCJ-02).
    default_crs: str = "EPSG:4490"


class Contract(_Strict):
    dataset: str
    title: str
    title_en: str
    department: str
    layer_names: tuple[str, ...] = ()
    geometry: Literal["MultiPolygon", "Point"]
    coordinates: Coordinates | None = None
    geometry_required: bool = True
    key: str | None
    cadence: Cadence
    delivery: Literal["snapshot", "increment"]
    # A snapshot replaces only the current rows sharing these values with the delivery
    # (a county's file replaces that county), so per-county deliveries never wipe the others.
    snapshot_by: str | None = None
    reject_threshold: float = Field(ge=0, le=1)
    area_check: AreaCheck | None = None
    date_order: tuple[str, ...] = ()
    fields: tuple[FieldSpec, ...]

    @model_validator(mode="after")
    def _references_exist(self) -> Contract:
        codes = {f.code for f in self.fields}
        refs = [self.key] if self.key else []
        refs += [self.snapshot_by] if self.snapshot_by else []
        refs += list(self.date_order)
        if self.area_check:
            refs.append(self.area_check.field)
        if self.coordinates:
            refs += [self.coordinates.lon, self.coordinates.lat]
        missing = [r for r in refs if r not in codes]
        if missing:
            raise ValueError(f"{self.dataset}: contract names unknown fields {missing}")
        return self

    def field(self, code: str) -> FieldSpec:
        return next(f for f in self.fields if f.code == code)

    @property
    def key_column(self) -> str | None:
        return self.key.lower() if self.key else None

    @property
    def geometry_from_columns(self) -> bool:
        return self.geometry == "Point" and self.coordinates is not None

    def header_map(self) -> dict[str, str]:
        """Normalised header spelling -> canonical column, for every code, label and alias."""
        mapping: dict[str, str] = {}
        for f in self.fields:
            for spelling in (f.code, f.label, *f.aliases):
                mapping[normalise_header(spelling)] = f.column
        return mapping


def normalise_header(name: str) -> str:
    """Fold the ways departments spell one header: full-width forms, case, stray spaces."""
    folded = unicodedata.normalize("NFKC", str(name))
    return re.sub(r"\s+", "", folded).upper()


class County(_Strict):
    code: str
    name: str
    seat: tuple[float, float]


class Extent(_Strict):
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


class Region(_Strict):
    region: str
    province_code: str
    extent: Extent
    gk_zones: tuple[int, ...]
    response_rule: dict[str, float | int | str]
    counties: tuple[County, ...]

    @property
    def county_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.counties)

    def county_name(self, code: str) -> str | None:
        return next((c.name for c in self.counties if c.code == code), None)


DATASETS: tuple[str, ...] = (
    "admin_divisions", "farmland_pbf", "farmland_hsf", "licenses", "complaints",
)


def core_asset_uri(dataset: str) -> str:
    """The Airflow Asset a dataset's core table is: ingest updates it, integration waits on it."""
    return f"yitu://core/{dataset}"


@cache
def load_contract(dataset: str, schema_dir: Path = SCHEMA_DIR) -> Contract:
    if dataset not in DATASETS:
        raise KeyError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    raw = yaml.safe_load((schema_dir / f"{dataset}.yml").read_text(encoding="utf-8"))
    contract = Contract.model_validate(raw)
    if contract.dataset != dataset:
        raise ValueError(f"{dataset}.yml declares dataset {contract.dataset!r}")
    return contract


def all_contracts(schema_dir: Path = SCHEMA_DIR) -> list[Contract]:
    return [load_contract(d, schema_dir) for d in DATASETS]


@cache
def load_region(schema_dir: Path = SCHEMA_DIR) -> Region:
    raw = yaml.safe_load((schema_dir / "region.yml").read_text(encoding="utf-8"))
    return Region.model_validate(raw)
