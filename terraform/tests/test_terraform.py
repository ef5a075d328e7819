"""Offline checks of terraform/ (run by scripts/check-terraform).

- every .tf file parses (python-hcl2);
- every resource / data source / provider block matches the google provider
  6.50 schema (index built from npm @cdktf/provider-google), with negative
  self-tests proving the checker catches planted mistakes;
- checkov reports no failed check, and every skip carries a reason;
- structural assertions on what Terraform would create, evaluated from the
  configuration itself (hcl_eval.py): push subscription, IAM, TTL, ingress, and
  the generated Hermes config naming exactly the provisioned topics.

Environment: HERMES_TF_INDEX = path of the provider schema index;
HERMES_CHECKOV = path of the checkov executable. Without them (outside
scripts/check-terraform) those tests are skipped, or fail when CI is set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import hcl2
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hcl_eval import Instance, Module, load_tfvars, variable_validations  # noqa: E402
import provider_schema  # noqa: E402

TF_DIR = Path(__file__).resolve().parent.parent
TF_FILES = sorted(TF_DIR.glob("*.tf"))

SAMPLE = {
    "project_id": "hermes-test-1",
    "ingest_image": "europe-west1-docker.pkg.dev/hermes-test-1/hermes/hermes:v1",
    "counters_image": "europe-west1-docker.pkg.dev/hermes-test-1/hermes/hermes:v1",
    "dashboard_image": "europe-west1-docker.pkg.dev/hermes-test-1/hermes/hermes:v1",
    "bearer_token": "secret-a,secret-b",
}


def _tool(env_name: str) -> Path:
    value = os.environ.get(env_name)
    if not value or not Path(value).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{env_name} is not set or missing: run scripts/check-terraform")
        pytest.skip(f"{env_name} not set: run scripts/check-terraform")
    return Path(value)


@pytest.fixture(scope="session")
def index():
    return json.loads(_tool("HERMES_TF_INDEX").read_text())


@pytest.fixture
def mod():
    return Module(TF_DIR, SAMPLE)


def rendered_config(m: Module) -> dict:
    return tomllib.loads(m.local("hermes_config_toml"))


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def test_module_has_the_expected_files():
    names = {p.name for p in TF_FILES}
    for required in ("versions.tf", "variables.tf", "outputs.tf", "apis.tf", "pubsub.tf",
                     "firestore.tf", "iam.tf", "secrets.tf", "cloudrun.tf", "notify.tf", "enrich.tf"):
        assert required in names
    assert (TF_DIR / "terraform.tfvars.example").is_file()
    assert (TF_DIR / "README.md").is_file()


@pytest.mark.parametrize("path", TF_FILES + [TF_DIR / "terraform.tfvars.example"], ids=lambda p: p.name)
def test_every_file_parses(path):
    with open(path) as f:
        doc = hcl2.load(f)
    assert isinstance(doc, dict)
    hcl2.parses_to_tree(path.read_text())


# ---------------------------------------------------------------------------
# Provider schema
# ---------------------------------------------------------------------------


def test_index_is_google_6_50(index):
    assert index["provider_version"] == "6.50.0"
    assert len(index["resource"]) > 1000
    assert index["resource"]["google_cloud_run_v2_service"]["blocks"]["template"]["required"]


def test_every_block_matches_the_provider_schema(index):
    checker = provider_schema.check_module(index, TF_DIR)
    assert not checker.problems, "\n".join(map(str, checker.problems))
    expected = sum(
        len(re.findall(r'^(resource|data|provider)\s+"', p.read_text(), re.M)) for p in TF_FILES
    )
    assert checker.checked == expected > 20


PLANTED = {
    "unknown argument": (
        'resource "google_pubsub_topic" "t" {\n  name = "t"\n  colour = "blue"\n}\n',
        "unknown argument `colour`",
    ),
    "unknown nested argument": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n  topic = "t"\n'
        '  dead_letter_policy {\n    max_delivery_atempts = 5\n  }\n}\n',
        "unknown argument `max_delivery_atempts`",
    ),
    "unknown block": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n  topic = "t"\n'
        '  push_config {\n    push_endpoint = "https://x"\n    oidc {\n      audience = "a"\n    }\n  }\n}\n',
        "unknown block `oidc`",
    ),
    "unknown block in dynamic content": (
        'resource "google_cloud_run_v2_service" "s" {\n  name = "s"\n  location = "l"\n  template {\n'
        '    containers {\n      image = "i"\n      dynamic "envv" {\n        for_each = {}\n'
        '        content {\n          name = "a"\n        }\n      }\n    }\n  }\n}\n',
        "unknown block `envv`",
    ),
    "missing required argument": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n}\n',
        "required argument `topic` is missing",
    ),
    "missing required nested argument": (
        'resource "google_cloud_run_v2_service" "s" {\n  name = "s"\n  location = "l"\n  template {\n'
        '    containers {\n      name = "c"\n    }\n  }\n}\n',
        "required argument `image` is missing",
    ),
    "missing required block": (
        'resource "google_cloud_run_v2_service" "s" {\n  name = "s"\n  location = "l"\n}\n',
        "required block `template` is missing",
    ),
    "block written as argument": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n  topic = "t"\n'
        '  retry_policy = { minimum_backoff = "10s" }\n}\n',
        "`retry_policy` is a block, not an argument",
    ),
    "single block repeated": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n  topic = "t"\n'
        '  retry_policy {\n  }\n  retry_policy {\n  }\n}\n',
        "may appear at most once",
    ),
    "unknown resource type": (
        'resource "google_pubsub_topik" "t" {\n  name = "t"\n}\n',
        "unknown resource type `google_pubsub_topik`",
    ),
    "unknown data source type": (
        'data "google_projekt" "p" {\n}\n',
        "unknown data source type `google_projekt`",
    ),
    "meta-argument below the top level": (
        'resource "google_pubsub_subscription" "s" {\n  name = "s"\n  topic = "t"\n'
        '  retry_policy {\n    count = 1\n  }\n}\n',
        "unknown argument `count`",
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_schema_checker_catches_planted_mistakes(index, case):
    text, expected = PLANTED[case]
    checker = provider_schema.check_text(index, text)
    messages = [str(p) for p in checker.problems]
    assert len(messages) == 1 and expected in messages[0], messages


def test_schema_checker_catches_a_mistake_planted_in_the_real_module(index, tmp_path):
    for p in TF_FILES:
        (tmp_path / p.name).write_text(p.read_text())
    text = (tmp_path / "pubsub.tf").read_text()
    text = text.replace("max_delivery_attempts = 5", "max_delivery_attempts = 5\n    max_attempts = 5", 1)
    (tmp_path / "pubsub.tf").write_text(text)
    checker = provider_schema.check_module(index, tmp_path)
    assert [p.message for p in checker.problems] == ["unknown argument `max_attempts` (did you mean `max_delivery_attempts`?)"]


# ---------------------------------------------------------------------------
# checkov
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("extras", ["defaults", "every-option"])
def test_checkov_reports_no_failed_check(extras, tmp_path):
    checkov = _tool("HERMES_CHECKOV")
    args = []
    if extras == "every-option":
        # count/for_each resources that are off by default get checked too; the
        # images let checkov expand google_cloud_run_v2_service.private (its
        # for_each map reads them) into one instance per service
        var_file = tmp_path / "all.tfvars"
        var_file.write_text(
            'enable_bigquery_archive = true\npreview_token_enabled = true\nwarehouse_enabled = true\n'
            'notify_enabled = true\nnotify_webhook_secret = "https://hooks.example.com/T0/B0/x"\n'
            'dashboard_invokers = ["user:me@example.com"]\n'
            # enrich with every part: the filter, a lookup, the device, the geo volume
            'enrich_enabled = true\nenrich_events = ["purchase"]\nenrich_received_at = "received_at"\n'
            'enrich_lookups = [{ collection = "customers", key = "user_id", into = "customer" }]\n'
            'enrich_user_agent = { from = "user_agent", into = "device" }\n'
            'enrich_geo = { from = "ip_override", into = "geo" }\n'
            'enrich_geo_bucket = "my-geo-bucket"\nenrich_geo_object = "GeoLite2-City.mmdb"\n'
            + "".join(f'{k}_image = "{SAMPLE[k + "_image"]}"\n' for k in ("ingest", "counters", "dashboard"))
        )
        args = ["--var-file", str(var_file)]
    proc = subprocess.run(
        [str(checkov), "-d", str(TF_DIR), "--framework", "terraform", "--skip-download",
         "--compact", "-o", "json", *args],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"},
    )
    assert proc.stdout.strip(), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed, passed, skipped, parse_errors = [], 0, [], 0
    for r in reports:
        failed += r["results"].get("failed_checks", [])
        skipped += r["results"].get("skipped_checks", [])
        passed += r["summary"]["passed"]
        parse_errors += r["summary"]["parsing_errors"]
    assert parse_errors == 0
    assert not failed, "\n".join(f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in failed)
    assert passed > 0
    for s in skipped:
        reason = (s.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) >= 20, f"skip of {s['check_id']} on {s['resource']} has no reason"
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_checkov_skip_is_inline_with_a_reason():
    skips = []
    for p in TF_FILES:
        for line in p.read_text().splitlines():
            if "checkov:skip" in line:
                m = re.fullmatch(r"\s*#checkov:skip=(CKV2?_[A-Z]+_\d+):(.{20,})", line)
                assert m, f"{p.name}: skip without a reason: {line.strip()}"
                skips.append(m.group(1))


# ---------------------------------------------------------------------------
# Conventions
# ---------------------------------------------------------------------------


def test_versions_pin_terraform_and_the_google_provider():
    doc = hcl2.load(open(TF_DIR / "versions.tf"))
    tf = doc["terraform"][0]
    assert tf["required_version"].strip('"') == ">= 1.5"
    google = tf["required_providers"][0]["google"]
    assert google["source"].strip('"') == "hashicorp/google"
    assert re.fullmatch(r"~> 6\.\d+", google["version"].strip('"'))


# Addresses of earlier versions of this module -> (address moved.tf moves them to,
# an identifying argument, its value, unchanged so the moved state still matches).
MOVED = {
    "google_cloud_run_v2_service.counters": ('google_cloud_run_v2_service.private["counters"]', "name", "hermes-counters"),
    "google_cloud_run_v2_service.dashboard": ('google_cloud_run_v2_service.private["dashboard"]', "name", "hermes-dashboard"),
    "google_service_account.ingest": ('google_service_account.this["ingest"]', "account_id", "hermes-ingest"),
    "google_service_account.counters": ('google_service_account.this["counters"]', "account_id", "hermes-counters"),
    "google_service_account.dashboard": ('google_service_account.this["dashboard"]', "account_id", "hermes-dashboard"),
    "google_service_account.push": ('google_service_account.this["push"]', "account_id", "hermes-push"),
    "google_project_iam_member.counters_datastore_user": ('google_project_iam_member.datastore["counters"]', "role", "roles/datastore.user"),
    "google_project_iam_member.dashboard_datastore_viewer": ('google_project_iam_member.datastore["dashboard"]', "role", "roles/datastore.viewer"),
}


def test_moved_blocks_keep_the_resources_of_existing_deployments(mod):
    moved = {}
    for p in TF_FILES:
        with open(p) as f:
            for block in hcl2.load(f).get("moved", []):
                moved[block["from"].removeprefix("${").removesuffix("}")] = block["to"].removeprefix("${").removesuffix("}")
    assert moved == {old: new for old, (new, _, _) in MOVED.items()}
    for old, (new, arg, value) in MOVED.items():
        assert old not in mod.resources, f"{old} is still declared"
        inst = mod.resource(new)
        assert isinstance(inst, Instance), new
        assert inst.rtype == old.split(".")[0]
        assert inst[arg] == value, new


def test_every_variable_has_a_description_and_a_type(mod):
    assert len(mod.variables) > 10
    for name, spec in mod.variables.items():
        assert "description" in spec, name
        assert "type" in spec, name
        assert len(mod.eval(spec["description"], {})) > 20, name


def test_validations_accept_the_example_tfvars():
    probe = Module(TF_DIR, SAMPLE)
    values = load_tfvars(TF_DIR / "terraform.tfvars.example", probe)
    m = Module(TF_DIR, values)
    for name in m.variables:
        for ok, msg in variable_validations(m, name):
            assert ok, f"{name}: {msg}"
    assert rendered_config(m)["destinations"]


@pytest.mark.parametrize("name,value", [
    ("project_id", "My Project"),
    ("project_id", "123456789012"),
    ("region", "Europe West"),
    ("ingest_image", "hermes:latest"),
    ("bearer_token", ""),
    ("bearer_token", ",,"),
    ("bearer_token", "two tokens"),
    ("destinations", {}),
    ("destinations", {"1events": {}}),
    ("destinations", {"goog-events": {}}),
    ("destinations", {"events": {"attributes": {"event_name": "x"}}}),
    ("destinations", {"events": {"attributes": {"hermes_backfill": "true"}}}),
    ("destinations", {"events": {"attributes": {"hermes_event_id": "x"}}}),
    ("destinations", {"events": {"attributes": {"hermes_quarantine_reason": "schema"}}}),
    ("counters_shards", 0),
    ("counters_shards", 1.5),
    ("dashboard_invokers", ["allUsers"]),
    ("kms_key_name", "my-key"),
    ("push_audience", ""),
    ("notify_webhook_secret", "not a url"),
    ("notify_body", "xml"),
    ("notify_events", ["page view"]),
    ("notify_image", "hermes:latest"),
    ("notify_backfill", "drop"),
    ("notify_backfill", ""),
    ("quarantine_topic", "q"),
    ("quarantine_topic", "goog-quarantine"),
    ("quarantine_topic", "projects/p/topics/hermes-quarantine"),
    ("quarantine_rate_threshold", 0),
    ("quarantine_rate_threshold", 1),
    ("notification_channels", ["my-channel"]),
    ("tag_failure_rate_threshold", 0),
    ("tag_failure_rate_threshold", 5),
])
def test_validations_reject_bad_values(name, value):
    m = Module(TF_DIR, {**SAMPLE, name: value})
    results = variable_validations(m, name)
    assert results and not all(ok for ok, _ in results)


# ---------------------------------------------------------------------------
# Structure: Pub/Sub
# ---------------------------------------------------------------------------


def test_topics_are_the_destinations_plus_the_dead_letter_topic(mod):
    ids = sorted(t["id"] for t in mod.all_instances("google_pubsub_topic"))
    assert ids == [
        "projects/hermes-test-1/topics/events",
        "projects/hermes-test-1/topics/hermes-dead-letter",
        "projects/hermes-test-1/topics/hermes-preview",
        "projects/hermes-test-1/topics/hermes-quarantine",
        "projects/hermes-test-1/topics/items-realtime",
    ]


def test_push_subscription_has_oidc_retry_and_dead_letter_policy(mod):
    sub = mod.resource("google_pubsub_subscription.counters_push")
    assert sub["topic"] == "projects/hermes-test-1/topics/items-realtime"
    push = sub.block("push_config")
    assert push.arg("push_endpoint") == mod.resource('google_cloud_run_v2_service.private["counters"]')["uri"]
    oidc = push.block("oidc_token")
    assert oidc.arg("service_account_email") == mod.resource('google_service_account.this["push"]')["email"]
    assert oidc.arg("audience") == "hermes-counters"
    retry = sub.block("retry_policy")
    assert retry.arg("minimum_backoff") and retry.arg("maximum_backoff")
    dlp = sub.block("dead_letter_policy")
    assert dlp.arg("max_delivery_attempts") == 5
    assert dlp.arg("dead_letter_topic") == mod.resource("google_pubsub_topic.dead_letter")["id"]
    assert sub.block("expiration_policy").arg("ttl") == ""


def test_push_audience_is_the_same_everywhere(mod):
    m = Module(TF_DIR, {**SAMPLE, "push_audience": "my-audience"})
    sub = m.resource("google_pubsub_subscription.counters_push")
    counters = m.resource('google_cloud_run_v2_service.private["counters"]')
    assert sub.block("push_config").block("oidc_token").arg("audience") == "my-audience"
    assert counters["custom_audiences"] == ["my-audience"]
    cfg = rendered_config(m)["counters"]
    assert cfg["push_audience"] == "my-audience"
    assert cfg["push_service_account"] == m.resource('google_service_account.this["push"]')["email"]


def test_dead_letter_topic_has_a_retaining_pull_subscription(mod):
    sub = mod.resource("google_pubsub_subscription.dead_letter")
    assert sub["topic"] == mod.resource("google_pubsub_topic.dead_letter")["id"]
    assert not sub.blocks("push_config") and not sub.blocks("bigquery_config")
    assert sub["retain_acked_messages"] is True
    assert sub["message_retention_duration"] == "604800s"
    assert sub.block("expiration_policy").arg("ttl") == ""


def test_quarantine_topic_has_a_retaining_pull_subscription(mod):
    (topic,) = mod.resource("google_pubsub_topic.quarantine")
    assert topic["id"] == "projects/hermes-test-1/topics/hermes-quarantine"
    # 31 days, the longest Pub/Sub allows, on the topic and on the subscription
    assert topic["message_retention_duration"] == "2678400s"
    assert topic["kms_key_name"] is None
    (sub,) = mod.resource("google_pubsub_subscription.quarantine")
    assert sub["name"] == "hermes-quarantine"
    assert sub["topic"] == topic["id"]
    # a pull subscription (hermes replay reads it): nothing pushed, exported or dead-lettered
    for block in ("push_config", "bigquery_config", "cloud_storage_config", "dead_letter_policy"):
        assert not sub.blocks(block), block
    assert not sub.has("filter")
    assert sub["message_retention_duration"] == "2678400s"
    assert sub["retain_acked_messages"] is False
    assert sub["ack_deadline_seconds"] >= 60
    assert sub.block("expiration_policy").arg("ttl") == ""
    # ingest publishes there; nobody else is granted anything on it
    ingest = mod.resource('google_service_account.this["ingest"]')["member"]
    on_quarantine = [g for g in _grants(mod) if g[1] in (topic["id"], sub["id"])]
    assert on_quarantine == [("google_pubsub_topic_iam_member", topic["id"], "roles/pubsub.publisher", ingest)]
    assert all(ok for ok, _ in _preconditions(topic))


def test_quarantine_follows_its_variables():
    kms = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    m = Module(TF_DIR, {**SAMPLE, "quarantine_topic": "bad-rows", "kms_key_name": kms})
    (topic,) = m.resource("google_pubsub_topic.quarantine")
    (sub,) = m.resource("google_pubsub_subscription.quarantine")
    assert topic["id"] == "projects/hermes-test-1/topics/bad-rows"
    assert topic["kms_key_name"] == kms
    assert sub["name"] == "bad-rows"
    assert rendered_config(m)["quarantine"] == {"topic": topic["id"]}
    # a name another topic has is refused before anything is created
    for taken in ("events", "hermes-dead-letter", "hermes-preview"):
        (clash,) = Module(TF_DIR, {**SAMPLE, "quarantine_topic": taken}).resource("google_pubsub_topic.quarantine")
        assert [msg for ok, msg in _preconditions(clash) if not ok], taken


def test_quarantine_can_be_switched_off():
    m = Module(TF_DIR, {**SAMPLE, "quarantine_enabled": False})
    for address in ("google_pubsub_topic.quarantine", "google_pubsub_subscription.quarantine",
                    "google_pubsub_topic_iam_member.ingest_quarantine_publisher",
                    "google_monitoring_alert_policy.quarantine_rate",
                    "google_monitoring_alert_policy.quarantine_failed"):
        assert m.resource(address) == [], address
    assert "quarantine" not in rendered_config(m)
    assert "quarantine" not in m.local("hermes_config_toml")
    titles = [t["widget"]["title"] for t in _dashboard(m)["mosaicLayout"]["tiles"]]
    assert not [t for t in titles if "uarantine" in t]
    ingest = m.resource('google_service_account.this["ingest"]')["member"]
    assert not [g for g in _grants(m) if g[3] == ingest and "quarantine" in g[1]]


def test_pubsub_service_agent_can_dead_letter_and_mint_tokens(mod):
    agent = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    pub = mod.resource("google_pubsub_topic_iam_member.dead_letter_publisher")
    assert (pub["topic"], pub["role"], pub["member"]) == (
        mod.resource("google_pubsub_topic.dead_letter")["id"], "roles/pubsub.publisher", agent)
    sub = mod.resource("google_pubsub_subscription_iam_member.counters_push_subscriber")
    assert (sub["subscription"], sub["role"], sub["member"]) == (
        mod.resource("google_pubsub_subscription.counters_push")["id"], "roles/pubsub.subscriber", agent)
    tok = mod.resource("google_service_account_iam_member.pubsub_token_creator")
    assert tok["service_account_id"] == mod.resource('google_service_account.this["push"]')["name"]
    assert (tok["role"], tok["member"]) == ("roles/iam.serviceAccountTokenCreator", agent)


# ---------------------------------------------------------------------------
# Structure: IAM
# ---------------------------------------------------------------------------


def _grants(m: Module):
    """(resource type, target, role, member) of every IAM member resource."""
    out = []
    for inst in m.all_instances():
        if not inst.rtype.endswith("_iam_member"):
            continue
        target = next((inst[k] for k in ("topic", "subscription", "secret_id", "project", "service_account_id", "table_id", "bucket")
                       if inst.has(k)), None)
        if inst.rtype == "google_cloud_run_v2_service_iam_member":
            target = inst["name"]
        out.append((inst.rtype, target, inst["role"], inst["member"]))
    return out


def test_ingest_publishes_to_its_topics_only(mod):
    ingest = mod.resource('google_service_account.this["ingest"]')["member"]
    grants = [g for g in _grants(mod) if g[3] == ingest]
    publisher = sorted(g[1] for g in grants if g[2] == "roles/pubsub.publisher")
    assert all(g[0] == "google_pubsub_topic_iam_member" for g in grants if g[2] == "roles/pubsub.publisher")
    topics = [t["id"] for t in mod.resource("google_pubsub_topic.destination").values()]
    # and the preview topic, where it publishes the inspector's traces, and the
    # quarantine topic, where it publishes bad rows
    assert publisher == sorted(topics + [mod.resource("google_pubsub_topic.preview")["id"],
                                         mod.resource("google_pubsub_topic.quarantine[0]")["id"]])
    assert {g[2] for g in grants} == {"roles/pubsub.publisher", "roles/secretmanager.secretAccessor"}
    # and no project-level grant for ingest, nor any project-level Pub/Sub role for anyone
    assert not [g for g in grants if g[0] == "google_project_iam_member"]
    assert not [g for g in _grants(mod) if g[0] == "google_project_iam_member" and "pubsub" in g[2]]


def test_counters_invoker_is_the_push_identity_only(mod):
    push = mod.resource('google_service_account.this["push"]')["member"]
    m = Module(TF_DIR, {**SAMPLE, "dashboard_invokers": ["user:me@example.com"]})
    invokers = [g for g in _grants(m) if g[2] == "roles/run.invoker"]
    assert [g[3] for g in invokers if g[1] == "hermes-counters"] == [push]
    # the push identity invokes nothing else and has no other role
    assert [g for g in _grants(m) if g[3] == push] == [
        ("google_cloud_run_v2_service_iam_member", "hermes-counters", "roles/run.invoker", push)]
    assert not [g for g in _grants(m) if g[0] == "google_project_iam_member" and g[2] == "roles/run.invoker"]


def test_functions_have_least_privilege_on_firestore(mod):
    grants = _grants(mod)
    counters = mod.resource('google_service_account.this["counters"]')["member"]
    dashboard = mod.resource('google_service_account.this["dashboard"]')["member"]
    assert [g[2] for g in grants if g[3] == counters] == ["roles/datastore.user"]
    assert [g[2] for g in grants if g[3] == dashboard] == ["roles/datastore.viewer"]


def test_no_basic_or_admin_roles(mod):
    m = Module(TF_DIR, {**SAMPLE, "enable_bigquery_archive": True, "preview_token_enabled": True,
                        "preview_bearer_token": "p", "dashboard_invokers": ["group:a@example.com"],
                        "notify_enabled": True, "notify_webhook_secret": "https://hooks.example.com/x",
                        "enrich_enabled": True, "enrich_geo": {"from": "ip", "into": "geo"},
                        "enrich_geo_bucket": "geo-bucket", "enrich_geo_object": "GeoLite2-City.mmdb"})
    for g in _grants(m):
        assert g[2] not in ("roles/owner", "roles/editor", "roles/viewer"), g
        assert not g[2].endswith(".admin"), g


# ---------------------------------------------------------------------------
# Structure: Firestore, secrets, Cloud Run
# ---------------------------------------------------------------------------


def test_firestore_native_database_and_ttl_policy(mod):
    db = mod.resource("google_firestore_database.default")
    assert len(db) == 1 and db[0]["type"] == "FIRESTORE_NATIVE" and db[0]["name"] == "(default)"
    ttl = mod.resource("google_firestore_field.processed_ttl")
    assert (ttl["database"], ttl["collection"], ttl["field"]) == ("(default)", "hermes_processed", "expireAt")
    assert len(ttl.blocks("ttl_config")) == 1
    assert Module(TF_DIR, {**SAMPLE, "create_firestore_database": False}).resource(
        "google_firestore_database.default") == []


def _env(svc):
    container = svc.block("template").block("containers")
    out = {}
    for e in container.blocks("env"):
        if e.has("value"):
            out[e.arg("name")] = e.arg("value")
        else:
            ref = e.block("value_source").block("secret_key_ref")
            out[e.arg("name")] = ("secret", ref.arg("secret"), ref.arg("version"))
    return out


# function -> address of its Cloud Run service (counters and dashboard share one for_each resource)
SERVICES = {
    "ingest": "google_cloud_run_v2_service.ingest",
    "counters": 'google_cloud_run_v2_service.private["counters"]',
    "dashboard": 'google_cloud_run_v2_service.private["dashboard"]',
}


def test_services_run_their_binary_with_the_generated_config(mod):
    config = mod.local("hermes_config_toml")
    for key, address in SERVICES.items():
        binary = f"hermes-{key}"
        svc = mod.resource(address)
        assert svc["name"] == binary
        tmpl = svc.block("template")
        container = tmpl.block("containers")
        assert container.arg("image") == SAMPLE[f"{key}_image"]
        assert container.arg("command") == [f"/usr/local/bin/{binary}"]
        env = _env(svc)
        assert env["HERMES_CONFIG_TOML"] == config
        assert env["GOOGLE_CLOUD_PROJECT"] == "hermes-test-1"
        assert "PORT" not in env  # Cloud Run sets it
        assert tmpl.arg("service_account") == mod.resource(f'google_service_account.this["{key}"]')["email"]
        # scales to zero, probes on /healthz
        assert tmpl.block("scaling").arg("min_instance_count") == 0
        for probe in ("startup_probe", "liveness_probe"):
            assert container.block(probe).block("http_get").arg("path") == "/healthz"


def test_ingest_tokens_come_from_secret_manager(mod):
    env = _env(mod.resource("google_cloud_run_v2_service.ingest"))
    assert env["HERMES_BEARER_TOKEN"] == ("secret", "hermes-bearer-token", "latest")
    assert "HERMES_PREVIEW_BEARER_TOKEN" not in env
    m = Module(TF_DIR, {**SAMPLE, "preview_token_enabled": True, "preview_bearer_token": "p1,p2"})
    env = _env(m.resource("google_cloud_run_v2_service.ingest"))
    assert env["HERMES_PREVIEW_BEARER_TOKEN"] == ("secret", "hermes-preview-bearer-token", "latest")
    versions = m.resource("google_secret_manager_secret_version.token")
    assert versions["hermes-bearer-token"]["secret_data"] == "secret-a,secret-b"
    assert versions["hermes-preview-bearer-token"]["secret_data"] == "p1,p2"
    for name in ("hermes-bearer-token", "hermes-preview-bearer-token"):
        assert ("google_secret_manager_secret_iam_member", f"projects/hermes-test-1/secrets/{name}",
                "roles/secretmanager.secretAccessor", m.resource('google_service_account.this["ingest"]')["member"]) in _grants(m)
    for name in ("bearer_token", "preview_bearer_token"):
        assert mod.eval(mod.variables[name]["sensitive"], {}) is True


def test_ingest_is_public_and_the_others_are_not(mod):
    m = Module(TF_DIR, {**SAMPLE, "dashboard_invokers": ["user:me@example.com"]})
    public = [g for g in _grants(m) if g[3] in ("allUsers", "allAuthenticatedUsers")]
    assert public == [("google_cloud_run_v2_service_iam_member", "hermes-ingest", "roles/run.invoker", "allUsers")]
    assert m.resource("google_cloud_run_v2_service.ingest")["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert m.resource('google_cloud_run_v2_service.private["counters"]')["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    for key, address in SERVICES.items():
        svc = m.resource(address)
        assert not svc.has("invoker_iam_disabled"), key
    dashboard = [g[3] for g in _grants(m) if g[1] == "hermes-dashboard"]
    assert dashboard == ["user:me@example.com"]


# ---------------------------------------------------------------------------
# The generated Hermes configuration
# ---------------------------------------------------------------------------


def test_generated_config_names_exactly_the_provisioned_topics(mod):
    cfg = rendered_config(mod)
    topics = {name: t["id"] for name, t in mod.resource("google_pubsub_topic.destination").items()}
    assert {d["name"]: d["topic"] for d in cfg["destinations"]} == topics
    assert cfg["container_id"] == "hermes"
    by_name = {d["name"]: d for d in cfg["destinations"]}
    assert "events" not in by_name["events"] and "require" not in by_name["events"]
    assert by_name["items-realtime"]["events"] == ["purchase"]
    assert by_name["items-realtime"]["require"] == ["items"]
    assert cfg["counters"]["shards"] == 1
    # the curl the pages show targets the ingest service's deterministic URL
    assert cfg["dashboard"] == {"ingest_url": "https://hermes-ingest-123456789012.europe-west1.run.app/"}
    assert cfg["preview"] == {"topic": mod.resource("google_pubsub_topic.preview")["id"], "ttl_secs": 3600}
    assert cfg["quarantine"] == {"topic": "projects/hermes-test-1/topics/hermes-quarantine"}
    assert set(cfg) == {"container_id", "destinations", "counters", "dashboard", "preview", "quarantine"}


def test_generated_config_follows_the_destinations_variable():
    destinations = {
        "events": {},
        "items-realtime": {"events": ["purchase"], "require": ["items"]},
        "refunds.v1": {
            "events": ["refund"],
            "mapping": {"transaction_id": "transaction_id", "value_num": "value", 'odd "key"': "a.0.b"},
            "attributes": {"source": 's2s "quoted" \\ <tag> & æøå'},
        },
    }
    m = Module(TF_DIR, {**SAMPLE, "destinations": destinations, "counters_shards": 4, "container_id": 'GTM-"X"'})
    cfg = rendered_config(m)
    topics = {name: t["id"] for name, t in m.resource("google_pubsub_topic.destination").items()}
    assert set(topics) == set(destinations)
    assert {d["name"]: d["topic"] for d in cfg["destinations"]} == topics
    refunds = next(d for d in cfg["destinations"] if d["name"] == "refunds.v1")
    assert refunds["mapping"] == destinations["refunds.v1"]["mapping"]
    assert refunds["attributes"] == destinations["refunds.v1"]["attributes"]
    assert cfg["container_id"] == 'GTM-"X"'
    assert cfg["counters"]["shards"] == 4
    # ingest may publish to every destination topic, the preview topic and the
    # quarantine topic, and only those
    ingest = m.resource('google_service_account.this["ingest"]')["member"]
    preview = m.resource("google_pubsub_topic.preview")["id"]
    quarantine = m.resource("google_pubsub_topic.quarantine[0]")["id"]
    assert sorted(g[1] for g in _grants(m) if g[3] == ingest and g[2] == "roles/pubsub.publisher") == sorted(
        [*topics.values(), preview, quarantine])


# ---------------------------------------------------------------------------
# Optional BigQuery archive
# ---------------------------------------------------------------------------


def test_bigquery_archive_is_off_by_default_and_complete_when_on(mod):
    assert mod.resource("google_pubsub_subscription.archive") == []
    m = Module(TF_DIR, {**SAMPLE, "enable_bigquery_archive": True})
    (sub,) = m.resource("google_pubsub_subscription.archive")
    assert sub["topic"] == "projects/hermes-test-1/topics/events"
    (table,) = m.resource("google_bigquery_table.archive")
    bq = sub.block("bigquery_config")
    assert bq.arg("table") == f"hermes-test-1.hermes.{table['table_id']}"
    assert bq.arg("write_metadata") is True
    columns = {c["name"] for c in json.loads(table["schema"])}
    assert columns == {"subscription_name", "message_id", "publish_time", "data", "attributes"}
    agent = m.local("pubsub_service_agent")
    assert ("google_bigquery_table_iam_member", table["table_id"], "roles/bigquery.dataEditor", agent) in _grants(m)
    assert "bigquery.googleapis.com" in m.local("services")


# ---------------------------------------------------------------------------
# Optional notify function
# ---------------------------------------------------------------------------

NOTIFY_ON = {**SAMPLE, "notify_enabled": True, "notify_webhook_secret": "https://hooks.example.com/T0/B0/secret"}


def test_notify_is_off_by_default(mod):
    assert "notify" not in mod.local("private_services")
    assert "notify" not in mod.resource("google_service_account.this")
    for address in ("google_pubsub_subscription.notify_push", "google_secret_manager_secret.notify_webhook",
                    "google_firestore_field.notified_ttl"):
        assert mod.resource(address) == []
    assert "notify" not in rendered_config(mod)


def test_notify_service_is_private_with_its_url_from_secret_manager():
    m = Module(TF_DIR, NOTIFY_ON)
    svc = m.resource('google_cloud_run_v2_service.private["notify"]')
    assert svc["name"] == "hermes-notify"
    assert svc["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert svc["custom_audiences"] == ["hermes-notify"]
    assert svc.block("template").block("scaling").arg("max_instance_count") == 3
    assert svc.block("template").arg("service_account") == m.resource('google_service_account.this["notify"]')["email"]
    container = svc.block("template").block("containers")
    assert container.arg("command") == ["/usr/local/bin/hermes-notify"]
    assert container.arg("image") == SAMPLE["counters_image"]
    env = _env(svc)
    assert env["HERMES_NOTIFY_WEBHOOK_URL"] == ("secret", "hermes-notify-webhook-url", "latest")
    assert env["HERMES_CONFIG_TOML"] == m.local("hermes_config_toml")
    (version,) = m.resource("google_secret_manager_secret_version.notify_webhook")
    assert version["secret_data"] == NOTIFY_ON["notify_webhook_secret"]
    # The URL is in Secret Manager only: never in the generated configuration.
    assert NOTIFY_ON["notify_webhook_secret"] not in m.local("hermes_config_toml")
    # Counters and dashboard get no secret.
    for key in ("counters", "dashboard"):
        assert all(not isinstance(v, tuple) for v in _env(m.resource(f'google_cloud_run_v2_service.private["{key}"]')).values())


def test_notify_push_subscription_is_filtered_with_oidc_retry_and_dead_letter():
    m = Module(TF_DIR, {**NOTIFY_ON, "notify_events": ["purchase", "refund"]})
    (sub,) = m.resource("google_pubsub_subscription.notify_push")
    assert sub["topic"] == "projects/hermes-test-1/topics/events"
    assert sub["filter"] == (
        '(attributes.event_name = "purchase" OR attributes.event_name = "refund") AND NOT attributes:hermes_backfill')
    push = sub.block("push_config")
    assert push.arg("push_endpoint") == m.resource('google_cloud_run_v2_service.private["notify"]')["uri"]
    oidc = push.block("oidc_token")
    assert oidc.arg("audience") == "hermes-notify"
    assert oidc.arg("service_account_email") == m.resource('google_service_account.this["push"]')["email"]
    assert sub.block("dead_letter_policy").arg("max_delivery_attempts") == 5
    assert sub.block("dead_letter_policy").arg("dead_letter_topic") == m.resource("google_pubsub_topic.dead_letter")["id"]
    assert sub.block("retry_policy").arg("minimum_backoff")
    agent = m.local("pubsub_service_agent")
    assert ("google_pubsub_subscription_iam_member", sub["id"], "roles/pubsub.subscriber", agent) in _grants(m)
    # Every event when none is named (but for backfills, see below).
    (every,) = Module(TF_DIR, {**NOTIFY_ON, "notify_events": [], "notify_backfill": "deliver"}).resource(
        "google_pubsub_subscription.notify_push")
    assert every["filter"] == ""


def _preconditions(inst) -> list[tuple[bool, str]]:
    """(holds, error message) of each lifecycle precondition of a resource instance."""
    return [(bool(p.arg("condition")), p.arg("error_message"))
            for lc in inst.blocks("lifecycle") for p in lc.blocks("precondition")]


@pytest.mark.parametrize("events,backfill,expected", [
    (["purchase"], "skip", 'attributes.event_name = "purchase" AND NOT attributes:hermes_backfill'),
    (["purchase"], "deliver", 'attributes.event_name = "purchase"'),
    (["purchase", "refund"], "skip",
     '(attributes.event_name = "purchase" OR attributes.event_name = "refund") AND NOT attributes:hermes_backfill'),
    (["purchase", "refund"], "deliver", 'attributes.event_name = "purchase" OR attributes.event_name = "refund"'),
    ([], "skip", "NOT attributes:hermes_backfill"),
    ([], "deliver", ""),
])
def test_notify_filter_leaves_backfills_out_unless_deliver(events, backfill, expected):
    values = {**NOTIFY_ON, "notify_events": events}
    if backfill != "skip":
        values["notify_backfill"] = backfill
    m = Module(TF_DIR, values)  # "skip" is the default
    (sub,) = m.resource("google_pubsub_subscription.notify_push")
    assert sub["filter"] == expected
    # the attribute ingest sets on backfill messages, and notify's own setting agrees
    assert ("hermes_backfill" in expected) == (backfill == "skip")
    assert rendered_config(m)["notify"]["backfill"] == backfill
    assert all(ok for ok, _ in _preconditions(sub))


def test_notify_filter_must_fit_pubsubs_256_bytes():
    events = [f"event_number_{i}" for i in range(8)]
    (sub,) = Module(TF_DIR, {**NOTIFY_ON, "notify_events": events}).resource("google_pubsub_subscription.notify_push")
    assert len(sub["filter"].encode()) > 256
    failed = [msg for ok, msg in _preconditions(sub) if not ok]
    assert failed and "256 bytes" in failed[0]


def test_notify_has_least_privilege():
    m = Module(TF_DIR, NOTIFY_ON)
    grants = _grants(m)
    notify = m.resource('google_service_account.this["notify"]')["member"]
    push = m.resource('google_service_account.this["push"]')["member"]
    assert sorted((g[1], g[2]) for g in grants if g[3] == notify) == [
        ("hermes-test-1", "roles/datastore.user"),
        ("projects/hermes-test-1/secrets/hermes-notify-webhook-url", "roles/secretmanager.secretAccessor"),
    ]
    # Only the push identity invokes notify; it invokes counters and notify, nothing else.
    assert [g[3] for g in grants if g[2] == "roles/run.invoker" and g[1] == "hermes-notify"] == [push]
    assert sorted(g[1] for g in grants if g[3] == push) == ["hermes-counters", "hermes-notify"]
    # Nobody else reads the webhook secret.
    readers = [g[3] for g in grants if g[1] == "projects/hermes-test-1/secrets/hermes-notify-webhook-url"]
    assert readers == [notify]


def test_notify_markers_expire_and_its_config_is_generated():
    m = Module(TF_DIR, NOTIFY_ON)
    (ttl,) = m.resource("google_firestore_field.notified_ttl")
    assert (ttl["collection"], ttl["field"]) == ("hermes_notified", "expireAt")
    assert len(ttl.blocks("ttl_config")) == 1
    cfg = rendered_config(m)
    assert cfg["notify"] == {
        "events": ["purchase"],
        "body": "slack",
        "template": "New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)",
        "push_audience": "hermes-notify",
        "push_service_account": m.resource('google_service_account.this["push"]')["email"],
        "backfill": "skip",
    }
    json_body = rendered_config(Module(TF_DIR, {**NOTIFY_ON, "notify_body": "json"}))["notify"]
    assert json_body["body"] == "json" and "template" not in json_body


# ---------------------------------------------------------------------------
# Monitoring: log-based metrics read fields the functions really log
# ---------------------------------------------------------------------------

# Captured from the real binaries by tests/integration/log_fields.rs (which
# fails when a field listed there is no longer logged).
LOG_FIELDS = json.loads((Path(__file__).parent / "log_fields.json").read_text())
METRICS = ["events_accepted", "events_rejected", "requests_refused", "tag_runs",
           "tag_failures", "counters_messages", "events_quarantined", "quarantine_failed"]

_FIELD_REF = re.compile(r"jsonPayload\.([A-Za-z_][A-Za-z0-9_]*)")
_FIELD_EQ = re.compile(r'jsonPayload\.([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"')


def log_metric_problems(metric: dict, logged: dict) -> list[str]:
    """What a log-based metric reads that the logged lines do not have."""
    problems = []
    flt = metric.get("filter") or ""
    selected = dict(_FIELD_EQ.findall(flt))
    kind = selected.get("metric")
    if kind is None:
        return [f"{metric['name']}: the filter selects no jsonPayload.metric"]
    if kind not in logged:
        return [f"{metric['name']}: no log line has metric={kind!r}"]
    lines = logged[kind]
    for field in _FIELD_REF.findall(flt):
        if field not in lines["fields"]:
            problems.append(f"{metric['name']}: the filter reads jsonPayload.{field}, not logged")
    for field, value in selected.items():
        if field == "metric":
            continue
        if value not in lines["values"].get(field, []):
            problems.append(f"{metric['name']}: {field}={value!r} is never logged")
    value = metric.get("value_extractor")
    if value:
        for field in _FIELD_REF.findall(value):
            if lines["fields"].get(field) != "number":
                problems.append(f"{metric['name']}: the value {field} is not a logged number")
    for label, extractor in (metric.get("label_extractors") or {}).items():
        for field in _FIELD_REF.findall(extractor):
            if field not in lines["fields"]:
                problems.append(f"{metric['name']}: label {label} reads {field}, not logged")
    return problems


def test_log_metrics_read_only_fields_the_functions_log(mod):
    seen = set()
    for name in METRICS:
        m = mod.resource(f"google_logging_metric.{name}")
        metric = {k: m[k] for k in ("name", "filter")}
        for k in ("value_extractor", "label_extractors"):
            metric[k] = m[k] if m.has(k) else None
        assert log_metric_problems(metric, LOG_FIELDS) == []
        assert 'resource.type="cloud_run_revision"' in metric["filter"]
        seen.add(dict(_FIELD_EQ.findall(metric["filter"]))["metric"])
    # Every kind of line the functions log for metrics is counted somewhere;
    # enrich's metric exists with enrich only (tests/test_enrich.py reads it).
    assert seen == set(LOG_FIELDS) - {"enrich_message"}
    assert {i["name"] for i in mod.all_instances("google_logging_metric")} == {
        "hermes_" + n for n in ["ingest_events_accepted", "ingest_events_rejected",
                                "ingest_requests_refused", "ingest_tag_runs",
                                "ingest_tag_failures", "counters_messages",
                                "ingest_events_quarantined", "ingest_quarantine_failed"]}


def test_quarantine_metrics_count_events_by_reason_and_lost_rows(mod):
    quarantined = mod.resource("google_logging_metric.events_quarantined")
    assert 'jsonPayload.metric="ingest_quarantined"' in quarantined["filter"]
    assert quarantined["value_extractor"] == "EXTRACT(jsonPayload.events)"
    assert quarantined["label_extractors"] == {"reason": "EXTRACT(jsonPayload.reason)"}
    descriptor = quarantined.block("metric_descriptor")
    assert (descriptor.arg("metric_kind"), descriptor.arg("value_type")) == ("DELTA", "DISTRIBUTION")
    assert [b.arg("key") for b in descriptor.blocks("labels")] == ["reason"]
    failed = mod.resource("google_logging_metric.quarantine_failed")
    assert 'jsonPayload.metric="ingest_quarantine_failed"' in failed["filter"]
    assert failed["value_extractor"] == "EXTRACT(jsonPayload.events)"
    # the fields they read are the ones ingest logs (log_fields.json)
    assert LOG_FIELDS["ingest_quarantined"]["fields"]["reason"] == "string"
    assert LOG_FIELDS["ingest_quarantined"]["fields"]["events"] == "number"
    assert LOG_FIELDS["ingest_quarantine_failed"]["fields"]["events"] == "number"
    for m in (quarantined, failed):
        metric = {"name": m["name"], "filter": m["filter"], "value_extractor": m["value_extractor"],
                  "label_extractors": m["label_extractors"] if m.has("label_extractors") else None}
        assert log_metric_problems(metric, LOG_FIELDS) == []


@pytest.mark.parametrize("change,expected", [
    ({"filter": 'jsonPayload.metric="ingest_event"'}, "no log line"),
    ({"value_extractor": "EXTRACT(jsonPayload.events_acepted)"}, "not a logged number"),
    ({"value_extractor": "EXTRACT(jsonPayload.message)"}, "not a logged number"),
    ({"label_extractors": {"code": "EXTRACT(jsonPayload.error_code)"}}, "label code"),
    ({"filter": 'jsonPayload.metric="counters_message" AND jsonPayload.outcome="poisoned"'},
     "never logged"),
    ({"filter": 'jsonPayload.metric="ingest_events" AND jsonPayload.status>=400'}, "jsonPayload.status"),
    ({"filter": 'severity>=ERROR'}, "selects no"),
    ({"filter": 'jsonPayload.metric="ingest_quarantine"'}, "no log line"),
    ({"filter": 'jsonPayload.metric="ingest_quarantined"', "value_extractor": "EXTRACT(jsonPayload.rows)"},
     "not a logged number"),
    ({"filter": 'jsonPayload.metric="ingest_quarantined"', "value_extractor": "EXTRACT(jsonPayload.events)",
      "label_extractors": {"reason": "EXTRACT(jsonPayload.quarantine_reason)"}}, "label reason"),
])
def test_the_log_field_check_catches_planted_mistakes(change, expected):
    metric = {"name": "planted", "filter": 'jsonPayload.metric="ingest_events"',
              "value_extractor": "EXTRACT(jsonPayload.events_accepted)", "label_extractors": None,
              **change}
    problems = log_metric_problems(metric, LOG_FIELDS)
    assert problems and expected in problems[0], problems


def _dashboard(m: Module) -> dict:
    return json.loads(m.resource("google_monitoring_dashboard.hermes")["dashboard_json"])


def _tile_queries(m: Module) -> dict[str, list[str]]:
    """Dashboard tile title -> its PromQL queries or time series filters."""
    return {
        tile["widget"]["title"]: [
            ds["timeSeriesQuery"].get("prometheusQuery") or ds["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
            for ds in tile["widget"]["xyChart"]["dataSets"]
        ]
        for tile in _dashboard(m)["mosaicLayout"]["tiles"]
    }


def test_dashboard_and_alerts_chart_the_log_metrics(mod):
    names = {i["name"] for i in mod.all_instances("google_logging_metric")}
    promql = mod.local("promql")
    for series in promql.values():
        base = series.removeprefix("logging_googleapis_com:user_").removesuffix("_sum")
        assert base in names, series
    dashboard = _dashboard(mod)
    queries = [
        ds["timeSeriesQuery"].get("prometheusQuery")
        or ds["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for tile in dashboard["mosaicLayout"]["tiles"]
        for ds in tile["widget"]["xyChart"]["dataSets"]
    ]
    for series in promql.values():
        if series.endswith("tag_runs_sum"):
            continue
        assert any(series in q for q in queries), series
    assert any('subscription_id="hermes-dead-letter"' in q for q in queries)
    # tiles fill the grid two by two, without gaps or overlaps
    tiles = dashboard["mosaicLayout"]["tiles"]
    assert [(t["xPos"], t["yPos"]) for t in tiles] == [((i % 2) * 6, (i // 2) * 4) for i in range(len(tiles))]


def test_dashboard_shows_the_quarantine(mod):
    charts = _tile_queries(mod)
    (by_reason,) = charts["Events quarantined / s, by reason"]
    assert by_reason.startswith("sum by (reason) (rate(") and "user_hermes_ingest_events_quarantined_sum" in by_reason
    (lost,) = charts["Quarantine publishes failed"]
    assert "user_hermes_ingest_quarantine_failed_sum" in lost
    (waiting,) = charts["Quarantine rows waiting"]
    assert 'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"' in waiting
    assert 'resource.label.subscription_id="hermes-quarantine"' in waiting
    (dead,) = charts["Dead letters waiting"]
    assert dead == waiting.replace("hermes-quarantine", "hermes-dead-letter")
    renamed = _tile_queries(Module(TF_DIR, {**SAMPLE, "quarantine_topic": "bad-rows"}))
    assert 'subscription_id="bad-rows"' in renamed["Quarantine rows waiting"][0]


def test_alerts_on_dead_letters_and_tag_failure_rate(mod):
    dead = mod.resource("google_monitoring_alert_policy.dead_letters")
    cond = dead.block("conditions").block("condition_threshold")
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in cond.arg("filter")
    assert 'subscription_id="hermes-dead-letter"' in cond.arg("filter")
    assert cond.arg("comparison") == "COMPARISON_GT" and cond.arg("threshold_value") == 0
    rate = mod.resource("google_monitoring_alert_policy.tag_failure_rate")
    query = rate.block("conditions").block("condition_prometheus_query_language").arg("query")
    assert "hermes_ingest_tag_failures_sum" in query and "hermes_ingest_tag_runs_sum" in query
    assert query.endswith("> 0.05")
    assert rate.block("conditions").arg("display_name") == "Tag failures above 5% of tag executions"
    for policy in (dead, rate):
        assert policy["notification_channels"] == []
    channel = "projects/hermes-test-1/notificationChannels/123"
    m = Module(TF_DIR, {**SAMPLE, "notification_channels": [channel]})
    assert m.resource("google_monitoring_alert_policy.dead_letters")["notification_channels"] == [channel]


def test_alerts_on_the_quarantine_rate_and_on_lost_bad_rows(mod):
    (rate,) = mod.resource("google_monitoring_alert_policy.quarantine_rate")
    query = rate.block("conditions").block("condition_prometheus_query_language").arg("query")
    numerator, denominator = query.split(" / ", 1)
    assert "hermes_ingest_events_quarantined_sum[10m]" in numerator
    # over every event ingest looked at, accepted or rejected, either possibly without a series
    assert "(sum(rate(logging_googleapis_com:user_hermes_ingest_events_accepted_sum[10m])) or vector(0))" in denominator
    assert "(sum(rate(logging_googleapis_com:user_hermes_ingest_events_rejected_sum[10m])) or vector(0))" in denominator
    assert query.endswith("> 0.01")
    assert rate.block("conditions").arg("display_name") == "Quarantined events above 1% of events"
    assert rate.block("conditions").block("condition_prometheus_query_language").arg("duration") == "300s"
    assert "hermes replay --subscription projects/hermes-test-1/subscriptions/hermes-quarantine" in \
        rate.block("documentation").arg("content")
    strict = Module(TF_DIR, {**SAMPLE, "quarantine_rate_threshold": 0.002})
    (r,) = strict.resource("google_monitoring_alert_policy.quarantine_rate")
    assert r.block("conditions").block("condition_prometheus_query_language").arg("query").endswith("> 0.002")
    assert r.block("conditions").arg("display_name") == "Quarantined events above 0.2% of events"
    (lost,) = mod.resource("google_monitoring_alert_policy.quarantine_failed")
    cond = lost.block("conditions").block("condition_prometheus_query_language")
    assert "hermes_ingest_quarantine_failed_sum" in cond.arg("query") and cond.arg("query").endswith("> 0")
    assert cond.arg("duration") == "0s"
    assert lost["severity"] == "ERROR"
    channel = "projects/hermes-test-1/notificationChannels/123"
    m = Module(TF_DIR, {**SAMPLE, "notification_channels": [channel]})
    for name in ("quarantine_rate", "quarantine_failed"):
        assert mod.resource(f"google_monitoring_alert_policy.{name}")[0]["notification_channels"] == []
        assert m.resource(f"google_monitoring_alert_policy.{name}")[0]["notification_channels"] == [channel]
