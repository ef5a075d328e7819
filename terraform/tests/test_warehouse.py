"""Offline checks of the warehouse (terraform/warehouse.tf): the dataset, a
typed table per chosen destination, one for the quarantine's bad rows and one
for the enriched events (when enrich is on),
partitioned by publish_time with an expiry, each fed by a BigQuery
subscription that uses the table's schema, writes the metadata, drops unknown
fields and dead-letters; the service agent's grants on each table; the
one-row-per-event views; and the committed schema files equal to what
`hermes schema bigquery` prints for the configuration this module generates.

The schema files are compared with the output of the hermes binary:
HERMES_BIN if set, else `cargo run -p hermes` in the repository (built on
first use). HERMES_UPDATE_WAREHOUSE=1 rewrites the files instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hcl_eval import Module, variable_validations
from test_terraform import SAMPLE, TF_DIR, _grants, _preconditions

ROOT = TF_DIR.parent
SCHEMA_DIR = TF_DIR / "warehouse"
ON = {**SAMPLE, "warehouse_enabled": True, "warehouse_destinations": ["events", "items-realtime"]}
METADATA = {"subscription_name": "STRING", "message_id": "STRING", "publish_time": "TIMESTAMP",
            "attributes": "JSON"}


def _mod(**extra) -> Module:
    return Module(TF_DIR, {**ON, **extra})


def test_warehouse_is_off_by_default():
    m = Module(TF_DIR, SAMPLE)
    for address in ("google_bigquery_dataset.warehouse", "google_bigquery_table.warehouse",
                    "google_bigquery_table.warehouse_unique", "google_pubsub_subscription.warehouse"):
        assert not m.resource(address), address
    assert "bigquery.googleapis.com" not in m.local("services")


def test_a_table_per_chosen_destination_and_one_for_the_bad_rows():
    m = _mod(warehouse_partition_expiration_days=30)
    (dataset,) = m.resource("google_bigquery_dataset.warehouse")
    assert dataset["dataset_id"] == "hermes_warehouse"
    assert dataset["location"] == "europe-west1"
    assert "bigquery.googleapis.com" in m.local("services")
    tables = m.resource("google_bigquery_table.warehouse")
    assert sorted(tables) == ["bad_rows", "events", "items_realtime"]
    for key, table in tables.items():
        assert table["dataset_id"] == "hermes_warehouse"
        part = table.block("time_partitioning")
        assert (part.arg("type"), part.arg("field")) == ("DAY", "publish_time")
        assert part.arg("expiration_ms") == 30 * 86400000
        assert table["deletion_protection"] is True
        columns = {c["name"]: c["type"] for c in json.loads(table["schema"])}
        assert {k: columns.get(k) for k in METADATA} == METADATA, key
        assert all(ok for ok, _ in _preconditions(table)), key
    assert tables["events"]["schema"] == (SCHEMA_DIR / "events.json").read_text()
    assert tables["bad_rows"]["schema"] == (SCHEMA_DIR / "quarantine.json").read_text()
    # without the quarantine, no bad-row table
    off = _mod(quarantine_enabled=False)
    assert sorted(off.resource("google_bigquery_table.warehouse")) == ["events", "items_realtime"]
    # partitions kept for ever on request
    forever = _mod(warehouse_partition_expiration_days=None)
    assert forever.resource('google_bigquery_table.warehouse["events"]').block(
        "time_partitioning").arg("expiration_ms") is None


def test_subscriptions_use_the_table_schema_write_metadata_drop_unknown_fields_and_dead_letter():
    m = _mod()
    subs = m.resource("google_pubsub_subscription.warehouse")
    topics = {"events": "projects/hermes-test-1/topics/events",
              "items_realtime": "projects/hermes-test-1/topics/items-realtime",
              "bad_rows": "projects/hermes-test-1/topics/hermes-quarantine"}
    assert {k: s["topic"] for k, s in subs.items()} == topics
    dead_letter = m.resource("google_pubsub_topic.dead_letter")["id"]
    for key, sub in subs.items():
        bq = sub.block("bigquery_config")
        assert bq.arg("table") == f"hermes-test-1.hermes_warehouse.{key}"
        assert bq.arg("use_table_schema") is True
        assert bq.arg("write_metadata") is True
        assert bq.arg("drop_unknown_fields") is True
        assert not bq.has("use_topic_schema")
        dlp = sub.block("dead_letter_policy")
        assert dlp.arg("dead_letter_topic") == dead_letter
        assert dlp.arg("max_delivery_attempts") == 5
        assert sub.block("expiration_policy").arg("ttl") == ""


def test_the_service_agent_may_write_each_table_and_nothing_more():
    m = _mod()
    agent = m.local("pubsub_service_agent")
    grants = [g for g in _grants(m) if g[0] == "google_bigquery_table_iam_member"
              and g[1] in ("events", "items_realtime", "bad_rows")]
    assert sorted(grants) == sorted(
        ("google_bigquery_table_iam_member", t, role, agent)
        for t in ("events", "items_realtime", "bad_rows")
        for role in ("roles/bigquery.dataEditor", "roles/bigquery.metadataViewer"))
    # nothing on the dataset or the project
    assert not [g for g in _grants(m) if "bigquery" in g[2] and g[0] != "google_bigquery_table_iam_member"]
    for sub in m.resource("google_pubsub_subscription.warehouse").values():
        assert ("google_pubsub_subscription_iam_member", sub["id"], "roles/pubsub.subscriber", agent) in _grants(m)
    # the dead-letter topic takes the service agent's publishes already
    assert ("google_pubsub_topic_iam_member", m.resource("google_pubsub_topic.dead_letter")["id"],
            "roles/pubsub.publisher", agent) in _grants(m)


def test_a_view_per_table_keeps_one_row_per_event():
    m = _mod()
    views = m.resource("google_bigquery_table.warehouse_unique")
    assert sorted(views) == ["bad_rows", "events", "items_realtime"]
    for key, view in views.items():
        assert view["table_id"] == f"{key}_unique"
        v = view.block("view")
        assert v.arg("use_legacy_sql") is False
        sql = " ".join(v.arg("query").split())
        assert f"FROM `hermes-test-1.hermes_warehouse.{key}`" in sql
        assert re.search(r"QUALIFY ROW_NUMBER\(\) OVER \( PARTITION BY JSON_VALUE\(attributes, "
                         r"'\$\.hermes_event_id'\) ORDER BY publish_time, message_id \) = 1$", sql), sql
        # BigQuery wants a WHERE (or GROUP BY / HAVING) beside QUALIFY
        assert "WHERE TRUE QUALIFY" in sql


def test_a_missing_schema_file_or_destination_fails_the_plan_with_the_command_to_run(tmp_path):
    m = _mod(warehouse_schema_dir=str(tmp_path))
    table = m.resource('google_bigquery_table.warehouse["events"]')
    assert table["schema"] is None
    failed = [msg for ok, msg in _preconditions(table) if not ok]
    assert len(failed) == 1 and "hermes schema bigquery --destination events" in failed[0], failed
    m = _mod(warehouse_destinations=["nope"], destinations={"nope-not": {}})
    failed = [msg for ok, msg in _preconditions(m.resource('google_bigquery_table.warehouse["nope"]')) if not ok]
    assert any("keys of destinations" in msg for msg in failed), failed


ENRICH = {"enrich_enabled": True, "enrich_received_at": "received_at",
          "enrich_user_agent": {"from": "user_agent", "into": "device"}}


def test_the_enriched_events_get_a_table_on_enrichs_output_topic_when_enrich_is_on():
    assert "enriched" not in _mod().resource("google_bigquery_table.warehouse")
    m = _mod(enrich_enabled=True)
    table = m.resource('google_bigquery_table.warehouse["enriched"]')
    assert table["schema"] == (SCHEMA_DIR / "enriched.json").read_text()
    assert all(ok for ok, _ in _preconditions(table))
    sub = m.resource('google_pubsub_subscription.warehouse["enriched"]')
    assert sub["topic"] == m.resource("google_pubsub_topic.enrich_output[0]")["id"]
    assert sub.block("bigquery_config").arg("use_table_schema") is True
    assert "enriched" in m.resource("google_bigquery_table.warehouse_unique")


def test_an_enriched_schema_file_without_the_enrichments_fails_the_plan(tmp_path):
    # The committed file is enrich's defaults (no enrichment): with a device
    # and received_at configured, it lacks their columns, and the plan says so.
    m = _mod(**ENRICH)
    failed = [msg for ok, msg in _preconditions(m.resource('google_bigquery_table.warehouse["enriched"]')) if not ok]
    assert len(failed) == 1 and "received_at, device" in failed[0], failed
    assert "hermes schema bigquery --enrich --destination events" in failed[0]
    # A file written for those settings passes.
    for f in SCHEMA_DIR.glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    columns = json.loads((SCHEMA_DIR / "enriched.json").read_text())
    columns += [{"name": "received_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
                {"name": "device", "type": "RECORD", "mode": "NULLABLE",
                 "fields": [{"name": "browser", "type": "STRING", "mode": "NULLABLE"}]}]
    (tmp_path / "enriched.json").write_text(json.dumps(columns))
    m = _mod(**ENRICH, warehouse_schema_dir=str(tmp_path))
    assert all(ok for ok, _ in _preconditions(m.resource('google_bigquery_table.warehouse["enriched"]')))


@pytest.mark.parametrize("value,valid", [
    (["events"], True), (["events", "items-realtime"], True), (["a-b", "a_b"], False),
    (["events", "events"], False), (["bad_rows"], False), (["bad-rows"], False), (["enriched"], False),
])
def test_warehouse_destinations_are_validated(value, valid):
    results = variable_validations(_mod(warehouse_destinations=value), "warehouse_destinations")
    assert results and all(ok for ok, _ in results) == valid


@pytest.mark.parametrize("name", ["warehouse_dataset_id", "bigquery_dataset_id"])
@pytest.mark.parametrize("value,valid", [
    ("hermes_warehouse", True), ("x" * 1024, True), ("x" * 1025, False), ("a-b", False), ("", False),
])
def test_dataset_ids_are_validated_as_terraform_would(name, value, valid):
    # Terraform's regex is Go's RE2, which refuses a repeat count over 1000
    # ({1,1024}): such a rule fails for every value, the default included.
    results = variable_validations(_mod(**{name: value}), name)
    assert results and all(ok for ok, _ in results) == valid


@pytest.mark.parametrize("value,valid", [(1, True), (425, True), (None, True), (0, False), (1.5, False)])
def test_partition_expiry_is_validated(value, valid):
    results = variable_validations(_mod(warehouse_partition_expiration_days=value),
                                   "warehouse_partition_expiration_days")
    assert results and all(ok for ok, _ in results) == valid


# ---------------------------------------------------------------------------
# The committed schema files are the command's output for the generated config
# ---------------------------------------------------------------------------

def _hermes_schema(config_toml: str, *args: str) -> str:
    env = {**os.environ, "HERMES_CONFIG_TOML": config_toml}
    env.pop("HERMES_CONFIG", None)
    binary = os.environ.get("HERMES_BIN")
    if binary:
        cmd = [binary]
    elif shutil.which("cargo"):
        cmd = ["cargo", "run", "--locked", "--quiet", "-p", "hermes", "--"]
    else:
        if os.environ.get("CI"):
            pytest.fail("neither HERMES_BIN nor cargo: cannot run `hermes schema bigquery`")
        pytest.skip("neither HERMES_BIN nor cargo: cannot run `hermes schema bigquery`")
    proc = subprocess.run([*cmd, "schema", "bigquery", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_committed_schema_files_are_what_hermes_prints_for_the_generated_config():
    # Every destination of the default variables (each may be chosen), the bad
    # rows, and the enriched events of enrich's default variables.
    m = Module(TF_DIR, {**SAMPLE, "warehouse_enabled": True, "enrich_enabled": True})
    config = m.local("hermes_config_toml")
    assert "[enrich]" in config
    update = os.environ.get("HERMES_UPDATE_WAREHOUSE") == "1"
    expected = {f"{name}.json": ("--destination", name) for name in m.var("destinations")}
    expected["quarantine.json"] = ("--quarantine",)
    expected["enriched.json"] = ("--enrich", "--destination", m.var("enrich_destination"))
    for file, args in expected.items():
        printed = _hermes_schema(config, *args)
        if update:
            (SCHEMA_DIR / file).write_text(printed)
            continue
        assert (SCHEMA_DIR / file).read_text() == printed, (
            f"terraform/warehouse/{file} differs from `hermes schema bigquery {' '.join(args)}` for the "
            "configuration this module generates (HERMES_UPDATE_WAREHOUSE=1 rewrites it)")
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(expected)


def test_hermes_schema_refuses_an_unknown_destination():
    m = Module(TF_DIR, {**SAMPLE, "warehouse_enabled": True})
    env = {**os.environ, "HERMES_CONFIG_TOML": m.local("hermes_config_toml")}
    binary = os.environ.get("HERMES_BIN")
    cmd = [binary] if binary else ["cargo", "run", "--locked", "--quiet", "-p", "hermes", "--"]
    if not binary and not shutil.which("cargo"):
        pytest.skip("neither HERMES_BIN nor cargo")
    proc = subprocess.run([*cmd, "schema", "bigquery", "--destination", "nope"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert 'unknown destination "nope"' in proc.stderr
