"""The GX Data Docs, rebuilt from the validation results stored per drop."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pipelines.validate.run import gx_context


def build_data_docs(validations: Path, out_dir: Path) -> Path | None:
    """Feed the stored GX validation results to a GX file context and build its Data Docs."""
    results = sorted(validations.glob("*/*.json")) if validations.is_dir() else []
    if not results:
        return None
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx_context("file", out_dir)
    for path in results:
        dataset, drop_id = path.parent.name, path.stem
        result = ExpectationSuiteValidationResult(**json.loads(path.read_text("utf-8")))
        run_time = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(dataset),
                                         RunIdentifier(run_name=drop_id, run_time=run_time),
                                         drop_id)
        context.validation_results_store.set(key, result)
    sites = context.build_data_docs()
    return Path(sites["local_site"].removeprefix("file://"))
