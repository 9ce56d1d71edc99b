//! People's accounts for the console (domain.md §14): an e-mail and a password (argon2id), belonging to
//! one organisation with a role and scope exactly like an API key's, so that a signed-in person is a
//! `Principal` like a key, under the same access rules and the same access journal.
//!
//! A person sets their password through a one-time link (an invitation when the account is created, a
//! reset an administrator issues); only the links' digests are kept. Signing in opens a session (its
//! token in an `HttpOnly` cookie, only its digest kept) that ends after `INACTIVITE` without a request
//! or `DUREE` at the latest, or when the person signs out (here, or everywhere). Failed sign-ins are
//! counted per e-mail: after `ECHECS_MAX` within `FENETRE_ECHECS`, the account refuses every attempt,
//! the right password included, until the window has passed.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::keys::{COMPTE_PREFIXE as PREFIXE, KeyError, KeySpec, Principal};

/// How long an invitation or reset link serves.
pub const VALIDITE_LIEN: Duration = Duration::days(7);
/// A session ends after this long without a request …
pub const INACTIVITE: Duration = Duration::hours(2);
/// … and this long after it opened at the latest.
pub const DUREE: Duration = Duration::hours(12);
/// Failed sign-ins of an e-mail within `FENETRE_ECHECS` before it is refused.
pub const ECHECS_MAX: i64 = 5;
pub const FENETRE_ECHECS: Duration = Duration::minutes(15);
/// The longest e-mail address (RFC 5321).
const EMAIL_MAX: usize = 254;
/// The shortest password accepted.
pub const LONGUEUR_MIN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CompteError {
    #[error("{0}")]
    Invalid(String),
    #[error("aucun compte pour {0}")]
    NotFound(String),
    #[error("ce lien n'est pas valable (déjà utilisé, expiré ou inconnu)")]
    LienInvalide,
    #[error("e-mail ou mot de passe incorrect")]
    Identifiants,
    #[error("trop de tentatives : réessayez dans quelques minutes")]
    Bloque,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<KeyError> for CompteError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::Database(e) => CompteError::Database(e),
            other => CompteError::Invalid(other.to_string()),
        }
    }
}

/// The address of the page a link's token opens, on the console at `base`.
pub fn lien_url(base: &str, token: &str) -> String {
    format!("{}/console/mot-de-passe/{token}", base.trim_end_matches('/'))
}

/// A random token, as given out, and its digest, as kept.
fn jeton() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let digest = Sha256::digest(token.as_bytes()).to_vec();
    (token, digest)
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn normalise(email: &str) -> Result<String, CompteError> {
    let email = email.trim().to_lowercase();
    events::domain::Email::parse(&email).map_err(|e| CompteError::Invalid(format!("e-mail : {e}")))?;
    Ok(email)
}

/// The argon2id PHC string of a password.
fn hash(password: &str) -> Result<String, CompteError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| CompteError::Invalid(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CompteError::Invalid(e.to_string()))
}

fn verifie(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Create an account (no password yet) and its invitation link's token. The role and scope are
/// checked as a key's.
pub async fn create(pool: &PgPool, email: &str, spec: &KeySpec) -> Result<(Uuid, String), CompteError> {
    create_as(pool, email, spec, false).await
}

/// Create an account, its organisation's own administrator (`gestionnaire`) or not.
pub async fn create_as(
    pool: &PgPool,
    email: &str,
    spec: &KeySpec,
    gestionnaire: bool,
) -> Result<(Uuid, String), CompteError> {
    spec.check()?;
    spec.check_exists(pool).await?;
    let email = normalise(email)?;
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let created = sqlx::query(
        "INSERT INTO comptes (id, email, role, organisme_uai, organisme_siret, scope_kind, scope_value, gestionnaire)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(&email)
    .bind(spec.role.as_str())
    .bind(spec.organisme.as_ref().map(|o| o.uai.as_str()))
    .bind(spec.organisme.as_ref().map(|o| o.siret.as_str()))
    .bind(spec.scope.as_ref().map(|s| s.kind.as_str()))
    .bind(spec.scope.as_ref().map(|s| s.value.as_str()))
    .bind(gestionnaire)
    .execute(&mut *tx)
    .await?;
    if created.rows_affected() == 0 {
        return Err(CompteError::Invalid(format!("e-mail : {email} a déjà un compte")));
    }
    let token = lien_dans(&mut tx, id, "invitation").await?;
    tx.commit().await?;
    Ok((id, token))
}

async fn lien_dans(tx: &mut sqlx::PgConnection, compte: Uuid, genre: &str) -> Result<String, CompteError> {
    // A new link voids the earlier ones.
    sqlx::query("UPDATE comptes_liens SET used_at = now() WHERE compte_id = $1 AND used_at IS NULL")
        .bind(compte)
        .execute(&mut *tx)
        .await?;
    let (token, digest) = jeton();
    sqlx::query(
        "INSERT INTO comptes_liens (token_sha256, compte_id, genre, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(digest)
    .bind(compte)
    .bind(genre)
    .bind(Utc::now() + VALIDITE_LIEN)
    .execute(&mut *tx)
    .await?;
    Ok(token)
}

/// A new one-time link to set the password of the account of `email` (a reset an administrator
/// issues); the earlier links no longer serve.
pub async fn reinitialiser(pool: &PgPool, email: &str) -> Result<String, CompteError> {
    let email = normalise(email)?;
    let mut tx = pool.begin().await?;
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM comptes WHERE email = $1 AND disabled_at IS NULL")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
    let id = id.ok_or(CompteError::NotFound(email))?;
    let token = lien_dans(&mut tx, id, "reinitialisation").await?;
    tx.commit().await?;
    Ok(token)
}

/// The e-mail of the account a link serves, if it still serves.
pub async fn lien(pool: &PgPool, token: &str) -> Result<Option<String>, CompteError> {
    Ok(sqlx::query_scalar(
        "SELECT c.email FROM comptes_liens l JOIN comptes c ON c.id = l.compte_id
         WHERE l.token_sha256 = $1 AND l.used_at IS NULL AND l.expires_at > now() AND c.disabled_at IS NULL",
    )
    .bind(digest(token))
    .fetch_optional(pool)
    .await?)
}

/// Set the password through a link, which then serves no more; every session of the account ends.
pub async fn definir_mot_de_passe(pool: &PgPool, token: &str, password: &str) -> Result<(), CompteError> {
    if password.chars().count() < LONGUEUR_MIN {
        return Err(CompteError::Invalid(format!("mot de passe : {LONGUEUR_MIN} caractères au moins")));
    }
    let hashed = hash(password)?;
    let mut tx = pool.begin().await?;
    let compte: Option<Uuid> = sqlx::query_scalar(
        "UPDATE comptes_liens l SET used_at = now() FROM comptes c
         WHERE l.token_sha256 = $1 AND l.used_at IS NULL AND l.expires_at > now()
           AND c.id = l.compte_id AND c.disabled_at IS NULL
         RETURNING l.compte_id",
    )
    .bind(digest(token))
    .fetch_optional(&mut *tx)
    .await?;
    let compte = compte.ok_or(CompteError::LienInvalide)?;
    sqlx::query("UPDATE comptes SET password_hash = $2 WHERE id = $1")
        .bind(compte)
        .bind(hashed)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE compte_id = $1").bind(compte).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A session opened: its token (for the cookie) and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Ouverte {
    pub token: String,
    pub csrf: String,
}

/// Sign in: a session for the right e-mail and password, unless the e-mail failed too often lately.
pub async fn connecter(pool: &PgPool, email: &str, password: &str) -> Result<Ouverte, CompteError> {
    let email = email.trim().to_lowercase();
    // No address is this long: refused without a trace (the failures' table holds addresses).
    if email.len() > EMAIL_MAX {
        return Err(CompteError::Identifiants);
    }
    let echecs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM connexions_echouees WHERE email = $1 AND at > $2")
            .bind(&email)
            .bind(Utc::now() - FENETRE_ECHECS)
            .fetch_one(pool)
            .await?;
    if echecs >= ECHECS_MAX {
        return Err(CompteError::Bloque);
    }
    let found: Option<(Uuid, Option<String>)> =
        sqlx::query_as("SELECT id, password_hash FROM comptes WHERE email = $1 AND disabled_at IS NULL")
            .bind(&email)
            .fetch_optional(pool)
            .await?;
    let compte = match found {
        Some((id, Some(stored))) if verifie(password, &stored) => id,
        _ => {
            sqlx::query("INSERT INTO connexions_echouees (email) VALUES ($1)")
                .bind(&email)
                .execute(pool)
                .await?;
            // Failures older than the window count no more: the table keeps only the window's.
            sqlx::query("DELETE FROM connexions_echouees WHERE at <= $1")
                .bind(Utc::now() - FENETRE_ECHECS)
                .execute(pool)
                .await?;
            return Err(CompteError::Identifiants);
        }
    };
    let (token, digest) = jeton();
    let (csrf, _) = jeton();
    sqlx::query("INSERT INTO sessions (token_sha256, compte_id, csrf, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(digest)
        .bind(compte)
        .bind(&csrf)
        .bind(Utc::now() + DUREE)
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM connexions_echouees WHERE email = $1").bind(&email).execute(pool).await?;
    Ok(Ouverte { token, csrf })
}

/// A live session: who, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub compte: Uuid,
    pub email: String,
    pub principal: Principal,
    pub csrf: String,
    /// Administrator of its own organisation's accounts.
    pub gestionnaire: bool,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    compte_id: Uuid,
    email: String,
    csrf: String,
    role: String,
    organisme_uai: Option<String>,
    organisme_siret: Option<String>,
    scope_kind: Option<String>,
    scope_value: Option<String>,
    last_seen_at: DateTime<Utc>,
    gestionnaire: bool,
}

/// The session of a cookie's token, if it is live (its last request within `INACTIVITE`, opened within
/// `DUREE`, its account enabled); it is marked seen (to the minute).
pub async fn session(pool: &PgPool, token: &str) -> Result<Option<Session>, CompteError> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.compte_id, c.email, s.csrf, c.role, c.organisme_uai, c.organisme_siret, c.scope_kind,
                c.scope_value, s.last_seen_at, c.gestionnaire
         FROM sessions s JOIN comptes c ON c.id = s.compte_id
         WHERE s.token_sha256 = $1 AND s.expires_at > now() AND s.last_seen_at > $2 AND c.disabled_at IS NULL",
    )
    .bind(digest(token))
    .bind(Utc::now() - INACTIVITE)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.last_seen_at < Utc::now() - Duration::minutes(1) {
        sqlx::query("UPDATE sessions SET last_seen_at = now() WHERE token_sha256 = $1")
            .bind(digest(token))
            .execute(pool)
            .await?;
    }
    let (role, organisme, scope) = super::keys::stored(
        &row.role,
        row.organisme_uai.zip(row.organisme_siret),
        row.scope_kind.zip(row.scope_value),
    )
    .map_err(CompteError::Invalid)?;
    let prefix = format!("{PREFIXE}{}", &row.compte_id.simple().to_string()[..12]);
    let principal = Principal { key_id: row.compte_id, prefix, role, organisme, scope };
    Ok(Some(Session {
        compte: row.compte_id,
        email: row.email,
        principal,
        csrf: row.csrf,
        gestionnaire: row.gestionnaire,
    }))
}

/// End this session.
pub async fn deconnecter(pool: &PgPool, token: &str) -> Result<(), CompteError> {
    sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(digest(token)).execute(pool).await?;
    Ok(())
}

/// End every session of the account.
pub async fn deconnecter_partout(pool: &PgPool, compte: Uuid) -> Result<u64, CompteError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE compte_id = $1")
        .bind(compte)
        .execute(pool)
        .await?
        .rows_affected())
}

/// Disable the account of `email`: it signs in no more, its sessions end.
pub async fn desactiver(pool: &PgPool, email: &str) -> Result<(), CompteError> {
    let email = normalise(email)?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE comptes SET disabled_at = coalesce(disabled_at, now()) WHERE email = $1 RETURNING id",
    )
    .bind(&email)
    .fetch_optional(pool)
    .await?;
    let id = id.ok_or(CompteError::NotFound(email))?;
    deconnecter_partout(pool, id).await?;
    Ok(())
}

/// An account as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ligne {
    pub email: String,
    pub role: String,
    pub organisme: Option<String>,
    pub scope: Option<String>,
    pub created_at: DateTime<Utc>,
    pub actif: bool,
    pub mot_de_passe: bool,
    pub gestionnaire: bool,
}

/// The accounts: every one, or those of one organisation (`de`: the same role, organisme and scope).
pub async fn list(pool: &PgPool) -> Result<Vec<Ligne>, CompteError> {
    list_de(pool, None).await
}

/// The accounts of the organisation of `de` (all of them when none).
pub async fn list_de(pool: &PgPool, de: Option<&Principal>) -> Result<Vec<Ligne>, CompteError> {
    let organisation = de.map(organisation);
    Ok(sqlx::query_as(
        "SELECT email, role, organisme_uai || ':' || organisme_siret AS organisme,
                scope_kind || ':' || scope_value AS scope, created_at, disabled_at IS NULL AS actif,
                password_hash IS NOT NULL AS mot_de_passe, gestionnaire
         FROM comptes
         WHERE $1::text IS NULL OR (role, coalesce(organisme_uai || ':' || organisme_siret, ''),
                                    coalesce(scope_kind || ':' || scope_value, '')) = ($1, $2, $3)
         ORDER BY email",
    )
    .bind(organisation.as_ref().map(|o| o.0))
    .bind(organisation.as_ref().map(|o| o.1.clone()))
    .bind(organisation.as_ref().map(|o| o.2.clone()))
    .fetch_all(pool)
    .await?)
}

/// A principal's organisation: its role, organisme and scope (empty when none).
fn organisation(p: &Principal) -> (&'static str, String, String) {
    (
        p.role.as_str(),
        p.organisme.as_ref().map(ToString::to_string).unwrap_or_default(),
        p.scope.as_ref().map(|s| format!("{}:{}", s.kind, s.value)).unwrap_or_default(),
    )
}

/// Whether the account `email` belongs to the organisation of `de`.
pub async fn de_l_organisation(pool: &PgPool, email: &str, de: &Principal) -> Result<bool, CompteError> {
    let email = email.trim().to_lowercase();
    Ok(list_de(pool, Some(de)).await?.iter().any(|c| c.email == email))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_is_kept_as_argon2id_and_verified_against_it() {
        let stored = super::hash("correct horse battery").expect("hashed");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(super::verifie("correct horse battery", &stored));
        assert!(!super::verifie("correct horse batterie", &stored));
        assert!(!super::verifie("anything", "not a hash"));
        assert_ne!(super::hash("correct horse battery").expect("hashed"), stored, "salted");
    }
}
