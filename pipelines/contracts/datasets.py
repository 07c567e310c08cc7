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
from pydantic import Field, model_validator

from pipelines.contracts.base import Contact, Strict, lookup, schema_dir

FieldType = Literal["string", "integer", "number", "date", "datetime"]
PiiKind = Literal["name", "id_number", "phone"]
Cadence = Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
CADENCE_DAYS: dict[str, int] = {
    "daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366,
}
# The part a dataset plays in integration; at most one dataset plays each. The order is the
# order datasets are listed and answered in: the counties first, every other is placed on them.
Role = Literal["counties", "protected_farmland", "farmland_projects", "licences", "work_orders"]
ROLES: tuple[Role, ...] = ("counties", "protected_farmland", "farmland_projects", "licences",
                           "work_orders")


class Range(Strict):
    min: float | None = None
    max: float | None = None
    strict_min: bool = False


class FieldSpec(Strict):
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


class AreaCheck(Strict):
    field: str
    unit: Literal["m2", "mu"]
    tolerance: float


class Coordinates(Strict):
    lon: str
    lat: str
    crs_field: str | None = None
    # The system coordinates are in when the file does not say (hotline geocoders use GCJ-02).
    default_crs: str = "EPSG:4490"


class Contract(Strict):
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
    role: Role | None = None
    # The field that states the county a row belongs to (its code), checked against where
    # the row lies and used to place rows without a location.
    county_field: str | None = None
    # The field that names a division (the `counties` dataset).
    name_field: str | None = None
    # A delivery that loses area in a county is flagged (protected farmland must not shrink).
    watch_shrinkage: bool = False
    # The department's clerks, told when a delivery is rejected, late or missing (alerts).
    contacts: tuple[Contact, ...] = ()
    fields: tuple[FieldSpec, ...]

    @model_validator(mode="after")
    def _references_exist(self) -> Contract:
        codes = {f.code for f in self.fields}
        refs = [self.key] if self.key else []
        refs += [self.snapshot_by] if self.snapshot_by else []
        refs += list(self.date_order)
        refs += [f for f in (self.county_field, self.name_field) if f]
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
    def county_column(self) -> str | None:
        return self.county_field.lower() if self.county_field else None

    @property
    def name_column(self) -> str | None:
        return self.name_field.lower() if self.name_field else None

    @property
    def places_rows(self) -> bool:
        """Whether reading or checking its rows needs the counties: points placed from
        coordinates (GCJ-02 is told by the county they fall in), or a stated county."""
        return self.role != "counties" and (self.geometry_from_columns or any(
            f.domain_ref == "county_codes" for f in self.fields))

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


def core_asset_uri(dataset: str) -> str:
    """The Airflow Asset a dataset's core table is: ingest updates it, integration waits on it."""
    return f"yitu://core/{dataset}"


def _order(contract: Contract) -> tuple[int, str]:
    return (ROLES.index(contract.role) if contract.role else len(ROLES), contract.dataset)


@cache
def _contracts(folder: Path) -> dict[str, Contract]:
    """Every `<dataset>.yml` of the folder (a dataset is added by adding its contract)."""
    found: list[Contract] = []
    for path in sorted(folder.glob("*.yml")):
        if path.stem == "region":
            continue
        contract = Contract.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        if contract.dataset != path.stem:
            raise ValueError(f"{path.name} declares dataset {contract.dataset!r}")
        found.append(contract)
    roles = [c.role for c in found if c.role]
    if len(roles) != len(set(roles)):
        raise ValueError(f"{folder}: a role is played by more than one dataset: {roles}")
    return {c.dataset: c for c in sorted(found, key=_order)}


def dataset_names(folder: Path | None = None) -> tuple[str, ...]:
    return tuple(_contracts(folder or schema_dir()))


# The datasets of this deployment, counties first: read once, when yitu is imported.
DATASETS: tuple[str, ...] = dataset_names()


def load_contract(dataset: str, folder: Path | None = None) -> Contract:
    return lookup(_contracts(folder or schema_dir()), dataset, "dataset")


def all_contracts(folder: Path | None = None) -> list[Contract]:
    return list(_contracts(folder or schema_dir()).values())


def with_role(role: Role, folder: Path | None = None) -> Contract | None:
    """The dataset that plays `role`, if any does."""
    return next((c for c in all_contracts(folder) if c.role == role), None)


def county_layer(folder: Path | None = None) -> Contract | None:
    return with_role("counties", folder)
