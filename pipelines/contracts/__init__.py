"""Contracts: one YAML file per dataset, per published layer and for the region, read into
strict models; everything derived from them (reader mapping, suites, DDL, styles, docs) starts
here."""

import hashlib

from pipelines.contracts.base import DEFAULT_SCHEMA_DIR, SCHEMA_DIR_ENV, Contact, schema_dir
from pipelines.contracts.datasets import (
    CADENCE_DAYS,
    DATASETS,
    ROLES,
    AreaCheck,
    Contract,
    Coordinates,
    FieldSpec,
    Range,
    Role,
    all_contracts,
    core_asset_uri,
    county_layer,
    dataset_names,
    load_contract,
    normalise_header,
    with_role,
)
from pipelines.contracts.layers import (
    LAYER_ORDER,
    LayerColumn,
    LayerContract,
    all_layers,
    load_layer,
)
from pipelines.contracts.region import County, Extent, Region, Targets, load_region

__all__ = [
    "CADENCE_DAYS", "DATASETS", "DEFAULT_SCHEMA_DIR", "LAYER_ORDER", "ROLES", "SCHEMA_DIR_ENV",
    "AreaCheck", "Contact", "Contract", "Coordinates", "County", "Extent", "FieldSpec", "LayerColumn",
    "LayerContract", "Range", "Region", "Role", "Targets", "all_contracts", "all_layers", "core_asset_uri",
    "county_layer", "dataset_names", "load_contract", "load_layer", "load_region",
    "contracts_digest", "normalise_header", "schema_dir", "with_role",
]


def contracts_digest() -> str:
    """The contracts of this deployment (datasets and published layers) as one digest: what
    the integration's partitions and located rows were made under. The warehouse's setup
    (`pipelines.runner.setup_digest`) adds its own format to it: a change to the setup alone
    (an index) sets the warehouse up again but rebuilds no partition."""
    h = hashlib.sha256()
    for model in [*all_contracts(), *all_layers()]:
        h.update(model.model_dump_json().encode())
    return h.hexdigest()[:16]
