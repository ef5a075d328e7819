# The function's role: it may write its own log group and read its token
# secrets (decrypting them through Secrets Manager when a KMS key is given), and
# nothing else. Publishing to Pub/Sub is granted on the Google side (wif.tf) to
# this role's sessions, not by any AWS permission.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

resource "aws_iam_role" "ingest" {
  name        = var.function_name
  description = "Hermes ingest Lambda: logs, its bearer-token secrets; publishes to Pub/Sub through Google workload identity federation"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "ingest" {
  name = "hermes-ingest"
  role = aws_iam_role.ingest.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "Logs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = ["${aws_cloudwatch_log_group.ingest.arn}:*"]
        },
        {
          Sid      = "BearerTokens"
          Effect   = "Allow"
          Action   = ["secretsmanager:GetSecretValue"]
          Resource = [for k in sort(keys(local.token_secrets)) : aws_secretsmanager_secret.token[k].arn]
        },
      ],
      var.kms_key_arn == null ? [] : [{
        Sid       = "DecryptTokensThroughSecretsManager"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [var.kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${var.aws_region}.amazonaws.com" } }
      }],
    )
  })
}
