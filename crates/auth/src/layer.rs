use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use crate::{ADMIN_SCOPE, AuthError, Caller, Verifier};

/// Which scope each gRPC method needs, by path (`/package.Service/Method`).
/// A method that is not listed needs `admin`, so forgetting one fails closed.
#[derive(Debug, Clone, Default)]
pub struct ScopePolicy {
    rules: Vec<(&'static str, &'static str)>,
}

impl ScopePolicy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every method of `service` (full protobuf name) requires `scope`,
    /// unless a more specific `method` rule says otherwise.
    pub fn service(mut self, service: &'static str, scope: &'static str) -> Self {
        self.rules.push((service, scope));
        self
    }

    /// `method` (`/package.Service/Method`) requires `scope`.
    pub fn method(mut self, method: &'static str, scope: &'static str) -> Self {
        self.rules.push((method, scope));
        self
    }

    pub fn required_scope(&self, path: &str) -> &'static str {
        let method_rule = self.rules.iter().find(|(p, _)| *p == path);
        let service = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let service_rule = self.rules.iter().find(|(p, _)| *p == service);
        method_rule
            .or(service_rule)
            .map(|(_, scope)| *scope)
            .unwrap_or(ADMIN_SCOPE)
    }
}

/// Paths that any client may call without a token.
fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// Verifies the bearer token of every call and enforces the [`ScopePolicy`].
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Verifier,
    policy: Arc<ScopePolicy>,
}

impl AuthLayer {
    pub fn new(verifier: Verifier, policy: ScopePolicy) -> Self {
        Self {
            verifier,
            policy: Arc::new(policy),
        }
    }

    fn authorize<B>(&self, request: &Request<B>) -> Result<Option<Caller>, tonic::Status> {
        let path = request.uri().path();
        if is_open(path) {
            return Ok(None);
        }
        let token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(AuthError::MissingToken)
            .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
        let caller = self
            .verifier
            .verify(token.trim())
            .map_err(|e| tonic::Status::unauthenticated(e.to_string()))?;
        let scope = self.policy.required_scope(path);
        if !caller.allows(scope) {
            return Err(tonic::Status::permission_denied(
                AuthError::MissingScope(scope.to_owned()).to_string(),
            ));
        }
        Ok(Some(caller))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: AuthLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.auth.authorize(&request) {
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
            Ok(caller) => {
                if let Some(caller) = caller {
                    tracing::Span::current().record("tenant", caller.tenant_id.as_str());
                    request.extensions_mut().insert(caller);
                }
                // The clone that was polled ready is the one that must be called.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(inner.call(request))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_rules_beat_service_rules_and_unknown_needs_admin() {
        let policy = ScopePolicy::new()
            .service("earshot.case.v1.CaseService", "cases:read")
            .method("/earshot.case.v1.CaseService/CreateCase", "cases:write");
        assert_eq!(
            policy.required_scope("/earshot.case.v1.CaseService/GetCase"),
            "cases:read"
        );
        assert_eq!(
            policy.required_scope("/earshot.case.v1.CaseService/CreateCase"),
            "cases:write"
        );
        assert_eq!(policy.required_scope("/other.Service/Call"), ADMIN_SCOPE);
    }

    #[test]
    fn health_and_reflection_are_open() {
        assert!(is_open("/grpc.health.v1.Health/Check"));
        assert!(is_open(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        ));
        assert!(!is_open("/earshot.case.v1.CaseService/GetCase"));
    }
}
