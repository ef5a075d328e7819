terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Checked against the aws provider 6.25 schema (npm @cdktf/provider-aws
      # 21.22.1, the last one published) plus the one later argument used:
      # aws_lambda_permission.invoked_via_function_url, new in 6.29, which a
      # function URL created since October 2025 needs (tests/provider_index.py).
      version = "~> 6.29"
    }
    google = {
      source = "hashicorp/google"
      # The same pin as ../versions.tf: checked against google 6.50.
      version = "~> 6.50"
    }
    archive = {
      source = "hashicorp/archive"
      # Checked against archive 2.7.1 (npm @cdktf/provider-archive 11.0.1).
      version = "~> 2.7"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = var.tags
  }
}

provider "google" {
  project = var.google_project_id
}
