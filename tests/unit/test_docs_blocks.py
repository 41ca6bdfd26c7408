"""The docs test's own machinery: blocks found with their line, skip marks, port rewrites."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_docs import ROOT, extract_blocks, rewrite_ports

SAMPLE = """# Title

```sh
curl -s localhost:3000/health
```

<!-- docs-test: skip (needs Docker) -->

```sh
docker compose up
```

- a list item:

  ```python
  print("indented")
  ```

```
plain diagram
```
"""


def test_blocks_carry_their_line_language_and_skip_reason(tmp_path: Path) -> None:
    doc = tmp_path / "sample.md"
    doc.write_text(SAMPLE)
    blocks = extract_blocks(doc)
    assert [(b.line, b.lang, b.skip) for b in blocks] == [
        (3, "sh", None),
        (9, "sh", "needs Docker"),
        (15, "python", None),
        (19, "", None),
    ]
    assert blocks[2].code == 'print("indented")\n'
    assert blocks[0].where == f"{doc}:3"
    assert extract_blocks(ROOT / "README.md")[0].where.startswith("README.md:")


def test_documented_ports_are_rewritten_only_as_ports() -> None:
    ports = {3000: 41000, 50051: 41001}
    code = "curl localhost:3000/x; PORT=3000 run --port 3000 -d '{\"steps\": 30000}' :50051"
    assert rewrite_ports(code, ports) == (
        "curl localhost:41000/x; PORT=41000 run --port 41000 -d '{\"steps\": 30000}' :41001"
    )
