"""Signed webhooks on every terminal job state, delivered from a durable outbox.

Modules: ``policy`` (allowlist at creation, address checks at delivery), ``jsonjs``
(``JSON.stringify``-exact bodies), ``signing`` (``X-Signature``), ``payload`` (the
body), ``outbox`` (``webhook_deliveries`` rows, written with the terminal state),
``sender`` (one POST), ``deliverer`` (the retrying loop). Import from the modules:
``jobs.transitions`` imports ``outbox``, so this package re-exports nothing.
"""
