"""Generate an image with the Python gRPC client, printing each progress event.

    pip install ./clients/python
    python examples/python/generate.py [--target localhost:50051] [--api-key KEY] [--out DIR]

The five lines that matter are in ``main``: connect, generate with a progress
callback, download. Progress comes from the WatchJob stream, not from polling.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from comfyui_gateway_client import GatewayClient
from comfyui_gateway_client.v1 import jobs_pb2


def show(event: jobs_pb2.JobEvent) -> None:
    step = f" step {event.step}/{event.max_steps}" if event.max_steps else ""
    print(f"event {event.type:<8} {event.status:<9} {event.progress:5.1f}%{step}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default=os.environ.get("GATEWAY_GRPC", "localhost:50051"))
    parser.add_argument("--api-key", default=os.environ.get("COMFYUI_API_KEY", ""))
    parser.add_argument("--workflow", default="sdxl_realism_v1")
    parser.add_argument("--prompt", default="a lighthouse at dusk")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()

    inputs = {"prompt": args.prompt, "width": 64, "height": 64, "steps": args.steps}
    with GatewayClient(args.target, api_key=args.api_key) as gw:
        job = gw.generate(args.workflow, inputs, on_progress=show)
        for output in job.outputs:
            stored_name = output.url.rsplit("/", 1)[1]
            size = gw.download(job.job_id, stored_name, args.out / stored_name)
            print(f"output {output.filename} {output.content_type} {size} bytes {output.sha256}")


if __name__ == "__main__":
    main()
