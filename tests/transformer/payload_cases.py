"""The golden bad payloads (tests/testdata/transformer/bad_payloads.json), shared by the unit
tests of the decoders and the HTTP tests against a running transformer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

GOLDEN = Path(__file__).parent.parent / "testdata" / "transformer" / "bad_payloads.json"


@dataclass(frozen=True)
class BadPayload:
    id: str
    protocol: str
    status: int
    field: str
    message: str
    body: bytes
    content_type: str
    index: int | None

    def matches(self, answer: dict[str, Any]) -> bool:
        """The answer names the problem: a problem on ``field`` (and ``index``) saying ``message``."""
        return any(
            p["field"] == self.field
            and self.message in p["message"]
            and (self.index is None or p["index"] == self.index)
            for p in answer.get("problems", [])
        )


def load_cases() -> list[BadPayload]:
    cases = []
    for raw in orjson.loads(GOLDEN.read_bytes())["cases"]:
        if "raw" in raw:
            body = raw["raw"].encode()
        else:
            doc = raw["body"]
            if "repeat_instances" in raw:
                doc = {**doc, "instances": doc["instances"][:1] * raw["repeat_instances"]}
            body = orjson.dumps(doc)
        cases.append(
            BadPayload(
                raw["id"],
                raw["protocol"],
                raw["status"],
                raw["field"],
                raw["message"],
                body,
                raw.get("content_type", "application/json"),
                raw.get("index"),
            )
        )
    return cases


CASES = load_cases()
