output "function_url" {
  description = "Public URL of the ingest function (POST events here with a bearer token)."
  value       = aws_lambda_function_url.ingest.function_url
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.ingest.function_name
}

output "role_arn" {
  description = "ARN of the function's role: the only AWS identity the Google pool accepts."
  value       = aws_iam_role.ingest.arn
}

output "bearer_token_secrets" {
  description = "Secrets Manager secret names by the variable they fill (put the values with aws secretsmanager put-secret-value)."
  value       = local.token_secrets
}

output "workload_identity_provider" {
  description = "Full name of the Google workload identity pool provider."
  value       = local.workload_identity_provider
}

output "publisher_service_account" {
  description = "Email of the Google service account the function publishes as."
  value       = google_service_account.publisher.email
}

output "google_credentials_json" {
  description = "The external_account credentials file packaged at /var/task/gcp-credentials.json (no key, no secret: useful to test the federation from another AWS session of the role)."
  value       = local.google_credentials_json
}

output "curl_example" {
  description = "A first event sent to the function, with the first production token read from Secrets Manager."
  value       = <<-EOT
    curl -s -X POST '${aws_lambda_function_url.ingest.function_url}' \
      -H "Authorization: Bearer $(aws secretsmanager get-secret-value --region ${var.aws_region} --secret-id ${local.token_secrets["HERMES_BEARER_TOKEN"]} --query SecretString --output text | cut -d, -f1)" \
      -H 'Content-Type: application/json' \
      -d '[{"event_name":"purchase","transaction_id":"T1","value":150,"currency":"DKK","items":[{"item_id":"123","item_name":"Blazer","price":150,"quantity":1}]}]'
  EOT
}
