# Bearer tokens of the ingest function, in Secret Manager. Cloud Run reads the
# latest version at deploy time; rotate by adding a version that holds the old
# and the new token ("old,new"), redeploying, then dropping the old one.

locals {
  secrets = merge(
    { "hermes-bearer-token" = "HERMES_BEARER_TOKEN" },
    var.preview_token_enabled ? { "hermes-preview-bearer-token" = "HERMES_PREVIEW_BEARER_TOKEN" } : {},
  )
}

resource "google_secret_manager_secret" "token" {
  for_each = local.secrets

  secret_id = each.key

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

resource "google_secret_manager_secret_version" "token" {
  for_each = local.secrets

  secret      = google_secret_manager_secret.token[each.key].id
  secret_data = each.key == "hermes-bearer-token" ? var.bearer_token : var.preview_bearer_token
}
