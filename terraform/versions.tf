terraform {
  # optional() attributes with defaults in variable types need Terraform 1.3;
  # 1.5 is the floor this module is written and checked for.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source = "hashicorp/google"
      # The module is checked against the google provider 6.50 schema
      # (terraform/tests/check_schema.py); any later 6.x release works.
      version = "~> 6.50"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = var.labels
}
