//! The servers under test, and how each is started: its binary, and the only
//! environment it gets, which points it at the benchmark's own sinks.

use crate::opts::Opts;
use crate::procs::Spec;
use std::path::PathBuf;

/// One destination that takes every event whole.
const INGEST_CONFIG: &str = r#"container_id = "hermes"
[[destinations]]
name = "events"
topic = "projects/bench/topics/events"
"#;

/// The README's `[notify]` example: purchases, a Slack-style body.
const NOTIFY_CONFIG: &str = r#"[notify]
events = ["purchase"]
template = 'New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)'
body = "slack"
"#;

pub struct Servers {
    /// Baseline (a), the machine's limit.
    pub bare: Spec,
    pub hermes: Spec,
    /// Baseline (b), a competent Node.js function: Google's official Pub/Sub
    /// client with its batching; `None` with `--no-node`, without `node`, or
    /// without its `node_modules`.
    pub node_official: Option<Spec>,
    /// The same function publishing with one plain `fetch` per request.
    pub node_fetch: Option<Spec>,
    pub counters: Spec,
    /// `hermes-notify` on `purchase`, its webhook the sink's `/webhook`, its
    /// markers in the Firestore sink.
    pub notify: Spec,
}

impl Servers {
    pub fn new(opts: &Opts, sink_host: &str) -> Self {
        Self {
            bare: workspace_binary(opts, "bare-axum", vec![]),
            hermes: workspace_binary(
                opts,
                "hermes-ingest",
                with_config(INGEST_CONFIG, sink_env("PUBSUB_EMULATOR_HOST", sink_host)),
            ),
            node_official: (opts.with_node && opts.with_node_official)
                .then(|| node(opts, NODE_OFFICIAL, "server-official.mjs", sink_host)),
            node_fetch: opts
                .with_node
                .then(|| node(opts, NODE_FETCH, "server.mjs", sink_host)),
            counters: workspace_binary(
                opts,
                "hermes-counters",
                with_config(
                    "[counters]\n",
                    sink_env("FIRESTORE_EMULATOR_HOST", sink_host),
                ),
            ),
            notify: workspace_binary(opts, "hermes-notify", {
                let mut env = with_config(
                    NOTIFY_CONFIG,
                    sink_env("FIRESTORE_EMULATOR_HOST", sink_host),
                );
                env.push((
                    "HERMES_NOTIFY_WEBHOOK_URL".into(),
                    format!("http://{sink_host}/webhook"),
                ));
                env
            }),
        }
    }

    /// The servers that answer an ingest body: bare axum, Hermes, Node when run.
    pub fn ingest_like(&self) -> Vec<Spec> {
        let mut v = vec![self.bare.clone(), self.hermes.clone()];
        v.extend(self.nodes());
        v
    }

    /// The Node.js baselines that run: the official client's first.
    pub fn nodes(&self) -> Vec<Spec> {
        self.node_official
            .iter()
            .chain(self.node_fetch.iter())
            .cloned()
            .collect()
    }
}

/// The names of the Node.js baselines in the report.
pub const NODE_OFFICIAL: &str = "node-official";
pub const NODE_FETCH: &str = "node-fetch";

/// Whether `name` is one of the Node.js baselines (V8 reserves gigabytes of
/// address space: no address-space limit for them).
pub fn is_node(name: &str) -> bool {
    name == NODE_OFFICIAL || name == NODE_FETCH
}

fn node(opts: &Opts, name: &'static str, script: &str, sink_host: &str) -> Spec {
    Spec {
        name,
        program: PathBuf::from(&opts.node),
        args: vec![opts.node_dir.join(script).to_string_lossy().into_owned()],
        env: sink_env("PUBSUB_EMULATOR_HOST", sink_host),
    }
}

/// A binary of this workspace, from `--bin-dir`.
fn workspace_binary(opts: &Opts, name: &'static str, env: Vec<(String, String)>) -> Spec {
    Spec {
        name,
        program: opts.bin_dir.join(name),
        args: vec![],
        env,
    }
}

/// The project, and the sink as the emulator of `emulator_var`.
fn sink_env(emulator_var: &str, sink_host: &str) -> Vec<(String, String)> {
    vec![
        ("GOOGLE_CLOUD_PROJECT".into(), "bench".into()),
        (emulator_var.into(), sink_host.into()),
    ]
}

/// `env` with the Hermes configuration `toml` first.
fn with_config(toml: &str, mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    env.insert(0, ("HERMES_CONFIG_TOML".into(), toml.into()));
    env
}
