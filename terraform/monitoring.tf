# Pipeline health the Google Cloud way: log-based metrics from the functions'
# JSON log lines, a Cloud Monitoring dashboard of them, and alert policies on
# dead-lettered messages, on the tag failure rate, on the quarantine rate, on
# lost bad rows and (with enrich on) on enrich's failure rate.
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
    quarantined  = "logging_googleapis_com:user_hermes_ingest_events_quarantined_sum"
    lost         = "logging_googleapis_com:user_hermes_ingest_quarantine_failed_sum"
  }

  # Enrich's messages, by outcome (a separate name: the metric exists only with enrich on).
  enrich_promql = "logging_googleapis_com:user_hermes_enrich_messages"

  # Messages waiting on a pull subscription (Pub/Sub's own metric).
  undelivered_filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\""
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

# Events ingest quarantined (README, "Nothing lost"), by reason: one line per
# reason and request, `events` the bad rows it published for that reason.
resource "google_logging_metric" "events_quarantined" {
  name            = "hermes_ingest_events_quarantined"
  description     = "Events ingest published to the quarantine topic as bad rows, by reason (schema, destination)."
  filter          = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_quarantined\""
  value_extractor = "EXTRACT(jsonPayload.events)"
  label_extractors = {
    reason = "EXTRACT(jsonPayload.reason)"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "schema (refused by the schema) or destination (refused for good by a destination)."
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

# Bad rows lost: a quarantine publish failed (one WARNING line per failed publish).
resource "google_logging_metric" "quarantine_failed" {
  name            = "hermes_ingest_quarantine_failed"
  description     = "Bad rows ingest could not publish to the quarantine topic (lost), per failed publish."
  filter          = "${local.log_filter_base} AND jsonPayload.metric=\"ingest_quarantine_failed\""
  value_extractor = "EXTRACT(jsonPayload.events)"

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

# Pushed messages by outcome: applied, duplicate, empty, skipped_preview,
# skipped_backfill, poison, retry.
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
      description = "applied, duplicate, empty, skipped_preview, skipped_backfill, poison or retry."
    }
  }

  depends_on = [google_project_service.this]
}

# Enrich's messages by outcome, from the push kit's line per message (the same
# line as counters_message: `<job>_message` with outcome, job, message_id).
# `retry` (a Firestore read or the publish failed: redelivered) and `poison`
# (dead-lettered after 5 attempts) are the kit's own outcomes.
resource "google_logging_metric" "enrich_messages" {
  count = local.enrich_enabled ? 1 : 0

  name        = "hermes_enrich_messages"
  description = "Messages the enrich function handled, by outcome."
  filter      = "${local.log_filter_base} AND jsonPayload.metric=\"enrich_message\""
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
      description = "The enrich job's outcome, or skipped_preview, poison or retry."
    }
  }

  depends_on = [google_project_service.this]
}

# ---- dashboard ------------------------------------------------------------------------

# Each chart is a PromQL query or a Cloud Monitoring time series filter, written
# out in the list: Terraform refuses a conditional choosing between the two
# shapes ("inconsistent conditional result types"), a list of differing
# objects is fine. The quarantine's charts are there when it is on.
locals {
  dashboard_charts = [
    for c in [
      { title = "Events accepted / s", on = true, query = { prometheusQuery = "sum(rate(${local.promql.accepted}[5m]))" } },
      { title = "Events rejected / s, by code", on = true, query = { prometheusQuery = "sum by (code) (rate(${local.promql.rejected}[5m]))" } },
      { title = "Requests refused / s, by status", on = true, query = { prometheusQuery = "sum by (status) (rate(${local.promql.refused}[5m]))" } },
      { title = "Tag failures / s, by destination", on = true, query = { prometheusQuery = "sum by (destination) (rate(${local.promql.tag_failures}[5m]))" } },
      { title = "Counters messages / s, by outcome", on = true, query = { prometheusQuery = "sum by (outcome) (rate(${local.promql.counters}[5m]))" } },
      {
        title = "Dead letters waiting"
        on    = true
        query = {
          timeSeriesFilter = {
            filter      = "${local.undelivered_filter} AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX" }
          }
        }
      },
      { title = "Events quarantined / s, by reason", on = local.quarantine_enabled, query = { prometheusQuery = "sum by (reason) (rate(${local.promql.quarantined}[5m]))" } },
      # Bad rows lost per second: each line of a failed quarantine publish counts its rows.
      { title = "Quarantine publishes failed", on = local.quarantine_enabled, query = { prometheusQuery = "sum(rate(${local.promql.lost}[5m]))" } },
      {
        title = "Quarantine rows waiting"
        on    = local.quarantine_enabled
        query = {
          timeSeriesFilter = {
            filter      = "${local.undelivered_filter} AND resource.label.subscription_id=\"${local.quarantine_enabled ? google_pubsub_subscription.quarantine[0].name : ""}\""
            aggregation = { alignmentPeriod = "60s", perSeriesAligner = "ALIGN_MAX" }
          }
        }
      },
      { title = "Enrich messages / s, by outcome", on = local.enrich_enabled, query = { prometheusQuery = "sum by (outcome) (rate(${local.enrich_promql}[5m]))" } },
    ] : c if c.on
  ]
}

resource "google_monitoring_dashboard" "hermes" {
  dashboard_json = jsonencode({
    displayName = "Hermes pipeline"
    mosaicLayout = {
      columns = 12
      tiles = [
        for i, w in local.dashboard_charts : {
          xPos   = (i % 2) * 6
          yPos   = floor(i / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = w.title
            xyChart = {
              dataSets = [{ plotType = "LINE", timeSeriesQuery = w.query }]
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
      filter          = "${local.undelivered_filter} AND resource.label.subscription_id=\"${google_pubsub_subscription.dead_letter.name}\""
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
    display_name = "Tag failures above ${format("%.4g", var.tag_failure_rate_threshold * 100)}% of tag executions"

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

# Quarantined events over all events ingest looked at (accepted or rejected),
# over 10 minutes. A schema-quarantined event is one of the rejected, a
# destination-quarantined one of the accepted; `or vector(0)` keeps the
# denominator when one of the two has no series yet.
resource "google_monitoring_alert_policy" "quarantine_rate" {
  count = local.quarantine_enabled ? 1 : 0

  display_name          = "Hermes: quarantine rate"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "WARNING"

  conditions {
    # format(): the product of two decimals is a binary float (1% would print as 0.999…).
    display_name = "Quarantined events above ${format("%.4g", var.quarantine_rate_threshold * 100)}% of events"

    condition_prometheus_query_language {
      query    = "sum(rate(${local.promql.quarantined}[10m])) / clamp_min((sum(rate(${local.promql.accepted}[10m])) or vector(0)) + (sum(rate(${local.promql.rejected}[10m])) or vector(0)), 1e-9) > ${var.quarantine_rate_threshold}"
      duration = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Ingest quarantined a share of the events it received. Its `ingest_quarantined` log lines give the `reason`: `schema` (the client sends events the schema refuses: see the `ingest_rejections` lines' `code`) or `destination` (a destination refused them for good: see the `publish failed` lines). The bad rows wait on the pull subscription `${google_pubsub_subscription.quarantine[0].name}` (kept 31 days): after the fix, `hermes replay --subscription ${google_pubsub_subscription.quarantine[0].id}` sends them again."
  }

  depends_on = [google_logging_metric.events_quarantined, google_logging_metric.events_accepted, google_logging_metric.events_rejected]
}

# Any bad row lost: a quarantine publish failed. Fires on the first evaluation.
resource "google_monitoring_alert_policy" "quarantine_failed" {
  count = local.quarantine_enabled ? 1 : 0

  display_name          = "Hermes: quarantine publish failed"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "ERROR"

  conditions {
    display_name = "Bad rows lost (quarantine publish failed)"

    condition_prometheus_query_language {
      query    = "sum(rate(${local.promql.lost}[5m])) > 0"
      duration = "0s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Ingest could not publish bad rows to the quarantine topic `${google_pubsub_topic.quarantine[0].name}`: those rows are lost (they were refused, and are kept nowhere). Its WARNING lines `metric=ingest_quarantine_failed` give the `error` and the number of `events`; check that the topic exists and that ingest's service account holds `roles/pubsub.publisher` on it."
  }

  depends_on = [google_logging_metric.quarantine_failed]
}

# Enrich's messages answered for redelivery (retry) or refused (poison) over
# all its messages, over 10 minutes: a lookup collection it may not read, an
# output topic it may not publish to, or events a lookup with on_missing =
# "fail" refuses. A message failing 5 times reaches the dead-letter alert too;
# this one fires earlier, and on failures a later attempt recovers from.
resource "google_monitoring_alert_policy" "enrich_failure_rate" {
  count = local.enrich_enabled ? 1 : 0

  display_name          = "Hermes: enrich failure rate"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "WARNING"

  conditions {
    display_name = "Enrich retries and poison messages above ${format("%.4g", var.enrich_failure_rate_threshold * 100)}% of its messages"

    condition_prometheus_query_language {
      query    = "sum(rate(${local.enrich_promql}{outcome=~\"retry|poison\"}[10m])) / clamp_min(sum(rate(${local.enrich_promql}[10m])), 1e-9) > ${var.enrich_failure_rate_threshold}"
      duration = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Enrich failed on a share of its messages. Its lines `metric=enrich_message` with `outcome=retry` or `outcome=poison` give the `error`: check that `hermes-enrich` may read Firestore (`roles/datastore.viewer`) and publish to `${google_pubsub_topic.enrich_output[0].name}`, and the lookups' `on_missing`. Poison messages wait on `${google_pubsub_subscription.dead_letter.name}`."
  }

  depends_on = [google_logging_metric.enrich_messages]
}
