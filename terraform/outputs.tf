output "ingest_url" {
  description = "URL of the public ingest function: POST a JSON array of events here with `Authorization: Bearer <token>`."
  value       = google_cloud_run_v2_service.ingest.uri
}

output "counters_url" {
  description = "URL of the private counters function (the push subscription's endpoint)."
  value       = google_cloud_run_v2_service.private["counters"].uri
}

output "dashboard_url" {
  description = "URL of the private dashboard (needs an identity token; use dashboard_proxy_command)."
  value       = google_cloud_run_v2_service.private["dashboard"].uri
}

output "dashboard_proxy_command" {
  description = "Opens the private dashboard on http://localhost:8080 with your own credentials."
  value       = "gcloud run services proxy ${google_cloud_run_v2_service.private["dashboard"].name} --project ${var.project_id} --region ${var.region} --port 8080"
}

output "preview_inspector_command" {
  description = "Opens the preview inspector on http://localhost:8080/preview with your own credentials."
  value       = "gcloud run services proxy ${google_cloud_run_v2_service.private["dashboard"].name} --project ${var.project_id} --region ${var.region} --port 8080  # then open http://localhost:8080/preview"
}

output "preview_topic" {
  description = "Topic on which ingest publishes the preview inspector's traces."
  value       = google_pubsub_topic.preview.id
}

output "topics" {
  description = "Destination name -> Pub/Sub topic id."
  value       = { for name, t in google_pubsub_topic.destination : name => t.id }
}

output "push_subscription" {
  description = "The push subscription feeding the counters function."
  value       = google_pubsub_subscription.counters_push.id
}

output "dead_letter_topic" {
  description = "Topic that receives messages the counters function rejected 5 times."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription" {
  description = "Pull subscription that keeps dead-lettered messages for 7 days."
  value       = google_pubsub_subscription.dead_letter.id
}

output "quarantine_topic" {
  description = "Topic on which ingest publishes bad rows (events refused by the schema or for good by a destination), or null when the quarantine is off."
  value       = local.quarantine_enabled ? google_pubsub_topic.quarantine[0].id : null
}

output "quarantine_subscription" {
  description = "Pull subscription keeping the bad rows 31 days, the one `hermes replay --subscription` reads, or null when the quarantine is off."
  value       = local.quarantine_enabled ? google_pubsub_subscription.quarantine[0].id : null
}

output "service_accounts" {
  description = "Service account emails, per function and for the push identity."
  value       = { for key, sa in google_service_account.this : key => sa.email }
}

output "bearer_token_secret" {
  description = "Secret Manager secret holding the production bearer token(s)."
  value       = google_secret_manager_secret.token["hermes-bearer-token"].secret_id
}

output "hermes_config_toml" {
  description = "The generated Hermes configuration every function receives in HERMES_CONFIG_TOML."
  value       = local.hermes_config_toml
}

output "bigquery_archive_table" {
  description = "project.dataset.table of the BigQuery archive, or null when it is off."
  value       = var.enable_bigquery_archive ? "${google_bigquery_table.archive[0].project}.${google_bigquery_table.archive[0].dataset_id}.${google_bigquery_table.archive[0].table_id}" : null
}

output "curl_example" {
  description = "Sends one purchase event to ingest."
  value       = <<-EOT
    curl -s -X POST '${google_cloud_run_v2_service.ingest.uri}' \
      -H "Authorization: Bearer $(gcloud secrets versions access latest --secret=${google_secret_manager_secret.token["hermes-bearer-token"].secret_id} --project=${var.project_id} | cut -d, -f1)" \
      -H 'Content-Type: application/json' \
      -d '[{"event_name":"purchase","transaction_id":"T1","value":150,"currency":"DKK","items":[{"item_id":"123","item_name":"Blazer","price":150,"quantity":1}]}]'
  EOT
}

output "notify_url" {
  description = "URL of the private notify function (its push subscription's endpoint), or null when notify is off."
  value       = local.notify_enabled ? google_cloud_run_v2_service.private["notify"].uri : null
}

output "notify_push_subscription" {
  description = "The filtered push subscription feeding the notify function, or null when notify is off."
  value       = local.notify_enabled ? google_pubsub_subscription.notify_push[0].id : null
}

output "warehouse_tables" {
  description = "Warehouse table id -> project.dataset.table of the typed table and of its one-row-per-event view (<table>_unique); empty when the warehouse is off."
  value = {
    for id, table in google_bigquery_table.warehouse : id => {
      table = "${table.project}.${table.dataset_id}.${table.table_id}"
      view  = "${google_bigquery_table.warehouse_unique[id].project}.${google_bigquery_table.warehouse_unique[id].dataset_id}.${google_bigquery_table.warehouse_unique[id].table_id}"
    }
  }
}

output "enrich_url" {
  description = "URL of the private enrich function (its push subscription's endpoint), or null when enrich is off."
  value       = local.enrich_enabled ? google_cloud_run_v2_service.private["enrich"].uri : null
}

output "enrich_output_topic" {
  description = "Topic enrich publishes the enriched events to (attribute hermes_enriched = \"true\"; no subscription yet, the topic keeps them 7 days), or null when enrich is off."
  value       = local.enrich_enabled ? google_pubsub_topic.enrich_output[0].id : null
}

output "enrich_push_subscription" {
  description = "The push subscription feeding the enrich function, or null when enrich is off."
  value       = local.enrich_enabled ? google_pubsub_subscription.enrich_push[0].id : null
}
