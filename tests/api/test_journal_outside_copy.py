"""An auditor's copy of the journal and its checkpoints, checked and kept up outside the registry (README).

The README said checkpoints protect the chain only as far as they are kept outside the database, but not how a
kept checkpoint is checked there (which bytes its signature covers), and told an auditor to resume a walk "from
the last `seq` kept" when the list took only its own opaque cursors: a walk that reached the end got
``next: null``, and the next day's walk started again from the first entry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory
from tests.unit.test_readme_truth import README

SECTION = README.split("\n## The journal\n", 1)[1].split("\n## ", 1)[0]
RECIPE = (
    SECTION.split("**Checking a checkpoint outside the registry**", 1)[1].split("```python\n", 1)[1].split("```")[0]
)


def _check(
    recipe: Path, state: str, public_key: str, checkpoint: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # the README's own recipe, run as an auditor runs it
        [sys.executable, str(recipe), state, public_key],
        input=json.dumps(checkpoint),
        capture_output=True,
        text=True,
        check=False,
    )


async def test_a_kept_checkpoint_is_checked_outside_the_registry_as_the_readme_says(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    tmp_path: Path,
) -> None:
    auditor = await auth("auditor")
    made = await client.post("/api/v1/journal/checkpoints", headers=auditor)
    assert made.status_code == 201, made.text
    checkpoint = made.json()
    keys = (await client.get("/exchange/v1/keys")).json()["keys"]
    public_key = next(key["public_key"] for key in keys if key["key_id"] == checkpoint["key_id"])
    recipe = tmp_path / "check_checkpoint.py"
    recipe.write_text(RECIPE)
    good = _check(recipe, "AT", public_key, checkpoint)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"checkpoint {checkpoint['seq']} is AT's word: head {checkpoint['head_hash']}"
    for forged in ({"seq": checkpoint["seq"] + 1}, {"head_hash": "00" * 32}, {"signed_at": "2020-01-01T00:00:00Z"}):
        refused = _check(recipe, "AT", public_key, checkpoint | forged)
        assert refused.returncode != 0, forged
    assert _check(recipe, "DE", public_key, checkpoint).returncode != 0
    # and the kept head is on the chain: the entry at its seq, read from the position before it
    page = await client.get(f"/api/v1/journal?after_seq={checkpoint['seq'] - 1}&limit=1", headers=auditor)
    assert page.status_code == 200, page.text
    [entry] = page.json()["items"]
    assert (entry["seq"], entry["hash"]) == (checkpoint["seq"], checkpoint["head_hash"])


async def test_a_walk_goes_on_from_the_last_seq_kept(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    auditor = await auth("auditor")
    await auth("records-officer")
    first = (await client.get("/api/v1/journal?limit=500", headers=auditor)).json()
    assert first["next"] is None  # the end of the chain: no cursor to go on from
    last = first["items"][-1]["seq"]
    await auth("licensing-officer")  # journaled since
    later = await client.get(f"/api/v1/journal?after_seq={last}", headers=auditor)
    assert later.status_code == 200, later.text
    seqs = [entry["seq"] for entry in later.json()["items"]]
    assert seqs == list(range(last + 1, last + 1 + len(seqs)))
    # the read of the first page and the new token, in chain order
    assert [entry["action"] for entry in later.json()["items"]][:2] == ["journal.read", "token.created"]
    # a position is a cursor like another: the same page as the list's own cursor gives
    cursor = (await client.get(f"/api/v1/journal?limit=1&after_seq={last}", headers=auditor)).json()["next"]
    by_cursor = (await client.get(f"/api/v1/journal?after={cursor}&limit=1", headers=auditor)).json()["items"]
    assert by_cursor[0]["seq"] == last + 2


async def test_after_and_after_seq_together_are_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    auditor = await auth("auditor")
    cursor = (await client.get("/api/v1/journal?limit=1", headers=auditor)).json()["next"]
    response = await client.get(f"/api/v1/journal?after={cursor}&after_seq=1", headers=auditor)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "tag:firearms-registry,2026:problems/invalid-request"
    assert response.json()["detail"] == "give 'after' or 'after_seq', not both"
    assert response.json()["errors"] == [
        {"message": "give 'after' or 'after_seq', not both", "key": "after_seq", "source": "query"}
    ]
    negative = await client.get("/api/v1/journal?after_seq=-1", headers=auditor)
    assert negative.status_code == 400, negative.text
    assert negative.json()["errors"][0]["key"] == "after_seq"
