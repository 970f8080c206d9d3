//! `--auth-token jwt,...`: signed tokens any member verifies on its own, as etcd's
//! tokenJWT makes them: claims `username`, `revision` (the auth revision when
//! issued) and `exp` (Unix seconds, issue time + `ttl`).
//!
//! Keys: RSA (RS*, PS*) and EC (ES*) take a PEM private key to sign and a PEM public
//! key to verify; a member given only the public key verifies but cannot issue
//! tokens. HMAC (HS*) takes the secret in the `priv-key` file. A token that does not
//! verify, names another algorithm or has expired is "invalid auth token".

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::AuthInfo;
use crate::error::Error;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: i64,
}

pub struct JwtKeys {
    algorithm: Algorithm,
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    ttl_ms: u64,
}

fn bad(what: &str, e: impl std::fmt::Display) -> String {
    format!("--auth-token jwt: {what}: {e}")
}

impl JwtKeys {
    /// From the flag's sign method and the contents of its key files (empty: not given).
    pub fn new(sign_method: &str, pub_pem: &[u8], priv_pem: &[u8], ttl_ms: u64) -> Result<JwtKeys, String> {
        let algorithm: Algorithm =
            sign_method.parse().map_err(|_| bad("sign-method", format!("unknown method {sign_method:?}")))?;
        use Algorithm::*;
        let (signing, verifying) = match algorithm {
            HS256 | HS384 | HS512 => {
                if priv_pem.is_empty() {
                    return Err(bad("priv-key", "an HMAC method needs the secret in priv-key"));
                }
                (Some(EncodingKey::from_secret(priv_pem)), DecodingKey::from_secret(priv_pem))
            }
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
                let signing = (!priv_pem.is_empty())
                    .then(|| EncodingKey::from_rsa_pem(priv_pem).map_err(|e| bad("priv-key", e)))
                    .transpose()?;
                if pub_pem.is_empty() {
                    return Err(bad("pub-key", "an RSA method needs the public key to verify tokens"));
                }
                (signing, DecodingKey::from_rsa_pem(pub_pem).map_err(|e| bad("pub-key", e))?)
            }
            ES256 | ES384 => {
                let signing = (!priv_pem.is_empty())
                    .then(|| EncodingKey::from_ec_pem(priv_pem).map_err(|e| bad("priv-key", e)))
                    .transpose()?;
                if pub_pem.is_empty() {
                    return Err(bad("pub-key", "an EC method needs the public key to verify tokens"));
                }
                (signing, DecodingKey::from_ec_pem(pub_pem).map_err(|e| bad("pub-key", e))?)
            }
            other => return Err(bad("sign-method", format!("{other:?} is not supported"))),
        };
        let keys = JwtKeys { algorithm, signing, verifying, ttl_ms };
        // A key pair that does not match would issue tokens no member accepts.
        if keys.signing.is_some() {
            let probe = keys.sign("probe", 1, 0).map_err(|e| bad("keys", e))?;
            if keys.decode(&probe).is_none() {
                return Err(bad("keys", "auth: public and private keys don't match"));
            }
        }
        Ok(keys)
    }

    /// A token for `user` at auth revision `revision`, issued at `now_unix_ms`.
    pub fn sign(&self, user: &str, revision: u64, now_unix_ms: i64) -> Result<String, Error> {
        let Some(key) = &self.signing else {
            return Err(Error::Internal("auth: token signing attempted with verify-only key".into()));
        };
        let exp = (now_unix_ms.saturating_add(self.ttl_ms as i64)) / 1000;
        let claims = Claims { username: user.to_string(), revision, exp };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key)
            .map_err(|e| Error::Internal(format!("auth: signing a token failed: {e}")))
    }

    /// The identity a valid, unexpired token carries.
    pub fn verify(&self, token: &str, now_unix_ms: i64) -> Option<AuthInfo> {
        let claims = self.decode(token)?;
        (claims.exp.saturating_mul(1000) > now_unix_ms)
            .then_some(AuthInfo { user: claims.username, revision: claims.revision })
    }

    /// The claims of a token whose signature verifies, expired or not.
    fn decode(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(self.algorithm);
        // Expiry is checked below against our clock, not the library's.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, &self.verifying, &validation).ok().map(|t| t.claims)
    }
}

#[cfg(test)]
#[path = "jwt_test.rs"]
mod jwt_test;
