# The optional notify function (on with var.notify_enabled): a
# push subscription on the events topic, filtered on attributes.event_name so
# only the events it notifies for are pushed (and, unless notify_backfill is
# "deliver", no backfill message), with the same OIDC, retry and
# dead-letter policy as the counters' subscription; the webhook URL in Secret
# Manager, readable by notify's service account only; markers in Firestore
# (hermes_notified) with a TTL policy. The service itself is one of the
# private services (cloudrun.tf), its account one of iam.tf's.

locals {
  notify_enabled = var.notify_enabled
  # Pub/Sub's filter syntax: https://cloud.google.com/pubsub/docs/subscription-message-filter
  # (`:` tests an attribute's presence; AND mixed with OR needs parentheses;
  # at most 256 bytes; fixed when the subscription is created).
  notify_event_filter = join(" OR ", [for e in var.notify_events : "attributes.event_name = ${jsonencode(e)}"])
  # Backfill messages carry hermes_backfill = "true"; others have no such
  # attribute. With "deliver" the filter is the event names' alone.
  notify_filter = var.notify_backfill == "deliver" ? local.notify_event_filter : join(" AND ", compact([
    length(var.notify_events) > 1 ? "(${local.notify_event_filter})" : local.notify_event_filter,
    "NOT attributes:hermes_backfill",
  ]))
}

resource "google_secret_manager_secret" "notify_webhook" {
  count = local.notify_enabled ? 1 : 0

  secret_id = "hermes-notify-webhook-url"

  replication {
    auto {
      dynamic "customer_managed_encryption" {
        for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
        content {
          kms_key_name = customer_managed_encryption.value
        }
      }
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_version" "notify_webhook" {
  count = local.notify_enabled ? 1 : 0

  secret      = google_secret_manager_secret.notify_webhook[0].id
  secret_data = var.notify_webhook_secret

  lifecycle {
    precondition {
      condition     = var.notify_webhook_secret != null
      error_message = "notify_enabled needs notify_webhook_secret (the webhook URL)."
    }
  }
}

resource "google_secret_manager_secret_iam_member" "notify_secret_accessor" {
  count = local.notify_enabled ? 1 : 0

  secret_id = google_secret_manager_secret.notify_webhook[0].id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this["notify"].member
}

# The push identity may invoke notify (and counters): nothing else.
resource "google_cloud_run_v2_service_iam_member" "notify_push_invoker" {
  count = local.notify_enabled ? 1 : 0

  name     = google_cloud_run_v2_service.private["notify"].name
  location = google_cloud_run_v2_service.private["notify"].location
  role     = "roles/run.invoker"
  member   = google_service_account.this["push"].member
}

resource "google_pubsub_subscription" "notify_push" {
  count = local.notify_enabled ? 1 : 0

  name   = "hermes-notify-push"
  topic  = google_pubsub_topic.destination[var.notify_destination].id
  filter = local.notify_filter

  # Above notify's webhook timeout (10 s by default), so a slow webhook is not redelivered meanwhile.
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloud_run_v2_service.private["notify"].uri

    oidc_token {
      service_account_email = google_service_account.this["push"].email
      audience              = var.notify_push_audience
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
      condition     = contains(keys(var.destinations), var.notify_destination)
      error_message = "notify_destination must be one of the keys of destinations."
    }
    precondition {
      condition     = length(local.notify_filter) <= 256
      error_message = "notify_events make the subscription filter longer than Pub/Sub's 256 bytes: name fewer events, or none (every event)."
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_token_creator,
    google_cloud_run_v2_service_iam_member.notify_push_invoker,
  ]
}

# Dead-lettering from notify's subscription: the service agent acknowledges there.
resource "google_pubsub_subscription_iam_member" "notify_push_subscriber" {
  count = local.notify_enabled ? 1 : 0

  subscription = google_pubsub_subscription.notify_push[0].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# hermes_notified markers carry expireAt, like hermes_processed.
resource "google_firestore_field" "notified_ttl" {
  count = local.notify_enabled ? 1 : 0

  project    = var.project_id
  database   = "(default)"
  collection = "hermes_notified"
  field      = "expireAt"

  ttl_config {}

  index_config {}

  depends_on = [google_firestore_database.default]
}
