"""Combo values of a job's rendered graph, checked against the backends' catalogue.

Registration checks a workflow's literal combo values (``graph.check_graph``); a job's
own values (a ``checkpoint`` input, a sampler name) only exist once rendered. Checked
here at submission, ``../../../etc/passwd`` as a checkpoint is a 400 naming the input
instead of a job that fails later on the GPU host.

The catalogue is what workers published (each backend's raw ``/object_info``). Jobs
may run on any backend, so a value is accepted when any backend offers it, and nothing
is checked until every configured backend has published one (a model present only on
a backend not yet seen must not be refused).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from comfyui_gateway.backends import BackendReports
from comfyui_gateway.workflows.catalogue import NodeCatalogue
from comfyui_gateway.workflows.problems import Problems
from comfyui_gateway.workflows.template import whole_token

log = logging.getLogger(__name__)

CACHE_TTL_S = 10.0
"""How long a parsed catalogue is reused (parsing ~500 KB per request would cost more
than the rest of a submission)."""
SHOWN_CHOICES = 10


def merge(catalogues: Sequence[NodeCatalogue]) -> NodeCatalogue:
    """One catalogue offering what any of ``catalogues`` offers."""
    outputs: dict[str, tuple[str, ...]] = {}
    choices: dict[str, dict[str, tuple[Any, ...]]] = {}
    for catalogue in catalogues:
        outputs.update(catalogue.outputs)
        for class_type, inputs in catalogue.choices.items():
            merged = choices.setdefault(class_type, {})
            for name, values in inputs.items():
                known = merged.get(name, ())
                merged[name] = known + tuple(v for v in values if v not in known)
    return NodeCatalogue(outputs, {}, choices)


class CatalogueSource:
    """The merged catalogue of the configured backends, or None while one is unknown.

    After the first load a submission never waits for the catalogue: once it is older
    than ``CACHE_TTL_S`` the cached one is still answered while a single background
    refresh fetches and parses the new one in a thread. (Re-parsing ~500 KB inline put
    a 10-30 ms stall on whichever submission found it expired, and on every request that
    arrived during the reload, since each loaded it again.)
    """

    def __init__(self, reports: BackendReports, urls: Sequence[str]) -> None:
        self._reports = reports
        self._urls = tuple(urls)
        self._cached: tuple[float, NodeCatalogue | None] | None = None
        self._refresh: asyncio.Task[None] | None = None

    async def current(self) -> NodeCatalogue | None:
        if self._cached is None:
            await self._reload()
        elif time.monotonic() - self._cached[0] >= CACHE_TTL_S and self._refresh is None:
            self._refresh = asyncio.create_task(self._reload())
            self._refresh.add_done_callback(self._refreshed)
        assert self._cached is not None
        return self._cached[1]

    async def _reload(self) -> None:
        started = time.monotonic()
        raws = []
        for url in self._urls:
            raw = await self._reports.catalogue(url)
            if not raw:
                self._cached = (started, None)
                return
            raws.append(raw)
        merged = await asyncio.to_thread(_parse_all, raws) if raws else None
        self._cached = (started, merged)

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not refresh the backends' catalogue", exc_info=task.exception())


def _parse_all(raws: Sequence[Mapping[str, Any]]) -> NodeCatalogue:
    return merge([NodeCatalogue.from_object_info(raw) for raw in raws])


def check_rendered_choices(
    template: Mapping[str, Any], rendered: Mapping[str, Any], catalogue: NodeCatalogue
) -> Problems:
    """Every combo input of ``rendered`` must hold an offered value. A problem names the
    job input that set it (``inputs.checkpoint``), else the workflow node; the value
    itself is never echoed."""
    problems = Problems()
    for node_id, node in rendered.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("inputs"), Mapping):
            continue
        class_type = node.get("class_type")
        if not isinstance(class_type, str):
            continue
        for name, value in node["inputs"].items():
            choices = catalogue.choices_for(class_type, name)
            if choices is None or isinstance(value, list) or value in choices:
                continue
            problems.add(_field(template, node_id, name), _rule(class_type, name, choices))
    return problems


def _field(template: Mapping[str, Any], node_id: str, name: str) -> str:
    node = template.get(node_id)
    raw = node.get("inputs", {}).get(name) if isinstance(node, Mapping) else None
    token = whole_token(raw) if isinstance(raw, str) else None
    return f"inputs.{token}" if token else f"workflowJson.{node_id}.inputs.{name}"


def _rule(class_type: str, name: str, choices: tuple[Any, ...]) -> str:
    shown = ", ".join(repr(c) for c in choices[:SHOWN_CHOICES])
    more = ", ..." if len(choices) > SHOWN_CHOICES else ""
    return (
        f"must be one of the values the backends offer for {class_type}.{name} "
        f"({shown or 'none'}{more})"
    )
