"""The description's webhook receivers as real Node processes (tests/receivers/).

``ensure_installed()`` runs ``npm ci`` from the committed lockfile when
``node_modules`` is missing, so ``make test`` installs what it needs from the project's
own files. ``ExpressReceiver`` runs ``webhook-receiver.js`` verbatim on a free port;
``n8n_check`` runs the n8n Code-node snippet on a received body and headers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.ports import free_port

RECEIVERS = Path(__file__).resolve().parent / "receivers"


def ensure_installed() -> None:
    if (RECEIVERS / "node_modules" / "express").is_dir():
        return
    npm = shutil.which("npm")
    assert npm is not None, "npm (Node 20) is required for the webhook receiver tests"
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=RECEIVERS,
        check=True,
        timeout=120,
        capture_output=True,
    )


class ExpressReceiver:
    """``node webhook-receiver.js`` with WEBHOOK_PORT and WEBHOOK_SECRET; logs to a file."""

    def __init__(self, workdir: Path, secret: str) -> None:
        ensure_installed()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook/comfyui"
        self._log_path = workdir / f"express-{self.port}.log"
        self._log = self._log_path.open("wb")
        node = shutil.which("node")
        assert node is not None, "node is required for the webhook receiver tests"
        self.process = subprocess.Popen(
            [node, str(RECEIVERS / "webhook-receiver.js")],
            cwd=RECEIVERS,
            env={"PATH": "/usr/bin:/bin", "WEBHOOK_PORT": str(self.port), "WEBHOOK_SECRET": secret},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_for("Webhook receiver listening")

    def output(self) -> str:
        return self._log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout_s: float = 15.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            output = self.output()
            if text in output:
                return output
            if self.process.poll() is not None:
                raise RuntimeError(f"receiver exited:\n{output}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the receiver's output:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> ExpressReceiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def n8n_check(body: bytes, headers: dict[str, str]) -> tuple[bool, str]:
    """Run the n8n snippet on a received webhook: (passed, what it printed)."""
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(RECEIVERS / "n8n-code-node.js")],
        input=json.dumps({"body": body.decode("utf-8"), "headers": headers}).encode("utf-8"),
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0, done.stdout.decode("utf-8").strip()


def js_roundtrip(texts: list[str]) -> list[str]:
    """``JSON.stringify(JSON.parse(text))`` for each text, computed by Node."""
    node = shutil.which("node")
    assert node is not None
    # Each line is a JSON string literal holding one text; answers come back the same way.
    script = (
        "const lines = require('fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);"
        "const again = (text) => JSON.stringify(JSON.parse(text));"
        "for (const l of lines) console.log(JSON.stringify(again(JSON.parse(l))));"
    )
    done = subprocess.run(
        [node, "-e", script],
        input="\n".join(json.dumps(text) for text in texts).encode("utf-8"),
        capture_output=True,
        timeout=30,
        check=True,
    )
    # split("\n"), not splitlines(): U+2028 inside a text is not a line break here.
    return [json.loads(line) for line in done.stdout.decode("utf-8").split("\n") if line]
