# ---------------------------------------------------------------------------
# Required
# ---------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region of the Lambda function, its role, log group and secrets (e.g. eu-north-1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as eu-north-1."
  }
}

variable "google_project_id" {
  description = "Google Cloud project of the Hermes topics (the project ../ deployed): the workload identity pool and the publisher service account are created there."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.google_project_id))
    error_message = "google_project_id must be a project id (6-30 lowercase letters, digits, hyphens), not a number or a name."
  }
}

variable "ingest_topics" {
  description = "Full ids (projects/PROJECT/topics/NAME) of every topic ingest publishes to: its destination topics, and the preview and quarantine topics when those are on (terraform output of ../: topics, preview_topic, quarantine_topic). The Lambda's Google identity may publish to these and nothing else."
  type        = list(string)

  validation {
    condition     = length(var.ingest_topics) > 0 && alltrue([for t in var.ingest_topics : can(regex("^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", t))])
    error_message = "ingest_topics must list at least one topic id of the form projects/PROJECT/topics/NAME."
  }
}

variable "hermes_config_toml" {
  description = "The Hermes configuration ingest runs with (HERMES_CONFIG_TOML): terraform output -raw hermes_config_toml of ../, or your own document naming the same topics."
  type        = string

  validation {
    condition     = length(trimspace(var.hermes_config_toml)) > 0
    error_message = "hermes_config_toml must not be empty."
  }
}

variable "secrets_extension_layer_arn" {
  description = "ARN of the AWS Parameters and Secrets Lambda Extension layer for aws_region and architecture (AWS publishes one per region; the arm64 one is named ...-Extension-Arm64). The function's bootstrap reads the bearer tokens through it at start."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:AWS-Parameters-and-Secrets-Lambda-Extension(-Arm64)?:[0-9]+$", var.secrets_extension_layer_arn))
    error_message = "secrets_extension_layer_arn must be an ARN of the AWS-Parameters-and-Secrets-Lambda-Extension layer (with its version)."
  }
}

# ---------------------------------------------------------------------------
# Optional
# ---------------------------------------------------------------------------

variable "architecture" {
  description = "Instruction set of the function: arm64 (cargo lambda build --arm64, the default: cheaper per GB-second) or x86_64 (cargo lambda build --x86-64). It must match the binary and the extension layer."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "binary_path" {
  description = "Path of the hermes-ingest binary built by cargo lambda (null: target/lambda/hermes-ingest/bootstrap at the repository root)."
  type        = string
  default     = null
}

variable "function_name" {
  description = "Name of the Lambda function; also the name of its role, log group (/aws/lambda/NAME) and binary layer."
  type        = string
  default     = "hermes-ingest"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,56}$", var.function_name))
    error_message = "function_name must be 1-56 letters, digits, hyphens or underscores (the role name adds nothing; the layer name adds -binary)."
  }
}

variable "preview_token_enabled" {
  description = "Whether ingest also accepts preview bearer tokens (HERMES_PREVIEW_BEARER_TOKEN): creates the secret hermes-preview-bearer-token and lets the function read it."
  type        = bool
  default     = false
}

variable "secret_name_prefix" {
  description = "Prefix of the Secrets Manager secret names: PREFIX-bearer-token and PREFIX-preview-bearer-token."
  type        = string
  default     = "hermes"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.secret_name_prefix))
    error_message = "secret_name_prefix must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "kms_key_arn" {
  description = "Optional customer-managed KMS key ARN for the secrets and the log group (null: the AWS-managed keys). The function may then decrypt with it, through Secrets Manager only."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or null."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU grows with it)."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds (a request publishes to Pub/Sub and answers; 30 leaves room for a slow publish)."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout_seconds >= 3 && var.timeout_seconds <= 900 && floor(var.timeout_seconds) == var.timeout_seconds
    error_message = "timeout_seconds must be a whole number from 3 to 900."
  }
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the function: a public URL should not be able to take the whole account's concurrency."
  type        = number
  default     = 50

  validation {
    condition     = var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number of at least 1."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the function's log lines."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "workload_identity_pool_id" {
  description = "Id of the Google workload identity pool trusting the AWS account (4-32 characters)."
  type        = string
  default     = "hermes-aws"

  validation {
    condition     = can(regex("^[a-z0-9-]{4,32}$", var.workload_identity_pool_id)) && !startswith(var.workload_identity_pool_id, "gcp-")
    error_message = "workload_identity_pool_id must be 4-32 lowercase letters, digits or hyphens, not starting with gcp-."
  }
}

variable "publisher_account_id" {
  description = "Account id of the Google service account the Lambda impersonates to publish (6-30 characters)."
  type        = string
  default     = "hermes-aws-ingest"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.publisher_account_id))
    error_message = "publisher_account_id must be 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags on every AWS resource (provider default_tags)."
  type        = map(string)
  default     = { app = "hermes" }
}
