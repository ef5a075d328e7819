# Google side: the Lambda role's sessions become a Google identity through
# workload identity federation, with no key anywhere.
#
#   Lambda (role hermes-ingest) --signed GetCallerIdentity--> Google STS
#     pool hermes-aws / provider aws-lambda: account = this AWS account and
#     the caller is an assumed-role session of exactly that role
#   --> federated principal --impersonates--> hermes-aws-ingest@ (publisher only)
#   --> roles/pubsub.publisher on the ingest topics only

data "google_project" "this" {
  project_id = var.google_project_id
}

resource "google_project_service" "federation" {
  for_each = toset(["iam.googleapis.com", "iamcredentials.googleapis.com", "sts.googleapis.com"])

  project            = var.google_project_id
  service            = each.value
  disable_on_destroy = false
}

locals {
  aws_account_id = data.aws_caller_identity.current.account_id
  # What Google sees for the function: the STS assumed-role ARN of its role
  # (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, the session being the
  # function's name); attribute.aws_role maps it to the ARN without the session.
  lambda_role_session_arn = "arn:${data.aws_partition.current.partition}:sts::${local.aws_account_id}:assumed-role/${aws_iam_role.ingest.name}"
  pool_provider_id        = "aws-lambda"
  workload_identity_provider = join("/", [
    "projects/${data.google_project.this.number}/locations/global/workloadIdentityPools",
    google_iam_workload_identity_pool.aws.workload_identity_pool_id,
    "providers",
    google_iam_workload_identity_pool_provider.aws.workload_identity_pool_provider_id,
  ])
  lambda_principal_set = "principalSet://iam.googleapis.com/projects/${data.google_project.this.number}/locations/global/workloadIdentityPools/${google_iam_workload_identity_pool.aws.workload_identity_pool_id}/attribute.aws_role/${local.lambda_role_session_arn}"

  # The credentials file (Google's external_account format, AWS credential
  # source): no key, no secret. On Lambda, Hermes signs with the role's
  # credentials from the environment (AWS_ACCESS_KEY_ID, ..., AWS_REGION), which
  # it prefers to the metadata URLs below.
  google_credentials_json = jsonencode({
    type                              = "external_account"
    audience                          = "//iam.googleapis.com/${local.workload_identity_provider}"
    subject_token_type                = "urn:ietf:params:aws:token-type:aws4_request"
    token_url                         = "https://sts.googleapis.com/v1/token"
    service_account_impersonation_url = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${google_service_account.publisher.email}:generateAccessToken"
    credential_source = {
      environment_id                 = "aws1"
      region_url                     = "http://169.254.169.254/latest/meta-data/placement/availability-zone"
      url                            = "http://169.254.169.254/latest/meta-data/iam/security-credentials"
      regional_cred_verification_url = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
    }
  })
}

resource "google_iam_workload_identity_pool" "aws" {
  project                   = var.google_project_id
  workload_identity_pool_id = var.workload_identity_pool_id
  display_name              = "Hermes on AWS"
  description               = "AWS identities of Hermes (the ingest Lambda's role)"

  depends_on = [google_project_service.federation]
}

resource "google_iam_workload_identity_pool_provider" "aws" {
  #checkov:skip=CKV_GCP_125:a check of GitHub Actions OIDC providers that fails on any provider without an oidc block; this one is aws, its condition names account and role
  project                            = var.google_project_id
  workload_identity_pool_id          = google_iam_workload_identity_pool.aws.workload_identity_pool_id
  workload_identity_pool_provider_id = local.pool_provider_id
  display_name                       = "Hermes ingest Lambda"
  description                        = "Sessions of the Hermes ingest Lambda role in one AWS account"

  aws {
    account_id = local.aws_account_id
  }

  # Google's default mapping for AWS, plus the account.
  attribute_mapping = {
    "google.subject"        = "assertion.arn"
    "attribute.aws_account" = "assertion.account"
    "attribute.aws_role"    = "assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
  }

  # Only the Lambda role's sessions in this account get a token at all; every
  # other identity of the account is refused by Google's STS.
  attribute_condition = "assertion.account == '${local.aws_account_id}' && attribute.aws_role == '${local.lambda_role_session_arn}'"
}

# The identity the Lambda publishes as: no key, no role but publisher on the
# ingest topics.
resource "google_service_account" "publisher" {
  project      = var.google_project_id
  account_id   = var.publisher_account_id
  display_name = "Hermes ingest on AWS Lambda"
  description  = "Impersonated by the Hermes ingest Lambda role through workload identity federation; publishes to the ingest topics only"
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = toset(var.ingest_topics)

  project = split("/", each.value)[1]
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = google_service_account.publisher.member
}

# Exactly the Lambda role (any of its sessions) may act as the publisher.
resource "google_service_account_iam_member" "lambda_role" {
  service_account_id = google_service_account.publisher.name
  role               = "roles/iam.workloadIdentityUser"
  member             = local.lambda_principal_set
}
