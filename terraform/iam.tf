# One service account per function plus the push identity, each with the least
# privilege it needs. Nothing here is granted at project level except Firestore
# access, which Firestore only offers at project (or IAM-condition) level.

locals {
  # Key -> what its service account is for; the account id is hermes-<key>.
  service_accounts = merge({
    ingest = {
      display_name = "Hermes ingest function"
      description  = "Publishes validated events to the Hermes destination topics."
    }
    counters = {
      display_name = "Hermes counters function"
      description  = "Writes item counters to Firestore."
    }
    dashboard = {
      display_name = "Hermes dashboard function"
      description  = "Reads item counters from Firestore."
    }
    push = {
      display_name = "Hermes push identity"
      description  = "Identity in the OIDC tokens Pub/Sub sends with pushes to the counters (and notify, enrich) function."
    }
    }, local.notify_enabled ? {
    notify = {
      display_name = "Hermes notify function"
      description  = "Reads its webhook URL secret and writes its redelivery markers to Firestore."
    }
    } : {}, local.enrich_enabled ? {
    enrich = {
      display_name = "Hermes enrich function"
      description  = "Reads Firestore lookup documents and publishes enriched events to its output topic."
    }
  } : {})
}

resource "google_service_account" "this" {
  for_each = local.service_accounts

  account_id   = "hermes-${each.key}"
  display_name = each.value.display_name
  description  = each.value.description

  depends_on = [google_project_service.this]
}

# --- ingest: publisher on its destination topics only ------------------------

resource "google_pubsub_topic_iam_member" "ingest_publisher" {
  for_each = google_pubsub_topic.destination

  topic  = each.value.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.this["ingest"].member
}

resource "google_secret_manager_secret_iam_member" "ingest_secret_accessor" {
  for_each = google_secret_manager_secret.token

  secret_id = each.value.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this["ingest"].member
}

# --- counters and dashboard: Firestore ----------------------------------------

# Function -> its Firestore role: counters writes, dashboard only reads, notify
# writes its markers, enrich only reads its lookups (Firestore grants no
# narrower role than per database).
resource "google_project_iam_member" "datastore" {
  for_each = merge(
    {
      counters  = "roles/datastore.user"
      dashboard = "roles/datastore.viewer"
    },
    local.notify_enabled ? { notify = "roles/datastore.user" } : {},
    local.enrich_enabled ? { enrich = "roles/datastore.viewer" } : {},
  )

  project = var.project_id
  role    = each.value
  member  = google_service_account.this[each.key].member
}

# --- the push identity: invoker of the counters service only ------------------
# (and of notify and enrich when on: notify.tf, enrich.tf)

resource "google_cloud_run_v2_service_iam_member" "counters_push_invoker" {
  name     = google_cloud_run_v2_service.private["counters"].name
  location = google_cloud_run_v2_service.private["counters"].location
  role     = "roles/run.invoker"
  member   = google_service_account.this["push"].member
}

# --- the Pub/Sub service agent -------------------------------------------------

# Mints the push identity's OIDC tokens.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.this["push"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# Dead-lettering: publish to the dead-letter topic ...
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

# ... and acknowledge the forwarded messages on the source subscription.
resource "google_pubsub_subscription_iam_member" "counters_push_subscriber" {
  subscription = google_pubsub_subscription.counters_push.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# --- who may open the dashboard -------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "dashboard_invoker" {
  for_each = toset(var.dashboard_invokers)

  name     = google_cloud_run_v2_service.private["dashboard"].name
  location = google_cloud_run_v2_service.private["dashboard"].location
  role     = "roles/run.invoker"
  member   = each.value
}
