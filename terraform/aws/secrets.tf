# The bearer tokens ingest accepts, in Secrets Manager. Terraform creates the
# secrets and never their values: put them with the AWS CLI (README), so no token
# is in a .tf file, a plan, the state or the function's configuration. The
# function's bootstrap reads them once, at start (lambda.tf).

locals {
  token_secrets = merge(
    { HERMES_BEARER_TOKEN = "${var.secret_name_prefix}-bearer-token" },
    var.preview_token_enabled ? { HERMES_PREVIEW_BEARER_TOKEN = "${var.secret_name_prefix}-preview-bearer-token" } : {},
  )
}

resource "aws_secretsmanager_secret" "token" {
  for_each = local.token_secrets

  #checkov:skip=CKV2_AWS_57:static bearer tokens shared with clients; rotation is manual and overlapping (old,new), see README
  name        = each.value
  description = "Hermes ingest ${each.key}: comma-separated bearer tokens (value set outside Terraform)"
  kms_key_id  = var.kms_key_arn
}
