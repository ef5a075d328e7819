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

pub struct Servers {
    /// Baseline (a), the machine's limit.
    pub bare: Spec,
    pub hermes: Spec,
    /// Baseline (b), the usual alternative; `None` with `--no-node` or no `node`.
    pub node: Option<Spec>,
    pub counters: Spec,
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
            node: opts.with_node.then(|| Spec {
                name: "node-baseline",
                program: PathBuf::from(&opts.node),
                args: vec![opts.node_script.to_string_lossy().into_owned()],
                env: sink_env("PUBSUB_EMULATOR_HOST", sink_host),
            }),
            counters: workspace_binary(
                opts,
                "hermes-counters",
                with_config(
                    "[counters]\n",
                    sink_env("FIRESTORE_EMULATOR_HOST", sink_host),
                ),
            ),
        }
    }

    /// The servers that answer an ingest body: bare axum, Hermes, Node when run.
    pub fn ingest_like(&self) -> Vec<Spec> {
        let mut v = vec![self.bare.clone(), self.hermes.clone()];
        v.extend(self.node.clone());
        v
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
