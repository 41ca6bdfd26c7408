"""``comfyui-gateway submit``: send a job over gRPC, watch its progress, fetch its outputs.

Talks to the gateway like any client does (gRPC on GRPC_PORT), so it works against a
remote gateway too (``--target``). Progress comes from the WatchJob stream, shown as a
bar; outputs are streamed to files and checked against the sha256 the job reports.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import click
import grpc
from google.api import httpbody_pb2
from google.protobuf import json_format, struct_pb2

from comfyui_gateway.v1 import (
    common_pb2,
    jobs_pb2,
    jobs_pb2_grpc,
    outputs_pb2,
    outputs_pb2_grpc,
    uploads_pb2_grpc,
)

UPLOAD_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class SubmitOptions:
    target: str
    workflow_id: str
    inputs: dict[str, Any]
    priority: str = ""
    watch: bool = False
    out_dir: Path | None = None
    api_key: str = ""
    token: str = ""


def describe_rpc_error(exc: grpc.RpcError, target: str) -> str:
    """The gateway's own code and message (the ``x-gw-error`` trailer), as REST shows them."""
    import json

    call = cast(grpc.Call, exc)
    trailers: Sequence[tuple[str, str | bytes]] = call.trailing_metadata() or ()
    retry = next((str(v) for k, v in trailers if k == "retry-after"), "")
    for key, value in trailers:
        if key == "x-gw-error":
            try:
                body = json.loads(value)
                text = f"{body['error']}: {body.get('message', '')}"
            except (ValueError, KeyError, TypeError):
                break
            return f"{text} (Retry-After: {retry} s)" if retry else text
    if call.code() == grpc.StatusCode.UNAVAILABLE:
        return f"cannot reach the gateway at {target}: is it running? ({call.details()})"
    return f"{call.code().name}: {call.details()}"


def parse_inputs(pairs: Sequence[str]) -> dict[str, Any]:
    """``k=v`` pairs; a value that parses as JSON (``20``, ``7.5``, ``true``) keeps its type.

    ``k=@photo.png`` names a local file: it is uploaded first (``POST /uploads``'s gRPC
    twin) and the job gets its ``upload://`` reference.
    """
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--input")
        if raw.startswith("@"):
            path = Path(raw[1:]).expanduser()
            if not path.is_file():
                raise click.BadParameter(f"{raw[1:]!r} is not a file", param_hint="--input")
            inputs[key] = path
            continue
        try:
            inputs[key] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[key] = raw
    return inputs


Metadata = tuple[tuple[str, str | bytes], ...]


def _metadata(options: SubmitOptions) -> Metadata:
    if options.api_key:
        return (("x-api-key", options.api_key),)
    if options.token:
        return (("authorization", f"Bearer {options.token}"),)
    return ()


def submit_job(options: SubmitOptions) -> jobs_pb2.Job | None:
    """Submit; with ``watch``, follow to the end and download. Returns the final job."""
    metadata = _metadata(options)
    with grpc.insecure_channel(options.target) as channel:
        jobs = jobs_pb2_grpc.JobServiceStub(channel)
        inputs = struct_pb2.Struct()
        inputs.update(_with_uploads(channel, options.inputs, metadata))
        created = jobs.CreateJob(
            jobs_pb2.CreateJobRequest(
                workflow_id=options.workflow_id, inputs=inputs, priority=options.priority
            ),
            metadata=metadata,
            timeout=30,
        )
        eta = f" (position {created.queue_position}, eta {created.eta_seconds} s)"
        click.echo(f"job {created.job_id}: {created.status}{eta if created.queue_position else ''}")
        if not options.watch:
            return None
        _follow(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id=created.job_id), metadata=metadata))
        job: jobs_pb2.Job = jobs.GetJob(
            jobs_pb2.GetJobRequest(job_id=created.job_id), metadata=metadata, timeout=30
        )
        _report(job)
        if options.out_dir is not None and job.status == "succeeded":
            outputs = outputs_pb2_grpc.OutputServiceStub(channel)
            for output in job.outputs:
                _download(outputs, job.job_id, output, options.out_dir, metadata)
        return job


def _with_uploads(
    channel: grpc.Channel, inputs: dict[str, Any], metadata: Metadata
) -> dict[str, Any]:
    """``inputs`` with each local file uploaded and replaced by its ``upload://`` ref."""
    uploads = uploads_pb2_grpc.UploadServiceStub(channel)
    values = dict(inputs)
    for key, value in inputs.items():
        if isinstance(value, Path):
            answer = uploads.CreateUpload(_file_chunks(value), metadata=metadata, timeout=120)
            click.echo(f"uploaded {value.name}: {answer.ref} ({answer.size} bytes)")
            values[key] = answer.ref
    return values


def _file_chunks(path: Path) -> Iterator[httpbody_pb2.HttpBody]:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    with path.open("rb") as handle:
        first = True
        while chunk := handle.read(UPLOAD_CHUNK_BYTES):
            yield httpbody_pb2.HttpBody(content_type=content_type if first else "", data=chunk)
            first = False


def _follow(events: Iterator[jobs_pb2.JobEvent]) -> None:
    node_types: dict[str, str] = {}
    with click.progressbar(length=100, label="queued", show_pos=False, width=30) as bar:
        shown = 0
        for event in events:
            if event.node and event.node_type:
                node_types[event.node] = event.node_type
            bar.label = _label(event, node_types.get(event.node, event.node))
            advance = int(event.progress) - shown
            if advance > 0:
                bar.update(advance)
                shown += advance
            if event.type == "terminal":
                break


def _label(event: jobs_pb2.JobEvent, node_name: str) -> str:
    if event.status == "queued" and event.queue_position:
        return f"queued (position {event.queue_position})"
    if event.max_steps:
        return f"{node_name} step {event.step}/{event.max_steps}"
    if node_name:
        return f"running {node_name}"
    return event.status


def _report(job: jobs_pb2.Job) -> None:
    click.echo(f"job {job.job_id}: {job.status}")
    if job.HasField("error"):
        click.echo(f"  error {job.error.code}: {job.error.message}", err=True)
    for output in job.outputs:
        click.echo(f"  {output.filename}  {output.size} bytes  sha256 {output.sha256[:16]}…")


def _download(
    stub: outputs_pb2_grpc.OutputServiceStub,
    job_id: str,
    output: common_pb2.Output,
    out_dir: Path,
    metadata: Metadata,
) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stored_name = output.url.rsplit("/", 1)[-1]
    path = out_dir / stored_name
    digest = hashlib.sha256()
    request = outputs_pb2.DownloadOutputRequest(job_id=job_id, filename=stored_name)
    with path.open("wb") as handle:
        for chunk in stub.DownloadOutput(request, metadata=metadata, timeout=300):
            handle.write(chunk.data)
            digest.update(chunk.data)
    verdict = "ok" if digest.hexdigest() == output.sha256 else "SHA256 MISMATCH"
    click.echo(f"  saved {path} ({verdict})")
    return path


def job_as_json(job: jobs_pb2.Job) -> str:
    return json_format.MessageToJson(job, indent=2)
