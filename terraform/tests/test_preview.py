"""Offline checks of the preview inspector's resources (terraform/preview.tf):
the topic ingest publishes traces to, the authenticated push subscription to
counters' trace route, the TTL policy on the trace documents, and the IAM that
keeps ingest a publisher only."""

from __future__ import annotations

import tomllib

import pytest
from hcl_eval import Module, variable_validations
from test_terraform import SAMPLE, TF_DIR, _grants


def _mod(**extra) -> Module:
    return Module(TF_DIR, {**SAMPLE, **extra})


def test_preview_push_subscription_reaches_the_trace_route_with_oidc():
    m = _mod(push_audience="my-audience")
    sub = m.resource("google_pubsub_subscription.preview_push")
    assert sub["topic"] == m.resource("google_pubsub_topic.preview")["id"]
    push = sub.block("push_config")
    counters = m.resource('google_cloud_run_v2_service.private["counters"]')
    assert push.arg("push_endpoint") == f'{counters["uri"]}/preview-traces'
    oidc = push.block("oidc_token")
    assert oidc.arg("service_account_email") == m.resource('google_service_account.this["push"]')["email"]
    # the audience counters verifies and Cloud Run accepts
    assert oidc.arg("audience") == "my-audience"
    assert counters["custom_audiences"] == ["my-audience"]
    dlp = sub.block("dead_letter_policy")
    assert dlp.arg("dead_letter_topic") == m.resource("google_pubsub_topic.dead_letter")["id"]
    assert dlp.arg("max_delivery_attempts") == 5
    agent = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert ("google_pubsub_subscription_iam_member", sub["id"], "roles/pubsub.subscriber", agent) in _grants(m)


def test_preview_traces_expire_through_a_ttl_policy():
    m = _mod(preview_ttl_seconds=7200)
    ttl = m.resource("google_firestore_field.preview_ttl")
    assert (ttl["database"], ttl["collection"], ttl["field"]) == ("(default)", "hermes_preview_requests", "expireAt")
    assert len(ttl.blocks("ttl_config")) == 1
    cfg = tomllib.loads(m.local("hermes_config_toml"))
    assert cfg["preview"]["ttl_secs"] == 7200
    assert m.resource("google_pubsub_topic.preview")["message_retention_duration"] == "7200s"


def test_ingest_is_only_a_publisher_of_the_preview_topic():
    m = _mod()
    ingest = m.resource('google_service_account.this["ingest"]')["member"]
    topic = m.resource("google_pubsub_topic.preview")["id"]
    grants = [g for g in _grants(m) if g[3] == ingest]
    assert ("google_pubsub_topic_iam_member", topic, "roles/pubsub.publisher", ingest) in grants
    # no Firestore (datastore) role, at any level
    assert not [g for g in grants if "datastore" in g[2]]
    # only counters may write the trace documents; the dashboard reads them
    writers = [g[3] for g in _grants(m) if g[2] == "roles/datastore.user"]
    assert writers == [m.resource('google_service_account.this["counters"]')["member"]]


@pytest.mark.parametrize("value,valid", [(60, True), (86400, True), (59, False), (86401, False), (90.5, False)])
def test_preview_ttl_is_validated(value, valid):
    results = variable_validations(_mod(preview_ttl_seconds=value), "preview_ttl_seconds")
    assert results and all(ok for ok, _ in results) == valid
