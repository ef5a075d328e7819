# The function: provided.al2023 running the bootstrap wrapper (bootstrap.sh),
# which reads the bearer tokens from Secrets Manager at start through the AWS
# Parameters and Secrets Lambda Extension and execs the hermes-ingest binary.
#
# Two zips, both built by Terraform:
#   - the function's own package: bootstrap (the wrapper) and
#     gcp-credentials.json (the external_account configuration, wif.tf: no key,
#     no secret) at /var/task;
#   - a layer holding cargo lambda's binary as it is (a file named bootstrap),
#     at /opt/bootstrap. Lambda runs the function's /var/task/bootstrap, never a
#     layer's, when the function has one.

locals {
  binary_path      = coalesce(var.binary_path, "${path.module}/../../target/lambda/hermes-ingest/bootstrap")
  credentials_path = "/var/task/gcp-credentials.json"
  log_group_name   = "/aws/lambda/${var.function_name}"
  # the extension's arm64 build for arm64, its x86_64 build otherwise
  extension_matches = (var.architecture == "arm64") == can(regex("-Arm64:[0-9]+$", var.secrets_extension_layer_arn))
}

data "archive_file" "binary" {
  type             = "zip"
  source_file      = local.binary_path
  output_path      = "${path.module}/.build/hermes-ingest-binary.zip"
  output_file_mode = "0755"
}

data "archive_file" "function" {
  type             = "zip"
  output_path      = "${path.module}/.build/hermes-ingest-function.zip"
  output_file_mode = "0755"

  source {
    filename = "bootstrap"
    content  = file("${path.module}/bootstrap.sh")
  }

  source {
    filename = "gcp-credentials.json"
    content  = local.google_credentials_json
  }
}

resource "aws_lambda_layer_version" "binary" {
  layer_name               = "${var.function_name}-binary"
  description              = "hermes-ingest built by cargo lambda (${var.architecture})"
  filename                 = data.archive_file.binary.output_path
  source_code_hash         = data.archive_file.binary.output_base64sha256
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [var.architecture]
}

resource "aws_cloudwatch_log_group" "ingest" {
  #checkov:skip=CKV_AWS_158:encrypted with the CloudWatch Logs service key unless kms_key_arn is set (the key policy must then allow CloudWatch Logs)
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "ingest" {
  #checkov:skip=CKV_AWS_116:a dead-letter queue only serves asynchronous invocations; the function URL invokes synchronously and the client sees every error
  #checkov:skip=CKV_AWS_117:no VPC on purpose: the function calls Google APIs on the internet and reaches nothing private; a VPC would need a NAT gateway
  #checkov:skip=CKV_AWS_173:the environment holds no secret (config, secret names, credentials path); the tokens are read from Secrets Manager at start
  #checkov:skip=CKV_AWS_272:code signing needs a signing profile the project does not have; the package is built from source by the operator
  function_name = var.function_name
  description   = "Hermes ingest (public, bearer tokens); publishes to Pub/Sub as ${var.publisher_account_id}"
  role          = aws_iam_role.ingest.arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]
  filename      = data.archive_file.function.output_path
  # the binary's layer changes with it: its ARN carries a new version
  source_code_hash               = data.archive_file.function.output_base64sha256
  layers                         = [aws_lambda_layer_version.binary.arn, var.secrets_extension_layer_arn]
  memory_size                    = var.memory_size
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = merge(
      {
        HERMES_CONFIG_TOML             = var.hermes_config_toml
        GOOGLE_CLOUD_PROJECT           = var.google_project_id
        GOOGLE_APPLICATION_CREDENTIALS = local.credentials_path
      },
      # NAME_SECRET = the secret the bootstrap reads into NAME (names, never values)
      { for k, name in local.token_secrets : "${k}_SECRET" => name },
    )
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.ingest.name
  }

  tracing_config {
    mode = "PassThrough"
  }

  lifecycle {
    precondition {
      condition     = local.extension_matches
      error_message = "secrets_extension_layer_arn must be the extension's build for architecture (the arm64 one ends in -Arm64:VERSION)."
    }
  }

  depends_on = [aws_iam_role_policy.ingest]
}

# Public: anyone may call the URL; ingest refuses a request without a valid
# bearer token (401), as on Cloud Run. A function URL created since October 2025
# needs both statements: lambda:InvokeFunctionUrl for URL calls, and
# lambda:InvokeFunction limited to invocations through the URL (without the
# second, every request is refused with 403; without its condition, anyone with
# AWS credentials could invoke the function directly).
resource "aws_lambda_function_url" "ingest" {
  #checkov:skip=CKV_AWS_258:ingest is public like the Cloud Run service; the bearer tokens do the authentication (IAM auth would need SigV4-signing clients)
  function_name      = aws_lambda_function.ingest.function_name
  authorization_type = "NONE"
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "public_url" {
  #checkov:skip=CKV_AWS_301:the public function URL needs this grant to everyone; function_url_auth_type NONE limits it to calls through the URL
  statement_id           = "PublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.ingest.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "public_url_invoke" {
  #checkov:skip=CKV_AWS_301:the public function URL needs this grant to everyone; invoked_via_function_url limits it to invocations through the URL
  statement_id             = "PublicFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.ingest.function_name
  principal                = "*"
  invoked_via_function_url = true
}
