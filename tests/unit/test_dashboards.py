"""Dashboards as code: every dashboard validates against the SDK's models, has units and
bilingual titles, uses only the provisioned datasource, and the provisioning is complete."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from dashboards.build import build_all, catalog, write_provisioning
from dashboards.common import DATASOURCE_UID

UIDS = {
    "greenmon-city",
    "greenmon-district",
    "greenmon-industry",
    "greenmon-enterprise",
    "greenmon-evaluation",
    "greenmon-meter",
    "greenmon-pipeline",
}
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]{3,}")


def _panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in doc["panels"] if p["type"] != "row"]


def test_dashboards_with_fixed_uids() -> None:
    assert {b.uid for b in build_all()} == UIDS


@pytest.mark.parametrize("built", build_all(), ids=lambda b: b.uid)
def test_round_trips_through_the_sdk_models(built: Any) -> None:
    decoded = model.Dashboard.from_json(built.doc)
    again = json.loads(json.dumps(decoded, cls=JSONEncoder))
    # the SDK types an annotation's target as Grafana's built-in one (limit, tags, ...):
    # a SQL annotation's rawSql is datasource-specific and not in its model
    expected = json.loads(json.dumps(built.doc))
    for doc in (again, expected):
        for annotation in doc.get("annotations", {}).get("list", []):
            annotation.pop("target", None)
    assert again == expected


@pytest.mark.parametrize("built", build_all(), ids=lambda b: b.uid)
def test_panels_have_units_titles_and_sql(built: Any) -> None:
    doc = built.doc
    assert CJK.search(doc["title"]) and LATIN.search(doc["title"])
    panels = _panels(doc)
    assert panels
    for p in panels:
        assert CJK.search(p["title"]) and LATIN.search(p["title"]), p["title"]
        assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']}: no unit"
        assert p["datasource"]["uid"] == DATASOURCE_UID
        for target in p["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["rawSql"].lstrip().upper().startswith("SELECT")
    # grid positions do not overlap
    cells = set()
    for p in doc["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps"
                cells.add((x, y))


def test_variables_for_district_industry_enterprise_meter() -> None:
    names = {v["name"] for b in build_all() for v in b.doc.get("templating", {}).get("list", [])}
    assert {"district", "industry", "enterprise", "meter"} <= names


def test_drill_down_links() -> None:
    text = json.dumps({b.uid: b.doc for b in build_all()})
    for target in ("/d/greenmon-district?", "/d/greenmon-enterprise?", "/d/greenmon-meter?"):
        assert target in text


def test_catalog_is_every_query_of_the_dashboards() -> None:
    sqls: set[str] = set()
    for b in build_all():
        for p in _panels(b.doc):
            sqls |= {t["rawSql"] for t in p["targets"]}
        sqls |= {v["query"] for v in b.doc.get("templating", {}).get("list", [])}
        sqls |= {a["target"]["rawSql"] for a in b.doc.get("annotations", {}).get("list", [])}
    entries = catalog()
    assert {e.sql for e in entries if not e.dashboard.startswith("alert")} == sqls
    assert [e.title for e in entries if e.dashboard == "alert-rules"]


def test_provisioning_files(tmp_path: Path) -> None:
    files = write_provisioning(tmp_path, datasource_user="greenmon_grafana")
    assert len([f for f in files if f.suffix == ".json"]) == len(UIDS)
    provider = yaml.safe_load((tmp_path / "dashboards" / "greenmon.yml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("/dashboards/json")
    rules = yaml.safe_load((tmp_path / "alerting" / "greenmon.yaml").read_text())
    group = rules["groups"][0]
    assert {r["uid"] for r in group["rules"]} == {
        "greenmon-behind-trajectory",
        "greenmon-pipeline-silent",
    }
    for rule in group["rules"]:
        assert rule["condition"] == "B"
        assert rule["data"][0]["datasourceUid"] == DATASOURCE_UID
    source = yaml.safe_load((tmp_path / "datasources" / "timescaledb.yml").read_text())
    assert source["datasources"][0]["user"] == "greenmon_grafana"


def test_repository_provisioning_is_current(tmp_path: Path) -> None:
    """deploy/grafana/provisioning holds what `greenmon dashboards build` writes."""
    repo = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "provisioning"
    write_provisioning(tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            stored = repo / path.relative_to(tmp_path)
            assert stored.exists(), f"run `greenmon dashboards build --out {repo}`"
            assert stored.read_text("utf-8") == path.read_text("utf-8"), stored
