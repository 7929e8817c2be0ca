use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};

use crate::{ADMIN_SCOPE, AuthError, Caller, Verifier};

/// Which scope each gRPC method needs, by path (`/package.Service/Method`),
/// as its proto declares it. A path that is not listed needs `admin`, so a
/// method that somehow escaped the policy fails closed.
#[derive(Debug, Clone, Default)]
pub struct ScopePolicy {
    methods: HashMap<String, String>,
}

impl ScopePolicy {
    /// The policy for these `(path, scope)` pairs.
    pub fn new(methods: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            methods: methods.into_iter().collect(),
        }
    }

    pub fn required_scope(&self, path: &str) -> &str {
        self.methods
            .get(path)
            .map(String::as_str)
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
    fn listed_methods_need_their_scope_and_unknown_ones_need_admin() {
        let policy = ScopePolicy::new([(
            "/earshot.case.v1.CaseService/GetCase".to_owned(),
            "cases:read".to_owned(),
        )]);
        assert_eq!(
            policy.required_scope("/earshot.case.v1.CaseService/GetCase"),
            "cases:read"
        );
        assert_eq!(
            policy.required_scope("/earshot.case.v1.CaseService/Forgotten"),
            ADMIN_SCOPE
        );
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
