# Firestore in native mode: the counters store (items, catalog) and the
# exactly-once markers (hermes_processed), which expire through a TTL policy.

resource "google_firestore_database" "default" {
  count = var.create_firestore_database ? 1 : 0

  project                     = var.project_id
  name                        = "(default)"
  location_id                 = local.firestore_location
  type                        = "FIRESTORE_NATIVE"
  concurrency_mode            = "OPTIMISTIC"
  app_engine_integration_mode = "DISABLED"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.this]
}

# hermes_processed/{messageId} markers carry expireAt: Firestore deletes them
# (within about a day) after that time. expireAt is never queried, so its
# single-field index is switched off (an empty index_config).
resource "google_firestore_field" "processed_ttl" {
  project    = var.project_id
  database   = "(default)"
  collection = "hermes_processed"
  field      = "expireAt"

  ttl_config {}

  index_config {}

  depends_on = [google_firestore_database.default]
}

locals {
  firestore_location = coalesce(var.firestore_location, var.region)
}

# The dashboard reads only the counters changed since its last read
# (README, The dashboard): a `shards` collection-group query on
# `last_event_at > t` (an item's own documents are queried in `items`, which
# the automatic single-field index serves). Collection-group scope needs this
# exemption; the collection-scope ascending index is kept as well.
resource "google_firestore_field" "shards_last_event_at" {
  project    = var.project_id
  database   = "(default)"
  collection = "shards"
  field      = "last_event_at"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
  }

  depends_on = [google_firestore_database.default]
}
