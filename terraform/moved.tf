# Earlier versions of this module declared these resources one by one; they are
# now keyed instances of for_each resources. Without these blocks Terraform would
# plan to destroy and re-create them on an existing deployment: the apply fails
# on the services' deletion protection, or, with it off, takes the services down
# and gives the service accounts new unique ids. With them it only renames the
# state entries. Keep them while any deployment may hold the old addresses; see
# https://developer.hashicorp.com/terraform/language/modules/develop/refactoring

moved {
  from = google_cloud_run_v2_service.counters
  to   = google_cloud_run_v2_service.private["counters"]
}

moved {
  from = google_cloud_run_v2_service.dashboard
  to   = google_cloud_run_v2_service.private["dashboard"]
}

moved {
  from = google_service_account.ingest
  to   = google_service_account.this["ingest"]
}

moved {
  from = google_service_account.counters
  to   = google_service_account.this["counters"]
}

moved {
  from = google_service_account.dashboard
  to   = google_service_account.this["dashboard"]
}

moved {
  from = google_service_account.push
  to   = google_service_account.this["push"]
}

moved {
  from = google_project_iam_member.counters_datastore_user
  to   = google_project_iam_member.datastore["counters"]
}

moved {
  from = google_project_iam_member.dashboard_datastore_viewer
  to   = google_project_iam_member.datastore["dashboard"]
}
