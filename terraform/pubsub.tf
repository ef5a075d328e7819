# Topics (one per ingest destination), the dead-letter topic with a pull
# subscription that keeps what lands there, and the push subscription that
# feeds the counters function.

resource "google_pubsub_topic" "destination" {
  for_each = var.destinations

  name         = each.key
  kms_key_name = var.kms_key_name

  message_retention_duration = "86400s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  name         = "hermes-dead-letter"
  kms_key_name = var.kms_key_name

  depends_on = [google_project_service.this]
}

# Keeps dead-lettered messages for 7 days (acknowledged ones too), never expires.
# Inspect: gcloud pubsub subscriptions pull hermes-dead-letter --limit 10
resource "google_pubsub_subscription" "dead_letter" {
  name  = "hermes-dead-letter"
  topic = google_pubsub_topic.dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}

# items-realtime -> counters: authenticated push with an OIDC token of the push
# identity, exponential backoff, and dead-lettering after 5 delivery attempts
# (counters answers 400 to poison messages; nothing is lost).
resource "google_pubsub_subscription" "counters_push" {
  name  = "hermes-counters-push"
  topic = google_pubsub_topic.destination[var.counters_destination].id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloud_run_v2_service.private["counters"].uri

    oidc_token {
      service_account_email = google_service_account.this["push"].email
      audience              = var.push_audience
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.destinations), var.counters_destination)
      error_message = "counters_destination must be one of the keys of destinations."
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_token_creator,
    google_cloud_run_v2_service_iam_member.counters_push_invoker,
  ]
}
