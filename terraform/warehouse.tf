# The warehouse (README, "The warehouse"; on with var.warehouse_enabled): one
# typed BigQuery table per destination in var.warehouse_destinations, plus the
# quarantine's bad rows when the quarantine is on and the enriched events when
# enrich is on (enrich.tf's output topic), each written by a Pub/Sub
# BigQuery subscription that uses the table's schema (use_table_schema: each
# field of a message's JSON lands in the column of its name), writes the
# message's metadata (subscription_name, message_id, publish_time,
# attributes) and drops fields the table lacks. A message BigQuery refuses is
# retried, then dead-lettered to hermes-dead-letter like any push's. A view per
# table keeps one row per hermes_event_id (Pub/Sub delivers at least once, and
# a client's resend or a replay publishes an event again).
#
# Where the schemas come from: `hermes schema bigquery` prints them from the
# Hermes configuration itself (the same code ingest runs), and they are
# committed as JSON files under warehouse/ (one per destination, quarantine.json
# for the bad rows, enriched.json for the enriched events), read here with
# file(). Committed files rather than an
# `external` data source running the hermes binary at plan time: terraform then
# needs neither a built hermes nor another provider where it runs, and a schema
# change shows up as a reviewed diff of a file before it changes a table. The
# files for the default destinations are kept equal to the command's output
# for the configuration this module generates by terraform/tests
# (test_warehouse.py); for other destinations or mappings, write the file with
# `hermes schema bigquery --destination NAME` (README, "The warehouse").
#
# The raw archive (bigquery.tf) stays available beside it.

locals {
  warehouse_schema_dir = coalesce(var.warehouse_schema_dir, "${path.module}/warehouse")

  # table id -> what feeds it. Destination names are topic ids; table ids take
  # letters, digits and underscores only.
  warehouse_tables = var.warehouse_enabled ? merge(
    {
      for name in var.warehouse_destinations : replace(name, "/[^A-Za-z0-9_]/", "_") => {
        source      = name
        topic       = contains(keys(var.destinations), name) ? google_pubsub_topic.destination[name].id : null
        schema_file = "${local.warehouse_schema_dir}/${name}.json"
        description = "What the Hermes destination ${name} publishes, one row per Pub/Sub message (README, \"The warehouse\")."
      }
    },
    local.quarantine_enabled ? {
      bad_rows = {
        source      = var.quarantine_topic
        topic       = google_pubsub_topic.quarantine[0].id
        schema_file = "${local.warehouse_schema_dir}/quarantine.json"
        description = "The quarantine's bad rows: events the schema or a destination refused for good (README, \"Nothing lost\")."
      }
    } : {},
    local.enrich_enabled ? {
      enriched = {
        source      = var.enrich_output_topic
        topic       = google_pubsub_topic.enrich_output[0].id
        schema_file = "${local.warehouse_schema_dir}/enriched.json"
        description = "The enriched events (the enrich function's output): what ${var.enrich_destination} publishes plus the enriched fields (README, \"The warehouse\")."
      }
    } : {},
  ) : {}

  # The top-level keys the enrich function writes: each must be a column of
  # the enriched table's schema file, or drop_unknown_fields would silently
  # drop what enrich added (a file written before the enrichment was).
  warehouse_enrich_keys = [
    for path in concat(
      var.enrich_received_at == null ? [] : [var.enrich_received_at],
      [for l in var.enrich_lookups : l.into],
      var.enrich_user_agent == null ? [] : [var.enrich_user_agent.into],
      local.enrich_geo_enabled ? [var.enrich_geo.into] : [],
    ) : split(".", path)[0]
  ]

  # BigQuery's time partitions expire after this many milliseconds; null: never.
  warehouse_partition_expiration_ms = var.warehouse_partition_expiration_days == null ? null : var.warehouse_partition_expiration_days * 86400000
}

resource "google_bigquery_dataset" "warehouse" {
  count = var.warehouse_enabled ? 1 : 0

  dataset_id                 = var.warehouse_dataset_id
  friendly_name              = "Hermes warehouse"
  description                = "Typed tables of what the Hermes destinations publish and of the quarantine's bad rows, written by Pub/Sub BigQuery subscriptions."
  location                   = var.region
  delete_contents_on_destroy = !var.deletion_protection

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }

  lifecycle {
    precondition {
      condition     = !var.enable_bigquery_archive || var.warehouse_dataset_id != var.bigquery_dataset_id
      error_message = "warehouse_dataset_id must differ from bigquery_dataset_id (the raw archive's dataset)."
    }
  }

  depends_on = [google_project_service.this]
}

# A column added to a schema file is added to the table in place (BigQuery
# adds NULLABLE columns to an existing table), a removed top-level column is
# dropped in place; a renamed or retyped column, or a field removed inside a
# RECORD, makes the provider replace the table, losing its rows (README,
# "The warehouse": copy it first; deletion_protection stops that apply).
resource "google_bigquery_table" "warehouse" {
  for_each = local.warehouse_tables

  dataset_id          = google_bigquery_dataset.warehouse[0].dataset_id
  table_id            = each.key
  description         = each.value.description
  deletion_protection = var.deletion_protection

  schema = fileexists(each.value.schema_file) ? file(each.value.schema_file) : null

  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = local.warehouse_partition_expiration_ms
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }

  lifecycle {
    precondition {
      condition     = fileexists(each.value.schema_file)
      error_message = "No table schema for ${each.value.source}: write it with `hermes schema bigquery --destination ${each.value.source} > ${each.value.schema_file}` (the quarantine's: --quarantine; the enriched events': --enrich --destination ${var.enrich_destination}), with HERMES_CONFIG_TOML set to this module's hermes_config_toml output (README, \"The warehouse\")."
    }
    precondition {
      condition     = each.key != "enriched" || !fileexists(each.value.schema_file) || alltrue([for key in local.warehouse_enrich_keys : contains([for c in jsondecode(file(each.value.schema_file)) : c.name], key)])
      error_message = "The enriched table's schema file lacks a column the enrich function writes (${join(", ", local.warehouse_enrich_keys)}): write it again with `hermes schema bigquery --enrich --destination ${var.enrich_destination} > ${each.value.schema_file}` (README, \"The warehouse\")."
    }
    precondition {
      condition     = each.value.topic != null
      error_message = "warehouse_destinations must name keys of destinations (${each.value.source} is none)."
    }
  }
}

# One row per event: the earliest message of each hermes_event_id. Kept to
# standard SQL (QUALIFY needs a WHERE, GROUP BY or HAVING beside it in
# BigQuery, hence WHERE TRUE); BigQuery is not reachable from the machines that
# build Hermes, so the first real apply is where this query first runs.
resource "google_bigquery_table" "warehouse_unique" {
  #checkov:skip=CKV_GCP_80:A view stores no rows, so it takes no encryption configuration; the table it reads is encrypted with kms_key_name when set.
  for_each = local.warehouse_tables

  dataset_id          = google_bigquery_dataset.warehouse[0].dataset_id
  table_id            = "${each.key}_unique"
  description         = "${each.key} with one row per hermes_event_id (its earliest publish_time)."
  deletion_protection = var.deletion_protection

  view {
    use_legacy_sql = false
    query = join("\n", [
      "SELECT *",
      "FROM `${google_bigquery_table.warehouse[each.key].project}.${google_bigquery_table.warehouse[each.key].dataset_id}.${google_bigquery_table.warehouse[each.key].table_id}`",
      "WHERE TRUE",
      "QUALIFY ROW_NUMBER() OVER (",
      "  PARTITION BY JSON_VALUE(attributes, '$.hermes_event_id')",
      "  ORDER BY publish_time, message_id",
      ") = 1",
    ])
  }
}

# The Pub/Sub service agent writes the rows: BigQuery Data Editor and
# Metadata Viewer on each table it writes, nothing on the dataset or the
# project (https://cloud.google.com/pubsub/docs/create-bigquery-subscription#assign_bigquery_service_account).
resource "google_bigquery_table_iam_member" "warehouse_writer" {
  for_each = local.warehouse_tables

  dataset_id = google_bigquery_table.warehouse[each.key].dataset_id
  table_id   = google_bigquery_table.warehouse[each.key].table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

resource "google_bigquery_table_iam_member" "warehouse_metadata_viewer" {
  for_each = local.warehouse_tables

  dataset_id = google_bigquery_table.warehouse[each.key].dataset_id
  table_id   = google_bigquery_table.warehouse[each.key].table_id
  role       = "roles/bigquery.metadataViewer"
  member     = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "warehouse" {
  for_each = local.warehouse_tables

  name  = "hermes-warehouse-${each.key}"
  topic = each.value.topic

  bigquery_config {
    table               = "${google_bigquery_table.warehouse[each.key].project}.${google_bigquery_table.warehouse[each.key].dataset_id}.${google_bigquery_table.warehouse[each.key].table_id}"
    use_table_schema    = true
    write_metadata      = true
    drop_unknown_fields = true
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # A message BigQuery keeps refusing (a value its column does not take)
  # ends on the dead-letter topic, intact, instead of blocking the backlog.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_bigquery_table_iam_member.warehouse_writer,
    google_bigquery_table_iam_member.warehouse_metadata_viewer,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

# Dead-lettering acknowledges on the source subscription as the service agent.
resource "google_pubsub_subscription_iam_member" "warehouse_subscriber" {
  for_each = local.warehouse_tables

  subscription = google_pubsub_subscription.warehouse[each.key].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
