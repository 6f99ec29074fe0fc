"""The image's command runs the app: the Dockerfile's build stage replayed into a fresh venv
(its RUN lines, with dependencies taken from the test environment instead of downloaded), then
its ENTRYPOINT + CMD started with the runtime stage's ENV, as `docker run` would.

No Docker engine runs here, so the base image, the non-root user and the COPY between stages
are not exercised; the wheel, its packaged files and the command line are."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops import deploy_files as files
from tests.servers import free_port

STAGES = files.dockerfile()
BUILD, RUNTIME = STAGES["build"], STAGES["runtime"]
IMAGE_VENV = "/opt/gateway"
IMAGE_HOME = RUNTIME.last("WORKDIR")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")  # as .dockerignore
ADMIN_KEY = "image-admin-key"  # `docker run -e GATEWAY_ADMIN_KEY=...`, as the README says


class Image:
    def __init__(self, root: Path) -> None:
        self.venv = root / "venv"
        self.home = root / "home"  # the runtime stage's WORKDIR (a volume in the image)

    def path(self, value: str) -> str:
        return value.replace(IMAGE_VENV, str(self.venv)).replace(IMAGE_HOME, str(self.home))

    def env(self, port: int) -> dict[str, str]:
        """The runtime stage's ENV with its paths mapped here and a free port."""
        env = {"PATH": os.environ["PATH"]}
        for name, value in RUNTIME.env().items():
            env[name] = self.path(value).replace("$PATH", env["PATH"])
        env["GATEWAY_PORT"] = str(port)
        return env


def replay_build(root: Path) -> Image:
    image = Image(root)
    source = root / "src"
    source.mkdir()
    for args in BUILD.all("COPY"):  # COPY <paths...> <dest> relative to WORKDIR /src
        *paths, destination = shlex.split(args)
        into_folder = len(paths) > 1 or destination.endswith("/")
        for path in paths:
            target = source / destination / Path(path).name if into_folder else source / destination
            if (files.ROOT / path).is_dir():
                shutil.copytree(files.ROOT / path, target, symlinks=True, ignore=IGNORED)
            else:
                shutil.copy2(files.ROOT / path, target)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for command in BUILD.all("RUN"):
        assert "pip install ." in command or "pip install" not in command, command
        command = image.path(command).replace("pip install .", "pip install --no-deps .")
        subprocess.run(
            ["bash", "-euc", command],
            cwd=source,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        if (image.venv / "bin/python").exists() and not list(image.venv.glob("**/_deps.pth")):
            purelib = sysconfig.get_paths()["purelib"]  # the dependencies, already installed
            site = next(image.venv.glob("lib/python*/site-packages"))
            (site / "_deps.pth").write_text(purelib + "\n")
    image.home.mkdir()
    return image


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return replay_build(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def container(image: Image) -> Iterator[tuple[str, dict[str, str], subprocess.Popen]]:
    port = free_port()
    env = image.env(port) | {"GATEWAY_ADMIN_KEY": ADMIN_KEY}
    argv = [*RUNTIME.exec_form("ENTRYPOINT"), *RUNTIME.exec_form("CMD")]
    log = open(image.home / "serve.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(argv, cwd=image.home, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, image)
        yield url, env, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
        log.close()


def _wait_ready(url: str, process: subprocess.Popen, image: Image) -> None:
    for _ in range(200):
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(
        "the image's command did not become ready:\n" + (image.home / "serve.log").read_text()
    )


def test_the_package_comes_from_the_built_wheel(image: Image) -> None:
    python = image.venv / "bin/python"
    where = subprocess.run(
        [str(python), "-c", "import gateway; print(gateway.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=image.home,
    ).stdout
    assert where.startswith(str(image.venv)), where  # not the editable checkout
    packaged = Path(where.strip()).parent
    assert (packaged / "static/dashboard.js").exists()
    assert (packaged / "migrations/env.py").exists()
    assert list(packaged.glob("_bpe*.so")), "the token counter was not compiled into the wheel"
    count = "from gateway import tokens; print(tokens.count('hello world', 'gpt-4o'))"
    counted = subprocess.run([str(python), "-c", count], capture_output=True, text=True,
                             check=True, cwd=image.home).stdout
    assert counted.strip() == "2"


def test_entrypoint_serves_the_offline_demo(container, image: Image) -> None:
    url, env, process = container
    assert httpx.get(f"{url}/readyz", timeout=5).json()["status"] == "ok"
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    page = httpx.get(f"{url}/dashboard", timeout=5)
    assert page.status_code == 200 and "dashboard/dashboard.js" in page.text
    call = {"model": "sim-gpt", "messages": [{"role": "user", "content": "hi"}]}
    keyless = httpx.post(f"{url}/v1/chat/completions", timeout=10, json=call)
    assert keyless.status_code == 401  # on 0.0.0.0 the image never runs open
    assert "POST /v1/gateway/keys" in keyless.json()["error"]["message"]
    new = httpx.post(f"{url}/v1/gateway/keys", json={"workload": "demo"}, timeout=10,
                     headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert new.status_code == 201, new.text
    reply = httpx.post(f"{url}/v1/chat/completions", timeout=10, json=call,
                       headers={"authorization": f"Bearer {new.json()['key']}"})
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    assert (image.home / "gateway.db").exists()  # the image's default ledger, in its volume
    log = (image.home / "serve.log").read_text()
    assert "simulator" in log and "0.0.0.0" in log
    assert "no API key is configured" in log and "/metrics is public" in log


def test_healthcheck_command_passes(container) -> None:
    url, env, process = container
    command = files.healthcheck_command(RUNTIME)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_migrate_command_runs_with_the_image_env(image: Image) -> None:
    env = image.env(free_port())
    env["GATEWAY_DATABASE_URL"] = env["GATEWAY_DATABASE_URL"].replace("gateway.db", "fresh.db")
    result = subprocess.run(
        [*RUNTIME.exec_form("ENTRYPOINT"), "migrate"],
        cwd=image.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (image.home / "fresh.db").exists()


def test_sigterm_stops_the_container_cleanly(container, image: Image) -> None:
    url, env, process = container
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    assert "Application shutdown complete" in (image.home / "serve.log").read_text()
