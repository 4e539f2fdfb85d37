"""Which applicants the challenger decides in ``split`` mode: a sticky, monotone, exact share.

Each applicant gets a bucket in ``0..99`` from a keyed hash of its id, salted with the
challenger's model version (BLAKE2b, so every transformer replica and every restart computes the
same bucket: nothing is salted per process, unlike Python's ``hash``). The challenger decides an
applicant exactly when ``bucket < percent``, so:

- the same applicant lands on the same side on every request and every replica;
- raising the percentage only adds applicants to the challenger (monotone): an applicant already
  on the challenger stays there, and lowering it only moves applicants back;
- a new challenger version draws a fresh sample (the salt changes), so one version's unlucky
  applicants are not the next one's too;
- the share of distinct applicants is the percentage, within sampling error (about 0.5 points
  over 10,000 applicants at 50%: ``tests/transformer/test_routing.py``), at any replica count,
  because the hash is in the transformer and needs no coordination.

Pure functions over ids: the transformer (``transformer.split``) calls them, the tests prove them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["BUCKETS", "bucket", "challenger_rows"]

BUCKETS = 100
"""One bucket per percentage point: ``CREDIT_CHALLENGER_PERCENT`` is an integer 0-100."""


def bucket(applicant_id: str, salt: str) -> int:
    """The applicant's bucket in ``0..BUCKETS-1`` under ``salt`` (the challenger's version)."""
    # The salt goes in as BLAKE2b's key: "3" + "1234" and "31" + "234" never collide the way a
    # plain concatenation would. 8 bytes make the modulo bias negligible (< 1e-17).
    digest = hashlib.blake2b(applicant_id.encode(), digest_size=8, key=salt.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def challenger_rows(applicant_ids: Sequence[str], percent: int, salt: str) -> np.ndarray:
    """bool ``[N]``: True where the challenger decides (``bucket < percent``), in request order.

    ``percent`` 0 and 100 need no hashing (and so no salt): nobody, or everybody.
    """
    if not 0 <= percent <= BUCKETS:
        raise ValueError(f"percent must be an integer from 0 to {BUCKETS}, not {percent}")
    n = len(applicant_ids)
    if percent == 0:
        return np.zeros(n, dtype=bool)
    if percent == BUCKETS:
        return np.ones(n, dtype=bool)
    return np.fromiter((bucket(a, salt) < percent for a in applicant_ids), dtype=bool, count=n)
