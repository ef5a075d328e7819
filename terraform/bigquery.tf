# Optional: archive every raw message of one destination topic (default
# `events`) into BigQuery through a BigQuery subscription (no code runs).

resource "google_bigquery_dataset" "archive" {
  count = var.enable_bigquery_archive ? 1 : 0

  dataset_id                 = var.bigquery_dataset_id
  friendly_name              = "Hermes archive"
  description                = "Raw Hermes messages archived by a Pub/Sub BigQuery subscription."
  location                   = var.region
  delete_contents_on_destroy = !var.deletion_protection

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_bigquery_table" "archive" {
  count = var.enable_bigquery_archive ? 1 : 0

  dataset_id          = google_bigquery_dataset.archive[0].dataset_id
  table_id            = "raw_${replace(var.archive_destination, "/[^A-Za-z0-9_]/", "_")}"
  description         = "One row per Pub/Sub message: the Hermes payload (JSON text in data) and its attributes."
  deletion_protection = var.deletion_protection

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }

  time_partitioning {
    type  = "DAY"
    field = "publish_time"
  }

  # The columns a BigQuery subscription with write_metadata writes.
  schema = jsonencode([
    { name = "subscription_name", type = "STRING", mode = "NULLABLE" },
    { name = "message_id", type = "STRING", mode = "NULLABLE" },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "data", type = "STRING", mode = "NULLABLE" },
    { name = "attributes", type = "STRING", mode = "NULLABLE" },
  ])
}

resource "google_bigquery_table_iam_member" "archive_pubsub_writer" {
  count = var.enable_bigquery_archive ? 1 : 0

  dataset_id = google_bigquery_table.archive[0].dataset_id
  table_id   = google_bigquery_table.archive[0].table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "archive" {
  count = var.enable_bigquery_archive ? 1 : 0

  name  = "hermes-archive-bigquery"
  topic = google_pubsub_topic.destination[var.archive_destination].id

  bigquery_config {
    table          = "${google_bigquery_table.archive[0].project}.${google_bigquery_table.archive[0].dataset_id}.${google_bigquery_table.archive[0].table_id}"
    write_metadata = true
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
      condition     = contains(keys(var.destinations), var.archive_destination)
      error_message = "archive_destination must be one of the keys of destinations."
    }
  }

  depends_on = [
    google_bigquery_table_iam_member.archive_pubsub_writer,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription_iam_member" "archive_subscriber" {
  count = var.enable_bigquery_archive ? 1 : 0

  subscription = google_pubsub_subscription.archive[0].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
