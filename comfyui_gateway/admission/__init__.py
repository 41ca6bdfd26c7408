"""Admission of new jobs: per-caller quotas (429 QUOTA_EXCEEDED, ``quota_gate``) and
back-pressure on the queue (503 QUEUE_FULL, ``backpressure``), both answered with
``Retry-After``; ``setup`` builds them (Redis ledger when shared, memory when embedded).
"""
