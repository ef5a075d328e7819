"""Offline checks of the optional enrich function (terraform/enrich.tf and its
parts in cloudrun.tf, iam.tf, config.tf and monitoring.tf): the filtered,
authenticated push subscription with its dead-letter policy, least privilege
(publisher on the output topic only, Firestore read only, the geo bucket only
with geo), the read-only Cloud Storage volume holding the .mmdb file, the
generated [enrich] section, and the log-based metric and alert."""

from __future__ import annotations

import tomllib

import pytest
from hcl_eval import Module, variable_validations
from test_terraform import (LOG_FIELDS, SAMPLE, TF_DIR, _dashboard, _env, _grants, _preconditions,
                            log_metric_problems)

ENRICH_ON = {**SAMPLE, "enrich_enabled": True}

LOOKUPS = [
    {"collection": "customers", "key": "user_id", "into": "customer",
     "fields": ["segment", "lifetime_value"], "on_missing": "skip", "cache_ttl_secs": 60},
    {"collection": "products", "key": "items.0.item_id", "into": "product"},
]

FULL = {
    **ENRICH_ON,
    "enrich_events": ["purchase", "refund"],
    "enrich_received_at": "received_at",
    "enrich_lookups": LOOKUPS,
    "enrich_user_agent": {"from": "user_agent", "into": "device"},
    "enrich_geo": {"from": "ip_override", "into": "geo"},
    "enrich_geo_bucket": "my-geo-bucket",
    "enrich_geo_object": "GeoLite2-City.mmdb",
}

AGENT = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"


def _mod(values=None, **extra) -> Module:
    return Module(TF_DIR, {**(values or ENRICH_ON), **extra})


def _config(m: Module) -> dict:
    return tomllib.loads(m.local("hermes_config_toml"))


def _member(m: Module, key: str) -> str:
    return m.resource(f'google_service_account.this["{key}"]')["member"]


def test_enrich_is_off_by_default():
    m = Module(TF_DIR, SAMPLE)
    assert "enrich" not in m.local("private_services")
    assert "enrich" not in m.resource("google_service_account.this")
    assert "enrich" not in m.resource("google_project_iam_member.datastore")
    for address in ("google_pubsub_topic.enrich_output", "google_pubsub_subscription.enrich_push",
                    "google_pubsub_topic_iam_member.enrich_publisher",
                    "google_storage_bucket_iam_member.enrich_geo_reader",
                    "google_cloud_run_v2_service_iam_member.enrich_push_invoker",
                    "google_pubsub_subscription_iam_member.enrich_push_subscriber",
                    "google_logging_metric.enrich_messages",
                    "google_monitoring_alert_policy.enrich_failure_rate"):
        assert m.resource(address) == [], address
    assert "enrich" not in _config(m)
    # the other services keep their shape: no volume, no extra variable, default environment
    for svc in m.resource("google_cloud_run_v2_service.private").values():
        tmpl = svc.block("template")
        assert not tmpl.blocks("volumes") and not tmpl.block("containers").blocks("volume_mounts")
        assert tmpl.arg("execution_environment") is None
        assert "HERMES_GEO_DB" not in _env(svc)


def test_enrich_service_is_private_and_runs_its_binary():
    m = _mod()
    svc = m.resource('google_cloud_run_v2_service.private["enrich"]')
    assert svc["name"] == "hermes-enrich"
    assert svc["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    # Cloud Run's IAM check accepts the tokens minted for enrich's audience
    assert svc["custom_audiences"] == ["hermes-enrich"]
    tmpl = svc.block("template")
    assert tmpl.arg("service_account") == m.resource('google_service_account.this["enrich"]')["email"]
    assert tmpl.block("scaling").arg("min_instance_count") == 0
    assert tmpl.block("scaling").arg("max_instance_count") == 5
    container = tmpl.block("containers")
    assert container.arg("command") == ["/usr/local/bin/hermes-enrich"]
    assert container.arg("image") == SAMPLE["counters_image"]
    env = _env(svc)
    assert env["HERMES_CONFIG_TOML"] == m.local("hermes_config_toml")
    assert not [v for v in env.values() if isinstance(v, tuple)]  # no secret
    image = "europe-west1-docker.pkg.dev/hermes-test-1/hermes/enrich:v2"
    other = _mod(enrich_image=image).resource('google_cloud_run_v2_service.private["enrich"]')
    assert other.block("template").block("containers").arg("image") == image


def test_enrich_push_subscription_has_oidc_retry_and_dead_letter():
    m = _mod(enrich_push_audience="my-enrich")
    (sub,) = m.resource("google_pubsub_subscription.enrich_push")
    # the whole-event topic, as notify's
    assert sub["topic"] == "projects/hermes-test-1/topics/events"
    push = sub.block("push_config")
    svc = m.resource('google_cloud_run_v2_service.private["enrich"]')
    assert push.arg("push_endpoint") == svc["uri"]
    oidc = push.block("oidc_token")
    assert oidc.arg("service_account_email") == m.resource('google_service_account.this["push"]')["email"]
    # one audience everywhere: the token, Cloud Run's custom audiences, enrich's own check
    assert oidc.arg("audience") == "my-enrich"
    assert svc["custom_audiences"] == ["my-enrich"]
    cfg = _config(m)["enrich"]
    assert cfg["push_audience"] == "my-enrich"
    assert cfg["push_service_account"] == m.resource('google_service_account.this["push"]')["email"]
    retry = sub.block("retry_policy")
    assert (retry.arg("minimum_backoff"), retry.arg("maximum_backoff")) == ("10s", "600s")
    dlp = sub.block("dead_letter_policy")
    assert dlp.arg("dead_letter_topic") == m.resource("google_pubsub_topic.dead_letter")["id"]
    assert dlp.arg("max_delivery_attempts") == 5
    assert sub["ack_deadline_seconds"] >= 60
    assert sub.block("expiration_policy").arg("ttl") == ""
    # dead-lettering: the Pub/Sub service agent acknowledges on the subscription
    assert ("google_pubsub_subscription_iam_member", sub["id"], "roles/pubsub.subscriber", AGENT) in _grants(m)
    assert all(ok for ok, _ in _preconditions(sub))


@pytest.mark.parametrize("events,expected", [
    (["purchase"], 'attributes.event_name = "purchase"'),
    (["purchase", "refund"], 'attributes.event_name = "purchase" OR attributes.event_name = "refund"'),
    ([], ""),
])
def test_enrich_filter_follows_its_events(events, expected):
    m = _mod(enrich_events=events)
    (sub,) = m.resource("google_pubsub_subscription.enrich_push")
    assert sub["filter"] == expected
    # backfills are enriched like any event: no clause leaves them out
    assert "hermes_backfill" not in sub["filter"]
    cfg = _config(m)["enrich"]
    if events:
        assert cfg["events"] == events
    else:
        assert "events" not in cfg  # enrich refuses an empty list; absent is every event


def test_enrich_filter_must_fit_pubsubs_256_bytes():
    events = [f"event_number_{i}" for i in range(8)]
    (sub,) = _mod(enrich_events=events).resource("google_pubsub_subscription.enrich_push")
    assert len(sub["filter"].encode()) > 256
    failed = [msg for ok, msg in _preconditions(sub) if not ok]
    assert failed and "256 bytes" in failed[0]


def test_enrich_destination_must_be_a_destination():
    (sub,) = _mod(enrich_destination="nope").resource("google_pubsub_subscription.enrich_push")
    failed = [msg for ok, msg in _preconditions(sub) if not ok]
    assert failed and "enrich_destination" in failed[0]


def test_enrich_output_topic_is_its_own():
    m = _mod(kms_key_name="projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k")
    (topic,) = m.resource("google_pubsub_topic.enrich_output")
    assert topic["id"] == "projects/hermes-test-1/topics/hermes-events-enriched"
    assert topic["kms_key_name"] == "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    # kept 7 days: a consumer subscribing later can seek back over them
    assert topic["message_retention_duration"] == "604800s"
    assert _config(m)["enrich"]["output_topic"] == topic["id"]
    assert all(ok for ok, _ in _preconditions(topic))
    # no subscription reads it yet, and nothing pushes anywhere from it
    assert not [s for s in m.all_instances("google_pubsub_subscription") if s["topic"] == topic["id"]]
    # a topic enrich reads (or another of Hermes's) is refused before anything is created
    for taken in ("events", "items-realtime", "hermes-dead-letter", "hermes-preview", "hermes-quarantine"):
        (clash,) = _mod(enrich_output_topic=taken).resource("google_pubsub_topic.enrich_output")
        assert [msg for ok, msg in _preconditions(clash) if not ok], taken


def test_enrich_has_least_privilege():
    m = _mod()
    grants = _grants(m)
    enrich, push = _member(m, "enrich"), _member(m, "push")
    (topic,) = m.resource("google_pubsub_topic.enrich_output")
    # Firestore read (project level, the only level Firestore offers) and
    # publisher on its output topic, as a topic-level grant: nothing else
    assert sorted(g for g in grants if g[3] == enrich) == [
        ("google_project_iam_member", "hermes-test-1", "roles/datastore.viewer", enrich),
        ("google_pubsub_topic_iam_member", topic["id"], "roles/pubsub.publisher", enrich),
    ]
    # nobody holds a project-level Pub/Sub role, enrich no Firestore write or admin role
    assert not [g for g in grants if g[0] == "google_project_iam_member" and "pubsub" in g[2]]
    assert not [g for g in grants if g[3] == enrich and g[2] in (
        "roles/datastore.user", "roles/datastore.owner", "roles/owner", "roles/editor")]
    # only enrich publishes to the output topic; enrich publishes nowhere else
    assert [g[3] for g in grants if g[1] == topic["id"]] == [enrich]
    # only the push identity invokes enrich; it invokes counters and enrich, nothing else
    assert [g[3] for g in grants if g[2] == "roles/run.invoker" and g[1] == "hermes-enrich"] == [push]
    assert sorted(g[1] for g in grants if g[3] == push) == ["hermes-counters", "hermes-enrich"]
    # with notify on too, each push target is invoked by the push identity only
    both = _mod({**ENRICH_ON, "notify_enabled": True, "notify_webhook_secret": "https://hooks.example.com/x"})
    assert sorted(g[1] for g in _grants(both) if g[3] == _member(both, "push")) == [
        "hermes-counters", "hermes-enrich", "hermes-notify"]


def test_enrich_geo_mounts_the_file_read_only():
    m = _mod(FULL)
    svc = m.resource('google_cloud_run_v2_service.private["enrich"]')
    tmpl = svc.block("template")
    # Cloud Storage volumes need the second generation execution environment
    assert tmpl.arg("execution_environment") == "EXECUTION_ENVIRONMENT_GEN2"
    (volume,) = tmpl.blocks("volumes")
    gcs = volume.block("gcs")
    assert gcs.arg("bucket") == "my-geo-bucket"
    assert gcs.arg("read_only") is True
    (mount,) = tmpl.block("containers").blocks("volume_mounts")
    assert mount.arg("name") == volume.arg("name")
    path = f'{mount.arg("mount_path")}/GeoLite2-City.mmdb'
    # the variable [enrich.geo] names holds the mounted file's path
    geo = _config(m)["enrich"]["geo"]
    assert _env(svc)[geo["database_env"]] == path
    assert geo == {"from": "ip_override", "into": "geo", "database_env": "HERMES_GEO_DB"}
    # enrich reads the bucket, and only that bucket; nobody else is granted on it
    enrich = _member(m, "enrich")
    on_bucket = [g for g in _grants(m) if g[0] == "google_storage_bucket_iam_member"]
    assert on_bucket == [("google_storage_bucket_iam_member", "my-geo-bucket", "roles/storage.objectViewer", enrich)]
    (topic,) = m.resource("google_pubsub_topic.enrich_output")
    assert all(ok for ok, _ in _preconditions(topic))
    # the other services get no volume
    for key in ("counters", "dashboard"):
        other = m.resource(f'google_cloud_run_v2_service.private["{key}"]').block("template")
        assert not other.blocks("volumes") and other.arg("execution_environment") is None


def test_enrich_without_geo_has_no_volume_grant_or_section():
    m = _mod()
    svc = m.resource('google_cloud_run_v2_service.private["enrich"]')
    tmpl = svc.block("template")
    assert not tmpl.blocks("volumes") and not tmpl.block("containers").blocks("volume_mounts")
    assert tmpl.arg("execution_environment") is None
    assert "HERMES_GEO_DB" not in _env(svc)
    assert m.resource("google_storage_bucket_iam_member.enrich_geo_reader") == []
    assert "geo" not in _config(m)["enrich"]


@pytest.mark.parametrize("missing", ["enrich_geo", "enrich_geo_bucket", "enrich_geo_object"])
def test_enrich_geo_needs_all_three_variables(missing):
    values = {k: v for k, v in FULL.items() if k != missing}
    m = _mod(values)
    (topic,) = m.resource("google_pubsub_topic.enrich_output")
    failed = [msg for ok, msg in _preconditions(topic) if not ok]
    assert failed and "go together" in failed[0]
    # and nothing half-configured is rendered meanwhile
    assert m.resource("google_storage_bucket_iam_member.enrich_geo_reader") == []
    assert "geo" not in _config(m)["enrich"]


def test_enrich_config_section_is_generated_from_the_variables():
    m = _mod(FULL)
    cfg = _config(m)
    push = m.resource('google_service_account.this["push"]')["email"]
    assert cfg["enrich"] == {
        "output_topic": "projects/hermes-test-1/topics/hermes-events-enriched",
        "events": ["purchase", "refund"],
        "received_at": "received_at",
        "push_audience": "hermes-enrich",
        "push_service_account": push,
        "user_agent": {"from": "user_agent", "into": "device"},
        "geo": {"from": "ip_override", "into": "geo", "database_env": "HERMES_GEO_DB"},
        "lookups": [
            {"collection": "customers", "key": "user_id", "into": "customer",
             "fields": ["segment", "lifetime_value"], "on_missing": "skip", "cache_ttl_secs": 60},
            # defaults filled in; fields absent (every field)
            {"collection": "products", "key": "items.0.item_id", "into": "product",
             "on_missing": "skip", "cache_ttl_secs": 60},
        ],
    }
    # the other sections are untouched
    assert cfg["counters"]["push_audience"] == "hermes-counters"
    minimal = _config(_mod())["enrich"]
    assert minimal == {"output_topic": "projects/hermes-test-1/topics/hermes-events-enriched",
                       "push_audience": "hermes-enrich", "push_service_account": push}
    # quotes and backslashes survive into TOML
    odd = _config(_mod(enrich_lookups=[{"collection": 'we"ird', "key": "a\\b", "into": "c"}]))
    assert odd["enrich"]["lookups"][0]["collection"] == 'we"ird'
    assert odd["enrich"]["lookups"][0]["key"] == "a\\b"


def test_enrich_example_values_pass_validation():
    m = _mod(FULL)
    for name in m.variables:
        if name.startswith("enrich_"):
            for ok, msg in variable_validations(m, name):
                assert ok, f"{name}: {msg}"


@pytest.mark.parametrize("name,value", [
    ("enrich_image", "hermes:latest"),
    ("enrich_output_topic", "x"),
    ("enrich_output_topic", "goog-enriched"),
    ("enrich_output_topic", "projects/p/topics/t"),
    ("enrich_events", ["page view"]),
    ("enrich_received_at", "a..b"),
    ("enrich_received_at", ""),
    ("enrich_lookups", [{"collection": "a/b", "key": "k", "into": "i"}]),
    ("enrich_lookups", [{"collection": "__name__", "key": "k", "into": "i"}]),
    ("enrich_lookups", [{"collection": "c", "key": "", "into": "i"}]),
    ("enrich_lookups", [{"collection": "c", "key": "k", "into": "i.", "on_missing": "skip"}]),
    ("enrich_lookups", [{"collection": "c", "key": "k", "into": "i", "on_missing": "ignore"}]),
    ("enrich_lookups", [{"collection": "c", "key": "k", "into": "i", "cache_ttl_secs": -1}]),
    ("enrich_lookups", [{"collection": "c", "key": "k", "into": "i", "cache_ttl_secs": 86401}]),
    ("enrich_lookups", [{"collection": f"c{i}", "key": "k", "into": f"i{i}"} for i in range(17)]),
    ("enrich_user_agent", {"from": "", "into": "device"}),
    ("enrich_geo", {"from": "ip", "into": ".geo"}),
    ("enrich_geo_bucket", "gs://my-bucket"),
    ("enrich_geo_bucket", "My_Bucket"),
    ("enrich_geo_object", "GeoLite2-City.tar.gz"),
    ("enrich_geo_object", "/GeoLite2-City.mmdb"),
    ("enrich_geo_object", "../GeoLite2-City.mmdb"),
    ("enrich_push_audience", ""),
    ("enrich_failure_rate_threshold", 0),
    ("enrich_failure_rate_threshold", 1),
])
def test_enrich_validations_reject_bad_values(name, value):
    results = variable_validations(_mod(**{name: value}), name)
    assert results and not all(ok for ok, _ in results)


# The push kit logs one line per message for every job, `<job>_message`, with
# the same fields: log_fields.json has counters' line, captured from the
# binary; enrich's differs only in the name.
KIT_LINE = "counters_message"


def test_enrich_metric_reads_the_push_kits_line():
    m = _mod()
    (metric,) = m.resource("google_logging_metric.enrich_messages")
    assert metric["name"] == "hermes_enrich_messages"
    assert 'jsonPayload.metric="enrich_message"' in metric["filter"]
    assert 'resource.type="cloud_run_revision"' in metric["filter"]
    assert metric["label_extractors"] == {"outcome": "EXTRACT(jsonPayload.outcome)"}
    fields = {**LOG_FIELDS, "enrich_message": LOG_FIELDS[KIT_LINE]}
    checked = {"name": metric["name"], "filter": metric["filter"], "value_extractor": None,
               "label_extractors": metric["label_extractors"]}
    assert log_metric_problems(checked, fields) == []
    # a planted mistake in it is caught
    planted = {**checked, "label_extractors": {"outcome": "EXTRACT(jsonPayload.result)"}}
    assert log_metric_problems(planted, fields)


def test_enrich_dashboard_tile_and_failure_alert():
    m = _mod()
    titles = {t["widget"]["title"]: t for t in _dashboard(m)["mosaicLayout"]["tiles"]}
    query = titles["Enrich messages / s, by outcome"]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"]
    assert query["prometheusQuery"] == \
        "sum by (outcome) (rate(logging_googleapis_com:user_hermes_enrich_messages[5m]))"
    assert "Enrich messages / s, by outcome" not in {
        t["widget"]["title"] for t in _dashboard(Module(TF_DIR, SAMPLE))["mosaicLayout"]["tiles"]}
    (alert,) = m.resource("google_monitoring_alert_policy.enrich_failure_rate")
    cond = alert.block("conditions").block("condition_prometheus_query_language")
    q = cond.arg("query")
    numerator, denominator = q.split(" / ", 1)
    assert 'user_hermes_enrich_messages{outcome=~"retry|poison"}[10m]' in numerator
    assert "user_hermes_enrich_messages[10m]" in denominator
    assert q.endswith("> 0.05") and cond.arg("duration") == "300s"
    assert alert.block("conditions").arg("display_name") == \
        "Enrich retries and poison messages above 5% of its messages"
    assert "hermes-events-enriched" in alert.block("documentation").arg("content")
    channel = "projects/hermes-test-1/notificationChannels/123"
    (a,) = _mod(notification_channels=[channel], enrich_failure_rate_threshold=0.2).resource(
        "google_monitoring_alert_policy.enrich_failure_rate")
    assert a["notification_channels"] == [channel]
    assert a.block("conditions").block("condition_prometheus_query_language").arg("query").endswith("> 0.2")


def test_the_example_tfvars_enrich_block_is_valid_once_uncommented():
    lines = (TF_DIR / "terraform.tfvars.example").read_text().splitlines()
    block = [l[2:] for l in lines if l.startswith(("# enrich_", "#   { collection", "# ]"))]
    assert any(l.startswith("enrich_lookups") for l in block) and len(block) >= 9
    from hcl_eval import load_tfvars
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".tfvars") as f:
        f.write("\n".join(block) + "\n")
        f.flush()
        values = load_tfvars(f.name, _mod())
    m = _mod({**SAMPLE, **values})
    for name in values:
        for ok, msg in variable_validations(m, name):
            assert ok, f"{name}: {msg}"
    (topic,) = m.resource("google_pubsub_topic.enrich_output")
    assert all(ok for ok, _ in _preconditions(topic))
    cfg = _config(m)["enrich"]
    assert cfg["lookups"][0]["collection"] == "customers" and cfg["geo"]["database_env"] == "HERMES_GEO_DB"
