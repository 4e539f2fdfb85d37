"""A full spill, on real files: at the cap (``max_bytes``) and when the file system itself refuses
the write part-way (a process whose file-size limit, RLIMIT_FSIZE, is reached: the kernel writes
what fits, then fails with EFBIG, as a full disk does with ENOSPC). Either way a batch is refused
whole and the file holds only whole batches: every refused record is dropped once, never also
replayed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inference_log.spill import SpillFile, SpillFull, read_spill


def _batch(i: int, n: int = 10) -> list[dict[str, object]]:
    return [
        {"request_id": f"r{i}", "index": j, "logged_at": "2026-11-30T12:00:00+00:00", "pad": "x" * 200}
        for j in range(n)
    ]


def test_the_cap_refuses_a_batch_whole_and_keeps_the_file_whole(tmp_path: Path):
    spill = SpillFile(tmp_path / "spill", max_bytes=20_000)
    accepted, i = 0, 0
    while spill.size() + 3_000 < 20_000:  # a batch is about 2.7 kB
        accepted += spill.append(_batch(i))
        i += 1
    with pytest.raises(SpillFull, match="the cap is 20000"):
        spill.append(_batch(i))
    assert accepted > 0
    assert spill.size() <= 20_000
    (path,) = spill.claim()
    rows, bad = read_spill(path)
    assert (len(rows), bad) == (accepted, 0)
    # Replayed (claimed and removed): room again.
    path.unlink()
    assert spill.size() == 0
    assert spill.append(_batch(0)) == 10


_REFUSED_BY_THE_FILE_SYSTEM = """
import resource, sys
from pathlib import Path
from inference_log.spill import SpillFile
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
spill = SpillFile(Path(sys.argv[1]))  # no cap: only the file system says no
accepted = 0
for i in range(1000):
    batch = [{"request_id": f"r{i}", "index": j, "logged_at": "2026-11-30T12:00:00+00:00",
              "pad": "x" * 200} for j in range(10)]
    try:
        accepted += spill.append(batch)
    except OSError as exc:
        print(accepted, exc.errno)
        break
"""


def test_a_write_the_file_system_refuses_part_way_is_cut_off(tmp_path: Path):
    directory = tmp_path / "spill"
    limit = 25_000  # not a multiple of a batch: the refused batch is written in part first
    done = subprocess.run(
        [sys.executable, "-c", _REFUSED_BY_THE_FILE_SYSTEM, str(directory), str(limit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    accepted, errno = (int(v) for v in done.stdout.split())
    assert errno == 27  # EFBIG
    assert accepted > 0
    (path,) = directory.glob("spill-*.jsonl")
    assert path.stat().st_size < limit  # the partial batch was cut off again
    rows, bad = read_spill(path)
    assert (len(rows), bad) == (accepted, 0)
