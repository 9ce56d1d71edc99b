//! API keys: a random secret shown once, only its SHA-256 stored; a role, and the organisme or
//! territory the key acts for; revocable. `authenticate` turns a presented secret into a `Principal`.

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use events::domain::{Siret, Uai, territoire};

/// Every secret starts with this, so a leaked key is recognisable by secret scanners.
const SECRET_PREFIX: &str = "tba_";
/// Characters of the secret kept in clear to name the key.
const SHOWN: usize = 12;
/// A key unused for this long is revoked.
const UNUSED_MONTHS_BEFORE_REVOCATION: i32 = 12;

/// The organisation types of domain.md §9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[clap(rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    OrganismeFormation,
    TeteDeReseau,
    Dreets,
    Ddets,
    Academie,
    MissionLocale,
    Arml,
    /// A France Travail advisor of a région (domain.md §12).
    FranceTravail,
    Analyst,
    Auditor,
    Administrateur,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrganismeFormation => "ORGANISME_FORMATION",
            Role::TeteDeReseau => "TETE_DE_RESEAU",
            Role::Dreets => "DREETS",
            Role::Ddets => "DDETS",
            Role::Academie => "ACADEMIE",
            Role::MissionLocale => "MISSION_LOCALE",
            Role::Arml => "ARML",
            Role::FranceTravail => "FRANCE_TRAVAIL",
            Role::Analyst => "ANALYST",
            Role::Auditor => "AUDITOR",
            Role::Administrateur => "ADMINISTRATEUR",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Role> {
        <Role as clap::ValueEnum>::value_variants().iter().copied().find(|r| r.as_str() == s)
    }

    /// The scope kinds a key of this role may have (domain.md §9): a DREETS reads a région, a DDETS a
    /// département, and so on. An analyst may be limited to a territory or not; an organisme is named
    /// by `--organisme`, an auditor and an administrator see everything.
    pub fn scope_kinds(self) -> &'static [&'static str] {
        match self {
            Role::Dreets | Role::Arml | Role::FranceTravail => &["REGION"],
            Role::Ddets => &["DEPARTEMENT"],
            Role::Academie => &["ACADEMIE"],
            Role::MissionLocale => &["MISSION_LOCALE"],
            Role::TeteDeReseau => &["RESEAU"],
            Role::Analyst => &["REGION", "DEPARTEMENT", "ACADEMIE"],
            Role::OrganismeFormation | Role::Auditor | Role::Administrateur => &[],
        }
    }

    /// Whether a key of this role may have `scope` (none is checked by `KeySpec::check`).
    fn fits(self, scope: Option<&Scope>) -> bool {
        scope.is_none_or(|s| self.scope_kinds().contains(&s.kind.as_str()))
    }
}

/// The territory or entity a key is limited to: `REGION:84`, `DEPARTEMENT:69`, `ACADEMIE:10`,
/// `RESEAU:…`, `MISSION_LOCALE:…`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Scope {
    pub kind: String,
    pub value: String,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const KINDS: [&str; 5] = ["REGION", "DEPARTEMENT", "ACADEMIE", "RESEAU", "MISSION_LOCALE"];
        let (kind, value) = s.split_once(':').ok_or("the scope is KIND:VALUE, e.g. REGION:84")?;
        let kind = kind.trim().to_uppercase();
        if !KINDS.contains(&kind.as_str()) {
            return Err(format!("unknown scope kind {kind:?}: one of {}", KINDS.join(", ")));
        }
        let value = value.trim();
        if value.is_empty() {
            return Err("the scope value is empty".into());
        }
        Ok(Scope { kind, value: value.to_owned() })
    }
}

/// The organisme of an ERP key, written `UAI:SIRET`.
pub use events::domain::OrganismeRef;

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub role: Role,
    pub organisme: Option<OrganismeRef>,
    pub scope: Option<Scope>,
    pub label: Option<String>,
}

impl KeySpec {
    pub(crate) fn check(&self) -> Result<(), KeyError> {
        match (self.role, &self.organisme, &self.scope) {
            (Role::OrganismeFormation, None, _) => {
                Err(KeyError::Invalid("an ORGANISME_FORMATION key needs --organisme UAI:SIRET".into()))
            }
            (Role::OrganismeFormation, Some(_), _) => Ok(()),
            (_, Some(_), _) => {
                Err(KeyError::Invalid("--organisme is only for ORGANISME_FORMATION keys".into()))
            }
            (
                Role::Dreets
                | Role::Ddets
                | Role::Academie
                | Role::MissionLocale
                | Role::Arml
                | Role::FranceTravail
                | Role::TeteDeReseau,
                _,
                None,
            ) => Err(KeyError::Invalid(format!("a {} key needs --scope KIND:VALUE", self.role.as_str()))),
            (role, _, scope) if !role.fits(scope.as_ref()) => {
                let kinds = role.scope_kinds();
                Err(KeyError::Invalid(if kinds.is_empty() {
                    format!("a {} key takes no --scope", role.as_str())
                } else {
                    format!("a {} key's --scope is {}:…", role.as_str(), kinds.join(":… or "))
                }))
            }
            _ => Ok(()),
        }
    }

    /// Whether the scope names what exists: a territory of the referential, a Mission Locale or a
    /// réseau already imported.
    pub(crate) async fn check_exists(&self, pool: &PgPool) -> Result<(), KeyError> {
        let Some(Scope { kind, value }) = &self.scope else { return Ok(()) };
        let exists = match kind.as_str() {
            "REGION" => territoire::region_nom(value).is_some(),
            "DEPARTEMENT" => territoire::departement(value).is_some(),
            "ACADEMIE" => territoire::academie_nom(value).is_some(),
            "MISSION_LOCALE" => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM missions_locales WHERE id = $1)")
                    .bind(value)
                    .fetch_one(pool)
                    .await?
            }
            "RESEAU" => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reseaux WHERE id = $1)")
                    .bind(value)
                    .fetch_one(pool)
                    .await?
            }
            _ => false,
        };
        if exists {
            Ok(())
        } else {
            Err(KeyError::Invalid(format!("--scope {kind}:{value}: no such {}", kind.to_lowercase())))
        }
    }
}

/// What the principal of a person's account (`auth::comptes`) is named by in the log and the journal:
/// `compte:` and the start of its id (a key's prefix is the start of its secret).
pub const COMPTE_PREFIXE: &str = "compte:";

/// The caller behind a valid key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    pub key_id: Uuid,
    pub prefix: String,
    pub role: Role,
    pub organisme: Option<OrganismeRef>,
    pub scope: Option<Scope>,
}

impl Principal {
    /// Who the log records as the author of the events this principal sends.
    pub fn actor(&self) -> events::Actor {
        let organisation = match &self.organisme {
            Some(o) => o.to_string(),
            None => self.role.as_str().to_owned(),
        };
        // An account's prefix names it as such (`compte:…`); a key's is the start of its secret.
        let principal = if self.prefix.starts_with(COMPTE_PREFIXE) {
            self.prefix.clone()
        } else {
            format!("api-key:{}", self.prefix)
        };
        events::Actor { organisation, principal }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("no key named {0}")]
    NotFound(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Create a key; the secret is returned here and never again.
pub async fn create(pool: &PgPool, spec: &KeySpec) -> Result<(Principal, String), KeyError> {
    spec.check()?;
    spec.check_exists(pool).await?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", hex::encode(bytes));
    let prefix = secret[..SHOWN].to_owned();
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO api_keys (id, prefix, secret_sha256, role, organisme_uai, organisme_siret,
                                 scope_kind, scope_value, label)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
        id,
        prefix,
        &Sha256::digest(secret.as_bytes())[..],
        spec.role.as_str(),
        spec.organisme.as_ref().map(|o| o.uai.as_str()),
        spec.organisme.as_ref().map(|o| o.siret.as_str()),
        spec.scope.as_ref().map(|s| s.kind.as_str()),
        spec.scope.as_ref().map(|s| s.value.as_str()),
        spec.label.as_deref(),
    )
    .execute(pool)
    .await?;
    let principal = Principal {
        key_id: id,
        prefix,
        role: spec.role,
        organisme: spec.organisme.clone(),
        scope: spec.scope.clone(),
    };
    Ok((principal, secret))
}

/// Revoke the key named by its id or its prefix. Revoking twice is harmless.
pub async fn revoke(pool: &PgPool, name: &str) -> Result<(), KeyError> {
    let id = Uuid::parse_str(name).ok();
    let revoked = sqlx::query!(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 OR prefix = $2",
        id,
        name
    )
    .execute(pool)
    .await?;
    if revoked.rows_affected() == 0 {
        return Err(KeyError::NotFound(name.to_owned()));
    }
    Ok(())
}

/// The SHA-256 of a secret, as stored.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The principal of a presented secret, if it names a live key.
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<Option<Principal>, KeyError> {
    authenticate_digest(pool, &digest(secret)).await
}

/// The principal of a secret given by its SHA-256, if it names a live key.
pub async fn authenticate_digest(pool: &PgPool, digest: &[u8; 32]) -> Result<Option<Principal>, KeyError> {
    let row = sqlx::query!(
        r#"SELECT id, prefix, role, organisme_uai, organisme_siret, scope_kind, scope_value, last_used_at,
                  coalesce(last_used_at, created_at) < now() - make_interval(months => $2) AS "dormant!"
           FROM api_keys WHERE secret_sha256 = $1 AND revoked_at IS NULL"#,
        &digest[..],
        UNUSED_MONTHS_BEFORE_REVOCATION,
    )
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.dormant {
        // Keys unused for 12 months are revoked (domain.md §9): at their next use at the latest.
        sqlx::query!("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", row.id)
            .execute(pool)
            .await?;
        tracing::info!(key = %row.prefix, "revoked a key unused for 12 months");
        return Ok(None);
    }
    // Last use is kept to the hour, so that a busy key does not write on every request.
    if row.last_used_at.is_none_or(|t: DateTime<Utc>| t < Utc::now() - Duration::hours(1)) {
        sqlx::query!("UPDATE api_keys SET last_used_at = now() WHERE id = $1", row.id).execute(pool).await?;
    }
    let (role, organisme, scope) =
        stored(&row.role, row.organisme_uai.zip(row.organisme_siret), row.scope_kind.zip(row.scope_value))
            .map_err(KeyError::Invalid)?;
    if !role.fits(scope.as_ref()) {
        // A key stored before scopes were checked against roles: it is refused rather than honoured
        // with more than its role may see.
        tracing::warn!(key = %row.prefix, role = role.as_str(), ?scope, "refused a key whose scope does not fit its role");
        return Ok(None);
    }
    Ok(Some(Principal { key_id: row.id, prefix: row.prefix, role, organisme, scope }))
}

/// A role, organisme and scope as the keys and the accounts store them.
pub(crate) fn stored(
    role: &str,
    organisme: Option<(String, String)>,
    scope: Option<(String, String)>,
) -> Result<(Role, Option<OrganismeRef>, Option<Scope>), String> {
    let role = Role::parse(role).ok_or_else(|| format!("stored role {role:?}"))?;
    let organisme = match organisme {
        Some((uai, siret)) => Some(OrganismeRef {
            uai: Uai::parse(&uai).map_err(|e| e.to_string())?,
            siret: Siret::parse(&siret).map_err(|e| e.to_string())?,
        }),
        None => None,
    };
    Ok((role, organisme, scope.map(|(kind, value)| Scope { kind, value })))
}
