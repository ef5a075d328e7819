# ---------------------------------------------------------------------------
# Required
# ---------------------------------------------------------------------------

variable "project_id" {
  description = "ID of the Google Cloud project the pipeline is created in (it must exist and have billing enabled)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits or hyphens, starting with a letter), not a project name or number."
  }
}

variable "ingest_image" {
  description = "Container image of the ingest function, e.g. REGION-docker.pkg.dev/PROJECT/hermes/hermes:TAG. The image must contain /usr/local/bin/hermes-ingest (the project's Dockerfile builds one image holding all three binaries)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[^\\s]+$", var.ingest_image))
    error_message = "ingest_image must be a full image reference such as europe-west1-docker.pkg.dev/my-project/hermes/hermes:v1."
  }
}

variable "counters_image" {
  description = "Container image of the counters function (must contain /usr/local/bin/hermes-counters). May be the same image as ingest_image."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[^\\s]+$", var.counters_image))
    error_message = "counters_image must be a full image reference such as europe-west1-docker.pkg.dev/my-project/hermes/hermes:v1."
  }
}

variable "dashboard_image" {
  description = "Container image of the dashboard function (must contain /usr/local/bin/hermes-dashboard). May be the same image as ingest_image."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[^\\s]+$", var.dashboard_image))
    error_message = "dashboard_image must be a full image reference such as europe-west1-docker.pkg.dev/my-project/hermes/hermes:v1."
  }
}

variable "bearer_token" {
  description = "Production bearer token(s) ingest accepts (HERMES_BEARER_TOKEN): one token, or several separated by commas while rotating. Stored in Secret Manager (and, as for every secret Terraform writes, in the Terraform state: keep the state private)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(trimspace(replace(var.bearer_token, ",", ""))) > 0 && !can(regex("\\s", var.bearer_token))
    error_message = "bearer_token must hold at least one token, comma-separated, without whitespace."
  }
}

# ---------------------------------------------------------------------------
# Optional
# ---------------------------------------------------------------------------

variable "region" {
  description = "Region of the Cloud Run services (and of Firestore and BigQuery unless firestore_location says otherwise)."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 or us-central1."
  }
}

variable "firestore_location" {
  description = "Location of the Firestore (default) database: a region (e.g. europe-west1) or a multi-region (eur3, nam5). Null means the same as region. Cannot be changed after creation."
  type        = string
  default     = null

  validation {
    condition     = var.firestore_location == null ? true : can(regex("^[a-z0-9-]+$", var.firestore_location))
    error_message = "firestore_location must be a Firestore location id such as europe-west1, eur3 or nam5."
  }
}

variable "create_firestore_database" {
  description = "Create the Firestore (default) database in native mode. Set to false when the project already has one (it must be in native mode)."
  type        = bool
  default     = true
}

variable "destinations" {
  description = <<-EOT
    Ingest destinations, keyed by Pub/Sub topic id: one topic is created per key, and the ingest
    configuration (HERMES_CONFIG_TOML) is generated from those topics. Per destination: `events`
    (trigger on these event names; empty = every event), `require` (dotted paths that must be present),
    `mapping` (the Hermes key -> path table; empty = the whole event) and static `attributes`.
  EOT
  type = map(object({
    events     = optional(list(string), [])
    require    = optional(list(string), [])
    mapping    = optional(map(string), {})
    attributes = optional(map(string), {})
  }))
  default = {
    "events" = {
      events     = []
      require    = []
      mapping    = {}
      attributes = {}
    }
    "items-realtime" = {
      events     = ["purchase"]
      require    = ["items"]
      mapping    = {}
      attributes = {}
    }
  }

  validation {
    condition     = length(var.destinations) > 0
    error_message = "destinations must hold at least one destination: ingest refuses to start without one."
  }

  validation {
    condition = alltrue([
      for name in keys(var.destinations) :
      can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$", name)) && !startswith(lower(name), "goog")
    ])
    error_message = "Each destinations key is a Pub/Sub topic id: 3-255 characters, starting with a letter, of letters, digits and - _ . ~ + %, not starting with \"goog\"."
  }

  validation {
    condition = alltrue(flatten([
      for d in values(var.destinations) : [
        for k in keys(d.attributes) : k != "event_name" && !startswith(k, "hermes_")
      ]
    ]))
    error_message = "Static attributes may not be named event_name or hermes_*: Hermes sets those (a static hermes_backfill would mark every message a backfill, which notify skips)."
  }
}

variable "counters_destination" {
  description = "The destination (a key of destinations) whose topic the counters function consumes through the push subscription."
  type        = string
  default     = "items-realtime"
}

variable "container_id" {
  description = "container_id of the Hermes configuration: shown in ingest's error messages, as sGTM shows its container id."
  type        = string
  default     = "hermes"

  validation {
    condition     = length(var.container_id) > 0
    error_message = "container_id must not be empty."
  }
}

variable "push_audience" {
  description = "OIDC audience of the push subscription's tokens. The counters service requires it ([counters] push_audience) and lists it in its custom audiences, so Cloud Run accepts it."
  type        = string
  default     = "hermes-counters"

  validation {
    condition     = length(var.push_audience) > 0 && !can(regex("\\s", var.push_audience))
    error_message = "push_audience must be a non-empty string without whitespace."
  }
}

variable "counters_shards" {
  description = "[counters] shards: how many shard documents each item's counters are spread over (raise it for items hotter than ~1 write per second)."
  type        = number
  default     = 1

  validation {
    condition     = var.counters_shards >= 1 && var.counters_shards <= 100 && floor(var.counters_shards) == var.counters_shards
    error_message = "counters_shards must be a whole number from 1 to 100."
  }
}

variable "preview_token_enabled" {
  description = "Create the preview bearer token secret (HERMES_PREVIEW_BEARER_TOKEN) from preview_bearer_token."
  type        = bool
  default     = false
}

variable "preview_bearer_token" {
  description = "Preview bearer token(s) (comma-separated), used only when preview_token_enabled is true."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = !can(regex("\\s", var.preview_bearer_token))
    error_message = "preview_bearer_token must not contain whitespace."
  }
}

variable "preview_ttl_seconds" {
  description = "[preview] ttl_secs: how long a preview inspector session traces requests, and how long each trace is kept (Firestore TTL on hermes_preview_requests.expireAt)."
  type        = number
  default     = 3600

  validation {
    condition     = var.preview_ttl_seconds >= 60 && var.preview_ttl_seconds <= 86400 && floor(var.preview_ttl_seconds) == var.preview_ttl_seconds
    error_message = "preview_ttl_seconds must be a whole number of seconds from 60 to 86400."
  }
}

variable "dashboard_invokers" {
  description = "IAM members allowed to open the private dashboard (e.g. [\"user:me@example.com\", \"group:analysts@example.com\"]). Project owners can open it anyway."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.dashboard_invokers : can(regex("^(user|group|serviceAccount|domain):", m))])
    error_message = "dashboard_invokers must be IAM members such as user:me@example.com; allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "max_instances" {
  description = "Maximum number of Cloud Run instances per service (a cost and Firestore-contention ceiling)."
  type = object({
    ingest    = optional(number, 10)
    counters  = optional(number, 5)
    dashboard = optional(number, 2)
    notify    = optional(number, 3)
    enrich    = optional(number, 5)
  })
  default = {
    ingest    = 10
    counters  = 5
    dashboard = 2
    notify    = 3
    enrich    = 5
  }

  validation {
    condition     = alltrue([for n in values(var.max_instances) : n >= 1 && n <= 1000])
    error_message = "Each max_instances value must be between 1 and 1000."
  }
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) to encrypt the Pub/Sub topics and the secrets with (CMEK). Null means Google-managed encryption. The Pub/Sub and Secret Manager service agents need roles/cloudkms.cryptoKeyEncrypterDecrypter on the key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null ? true : can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must look like projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "enable_bigquery_archive" {
  description = "Archive every raw message of the archive_destination topic into a BigQuery table through a BigQuery subscription."
  type        = bool
  default     = false
}

variable "archive_destination" {
  description = "The destination (a key of destinations) whose topic is archived to BigQuery when enable_bigquery_archive is true."
  type        = string
  default     = "events"
}

variable "bigquery_dataset_id" {
  description = "Dataset of the BigQuery archive (created in region)."
  type        = string
  default     = "hermes"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.bigquery_dataset_id)) && length(var.bigquery_dataset_id) <= 1024
    error_message = "bigquery_dataset_id may hold only letters, digits and underscores (1 to 1,024 of them)."
  }
}

variable "deletion_protection" {
  description = "Protect the Cloud Run services, the Firestore database and the BigQuery archive from `terraform destroy`. Set to false (and apply) before destroying."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels put on every resource that takes labels."
  type        = map(string)
  default = {
    app = "hermes"
  }
}

# --- quarantine ---------------------------------------------------------------------

variable "quarantine_enabled" {
  description = "Quarantine (README, \"Nothing lost\"): ingest also publishes every event the schema refuses, or a destination refuses for good, as a bad row to quarantine_topic, kept there for replay ([quarantine] topic of the generated configuration). False: no quarantine topic, subscription, grant, alerts or section; refused events are only counted."
  type        = bool
  default     = true
}

variable "quarantine_topic" {
  description = "Topic id of the quarantine (and of its pull subscription, which `hermes replay --subscription` reads)."
  type        = string
  default     = "hermes-quarantine"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$", var.quarantine_topic)) && !startswith(lower(var.quarantine_topic), "goog")
    error_message = "quarantine_topic is a Pub/Sub topic id: 3-255 characters, starting with a letter, of letters, digits and - _ . ~ + %, not starting with \"goog\"."
  }
}

# --- notify (optional) ------------------------------------------------------------

variable "notify_enabled" {
  description = "Deploy the optional notify function (webhook calls for matching events); needs notify_webhook_secret. A flag of its own, because what Terraform creates may not depend on a sensitive value."
  type        = bool
  default     = false
}

variable "notify_webhook_secret" {
  description = "The webhook URL notify calls, used when notify_enabled is true. It usually holds a token: kept in Secret Manager and given to the service as HERMES_NOTIFY_WEBHOOK_URL, never in the configuration."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.notify_webhook_secret == null ? true : can(regex("^https?://[^\\s/]+", var.notify_webhook_secret))
    error_message = "notify_webhook_secret must be an http(s) URL."
  }
}

variable "notify_image" {
  description = "Container image of the notify function (must contain /usr/local/bin/hermes-notify). Null: counters_image (the project's Dockerfile builds every function into one image)."
  type        = string
  default     = null

  validation {
    condition     = var.notify_image == null ? true : can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[^\\s]+$", var.notify_image))
    error_message = "notify_image must be a full image reference such as europe-west1-docker.pkg.dev/my-project/hermes/hermes:v1."
  }
}

variable "notify_destination" {
  description = "The destination (a key of destinations) whose topic notify's push subscription reads; it should carry whole events (the README's `events`)."
  type        = string
  default     = "events"
}

variable "notify_events" {
  description = "[notify] events, and the push subscription's filter on attributes.event_name: only these events reach notify (empty: every event)."
  type        = list(string)
  default     = ["purchase"]

  validation {
    condition     = alltrue([for e in var.notify_events : can(regex("^[A-Za-z0-9_.-]+$", e))])
    error_message = "notify_events must be event names of letters, digits, _, . and -."
  }
}

variable "notify_template" {
  description = "[notify] template: the text of each notification, with {{path}} placeholders into the event (README, \"The notify function\")."
  type        = string
  default     = "New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)"

  validation {
    condition     = length(var.notify_template) > 0 && length(var.notify_template) <= 4096
    error_message = "notify_template must be 1 to 4096 characters."
  }
}

variable "notify_body" {
  description = "[notify] body: \"slack\" sends {\"text\": <rendered template>}, \"json\" sends the event's payload."
  type        = string
  default     = "slack"

  validation {
    condition     = contains(["slack", "json"], var.notify_body)
    error_message = "notify_body must be \"slack\" or \"json\"."
  }
}

variable "notify_backfill" {
  description = "[notify] backfill: \"skip\" (default) leaves backfill messages (attribute hermes_backfill, from requests sent with X-Hermes-Backfill: true) out of notify's push subscription filter and tells notify to skip any it still gets; \"deliver\" notifies for them too. Changing it replaces notify's push subscription (Pub/Sub filters cannot be changed)."
  type        = string
  default     = "skip"

  validation {
    condition     = contains(["skip", "deliver"], var.notify_backfill)
    error_message = "notify_backfill must be \"skip\" or \"deliver\"."
  }
}

variable "notify_push_audience" {
  description = "OIDC audience of notify's push tokens, distinct from push_audience so a token for one service is refused by the other."
  type        = string
  default     = "hermes-notify"

  validation {
    condition     = length(var.notify_push_audience) > 0 && !can(regex("\\s", var.notify_push_audience))
    error_message = "notify_push_audience must be a non-empty string without whitespace."
  }
}

# --- enrich (optional) ------------------------------------------------------------

variable "enrich_enabled" {
  description = "Deploy the optional enrich function: it joins Firestore documents (enrich_lookups), the device (enrich_user_agent) and the place (enrich_geo) into each event of enrich_destination's topic and publishes the enriched copy to enrich_output_topic."
  type        = bool
  default     = false
}

variable "enrich_image" {
  description = "Container image of the enrich function (must contain /usr/local/bin/hermes-enrich). Null: counters_image (the project's Dockerfile builds every function into one image)."
  type        = string
  default     = null

  validation {
    condition     = var.enrich_image == null ? true : can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[^\\s]+$", var.enrich_image))
    error_message = "enrich_image must be a full image reference such as europe-west1-docker.pkg.dev/my-project/hermes/hermes:v1."
  }
}

variable "enrich_destination" {
  description = "The destination (a key of destinations) whose topic enrich's push subscription reads; it should carry whole events (the README's `events`), as for notify."
  type        = string
  default     = "events"
}

variable "enrich_output_topic" {
  description = "[enrich] output_topic: id of the topic Terraform creates for the enriched events (attribute hermes_enriched = \"true\"). It must not be a destination's topic: enrich would read its own output again."
  type        = string
  default     = "hermes-events-enriched"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9._~%+-]{2,254}$", var.enrich_output_topic)) && !startswith(lower(var.enrich_output_topic), "goog")
    error_message = "enrich_output_topic is a Pub/Sub topic id: 3-255 characters, starting with a letter, of letters, digits and - _ . ~ + %, not starting with \"goog\"."
  }
}

variable "enrich_events" {
  description = "[enrich] events, and the push subscription's filter on attributes.event_name: only these events reach enrich (empty: every event, no filter)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.enrich_events : can(regex("^[A-Za-z0-9_.-]+$", e))])
    error_message = "enrich_events must be event names of letters, digits, _, . and -."
  }
}

variable "enrich_received_at" {
  description = "[enrich] received_at: the dotted path that receives the message's publish time (e.g. \"received_at\"). Null: not written."
  type        = string
  default     = null

  validation {
    condition     = var.enrich_received_at == null ? true : can(regex("^[^.]+(\\.[^.]+)*$", var.enrich_received_at))
    error_message = "enrich_received_at must be a dotted path (a.b.0.c, no empty segment) such as received_at or meta.received_at."
  }
}

variable "enrich_lookups" {
  description = <<-EOT
    [[enrich.lookups]]: Firestore documents joined into each event (at most 16, all read in one
    batchGet per message). Per lookup: `collection` (the collection id), `key` (the dotted path of
    the event whose value is the document id), `into` (where the document goes), `fields` (the
    fields copied; null = every field), `on_missing` (`skip`, `null` or `fail`: a missing document
    leaves the event as it is, writes null, or makes the message poison) and `cache_ttl_secs` (how
    long a document is kept in memory, 0 = read every time).
  EOT
  type = list(object({
    collection     = string
    key            = string
    into           = string
    fields         = optional(list(string))
    on_missing     = optional(string, "skip")
    cache_ttl_secs = optional(number, 60)
  }))
  default = []

  validation {
    condition     = length(var.enrich_lookups) <= 16
    error_message = "enrich_lookups may hold at most 16 lookups (one Firestore read per message holds them all)."
  }

  validation {
    condition = alltrue([
      for l in var.enrich_lookups :
      can(regex("^[^/\\s]+$", l.collection)) && !can(regex("^__.*__$", l.collection)) && l.collection != "." && l.collection != ".."
    ])
    error_message = "Each enrich_lookups collection must be a Firestore collection id (no /, not . or .., not __name__)."
  }

  validation {
    condition = alltrue(flatten([
      for l in var.enrich_lookups : [
        for p in [l.key, l.into] : can(regex("^[^.]+(\\.[^.]+)*$", p))
      ]
    ]))
    error_message = "Each enrich_lookups key and into must be a dotted path (a.b.0.c, no empty segment) such as user_id or customer.profile."
  }

  validation {
    condition     = alltrue([for l in var.enrich_lookups : contains(["skip", "null", "fail"], l.on_missing)])
    error_message = "enrich_lookups on_missing must be \"skip\", \"null\" or \"fail\"."
  }

  validation {
    condition     = alltrue([for l in var.enrich_lookups : l.cache_ttl_secs >= 0 && l.cache_ttl_secs <= 86400 && floor(l.cache_ttl_secs) == l.cache_ttl_secs])
    error_message = "enrich_lookups cache_ttl_secs must be a whole number of seconds from 0 to 86400."
  }
}

variable "enrich_user_agent" {
  description = "[enrich.user_agent]: the device parsed from the user agent string at `from` (a dotted path), written under `into`. Null: no device."
  type = object({
    from = string
    into = string
  })
  default = null

  validation {
    condition     = var.enrich_user_agent == null ? true : alltrue([for p in [var.enrich_user_agent.from, var.enrich_user_agent.into] : can(regex("^[^.]+(\\.[^.]+)*$", p))])
    error_message = "enrich_user_agent from and into must be dotted paths such as user_agent and device."
  }
}

variable "enrich_geo" {
  description = "[enrich.geo]: the place of the IP address at `from` (a dotted path), written under `into`, looked up in the .mmdb file enrich_geo_bucket/enrich_geo_object. Null: no place."
  type = object({
    from = string
    into = string
  })
  default = null

  validation {
    condition     = var.enrich_geo == null ? true : alltrue([for p in [var.enrich_geo.from, var.enrich_geo.into] : can(regex("^[^.]+(\\.[^.]+)*$", p))])
    error_message = "enrich_geo from and into must be dotted paths such as ip_override and geo."
  }
}

variable "enrich_geo_bucket" {
  description = "Cloud Storage bucket (its name, without gs://) holding the MaxMind-format .mmdb file for enrich_geo (GeoLite2 City or DB-IP Lite, downloaded under your own licence: README). Mounted read-only into the enrich service. Null: no geo."
  type        = string
  default     = null

  validation {
    condition     = var.enrich_geo_bucket == null ? true : can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.enrich_geo_bucket))
    error_message = "enrich_geo_bucket must be a bucket name (lowercase letters, digits, -, _ and .), without gs://."
  }
}

variable "enrich_geo_object" {
  description = "Object name of the .mmdb file in enrich_geo_bucket, e.g. GeoLite2-City.mmdb or geo/dbip-city-lite.mmdb. Null: no geo."
  type        = string
  default     = null

  validation {
    condition     = var.enrich_geo_object == null ? true : can(regex("^[^/\\s][^\\s]*\\.mmdb$", var.enrich_geo_object)) && !can(regex("(^|/)\\.\\.?(/|$)", var.enrich_geo_object))
    error_message = "enrich_geo_object must be the object name of an .mmdb file in the bucket (no leading /, no . or .. segments), e.g. GeoLite2-City.mmdb."
  }
}

variable "enrich_push_audience" {
  description = "OIDC audience of enrich's push tokens, distinct from push_audience and notify_push_audience so a token for one service is refused by the others."
  type        = string
  default     = "hermes-enrich"

  validation {
    condition     = length(var.enrich_push_audience) > 0 && !can(regex("\\s", var.enrich_push_audience))
    error_message = "enrich_push_audience must be a non-empty string without whitespace."
  }
}

variable "enrich_failure_rate_threshold" {
  description = "Share of enrich's messages (0-1) answered for redelivery or refused as poison over 10 minutes above which the enrich failure alert fires."
  type        = number
  default     = 0.05

  validation {
    condition     = var.enrich_failure_rate_threshold > 0 && var.enrich_failure_rate_threshold < 1
    error_message = "enrich_failure_rate_threshold must be between 0 and 1 (exclusive)."
  }
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channel IDs (projects/PROJECT/notificationChannels/ID) the alert policies notify. Empty: the alerts open incidents in the console without notifying anyone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must be full channel names: projects/PROJECT/notificationChannels/ID."
  }
}

variable "tag_failure_rate_threshold" {
  description = "Share of failed tag executions (0-1) over 10 minutes above which the tag failure alert fires."
  type        = number
  default     = 0.05

  validation {
    condition     = var.tag_failure_rate_threshold > 0 && var.tag_failure_rate_threshold < 1
    error_message = "tag_failure_rate_threshold must be between 0 and 1 (exclusive)."
  }
}

variable "quarantine_rate_threshold" {
  description = "Share of events (0-1) quarantined over 10 minutes, of all events ingest accepted or rejected, above which the quarantine rate alert fires."
  type        = number
  default     = 0.01

  validation {
    condition     = var.quarantine_rate_threshold > 0 && var.quarantine_rate_threshold < 1
    error_message = "quarantine_rate_threshold must be between 0 and 1 (exclusive)."
  }
}

# --- warehouse ----------------------------------------------------------------------

variable "warehouse_enabled" {
  description = "The warehouse (README, \"The warehouse\"): a typed BigQuery table per destination in warehouse_destinations, plus the quarantine's bad rows when quarantine_enabled and the enriched events when enrich_enabled, each written by a Pub/Sub BigQuery subscription that uses the table's schema, with a view per table keeping one row per hermes_event_id."
  type        = bool
  default     = false
}

variable "warehouse_destinations" {
  description = "The destinations (keys of destinations) that get a typed warehouse table. Each needs its schema file, warehouse_schema_dir/<name>.json, as `hermes schema bigquery --destination <name>` prints it; the default destinations' files are committed."
  type        = list(string)
  default     = ["events"]

  validation {
    condition     = length(distinct([for name in var.warehouse_destinations : replace(name, "/[^A-Za-z0-9_]/", "_")])) == length(var.warehouse_destinations)
    error_message = "warehouse_destinations must name each destination once, and no two whose table ids (every character but letters, digits and _ made _) are equal."
  }

  validation {
    condition     = length(setintersection([for name in var.warehouse_destinations : replace(name, "/[^A-Za-z0-9_]/", "_")], ["bad_rows", "enriched"])) == 0
    error_message = "bad_rows and enriched are the quarantine's and the enriched events' warehouse tables: no destination's table may take those ids."
  }
}

variable "warehouse_dataset_id" {
  description = "Dataset of the warehouse tables and views (created in region); not the raw archive's bigquery_dataset_id."
  type        = string
  default     = "hermes_warehouse"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.warehouse_dataset_id)) && length(var.warehouse_dataset_id) <= 1024
    error_message = "warehouse_dataset_id may hold only letters, digits and underscores (1 to 1,024 of them)."
  }
}

variable "warehouse_partition_expiration_days" {
  description = "Days a day's partition (by publish_time) of a warehouse table is kept; null keeps them for ever. The default, 425 days, is about GA4's longest retention (14 months)."
  type        = number
  default     = 425

  validation {
    condition     = var.warehouse_partition_expiration_days == null ? true : var.warehouse_partition_expiration_days >= 1 && floor(var.warehouse_partition_expiration_days) == var.warehouse_partition_expiration_days
    error_message = "warehouse_partition_expiration_days must be a whole number of days, at least 1 (or null: never)."
  }
}

variable "warehouse_schema_dir" {
  description = "Directory of the warehouse tables' schema files (<destination>.json, quarantine.json), as `hermes schema bigquery` prints them. Null: the files committed in this module's warehouse/."
  type        = string
  default     = null
}
