"""``scripts/scan_secrets.py`` (run by ``make lint``): finds each shape of credential, reports the
line but never the value, honours the allow marker, and the repository itself is clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNER = ROOT / "scripts" / "scan_secrets.py"
# Built at run time, so this file holds no secret-shaped literal itself.
KEY_BLOCK = "-----BEGIN " + "RSA PRIVATE KEY-----"
AWS = "AKIA" + "Q3EGRIWZ7XJ4MN2P"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
VALUE = "9f86d081884c7d659a2feaa0c55ad015"


def _scan(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCANNER), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (KEY_BLOCK, "private key"),
        (f"aws_access_key_id = {AWS}", "AWS access key id"),
        (f"token: {GITHUB}", "GitHub token"),
        (f'CREDIT_REDIS_PASSWORD = "{VALUE}"', "secret assigned a literal"),
        (f"api_key: '{VALUE}'", "secret assigned a literal"),
        (f"url = postgresql://app:{VALUE}@db:5432/x", "credentials in a URL"),
    ],
)
def test_each_shape_is_found_by_line_without_printing_it(tmp_path: Path, line: str, kind: str):
    leaked = tmp_path / "leaked.py"
    leaked.write_text(f"# ok\n{line}\n")
    result = _scan(leaked)
    assert result.returncode == 1
    assert f"{leaked}:2: looks like a {kind}" in result.stderr
    assert VALUE not in result.stderr
    assert AWS not in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        'password = "${CREDIT_REDIS_PASSWORD}"',
        "--from-literal=<client-id>=<api-key>",
        'api_key: "changeme-changeme-changeme"',
        '_SECRETS_MOUNT = "/var/run/secrets/credit-scoring"',
        'token_header = "x-api-key-header-name"',
        "url = postgresql+psycopg://inference_log:$(secret)@postgresql:5432/x",
        f'api_key = "{VALUE}"  # secret-scan: allow (a documented test vector)',
    ],
)
def test_placeholders_names_and_marked_lines_pass(tmp_path: Path, line: str):
    fine = tmp_path / "fine.yaml"
    fine.write_text(line + "\n")
    result = _scan(fine)
    assert result.returncode == 0, result.stderr


def test_the_repository_has_no_secret():
    result = _scan()
    assert result.returncode == 0, result.stderr
