//! Where a router runs: under the AWS Lambda runtime when
//! `AWS_LAMBDA_RUNTIME_API` is set, else as an HTTP server on `0.0.0.0:$PORT`.

use crate::error::RuntimeError;
use crate::protection::Protection;
use crate::request_log::with_request_log;
use crate::serve::serve_connections;
use crate::shutdown::shutdown_signal;
use axum::Router;

pub const ENV_LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
pub const ENV_PORT: &str = "PORT";
pub const DEFAULT_PORT: u16 = 8080;

/// The port from `$PORT` (default 8080).
pub fn port_from_env() -> Result<u16, RuntimeError> {
    match std::env::var(ENV_PORT) {
        Ok(p) if !p.trim().is_empty() => p.trim().parse().map_err(|_| RuntimeError::Port(p)),
        _ => Ok(DEFAULT_PORT),
    }
}

/// Serves `router` under Lambda or as an HTTP server, with the default limits.
pub async fn run(router: Router) -> Result<(), RuntimeError> {
    run_protected(router, &Protection::default()).await
}

/// Serves `router` under Lambda or as an HTTP server, whichever the environment
/// asks for, with the request log and `protection`.
pub async fn run_protected(router: Router, protection: &Protection) -> Result<(), RuntimeError> {
    if std::env::var_os(ENV_LAMBDA_RUNTIME_API).is_some() {
        let router = with_request_log(protection.guard(router));
        check_lambda_env()?;
        tracing::info!("starting under the AWS Lambda runtime");
        let service = tower::ServiceExt::map_request(router, without_stage);
        return lambda_http::run(service)
            .await
            .map_err(|e| RuntimeError::Lambda(e.to_string()));
    }
    let port = port_from_env()?;
    let addr = format!("0.0.0.0:{port}");
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| RuntimeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    serve_protected(listener, router, protection).await
}

/// API Gateway puts the stage before the path (`/prod/healthz` for a REST API
/// on stage `prod`, or an HTTP API on a named stage), as lambda_http passes it
/// on: the routes are the same whatever the stage, so it is taken off before
/// routing. `$default` (and function URLs, load balancers) have none.
pub fn without_stage<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    use lambda_http::request::RequestContext;
    let stage = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return request;
    };
    let path = request.uri().path();
    let Some(rest) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(stage.as_str()))
    else {
        return request;
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return request;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// `lambda_runtime` panics when these are missing; Lambda always sets them, a
/// hand-started runtime may not: say so plainly instead.
fn check_lambda_env() -> Result<(), RuntimeError> {
    for var in [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ] {
        if std::env::var_os(var).is_none() {
            return Err(RuntimeError::Lambda(format!(
                "{ENV_LAMBDA_RUNTIME_API} is set but {var} is not"
            )));
        }
    }
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.parse::<i32>().is_err() {
        return Err(RuntimeError::Lambda(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE \"{memory}\" is not a number"
        )));
    }
    Ok(())
}

/// Serves on a bound listener until SIGTERM / Ctrl-C with the default limits
/// (no request log), then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> Result<(), RuntimeError> {
    let protection = Protection::default();
    serve_until(
        listener,
        protection.guard(router),
        &protection,
        shutdown_signal(),
    )
    .await
}

/// Serves on a bound listener with the request log and `protection` until
/// SIGTERM / Ctrl-C, then answers the requests already received and stops
/// within [`SHUTDOWN_GRACE`].
pub async fn serve_protected(
    listener: tokio::net::TcpListener,
    router: Router,
    protection: &Protection,
) -> Result<(), RuntimeError> {
    let router = with_request_log(protection.guard(router));
    serve_until(listener, router, protection, shutdown_signal()).await
}

/// [`serve_protected`] without the request log, until `shutdown` resolves
/// (tests stop a server this way).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    protection: &Protection,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(addr = %addr, "listening");
    serve_connections(listener, router, protection.conn_limits(), shutdown).await?;
    tracing::info!("stopped: in-flight requests finished");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::without_stage;
    use axum::http::Request;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use lambda_http::request::RequestContext;

    fn on_stage(uri: &str, stage: Option<&str>) -> String {
        let mut context = ApiGatewayProxyRequestContext::default();
        context.stage = stage.map(str::to_string);
        let request = Request::get(uri)
            .extension(RequestContext::ApiGatewayV1(context))
            .body(())
            .unwrap();
        without_stage(request).uri().to_string()
    }

    #[test]
    fn the_stage_is_taken_off_the_path() {
        assert_eq!(on_stage("/prod/healthz", Some("prod")), "/healthz");
        assert_eq!(on_stage("/prod", Some("prod")), "/");
        assert_eq!(
            on_stage("/prod/?validate_only=1", Some("prod")),
            "/?validate_only=1"
        );
        assert_eq!(
            on_stage("https://h.example/prod/x", Some("prod")),
            "https://h.example/x"
        );
        // Only a whole first segment, and only a real stage.
        assert_eq!(on_stage("/production/x", Some("prod")), "/production/x");
        assert_eq!(on_stage("/x", Some("$default")), "/x");
        assert_eq!(on_stage("/prod/x", None), "/prod/x");
        let plain = Request::get("/prod/x").body(()).unwrap();
        assert_eq!(without_stage(plain).uri().to_string(), "/prod/x");
    }
}
