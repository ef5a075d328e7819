# The functions on Cloud Run (v2 API). All scale to zero; CPU is only
# allocated while a request is being served.

locals {
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    HERMES_CONFIG_TOML   = local.hermes_config_toml
    RUST_LOG             = "info"
  }
}

# --- ingest: public (it checks bearer tokens itself) ---------------------------

resource "google_cloud_run_v2_service" "ingest" {
  name                = "hermes-ingest"
  location            = var.region
  description         = "Hermes ingest: validates server-to-server events and publishes them to Pub/Sub."
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.this["ingest"].email
    max_instance_request_concurrency = 80
    timeout                          = "30s"

    scaling {
      min_instance_count = 0
      max_instance_count = var.max_instances.ingest
    }

    containers {
      name    = "ingest"
      image   = var.ingest_image
      command = ["/usr/local/bin/hermes-ingest"]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.secrets
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.token[env.key].secret_id
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 1
        timeout_seconds   = 1
        failure_threshold = 10
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.token,
    google_secret_manager_secret_iam_member.ingest_secret_accessor,
    google_pubsub_topic_iam_member.ingest_publisher,
  ]
}

# Public by design: ingest is the endpoint servers send events to, and it
# authorizes every request itself with the bearer tokens from Secret Manager.
resource "google_cloud_run_v2_service_iam_member" "ingest_public" {
  name     = google_cloud_run_v2_service.ingest.name
  location = google_cloud_run_v2_service.ingest.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- counters, dashboard, notify and enrich: private ------------------------------
# One resource for all: they differ only in the values below. Service name,
# container name and binary are hermes-<key>, <key>, /usr/local/bin/hermes-<key>;
# `secrets` maps an environment variable to the Secret Manager secret it reads.
# Optional keys, read with lookup() (enrich's geo file): `env` (more plain
# environment variables), `volumes` (name -> read-only Cloud Storage bucket and
# mount path) and `execution_environment`.

locals {
  private_services = merge({
    # Only the push identity may invoke it.
    counters = {
      description = "Hermes counters: Pub/Sub push target that turns item events into Firestore counters."
      # Pub/Sub push counts as internal traffic for Cloud Run ingress.
      ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      # Cloud Run's IAM check accepts OIDC tokens minted for this audience.
      custom_audiences = [var.push_audience]
      image            = var.counters_image
      concurrency      = 40
      # Matches the push subscription's ack deadline.
      timeout = "60s"
      secrets = {}
    }
    # Open it with `gcloud run services proxy` (terraform/README.md, step 5).
    dashboard = {
      description = "Hermes dashboard: live, read-only view of the item counters."
      # Reachable from the internet so `gcloud run services proxy` works, but every
      # request must carry an identity token of a roles/run.invoker member.
      ingress = "INGRESS_TRAFFIC_ALL"
      # null leaves it unset: only the default audience (the service URL) is accepted.
      custom_audiences = null
      image            = var.dashboard_image
      concurrency      = 80
      # Long enough for the live Server-Sent Events stream of an open page.
      timeout = "3600s"
      secrets = {}
    }
    }, local.notify_enabled ? {
    # Optional (notify.tf): only the push identity may invoke it.
    notify = {
      description      = "Hermes notify: Pub/Sub push target that turns matching events into webhook calls."
      ingress          = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      custom_audiences = [var.notify_push_audience]
      image            = coalesce(var.notify_image, var.counters_image)
      concurrency      = 40
      # Matches the push subscription's ack deadline.
      timeout = "60s"
      secrets = { HERMES_NOTIFY_WEBHOOK_URL = "hermes-notify-webhook-url" }
    }
    } : {}, local.enrich_enabled ? {
    # Optional (enrich.tf): only the push identity may invoke it.
    enrich = {
      description      = "Hermes enrich: Pub/Sub push target that joins Firestore documents, the device and the place into events and republishes them."
      ingress          = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      custom_audiences = [var.enrich_push_audience]
      image            = coalesce(var.enrich_image, var.counters_image)
      concurrency      = 40
      # Matches the push subscription's ack deadline.
      timeout = "60s"
      secrets = {}
      # [enrich.geo] database_env names this variable; the file is the mounted object.
      env     = local.enrich_geo_enabled ? { HERMES_GEO_DB = local.enrich_geo_path } : {}
      volumes = local.enrich_geo_enabled ? { geo = { bucket = var.enrich_geo_bucket, mount_path = local.enrich_geo_mount } } : {}
      # Cloud Storage volumes need the second generation execution environment.
      execution_environment = local.enrich_geo_enabled ? "EXECUTION_ENVIRONMENT_GEN2" : null
    }
  } : {})
}

resource "google_cloud_run_v2_service" "private" {
  for_each = local.private_services

  name                = "hermes-${each.key}"
  location            = var.region
  description         = each.value.description
  ingress             = each.value.ingress
  deletion_protection = var.deletion_protection
  custom_audiences    = each.value.custom_audiences

  template {
    service_account                  = google_service_account.this[each.key].email
    max_instance_request_concurrency = each.value.concurrency
    timeout                          = each.value.timeout
    execution_environment            = lookup(each.value, "execution_environment", null)

    scaling {
      min_instance_count = 0
      max_instance_count = var.max_instances[each.key]
    }

    # Read-only: the function only reads the files (enrich's .mmdb).
    dynamic "volumes" {
      for_each = lookup(each.value, "volumes", {})
      content {
        name = volumes.key
        gcs {
          bucket    = volumes.value.bucket
          read_only = true
        }
      }
    }

    containers {
      name    = each.key
      image   = each.value.image
      command = ["/usr/local/bin/hermes-${each.key}"]

      dynamic "volume_mounts" {
        for_each = lookup(each.value, "volumes", {})
        content {
          name       = volume_mounts.key
          mount_path = volume_mounts.value.mount_path
        }
      }

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = lookup(each.value, "env", {})
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = each.value.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = env.value
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds    = 1
        timeout_seconds   = 1
        failure_threshold = 10
      }

      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  # depends_on applies to every instance: each service waits for both Firestore
  # grants, not only its own.
  depends_on = [
    google_project_iam_member.datastore,
    google_firestore_database.default,
    google_secret_manager_secret_version.notify_webhook,
    google_secret_manager_secret_iam_member.notify_secret_accessor,
    google_pubsub_topic_iam_member.enrich_publisher,
    google_storage_bucket_iam_member.enrich_geo_reader,
  ]
}
