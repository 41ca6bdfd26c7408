"""From ``make dev`` to an image in the console: the newcomer's path in a real browser.

``make dev`` runs ``comfyui-gateway dev``; this starts that command as a subprocess on
free ports (as tests/integration/test_dev_command.py does) with an API key set, so
the console asks for it. The ComfyUI emulator runs on a free port of its own
(COMFYUI_URL) instead of dev's fixed default 127.0.0.1:8188, which another test on
this shared machine may hold; test_dev_command covers dev's own emulator.

The test signs in, generates with a bundled workflow, watches the progress bar
reach 100 %, sees the output in the gallery, downloads it byte-exact and saves a
screenshot whose path it prints (``pytest -s`` shows it; it is also in the log).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.console.browser import launched_browser, new_tab, screenshot_path
from tests.ports import free_port

START_TIMEOUT_S = 90.0
DEV_KEY = "console-dev-key"
pytestmark = pytest.mark.timeout(300)


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(f"{base_url}/health", timeout=2).json().get("ok"):
                return
        except (requests.ConnectionError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"dev never became healthy:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("console-dev")
    emulator_port = free_port()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "STORAGE_LOCAL_PATH", "JWT_SECRET")
    }
    env |= {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "GRPC_PORT": str(free_port()),
        "ENVOY_ADMIN_PORT": str(free_port()),
        "COMFYUI_URL": f"http://127.0.0.1:{emulator_port}",
        "COMFYUI_EMULATOR_STEP_MS": "30",
        "API_KEYS": f"{DEV_KEY}:admin",
    }
    emulator_log = (workdir / "emulator.log").open("wb")
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comfyui_emulator",
            "--host",
            "127.0.0.1",
            "--port",
            f"{emulator_port}",
        ],
        cwd=workdir,
        env=env,
        stdout=emulator_log,
        stderr=emulator_log,
    )
    log = workdir / "dev.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "comfyui_gateway", "dev"],
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, process, log)
        yield base_url, workdir
    finally:
        _stop(process)
        _stop(emulator)
        emulator_log.close()


def test_from_make_dev_to_a_downloaded_image(
    dev: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, _workdir = dev
    with launched_browser() as browser, new_tab(browser) as tab:
        page = tab.page
        page.goto(f"{base_url}/ui/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Credential", exact=True).fill(DEV_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
        page.get_by_role("link", name="Open Icon 512", exact=False).click()
        page.get_by_label("prompt", exact=True).fill("a small blue robot, flat icon")
        page.get_by_label("width", exact=True).fill("128")
        page.get_by_label("height", exact=True).fill("128")
        page.get_by_label("steps", exact=True).fill("30")
        page.get_by_role("button", name="Generate").click()

        bar = page.get_by_role("progressbar", name="Progress")
        expect(page.locator("#job-detail")).to_contain_text("step")
        expect(bar).to_have_attribute("aria-valuenow", "100")
        expect(page.locator("#job-status")).to_have_text("succeeded")
        image = page.locator("#job-gallery img")
        expect(image).to_have_count(1)
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0

        job_id = page.url.rsplit("/", 1)[-1]
        headers = {"X-API-Key": DEV_KEY}
        job = requests.get(f"{base_url}/jobs/{job_id}", headers=headers, timeout=10).json()
        output = job["outputs"][0]
        expect(image).to_have_attribute("alt", output["filename"])
        with page.expect_download() as caught:
            page.get_by_role("link", name=f"Download {output['filename']}").click()
        download = caught.value
        assert download.suggested_filename == output["filename"]
        saved = Path(download.path()).read_bytes()
        stored = requests.get(base_url + output["url"], headers=headers, timeout=10).content
        assert saved == stored and len(saved) == output["size"]

        screenshot = screenshot_path("console-job")
        page.screenshot(path=screenshot, full_page=True)
        tab.assert_no_console_errors()
    with capsys.disabled():
        print(f"\nconsole screenshot: {screenshot}")
