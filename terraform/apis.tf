# The Google APIs the pipeline uses. They stay enabled on `terraform destroy`:
# other things in the project may use them too.

locals {
  services = toset(concat(
    [
      "cloudresourcemanager.googleapis.com",
      "firestore.googleapis.com",
      "iam.googleapis.com",
      "logging.googleapis.com",
      "monitoring.googleapis.com",
      "pubsub.googleapis.com",
      "run.googleapis.com",
      "secretmanager.googleapis.com",
    ],
    var.enable_bigquery_archive || var.warehouse_enabled ? ["bigquery.googleapis.com"] : [],
  ))
}

resource "google_project_service" "this" {
  for_each = local.services

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.this]
}

locals {
  # Google-managed identity that Pub/Sub uses for push authentication,
  # dead-lettering and BigQuery subscriptions.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
