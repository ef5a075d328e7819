# The optional enrich function (on with var.enrich_enabled): a push
# subscription on the whole-event topic (enrich_destination, like notify's),
# filtered on attributes.event_name when enrich_events names any, with the
# same OIDC, retry and dead-letter policy as the other push subscriptions; the
# topic it publishes the enriched events to (attribute hermes_enriched =
# "true"), where its account is the only publisher; read access to Firestore
# for the lookups; and, with enrich_geo, the .mmdb file mounted read-only from
# a Cloud Storage bucket. The service itself is one of the private services
# (cloudrun.tf), its account one of iam.tf's, its [enrich] section config.tf's.

locals {
  enrich_enabled = var.enrich_enabled
  # Geo needs the file: enrich_geo with enrich_geo_bucket and enrich_geo_object
  # (the output topic's preconditions refuse one without the others).
  enrich_geo_enabled = local.enrich_enabled && var.enrich_geo != null && var.enrich_geo_bucket != null && var.enrich_geo_object != null

  # The .mmdb file is the operator's, downloaded under their own licence
  # (GeoLite2's EULA, DB-IP Lite's CC BY 4.0), and replaced monthly: a
  # read-only Cloud Storage volume hands it to the service as a file without
  # copying it into an image, which would put the licensed file into a
  # container registry and tie each database update to a release.
  enrich_geo_mount = "/mnt/hermes-geo"
  enrich_geo_path  = local.enrich_geo_enabled ? "${local.enrich_geo_mount}/${var.enrich_geo_object}" : null

  # Pub/Sub's filter syntax, as for notify (notify.tf). Backfill messages are
  # enriched like any other, so no clause leaves them out.
  enrich_filter = join(" OR ", [for e in var.enrich_events : "attributes.event_name = ${jsonencode(e)}"])
}

# The enriched events. No subscription is created here: their consumers (a
# counters-like job, a BigQuery subscription) subscribe when they come. The
# topic keeps every message 7 days, so a subscription created later can be
# seeked back over what was published before it existed
# (`gcloud pubsub subscriptions seek SUB --time=...`).
resource "google_pubsub_topic" "enrich_output" {
  count = local.enrich_enabled ? 1 : 0

  name         = var.enrich_output_topic
  kms_key_name = var.kms_key_name

  message_retention_duration = "604800s"

  lifecycle {
    precondition {
      # Enrich reads a destination's topic: publishing back to one would loop.
      condition     = !contains(concat(keys(var.destinations), ["hermes-dead-letter", "hermes-preview", var.quarantine_topic]), var.enrich_output_topic)
      error_message = "enrich_output_topic must differ from the destination topics, hermes-dead-letter, hermes-preview and quarantine_topic."
    }
    precondition {
      condition     = (var.enrich_geo == null) == (var.enrich_geo_bucket == null) && (var.enrich_geo == null) == (var.enrich_geo_object == null)
      error_message = "enrich_geo, enrich_geo_bucket and enrich_geo_object go together: set all three (the place, from the .mmdb file in the bucket) or none."
    }
  }

  depends_on = [google_project_service.this]
}

# Enrich publishes the enriched events: on its output topic only, never at
# project level.
resource "google_pubsub_topic_iam_member" "enrich_publisher" {
  count = local.enrich_enabled ? 1 : 0

  topic  = google_pubsub_topic.enrich_output[0].id
  role   = "roles/pubsub.publisher"
  member = google_service_account.this["enrich"].member
}

# Reads the .mmdb file through the volume mount. Bucket-level (a mount lists
# the bucket): keep the file in a bucket of its own.
resource "google_storage_bucket_iam_member" "enrich_geo_reader" {
  count = local.enrich_geo_enabled ? 1 : 0

  bucket = var.enrich_geo_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.this["enrich"].member
}

# The push identity may invoke enrich (and counters, notify): nothing else.
resource "google_cloud_run_v2_service_iam_member" "enrich_push_invoker" {
  count = local.enrich_enabled ? 1 : 0

  name     = google_cloud_run_v2_service.private["enrich"].name
  location = google_cloud_run_v2_service.private["enrich"].location
  role     = "roles/run.invoker"
  member   = google_service_account.this["push"].member
}

resource "google_pubsub_subscription" "enrich_push" {
  count = local.enrich_enabled ? 1 : 0

  name   = "hermes-enrich-push"
  topic  = google_pubsub_topic.destination[var.enrich_destination].id
  filter = local.enrich_filter

  # Above enrich's Firestore read and publish deadlines (10 s each by
  # default): it acknowledges only after the enriched event is published.
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloud_run_v2_service.private["enrich"].uri

    oidc_token {
      service_account_email = google_service_account.this["push"].email
      audience              = var.enrich_push_audience
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # A lookup with on_missing = "fail" and an event enrich cannot read are
  # poison (400): dead-lettered after 5 attempts, not lost.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.destinations), var.enrich_destination)
      error_message = "enrich_destination must be one of the keys of destinations."
    }
    precondition {
      condition     = length(local.enrich_filter) <= 256
      error_message = "enrich_events make the subscription filter longer than Pub/Sub's 256 bytes: name fewer events, or none (every event)."
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_token_creator,
    google_cloud_run_v2_service_iam_member.enrich_push_invoker,
  ]
}

# Dead-lettering from enrich's subscription: the service agent acknowledges there.
resource "google_pubsub_subscription_iam_member" "enrich_push_subscriber" {
  count = local.enrich_enabled ? 1 : 0

  subscription = google_pubsub_subscription.enrich_push[0].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
