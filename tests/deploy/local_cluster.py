"""Run the chart's containers as local processes: rendered command, args and env, cluster host
names pointed at the test servers, fixed container ports swapped for free ones.

What differs from a pod, and why (and nothing else):
- host names of the stores and of the predictor -> 127.0.0.1 and the test servers' ports;
- the container ports (8080/8081) -> free ports; servers bind 127.0.0.1 instead of 0.0.0.0;
- ``python`` -> this venv's interpreter (the image's is the same package set); the image's ENV
  (docker/*.Dockerfile) is applied first, as the container runtime does;
- paths of the image and the pod (/app/feature_repo, /var/lib/credit-scoring, /tmp) -> this
  checkout's feature_repo and a private temporary directory per container;
- Secret references are resolved from ``secrets`` (the documented keys); the keys the pod mounts
  as files under /var/run/secrets/credit-scoring are passed as variables of the same name, which
  pydantic-settings reads the same way (the environment even takes precedence over the files);
  other Secret volumes (the API key hashes) are written as files into a private directory, and a
  variable naming the mount path names that directory instead.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import Process, free_port, start_process, wait_http

__all__ = ["Container", "LocalCluster"]

_SECRETS_MOUNT = "/var/run/secrets/credit-scoring"


@dataclass
class Container:
    """One rendered container, as the pod would run it."""

    name: str
    spec: dict[str, Any]
    volumes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        return [*self.spec.get("command", []), *self.spec.get("args", [])]

    def probe(self, kind: str) -> tuple[int, str]:
        get = self.spec[kind]["httpGet"]
        return int(get["port"]), str(get["path"])


@dataclass
class LocalCluster:
    """Where the cluster's names point to on this machine."""

    hosts: dict[str, tuple[str, int]]  # "mlflow.credit-data.svc.cluster.local:5000" -> (127.0.0.1, port)
    secrets: dict[str, dict[str, str]]  # Secret name -> data
    root: Path  # the checkout (its feature_repo stands for the image's /app/feature_repo)
    work: Path
    urls: dict[str, str] = field(default_factory=dict)  # local URLs of the stores, for assertions
    started: list[Process] = field(default_factory=list)

    # ------------------------------------------------------------------ translation
    def _host(self, text: str) -> str:
        for cluster, (host, port) in self.hosts.items():
            text = text.replace(cluster, f"{host}:{port}")
        return text

    def _paths(self, text: str, home: Path) -> str:
        # /tmp first: the other targets live under a temporary directory themselves.
        text = re.sub(r"(^|[\s=:'\"])/tmp/", lambda m: f"{m.group(1)}{home / 'tmp'}/", text)
        return (
            text.replace("/app/feature_repo", str(self.root / "feature_repo"))
            .replace("/app/governance", str(self.root / "governance"))
            .replace("/var/lib/credit-scoring", str(home / "var-lib"))
        )

    def image_env(self, container: Container) -> dict[str, str]:
        """The ENV of the container's image (docker/<component>.Dockerfile), PATH aside."""
        component = container.spec["image"].rsplit("/", 1)[-1].split(":")[0].removeprefix("credit-scoring-")
        text = (self.root / "docker" / f"{component}.Dockerfile").read_text().replace("\\\n", " ")
        env: dict[str, str] = {}
        for line in re.findall(r"^ENV (.+)$", text, flags=re.M):
            for name, value in re.findall(r"(\w+)=(\S+)", line):
                if name != "PATH":
                    env[name] = value
        return env

    def _secret_mounts(self, container: Container, home: Path) -> dict[str, str]:
        """Secret volumes mounted as directories (other than the settings files): written under
        ``home/mounts/<volume>``, as the kubelet would; mount path -> local directory."""
        mounted: dict[str, str] = {}
        for mount in container.spec.get("volumeMounts", []):
            if mount["mountPath"] == _SECRETS_MOUNT:
                continue
            volume = next((v for v in container.volumes if v["name"] == mount["name"]), {})
            if "secret" not in volume:
                continue
            local = home / "mounts" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            for key, value in self.secrets[volume["secret"]["secretName"]].items():
                (local / key).write_text(value)
            mounted[mount["mountPath"]] = str(local)
        return mounted

    def environment(self, container: Container, home: Path) -> dict[str, str]:
        mounted = self._secret_mounts(container, home)
        env: dict[str, str] = {
            name: self._paths(value if value != "/tmp" else "/tmp/", home).rstrip("/")
            for name, value in self.image_env(container).items()
        }
        for var in container.spec.get("env", []):
            if "valueFrom" in var:
                ref = var["valueFrom"]["secretKeyRef"]
                env[var["name"]] = self.secrets[ref["name"]][ref["key"]]
            else:
                value = str(var["value"])
                env[var["name"]] = mounted.get(value) or self._paths(self._host(value), home)
        for mount in container.spec.get("volumeMounts", []):
            if mount["mountPath"] != _SECRETS_MOUNT:
                continue
            (volume,) = [v for v in container.volumes if v["name"] == mount["name"]]
            secret = self.secrets[volume["secret"]["secretName"]]
            for item in volume["secret"]["items"]:
                env[item["path"]] = secret[item["key"]]
        # Separate host/port variables (Feast's placeholders): move the port with its host.
        for name, value in list(env.items()):
            if name.endswith("_HOST"):
                port_name = name.removesuffix("_HOST") + "_PORT"
                for cluster, (host, port) in self.hosts.items():
                    cluster_host, _, cluster_port = cluster.rpartition(":")
                    if value == cluster_host and env.get(port_name) == cluster_port:
                        env[name], env[port_name] = host, str(port)
        if env.get("CREDIT_BIND_ADDRESS") == "0.0.0.0":
            env["CREDIT_BIND_ADDRESS"] = "127.0.0.1"
        env["TMPDIR"] = str(home / "tmp")
        return env

    def command(self, container: Container, home: Path, ports: dict[str, int]) -> list[str]:
        argv = [self._paths(self._host(a), home) for a in container.argv]
        if argv[0] == "python":
            argv[0] = sys.executable
        for flag, port in ports.items():
            if flag in argv:
                argv[argv.index(flag) + 1] = str(port)
        return argv

    # ------------------------------------------------------------------ running
    def _home(self, name: str) -> Path:
        home = self.work / name
        for sub in ("var-lib", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        return home

    def run_job(self, container: Container, timeout: float) -> Process:
        """Run a job container to completion; returns the finished process (check its code)."""
        home = self._home(container.name)
        proc = start_process(
            container.name,
            self.command(container, home, {}),
            home,
            env=self.environment(container, home),
            cwd=home,
        )
        try:
            proc.wait(timeout=timeout)
        except Exception:
            proc.stop()
            raise
        return proc

    def start_server(self, container: Container, timeout: float = 240.0) -> tuple[Process, int]:
        """Start a serving container; returns it and its (remapped) HTTP port once ready."""
        home = self._home(container.name)
        http, grpc = free_port(), free_port()
        argv = self.command(container, home, {"--http_port": http, "--grpc_port": grpc})
        assert "--http_port" in argv, "the chart must pin the HTTP port the probes use"
        proc = start_process(container.name, argv, home, env=self.environment(container, home), cwd=home)
        self.started.append(proc)
        ready_port, ready_path = container.probe("readinessProbe")
        assert ready_port == 8080, "probes must target the container's HTTP port"
        wait_http(proc, f"http://127.0.0.1:{http}{ready_path}", timeout=timeout)
        return proc, http

    def stop(self) -> None:
        for proc in reversed(self.started):
            proc.stop()
        self.started.clear()


def containers_of(docs: tuple[dict[str, Any], ...]) -> dict[str, Container]:
    """Every container of the release, by a stable name: transformer, predictor, job names."""
    found: dict[str, Container] = {}
    for doc in docs:
        if doc["kind"] == "InferenceService" and "transformer" in doc["spec"]:
            for component in ("transformer", "predictor"):
                spec = doc["spec"][component]
                (container,) = spec["containers"]
                found[component] = Container(component, container, spec.get("volumes", []))
        elif doc["kind"] in ("CronJob", "Job"):
            pod = (
                doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                if doc["kind"] == "CronJob"
                else doc["spec"]["template"]["spec"]
            )
            (container,) = pod["containers"]
            found[container["name"]] = Container(container["name"], container, pod.get("volumes", []))
    return found


def cluster_address(url_or_host: str) -> str:
    """``http://name:port/...`` -> ``name:port``."""
    match = re.match(r"^(?:\w+://)?([^/]+)", url_or_host)
    assert match is not None
    return match.group(1)
