"""`gateway migrate`, `gateway keys ...` and `gateway spend` against a config's database."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.commands.spend import spend_table
from gateway.ledger.costing import row_for
from gateway.ledger.database import Database
from tests.ledger.helpers import make_call, make_meter, settings


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        yaml.safe_dump({"database_url": url, "workloads": [{"name": "chat-ui", "keys": ["k1"]}]})
    )
    return path


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url)


def gateway(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=30,
    )


def test_keys_create_list_revoke(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, sqlite_url)
    created = gateway(
        "keys", "create", "--workload", "chat-ui", "--config", str(config), cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("gw-") and "\n" not in key
    assert "shown only this once" in created.stderr
    listed = gateway("keys", "--config", str(config), "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, rule, line = listed.stdout.splitlines()
    assert header.split() == ["id", "workload", "prefix", "created", "revoked", "limits"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert "chat-ui" in line and key[:10] + "..." in line and key not in listed.stdout
    key_id = line.split()[0]
    revoked = gateway("keys", "revoke", key[:10], "--config", str(config), cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked {key_id}" in revoked.stdout
    missing = gateway("keys", "revoke", "key_nope", "--config", str(config), cwd=tmp_path)
    assert missing.returncode == 1 and "no key 'key_nope'" in missing.stderr


def test_migrate_then_spend_table(
    config: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["migrate", "--config", str(config)])
    assert "migrated from base to" in capsys.readouterr().out
    main(["migrate", "--config", str(config)])
    assert "already at revision" in capsys.readouterr().out

    s = settings(db_url)
    rows = [
        row_for(make_call(s, meter=make_meter([], usage=(1200, 300)))),
        row_for(make_call(s, workload="etl", status="cancelled", meter=make_meter([" a"] * 3))),
    ]

    async def insert() -> None:
        database = Database(s)
        await database.write_calls(rows)
        await database.close()

    asyncio.run(insert())
    main(["spend", "--config", str(config), "--since", "1h"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["workload", "model", "requests"]
    assert "cancelled $" in lines[0]
    chat = next(line for line in lines if line.startswith("chat-ui"))
    assert chat.split()[2:8] == ["1", "1", "0", "0", "1,200", "300"]
    assert lines[-1].startswith("TOTAL") and lines[-1].split()[1] == "2"
    main(["spend", "--config", str(config), "--by", "model", "--until", "2000-01-01"])
    assert capsys.readouterr().out.strip() == "no calls recorded in this period"


def test_spend_errors_name_the_problem(config: Path) -> None:
    with pytest.raises(SystemExit) as before_migrate:
        main(["spend", "--config", str(config)])
    assert "run `gateway migrate`" in str(before_migrate.value)
    with pytest.raises(SystemExit) as bad_group:
        main(["spend", "--config", str(config), "--by", "colour"])
    assert "group_by: unknown field 'colour'" in str(bad_group.value)
    with pytest.raises(SystemExit) as bad_time:
        main(["spend", "--config", str(config), "--since", "last week"])
    assert "since: expected an ISO 8601 time" in str(bad_time.value)


def test_spend_table_aligns_numbers_right() -> None:
    rows = [
        {
            "workload": "a",
            "requests": 5,
            "completed": 5,
            "cancelled": 0,
            "failed": 0,
            "prompt_tokens": 12345,
            "completion_tokens": 6,
            "cached_prompt_tokens": 12000,
            "cache_write_tokens": 0,
            "cancelled_completion_tokens": 0,
            "cost_usd": 12.5,
            "cancelled_cost_usd": 0.0,
            "batch_savings_usd": 0.25,
        },
        {
            "workload": "longer-name",
            "requests": 1,
            "completed": 0,
            "cancelled": 1,
            "failed": 0,
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "cached_prompt_tokens": 0,
            "cache_write_tokens": 0,
            "cancelled_completion_tokens": 1,
            "cost_usd": 0.000012,
            "cancelled_cost_usd": 0.000012,
            "batch_savings_usd": 0.0,
        },
    ]
    lines = spend_table(["workload"], rows).splitlines()
    assert len({len(line) for line in lines[:2]}) == 1
    assert lines[2].startswith("a            ") and "12,345" in lines[2]
    assert lines[4].split()[:3] == ["TOTAL", "6", "5"]
    assert "cached tok" in lines[0] and "12,000" in lines[2]
    assert "12.5000" in lines[4]  # 12.5 + 0.000012, added as decimals
    cost_end = lines[0].index("cost $") + len("cost $")
    for line in lines[2:]:
        assert line[cost_end - 1].isdigit() and line[cost_end] == " "
