//! [`Protection`]: what `[limits]` asks of one function's server.

use crate::guard;
use crate::refusal::Refusal;
use crate::serve;
use axum::Router;
use hermes_core::config::Config;
use hermes_core::limits::Limits;
use std::sync::Arc;

/// The protections of `[limits]` for one function: the budget of request
/// bytes, the deadlines, the connection cap, and the wording of refusals.
#[derive(Debug, Clone)]
pub struct Protection {
    pub limits: Limits,
    pub refusal: Refusal,
    inflight: Arc<guard::Inflight>,
}

impl Default for Protection {
    fn default() -> Self {
        Self::new(Limits::default(), Refusal::default())
    }
}

impl Protection {
    pub fn new(limits: Limits, refusal: Refusal) -> Self {
        Self {
            inflight: Arc::new(guard::Inflight::new(limits.max_inflight_bytes)),
            limits,
            refusal,
        }
    }

    /// `[limits]` and `container_id` of the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config.limits,
            Refusal {
                container_id: config.container_id.clone(),
            },
        )
    }

    /// Request bytes held right now by the requests of this protection.
    pub fn inflight_bytes(&self) -> usize {
        self.inflight.used()
    }

    /// Adds the request guard (inflight bytes, body deadline) to a router.
    pub fn guard(&self, router: Router) -> Router {
        let guard = Arc::new(guard::Guard {
            inflight: Arc::clone(&self.inflight),
            body_timeout: self.limits.body_timeout,
            refusal: self.refusal.clone(),
        });
        router.layer(axum::middleware::from_fn_with_state(guard, guard::guard))
    }

    pub(crate) fn conn_limits(&self) -> serve::ConnLimits {
        serve::ConnLimits {
            header_timeout: self.limits.header_timeout,
            max_connections: self.limits.max_connections,
            refusal: self.refusal.clone(),
        }
    }
}
