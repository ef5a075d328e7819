# The preview inspector (README, "Preview inspector"). Ingest keeps
# publisher-only rights: it publishes each preview request's trace to the
# preview topic; an authenticated push subscription delivers the traces to
# the counters service's /preview-traces route, which writes them to
# Firestore (hermes_preview/{session}/hermes_preview_requests/{id}); the
# dashboard reads them there (read-only). Traces expire through a TTL policy.

resource "google_pubsub_topic" "preview" {
  name         = "hermes-preview"
  kms_key_name = var.kms_key_name

  # Traces are only worth seeing while the session lasts.
  message_retention_duration = "${max(var.preview_ttl_seconds, 600)}s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_subscription" "preview_push" {
  name  = "hermes-preview-traces"
  topic = google_pubsub_topic.preview.id

  ack_deadline_seconds       = 30
  message_retention_duration = "${max(var.preview_ttl_seconds, 600)}s"

  push_config {
    push_endpoint = "${google_cloud_run_v2_service.private["counters"].uri}/preview-traces"

    oidc_token {
      service_account_email = google_service_account.this["push"].email
      audience              = var.push_audience
    }
  }

  retry_policy {
    minimum_backoff = "5s"
    maximum_backoff = "60s"
  }

  # A trace counters can never write (400) ends on the dead-letter topic.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_token_creator,
    google_cloud_run_v2_service_iam_member.counters_push_invoker,
  ]
}

# Ingest publishes traces: on this topic only (no Firestore access).
resource "google_pubsub_topic_iam_member" "ingest_preview_publisher" {
  topic  = google_pubsub_topic.preview.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.this["ingest"].member
}

# Dead-lettering from the preview subscription: the service agent acknowledges there.
resource "google_pubsub_subscription_iam_member" "preview_push_subscriber" {
  subscription = google_pubsub_subscription.preview_push.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Trace documents carry expireAt (received + [preview] ttl_secs): Firestore
# deletes them within about a day after; the dashboard never shows expired
# ones. expireAt is never queried, so its single-field index is switched off.
resource "google_firestore_field" "preview_ttl" {
  project    = var.project_id
  database   = "(default)"
  collection = "hermes_preview_requests"
  field      = "expireAt"

  ttl_config {}

  index_config {}

  depends_on = [google_firestore_database.default]
}
