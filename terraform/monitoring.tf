# Pipeline health the Google Cloud way: log-based metrics from the functions'
# JSON log lines, a Cloud Monitoring dashboard of them, and alert policies on
# dead-lettered messages and on the tag failure rate.
#
# Every metric selects lines by their `metric` field and reads the fields
# named below (README, "Monitoring"). terraform/tests/log_fields.json lists the
# fields the functions really log, captured from the binaries by a test; the
# offline checks compare every filter and extractor here with it.

locals {
  # Ingest's request log lines and counters' message lines, on Cloud Run.
  log_filter_base = "resource.type=\"cloud_run_revision\""

  # PromQL names of the log-based metrics (`logging.googleapis.com/user/NAME`);
  # a distribution metric's values are summed by its `_sum` series.
  promql = {
    accepted     = "logging_googleapis_com:user_hermes_ingest_events_accepted_sum"
    rejected     = "logging_googleapis_com:user_hermes_ingest_events_rejected_sum"
    refused      = "logging_googleapis_com:user_hermes_ingest_requests_refused"
    tag_runs     = "logging_googleapis_com:user_hermes_ingest_tag_runs_sum"
    tag_failures = "logging_googleapis_com:user_hermes_ingest_tag_failures_sum"
    counters     = "logging_googleapis_com:user_hermes_counters_messages"
  }
}

# ---- log-based metrics ------------------------------------------------------------

# Events that passed the schema, summed from each request's `ingest_events` line.
resource "google_logging_metric" "events_accepted" {
  name            = "hermes_ingest_events_accepted"
  description     = "Events ingest accepted (they passed the schema), per request line."
  filter          = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_events\""
  value_extractor = "EXTRACT(jsonPayload.events_accepted)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.this]
}

# Events rejected by the schema, by error code (`type`, `missing`, `not_array`).
resource "google_logging_metric" "events_rejected" {
  name            = "hermes_ingest_events_rejected"
  description     = "Events ingest rejected, by schema error code."
  filter          = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_rejections\""
  value_extractor = "EXTRACT(jsonPayload.events)"
  label_extractors = {
    code = "EXTRACT(jsonPayload.code)"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"

    labels {
      key         = "code"
      value_type  = "STRING"
      description = "Schema error code."
    }
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.this]
}

# Whole requests refused before any event was looked at (400, 401, 413, 415, 422…).
resource "google_logging_metric" "requests_refused" {
  name        = "hermes_ingest_requests_refused"
  description = "Requests ingest refused as a whole, by HTTP status."
  filter      = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_refused\""
  label_extractors = {
    status = "EXTRACT(jsonPayload.status)"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "status"
      value_type  = "STRING"
      description = "HTTP status of the answer."
    }
  }

  depends_on = [google_project_service.this]
}

# Tag executions (one per event and destination it triggered), the failure rate's denominator.
resource "google_logging_metric" "tag_runs" {
  name            = "hermes_ingest_tag_runs"
  description     = "Tag executions of ingest (event x destination)."
  filter          = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_events\""
  value_extractor = "EXTRACT(jsonPayload.tag_runs)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_logging_metric" "tag_failures" {
  name            = "hermes_ingest_tag_failures"
  description     = "Failed tag executions of ingest, by destination."
  filter          = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_tag_failures\""
  value_extractor = "EXTRACT(jsonPayload.tag_failures)"
  label_extractors = {
    destination = "EXTRACT(jsonPayload.destination)"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"

    labels {
      key         = "destination"
      value_type  = "STRING"
      description = "Destination (tag) name."
    }
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.this]
}

# Pushed messages by outcome: applied, duplicate, empty, skipped_preview, poison, retry.
resource "google_logging_metric" "counters_messages" {
  name        = "hermes_counters_messages"
  description = "Messages the counters function handled, by outcome."
  filter      = "${local.log_filter_base} AND jsonPayload.metric=\"counters_message\""
  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "applied, duplicate, empty, skipped_preview, poison or retry."
    }
  }

  depends_on = [google_project_service.this]
}

# ---- dashboard ------------------------------------------------------------------------

resource "google_monitoring_dashboard" "hermes" {
  dashboard_json = jsonencode({
    displayName = "Hermes pipeline"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, w in [
          { title = "Events accepted / s", query = "sum(rate(${local.promql.accepted}[5m]))" },
          { title = "Events rejected / s, by code", query = "sum by (code) (rate(${local.promql.rejected}[5m]))" },
          { title = "Requests refused / s, by status", query = "sum by (status) (rate(${local.promql.refused}[5m]))" },
          { title = "Tag failures / s, by destination", query = "sum by (destination) (rate(${local.promql.tag_failures}[5m]))" },
          { title = "Counters messages / s, by outcome", query = "sum by (outcome) (rate(${local.promql.counters}[5m]))" },
          { title = "Dead letters waiting", query = "" },
          ] : {
          xPos   = (i % 2) * 6
          yPos   = floor(i / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = w.title
            xyChart = {
              dataSets = [
                w.query != "" ? {
                  plotType        = "LINE"
                  timeSeriesQuery = { prometheusQuery = w.query }
                  } : {
                  plotType = "LINE"
                  timeSeriesQuery = {
                    timeSeriesFilter = {
                      filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
                      aggregation = {
                        alignmentPeriod  = "60s"
                        perSeriesAligner = "ALIGN_MAX"
                      }
                    }
                  }
                }
              ]
            }
          }
        }
      ]
    }
  })

  depends_on = [google_project_service.this]
}

# ---- alerts ---------------------------------------------------------------------------

# Any message waiting on the dead-letter subscription: a poison message, or a
# counters function that kept failing for 5 attempts. Inspect it with
# `gcloud pubsub subscriptions pull hermes-dead-letter`.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "Hermes: messages dead-lettered"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "ERROR"

  conditions {
    display_name = "Messages waiting on ${google_pubsub_subscription.dead_letter.name}"

    condition_threshold {
      filter          = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages reached the dead-letter topic. Pull them with `gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter.name} --limit 10`; counters logs one ERROR line (`metric=counters_message`, `outcome=poison`) per poison message."
  }

  depends_on = [google_project_service.this]
}

# Failed tag executions over all tag executions, over 10 minutes.
resource "google_monitoring_alert_policy" "tag_failure_rate" {
  display_name          = "Hermes: tag failure rate"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "WARNING"

  conditions {
    display_name = "Tag failures above ${var.tag_failure_rate_threshold * 100}% of tag executions"

    condition_prometheus_query_language {
      query    = "sum(rate(${local.promql.tag_failures}[10m])) / clamp_min(sum(rate(${local.promql.tag_runs}[10m])), 1e-9) > ${var.tag_failure_rate_threshold}"
      duration = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Ingest failed to publish for a share of the events it accepted. Its `tag failures` log lines (`metric=ingest_tag_failures`) name the destination; `publish failed` lines give the reason."
  }

  depends_on = [google_logging_metric.tag_failures, google_logging_metric.tag_runs]
}
