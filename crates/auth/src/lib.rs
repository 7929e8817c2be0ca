//! Bearer-token authentication shared by every Earshot service.
//!
//! A JWT names the tenant and the scopes of the caller. [`AuthLayer`] verifies
//! it before any handler runs, checks the scope the called method requires, and
//! puts the [`Caller`] into the request so that handlers scope every query by
//! its tenant. Health and reflection stay open.

mod layer;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use earshot_config::{ConfigError, Env, Secret};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub use layer::{AuthLayer, AuthService, ScopePolicy};

/// Scope that grants every other scope.
pub const ADMIN_SCOPE: &str = "admin";
/// Scope a relay needs to deliver events to a consumer's `EventSink`.
pub const EVENTS_DELIVER_SCOPE: &str = "events:deliver";
/// Tenant named in system tokens, which carry events of many tenants.
pub const SYSTEM_TENANT: &str = "*";
/// Audience (`aud`) of service tokens: the relays of Earshot's own services.
/// A token without it is a tenant's, whatever scopes it lists.
pub const SERVICE_AUDIENCE: &str = "earshot-services";

/// The claims Earshot reads from a token. `scope` is space-separated, as in OAuth 2.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub tenant_id: String,
    pub scope: String,
    pub exp: u64,
    pub iat: u64,
    /// `earshot-services` for service tokens; absent for tenant tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The two kinds of caller. A tenant acts on its own data; a service (a
/// relay) only delivers events, which name their tenants themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Tenant,
    Service,
}

/// Who is calling, as proven by their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub tenant_id: String,
    pub scopes: Vec<String>,
    pub principal: Principal,
}

impl Caller {
    /// Whether this caller may use `scope`. `events:deliver` belongs to
    /// service principals alone (`admin` never implies it), and a service
    /// principal holds nothing else, so no token a tenant holds can write
    /// events for another tenant and no relay token can read tenant data.
    pub fn allows(&self, scope: &str) -> bool {
        let holds = |wanted: &str| self.scopes.iter().any(|s| s == wanted);
        match self.principal {
            Principal::Service => scope == EVENTS_DELIVER_SCOPE && holds(scope),
            Principal::Tenant => {
                scope != EVENTS_DELIVER_SCOPE && (holds(scope) || holds(ADMIN_SCOPE))
            }
        }
    }
}

/// Reads the caller that [`AuthLayer`] put into the request.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| tonic::Status::unauthenticated("no verified caller on this request"))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token in the authorization header")]
    MissingToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("token lacks the scope {0:?}")]
    MissingScope(String),
    #[error("tokens can only be minted with a shared HS256 secret")]
    CannotMint,
}

/// How tokens are checked: a shared HS256 secret (development) or a public key
/// (RS256, ES256 or EdDSA; production).
#[derive(Clone, Debug)]
pub enum AuthConfig {
    SharedSecret(Secret),
    PublicKey { algorithm: Algorithm, pem: Vec<u8> },
}

pub const HS256_SECRET_VAR: &str = "EARSHOT_JWT_HS256_SECRET";
pub const PUBLIC_KEY_FILE_VAR: &str = "EARSHOT_JWT_PUBLIC_KEY_FILE";
pub const ALGORITHM_VAR: &str = "EARSHOT_JWT_ALGORITHM";

impl AuthConfig {
    /// `EARSHOT_JWT_PUBLIC_KEY_FILE` (PEM; algorithm from `EARSHOT_JWT_ALGORITHM`,
    /// default RS256) wins over `EARSHOT_JWT_HS256_SECRET`; one of them is required.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        if let Some(path) = env.get(PUBLIC_KEY_FILE_VAR) {
            let algorithm = match env.string_or(ALGORITHM_VAR, "RS256").as_str() {
                "RS256" => Algorithm::RS256,
                "ES256" => Algorithm::ES256,
                "EdDSA" => Algorithm::EdDSA,
                other => {
                    return Err(ConfigError::invalid(
                        ALGORITHM_VAR,
                        other,
                        "expected RS256, ES256 or EdDSA",
                    ));
                }
            };
            let pem = std::fs::read(&path)
                .map_err(|e| ConfigError::invalid(PUBLIC_KEY_FILE_VAR, &path, e))?;
            let config = Self::PublicKey { algorithm, pem };
            config
                .verifier()
                .map_err(|e| ConfigError::invalid(PUBLIC_KEY_FILE_VAR, &path, e))?;
            return Ok(config);
        }
        let secret = env.secret(HS256_SECRET_VAR).ok_or_else(|| ConfigError::Missing {
            var: HS256_SECRET_VAR.to_owned(),
            hint: format!(
                "set a shared secret of at least 16 bytes (development) or {PUBLIC_KEY_FILE_VAR}"
            ),
        })?;
        if secret.expose().len() < 16 {
            return Err(ConfigError::invalid(
                HS256_SECRET_VAR,
                "***",
                "must be at least 16 bytes",
            ));
        }
        Ok(Self::SharedSecret(secret))
    }

    pub fn verifier(&self) -> Result<Verifier, AuthError> {
        let (key, algorithm) = match self {
            Self::SharedSecret(secret) => (
                DecodingKey::from_secret(secret.expose().as_bytes()),
                Algorithm::HS256,
            ),
            Self::PublicKey { algorithm, pem } => {
                let key = match algorithm {
                    Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                    _ => DecodingKey::from_rsa_pem(pem),
                }
                .map_err(|e| AuthError::InvalidToken(format!("unusable public key: {e}")))?;
                (key, *algorithm)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // The audience tells the two kinds of principal apart (see `verify`);
        // it is not a gate on its own.
        validation.validate_aud = false;
        validation.leeway = 30;
        Ok(Verifier {
            key: Arc::new(key),
            validation: Arc::new(validation),
        })
    }

    /// A minter, when tokens can be made here (shared secret only).
    pub fn minter(&self) -> Result<TokenMinter, AuthError> {
        match self {
            Self::SharedSecret(secret) => Ok(TokenMinter {
                key: EncodingKey::from_secret(secret.expose().as_bytes()),
            }),
            Self::PublicKey { .. } => Err(AuthError::CannotMint),
        }
    }
}

/// Checks tokens. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl Verifier {
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::InvalidToken(reason(e.kind()).to_owned()))?;
        let claims = data.claims;
        if claims.tenant_id.trim().is_empty() {
            return Err(AuthError::InvalidToken("tenant_id claim is empty".into()));
        }
        let principal = match claims.aud.as_deref() {
            Some(SERVICE_AUDIENCE) => Principal::Service,
            _ => Principal::Tenant,
        };
        Ok(Caller {
            subject: claims.sub,
            tenant_id: claims.tenant_id,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            principal,
        })
    }
}

/// Why a token was refused, in words for the caller: the decoder's own text
/// (serde positions, claim parsing details) stays out of the answer.
fn reason(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidSignature => "the signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token is signed with an algorithm this service does not accept"
        }
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
            "the token's claims are not Earshot claims (sub, tenant_id, scope, exp, iat)"
        }
        _ => "the token is malformed",
    }
}

/// Makes HS256 tokens: for development, tests, and relays calling consumers.
#[derive(Clone)]
pub struct TokenMinter {
    key: EncodingKey,
}

impl TokenMinter {
    pub fn mint(&self, subject: &str, tenant_id: &str, scopes: &[&str], ttl: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            sub: subject.to_owned(),
            tenant_id: tenant_id.to_owned(),
            scope: scopes.join(" "),
            iat: now,
            exp: now + ttl.as_secs(),
            aud: None,
        };
        self.sign(&claims)
    }

    /// A service token for a relay: it may deliver events and nothing else.
    pub fn mint_service(&self, subject: &str, ttl: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        self.sign(&Claims {
            sub: subject.to_owned(),
            tenant_id: SYSTEM_TENANT.to_owned(),
            scope: EVENTS_DELIVER_SCOPE.to_owned(),
            iat: now,
            exp: now + ttl.as_secs(),
            aud: Some(SERVICE_AUDIENCE.to_owned()),
        })
    }

    fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key)
            .expect("HS256 encoding of plain claims cannot fail")
    }
}

/// Every scope a tenant's own token may carry (not `events:deliver`, which
/// only relays hold, nor `admin`).
pub const TENANT_SCOPES: &[&str] = &[
    "mentions:read",
    "mentions:write",
    "rules:write",
    "labels:write",
    "cases:read",
    "cases:write",
    "customers:erase",
    "escalations:read",
    "escalations:ack",
    "guidelines:write",
    "incidents:write",
    "drills:run",
    "insight:read",
    "insight:write",
    "webhooks:read",
    "webhooks:write",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig::SharedSecret(Secret::new("0123456789abcdef0123"))
    }

    #[test]
    fn minted_tokens_verify_with_tenant_and_scopes() {
        let cfg = config();
        let token = cfg.minter().expect("hs256").mint(
            "alice",
            "acme",
            &["cases:read", "cases:write"],
            Duration::from_secs(60),
        );
        let caller = cfg.verifier().expect("key").verify(&token).expect("valid");
        assert_eq!(caller.tenant_id, "acme");
        assert!(caller.allows("cases:write"));
        assert!(!caller.allows("mentions:write"));
    }

    #[test]
    fn admin_allows_everything() {
        let caller = Caller {
            subject: "root".into(),
            tenant_id: "t".into(),
            scopes: vec![ADMIN_SCOPE.into()],
            principal: Principal::Tenant,
        };
        assert!(caller.allows("anything:at-all"));
        assert!(
            !caller.allows(EVENTS_DELIVER_SCOPE),
            "admin never delivers events"
        );
    }

    #[test]
    fn only_service_tokens_deliver_events_and_they_do_nothing_else() {
        let minter = config().minter().expect("hs256");
        let verifier = config().verifier().expect("key");
        let tenant = verifier
            .verify(&minter.mint(
                "eve",
                "b",
                &[EVENTS_DELIVER_SCOPE, ADMIN_SCOPE],
                Duration::from_secs(60),
            ))
            .expect("valid");
        assert_eq!(tenant.principal, Principal::Tenant);
        assert!(!tenant.allows(EVENTS_DELIVER_SCOPE));
        let relay = verifier
            .verify(&minter.mint_service("earshot-relay:listening", Duration::from_secs(60)))
            .expect("valid");
        assert_eq!(relay.principal, Principal::Service);
        assert!(relay.allows(EVENTS_DELIVER_SCOPE));
        assert!(!relay.allows("cases:read"));
        assert!(!relay.allows(ADMIN_SCOPE));
    }

    #[test]
    fn refusals_do_not_leak_decoder_text() {
        #[derive(Serialize)]
        struct NoTenant {
            sub: &'static str,
            scope: &'static str,
            exp: u64,
        }
        let key = EncodingKey::from_secret(b"0123456789abcdef0123");
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &NoTenant {
                sub: "x",
                scope: "admin",
                exp: u64::MAX / 4,
            },
            &key,
        )
        .expect("encode");
        let err = config()
            .verifier()
            .expect("key")
            .verify(&token)
            .expect_err("no tenant");
        let text = err.to_string();
        assert!(!text.contains("line") && !text.contains("column"), "{text}");
        assert!(text.contains("tenant_id"), "{text}");
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let other = AuthConfig::SharedSecret(Secret::new("another-secret-of-enough-length"));
        let token =
            other
                .minter()
                .expect("hs256")
                .mint("eve", "acme", &["admin"], Duration::from_secs(60));
        let err = config()
            .verifier()
            .expect("key")
            .verify(&token)
            .expect_err("bad signature");
        assert!(matches!(err, AuthError::InvalidToken(_)));
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let cfg = config();
        let key = EncodingKey::from_secret(b"0123456789abcdef0123");
        let claims = Claims {
            sub: "old".into(),
            tenant_id: "acme".into(),
            scope: "admin".into(),
            iat: 1,
            exp: 2,
            aud: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("encode");
        assert!(cfg.verifier().expect("key").verify(&token).is_err());
    }

    // A key pair made for this test only; it guards nothing.
    const TEST_ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJgGqN+YfAHSglDClsMcsfxQQbXo/mVKAoDTutOvfM78
-----END PRIVATE KEY-----";
    const TEST_ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEANIMo0fILzmchoKHRpD2kfTmmH4JSJpfwO0RaFlF5NhQ=
-----END PUBLIC KEY-----";

    #[test]
    fn production_tokens_verify_with_a_public_key_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("issuer.pub.pem");
        std::fs::write(&key_file, TEST_ED25519_PUBLIC).expect("write key");
        let env = Env::from_pairs([
            (PUBLIC_KEY_FILE_VAR, key_file.to_string_lossy().as_ref()),
            (ALGORITHM_VAR, "EdDSA"),
        ]);
        let config = AuthConfig::from_env(&env).expect("valid key");
        assert!(matches!(config.minter(), Err(AuthError::CannotMint)));

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let claims = Claims {
            sub: "crm-sync".into(),
            tenant_id: "acme".into(),
            scope: "cases:read".into(),
            iat: now,
            exp: now + 60,
            aud: None,
        };
        let signing =
            EncodingKey::from_ed_pem(TEST_ED25519_PRIVATE.as_bytes()).expect("private key");
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &signing).expect("sign");
        let caller = config
            .verifier()
            .expect("key")
            .verify(&token)
            .expect("valid");
        assert_eq!(caller.tenant_id, "acme");

        // An HS256 token cannot pass as a public-key one.
        let forged = AuthConfig::SharedSecret(Secret::new("0123456789abcdef0123"))
            .minter()
            .expect("hs256")
            .mint("eve", "acme", &["admin"], Duration::from_secs(60));
        assert!(config.verifier().expect("key").verify(&forged).is_err());

        let err = AuthConfig::from_env(&env.clone().with(ALGORITHM_VAR, "none"))
            .expect_err("bad algorithm");
        assert!(err.to_string().contains(ALGORITHM_VAR));
        std::fs::write(&key_file, "not a key").expect("write");
        let err = AuthConfig::from_env(&env).expect_err("bad key");
        assert!(err.to_string().contains(PUBLIC_KEY_FILE_VAR));
    }

    #[test]
    fn config_requires_a_secret_and_names_the_variable() {
        let err = AuthConfig::from_env(&Env::from_pairs::<&str, &str>([])).expect_err("missing");
        assert!(err.to_string().contains(HS256_SECRET_VAR));
        let err = AuthConfig::from_env(&Env::from_pairs([(HS256_SECRET_VAR, "short")]))
            .expect_err("too short");
        assert!(err.to_string().contains(HS256_SECRET_VAR));
    }
}

/// Client side: adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct BearerAuth {
    header: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl BearerAuth {
    pub fn new(token: &str) -> Result<Self, AuthError> {
        let header = format!("Bearer {token}")
            .parse()
            .map_err(|_| AuthError::InvalidToken("token is not valid ASCII".into()))?;
        Ok(Self { header })
    }
}

impl tonic::service::Interceptor for BearerAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(request)
    }
}
