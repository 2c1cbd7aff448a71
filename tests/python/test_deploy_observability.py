"""Static checks of deploy/prometheus and deploy/grafana: every service scraped, dashboards valid
and provisioned as compose mounts them (helpers in deploy_files.py)."""

from __future__ import annotations

import json
import re

import pytest

from deploy_files import *  # noqa: F403


# ---------------------------------------------------------------------------------------
# Prometheus and Grafana


def test_prometheus_scrapes_itself_and_every_service():
    config = load_one(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert len(jobs) == len(set(jobs)), f"duplicate scrape jobs: {jobs}"
    missing = sorted(({"prometheus"} | PLANNED_SERVICES) - set(jobs))
    assert not missing, f"prometheus.yml lacks jobs {missing}"
    for job in config["scrape_configs"]:
        targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
        assert targets, f"job {job['job_name']} has no targets"
        for target in targets:
            assert re.fullmatch(r"[\w.-]+:\d+", target), f"{job['job_name']}: bad target {target}"


def grafana_datasource_uids() -> set[str]:
    uids = set()
    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.y*ml")):
        for doc in load_all(path):
            uids |= {ds["uid"] for ds in doc.get("datasources", [])}
    return uids


def dashboard_panels(panels: list) -> list:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(dashboard_panels(panel.get("panels", [])))  # collapsed rows nest panels
    return out


DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def test_grafana_has_dashboards():
    assert (GRAFANA / "dashboards" / "techpotli-broker.json") in DASHBOARDS


@pytest.mark.parametrize("path", DASHBOARDS, ids=rel)
def test_grafana_dashboard(path):
    dash = json.loads(path.read_text(encoding="utf-8"))
    assert dash.get("uid") and dash.get("title")
    uids = grafana_datasource_uids()
    panels = [p for p in dashboard_panels(dash.get("panels", [])) if p.get("type") != "row"]
    assert panels, f"{rel(path)} has no panels"
    ids = [p.get("id") for p in panels]
    assert len(ids) == len(set(ids)), f"{rel(path)}: duplicate panel ids"
    for panel in panels:
        targets = panel.get("targets") or []
        assert targets, f"{rel(path)}: panel {panel.get('title')!r} has no targets"
        for target in targets:
            assert (target.get("expr") or "").strip(), (
                f"{rel(path)}: panel {panel.get('title')!r} has a target without expr"
            )
        ds = panel.get("datasource") or {}
        assert ds.get("uid") in uids, (
            f"{rel(path)}: panel {panel.get('title')!r} uses datasource {ds!r}, "
            f"provisioned uids are {sorted(uids)}"
        )


def test_broker_dashboard_covers_the_broker_metrics():
    dash = json.loads((GRAFANA / "dashboards" / "techpotli-broker.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard_panels(dash["panels"]) for t in p["targets"])
    for metric in (
        "broker_requests_total",
        "broker_request_seconds_bucket",
        "broker_connections",
        "broker_produce_bytes_total",
        "broker_fetch_bytes_total",
    ):
        assert metric in exprs, f"techpotli-broker.json has no panel for {metric}"
    assert "Apache Kafka" in dash.get("description", "")


def test_grafana_provisioning_matches_compose_mounts():
    grafana = compose()["services"]["grafana"]
    mounts = {}
    for volume in grafana["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[(ROOT / source).resolve()] = target
    assert mounts.get((GRAFANA / "provisioning").resolve()) == "/etc/grafana/provisioning"
    dashboards_target = mounts.get((GRAFANA / "dashboards").resolve())
    providers = load_one(GRAFANA / "provisioning" / "dashboards" / "dashboards.yml")["providers"]
    paths = {p["options"]["path"] for p in providers}
    assert dashboards_target in paths, (
        f"grafana mounts deploy/grafana/dashboards at {dashboards_target}, providers read {paths}"
    )
    datasources = load_one(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    urls = {ds["url"] for ds in datasources["datasources"]}
    assert "http://prometheus:9090" in urls
