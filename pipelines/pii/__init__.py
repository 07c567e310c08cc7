"""Personal data (PIPL) never reaches the warehouse in clear text.

Each personal field becomes a keyed token (HMAC-SHA256, for linking the same person across
datasets) and a masked display form (138****1234). Free text (NRMS, SQDZ) has phone and ID
numbers inside it replaced by their masked forms. The key lives outside the warehouse: a
token without the key cannot be reversed or brute-forced over the small phone-number space.
"""

from pipelines.pii.keys import KEY_FILE, PiiKeyMissing, load_key
from pipelines.pii.values import (
    PII_KINDS,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    normalise_name,
    normalise_phone,
    protect_columns,
    scrub_free_text,
    token,
)

__all__ = ["KEY_FILE", "PII_KINDS", "PiiKeyMissing", "load_key", "mask_id_number", "mask_phone",
           "normalise_id_number", "normalise_name", "normalise_phone", "protect_columns",
           "scrub_free_text", "token"]
