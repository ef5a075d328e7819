# The quarantine (README, "Nothing lost"; on with var.quarantine_enabled):
# ingest publishes every event the schema refuses, or a destination refuses for
# good, to this topic as a bad row (attributes hermes_event_id, event_name,
# hermes_quarantine_reason = schema | destination). A pull subscription keeps
# the rows until `hermes replay --subscription` sends them again, or an
# operator acknowledges them. Ingest may publish here, and nothing else is
# granted: replay runs with the operator's own credentials (README).

locals {
  quarantine_enabled = var.quarantine_enabled

  # The longest retention Pub/Sub allows, on topics and on subscriptions
  # alike: 31 days. A bad row must outlive a weekend, a fix release and its
  # rollout before it is replayed.
  quarantine_retention = "2678400s"
}

resource "google_pubsub_topic" "quarantine" {
  count = local.quarantine_enabled ? 1 : 0

  name         = var.quarantine_topic
  kms_key_name = var.kms_key_name

  # Kept on the topic too, so a new subscription can be seeked back over rows
  # the quarantine subscription already acknowledged (a replay gone wrong).
  message_retention_duration = local.quarantine_retention

  lifecycle {
    precondition {
      condition     = !contains(concat(keys(var.destinations), ["hermes-dead-letter", "hermes-preview"]), var.quarantine_topic)
      error_message = "quarantine_topic must differ from the destination topics, hermes-dead-letter and hermes-preview."
    }
  }

  depends_on = [google_project_service.this]
}

# Read by `hermes replay --subscription projects/PROJECT/subscriptions/NAME`
# (and `gcloud pubsub subscriptions pull NAME`). A pull subscription: no push
# endpoint, never expires, keeps unacknowledged rows as long as Pub/Sub
# allows; an acknowledged row (replayed) is gone from it.
resource "google_pubsub_subscription" "quarantine" {
  count = local.quarantine_enabled ? 1 : 0

  name  = var.quarantine_topic
  topic = google_pubsub_topic.quarantine[0].id

  # Time for replay to republish a pulled batch before it acknowledges it.
  ack_deadline_seconds       = 60
  message_retention_duration = local.quarantine_retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

# Ingest publishes bad rows: on this topic only.
resource "google_pubsub_topic_iam_member" "ingest_quarantine_publisher" {
  count = local.quarantine_enabled ? 1 : 0

  topic  = google_pubsub_topic.quarantine[0].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.this["ingest"].member
}
