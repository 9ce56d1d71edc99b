//! Who is asking, and what they may see (domain.md §9), decided here and nowhere else: resolvers and
//! handlers ask the `Viewer` for the perimeter of aggregates (AND-ed into every indicator filter) and whether a
//! dossier is theirs to read. Scope is enforced on the server, whatever the query asks.

use projections::indicateurs::Filtre;
use projections::ruptures::query::Qui;
use projections::status::Statut;
use sqlx::PgPool;

use super::keys::{Principal, Role};

/// Why a caller may not have what it asked; each adapter gives it its status or code. (It is not
/// `Display` on purpose: async-graphql turns anything `Display` into an error without a code.)
#[derive(Debug)]
pub enum AccessError {
    Unauthenticated(String),
    Forbidden(String),
    /// A value asked for lies outside what the caller may ask (`field` names it).
    BadInput {
        field: String,
        message: String,
    },
    Database(sqlx::Error),
}

impl From<sqlx::Error> for AccessError {
    fn from(error: sqlx::Error) -> Self {
        AccessError::Database(error)
    }
}

type Error = AccessError;

fn unauthenticated(message: impl Into<String>) -> Error {
    AccessError::Unauthenticated(message.into())
}

fn forbidden(message: impl Into<String>) -> Error {
    AccessError::Forbidden(message.into())
}

fn bad_input(field: &str, message: impl std::fmt::Display) -> Error {
    AccessError::BadInput { field: field.to_owned(), message: message.to_string() }
}

/// The caller of a GraphQL request: a key's principal, or nobody (the public national indicators).
#[derive(Debug, Clone)]
pub enum Viewer {
    Anonymous,
    Key(Principal),
}

/// The dossiers whose aggregates a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Perimetre {
    /// The national figures only, ungrouped and unfiltered.
    National,
    /// Every aggregate.
    Tout,
    Regions(Vec<String>),
    Departements(Vec<String>),
    Academies(Vec<String>),
    /// Organismes formateurs, `UAI:SIRET`.
    Organismes(Vec<String>),
}

/// What a dossier shows of itself to decide who may read it.
pub struct DossierScope<'a> {
    pub formateur: (&'a str, &'a str),
    pub responsable: (&'a str, &'a str),
    pub region: &'a str,
    pub departement: &'a str,
    pub academie: &'a str,
    /// Its status today (`None` when it has none).
    pub statut: Option<Statut>,
}

impl Viewer {
    /// The principal, or UNAUTHENTICATED.
    pub fn principal(&self) -> Result<&Principal, Error> {
        match self {
            Viewer::Key(principal) => Ok(principal),
            Viewer::Anonymous => Err(unauthenticated(
                "une clé d'API est nécessaire (en-tête « Authorization: Bearer <clé> ») ; \
                 sans clé, seuls les indicateurs nationaux sont publics",
            )),
        }
    }

    /// The principal if its role is one of `roles`, else FORBIDDEN naming what was asked.
    pub fn require(&self, roles: &[Role], what: &str) -> Result<&Principal, Error> {
        let principal = self.principal()?;
        if roles.contains(&principal.role) {
            Ok(principal)
        } else {
            Err(forbidden(format!("une clé {} ne peut pas {what}", principal.role.as_str())))
        }
    }

    /// The perimeter of the aggregates this caller may see.
    pub async fn perimetre(&self, pool: &PgPool) -> Result<Perimetre, Error> {
        let principal = match self {
            Viewer::Anonymous => return Ok(Perimetre::National),
            Viewer::Key(principal) => principal,
        };
        let scope_value = || principal.scope.as_ref().map(|s| vec![s.value.clone()]).unwrap_or_default();
        match principal.role {
            Role::Analyst | Role::Auditor | Role::Administrateur => Ok(Perimetre::Tout),
            Role::Dreets | Role::Ddets | Role::Academie => {
                match principal.scope.as_ref().map(|s| s.kind.as_str()) {
                    Some("REGION") => Ok(Perimetre::Regions(scope_value())),
                    Some("DEPARTEMENT") => Ok(Perimetre::Departements(scope_value())),
                    Some("ACADEMIE") => Ok(Perimetre::Academies(scope_value())),
                    _ => Err(forbidden(format!(
                        "la clé {} n'a pas de territoire (REGION, DEPARTEMENT ou ACADEMIE)",
                        principal.role.as_str()
                    ))),
                }
            }
            Role::OrganismeFormation => {
                let Some(own) = &principal.organisme else {
                    return Err(forbidden("la clé d'organisme ne nomme pas son organisme"));
                };
                // Its own dossiers and those of the organismes formateurs it is responsable of.
                let mut organismes: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT uai_formateur || ':' || siret_formateur FROM rm_dossiers
                     WHERE uai_responsable = $1 AND siret_responsable = $2",
                )
                .bind(own.uai.as_str())
                .bind(own.siret.as_str())
                .fetch_all(pool)
                .await?;
                let key = own.to_string();
                if !organismes.contains(&key) {
                    organismes.push(key);
                }
                organismes.sort();
                Ok(Perimetre::Organismes(organismes))
            }
            Role::TeteDeReseau => Ok(Perimetre::Organismes(self.reseau(pool).await?)),
            Role::MissionLocale | Role::Arml | Role::FranceTravail => Err(forbidden(format!(
                "une clé {} ne voit pas les indicateurs des effectifs",
                principal.role.as_str()
            ))),
        }
    }

    /// The organismes of a TETE_DE_RESEAU key's réseau (`UAI:SIRET`); FORBIDDEN when it has none.
    pub async fn reseau(&self, pool: &PgPool) -> Result<Vec<String>, Error> {
        let principal = self.principal()?;
        let reseau = principal.scope.as_ref().filter(|s| s.kind == "RESEAU").map(|s| s.value.as_str());
        let Some(reseau) = reseau else {
            return Err(forbidden("la clé TETE_DE_RESEAU ne nomme pas de réseau (--scope RESEAU:<id>)"));
        };
        let members = super::reseaux::members(pool, reseau).await?;
        if members.is_empty() {
            return Err(forbidden(format!("le réseau {reseau} n'a aucun organisme (tba reseaux import)")));
        }
        Ok(members)
    }

    /// Whether this caller may read that dossier (its identity, contacts and history included).
    pub async fn may_read(&self, pool: &PgPool, dossier: &DossierScope<'_>) -> Result<bool, Error> {
        let principal = self.principal()?;
        let in_scope = |kind: &str, value: &str| {
            principal.scope.as_ref().is_some_and(|s| s.kind == kind && s.value == value)
        };
        Ok(match principal.role {
            Role::Administrateur | Role::Auditor => true,
            Role::OrganismeFormation => principal.organisme.as_ref().is_some_and(|o| {
                let own = (o.uai.as_str(), o.siret.as_str());
                dossier.formateur == own || dossier.responsable == own
            }),
            // Their territory's learners without a contract, in rupture or gone: those they act for.
            Role::Dreets | Role::Ddets | Role::Academie => {
                (in_scope("REGION", dossier.region)
                    || in_scope("DEPARTEMENT", dossier.departement)
                    || in_scope("ACADEMIE", dossier.academie))
                    && matches!(dossier.statut, Some(Statut::Inscrit | Statut::Rupturant | Statut::Abandon))
            }
            // A réseau reads the dossiers its organismes are responsable of.
            Role::TeteDeReseau => {
                let responsable = format!("{}:{}", dossier.responsable.0, dossier.responsable.1);
                self.reseau(pool).await?.contains(&responsable)
            }
            Role::Analyst | Role::MissionLocale | Role::Arml | Role::FranceTravail => {
                return Err(forbidden(format!(
                    "une clé {} ne lit pas de dossier nominatif",
                    principal.role.as_str()
                )));
            }
        })
    }
}

impl Viewer {
    /// Whose rupture-queue entries this caller reads (domain.md §7, §9): a MISSION_LOCALE key its own
    /// queue, an organisme the entries of its dossiers, ADMINISTRATEUR and AUDITOR any queue (the one
    /// named by `mission_locale`, or all); nobody else.
    pub fn ruptures(&self, mission_locale: Option<&str>) -> Result<Qui, Error> {
        let principal = self.principal()?;
        match principal.role {
            Role::MissionLocale => {
                let own = self.mission_locale()?;
                match mission_locale {
                    Some(asked) if asked != own => Err(forbidden(format!(
                        "missionLocale : une clé MISSION_LOCALE ne lit que la file de {own}, pas celle de {asked}"
                    ))),
                    _ => Ok(Qui::MissionLocale(own.to_owned())),
                }
            }
            Role::OrganismeFormation => {
                let Some(own) = &principal.organisme else {
                    return Err(forbidden("la clé d'organisme ne nomme pas son organisme"));
                };
                if mission_locale.is_some() {
                    return Err(bad_input(
                        "missionLocale",
                        "un organisme lit les entrées de ses dossiers, sans nommer de Mission Locale",
                    ));
                }
                Ok(Qui::Organisme(own.uai.to_string(), own.siret.to_string()))
            }
            Role::Administrateur | Role::Auditor => {
                Ok(mission_locale.map_or(Qui::Tout, |ml| Qui::MissionLocale(ml.to_owned())))
            }
            _ => Err(forbidden(format!(
                "une clé {} ne lit pas la file des ruptures : seules les Missions Locales (leur file) et les \
                 organismes (leurs dossiers) la lisent",
                principal.role.as_str()
            ))),
        }
    }

    /// Whose entries of France Travail's queue this caller reads (domain.md §12): a FRANCE_TRAVAIL key
    /// those of its région, ADMINISTRATEUR and AUDITOR any région's (the one named, or all); nobody else.
    pub fn france_travail(
        &self,
        region: Option<&str>,
    ) -> Result<projections::france_travail::query::Perimetre, Error> {
        use projections::france_travail::query::Perimetre;
        let principal = self.principal()?;
        let asked = region.map(str::trim).filter(|r| !r.is_empty());
        if let Some(asked) = asked
            && events::domain::territoire::region_nom(asked).is_none()
        {
            let shown: String = asked.chars().take(20).collect();
            return Err(bad_input("region", format!("{shown:?} n'est pas une région")));
        }
        match principal.role {
            Role::FranceTravail => {
                let Some(own) =
                    principal.scope.as_ref().filter(|s| s.kind == "REGION").map(|s| s.value.clone())
                else {
                    return Err(forbidden("la clé FRANCE_TRAVAIL n'a pas de région (--scope REGION:<code>)"));
                };
                match asked {
                    Some(asked) if asked != own => Err(forbidden(format!(
                        "region : une clé FRANCE_TRAVAIL lit la région {own}, pas {asked}"
                    ))),
                    _ => Ok(Perimetre::Region(own)),
                }
            }
            Role::Administrateur | Role::Auditor => {
                Ok(asked.map_or(Perimetre::Tout, |r| Perimetre::Region(r.to_owned())))
            }
            _ => Err(forbidden(format!(
                "une clé {} ne lit pas la file de France Travail : seuls ses conseillers (FRANCE_TRAVAIL) la lisent",
                principal.role.as_str()
            ))),
        }
    }

    /// Whose recaps this caller reads: a Mission Locale's key its own, an organisme's its own,
    /// ADMINISTRATEUR and AUDITOR those of the recipient they name (`MISSION_LOCALE:<id>` or
    /// `ORGANISME:<uai>:<siret>`).
    pub fn recapitulatifs(
        &self,
        destinataire: Option<&str>,
    ) -> Result<events::recapitulatif::Destinataire, Error> {
        use events::recapitulatif::Destinataire;
        let principal = self.principal()?;
        let own = match principal.role {
            Role::MissionLocale => Destinataire::mission_locale(self.mission_locale()?),
            Role::OrganismeFormation => match &principal.organisme {
                Some(o) => Destinataire::organisme(&o.uai.to_string(), &o.siret.to_string()),
                None => return Err(forbidden("la clé d'organisme ne nomme pas son organisme")),
            },
            Role::Administrateur | Role::Auditor => {
                let Some(asked) = destinataire.map(str::trim).filter(|d| !d.is_empty()) else {
                    return Err(bad_input(
                        "destinataire",
                        "nommez le destinataire : MISSION_LOCALE:<id> ou ORGANISME:<uai>:<siret>",
                    ));
                };
                if asked.len() > 200
                    || !(asked.starts_with("MISSION_LOCALE:") || asked.starts_with("ORGANISME:"))
                {
                    let shown: String = asked.chars().take(40).collect();
                    return Err(bad_input(
                        "destinataire",
                        format!("{shown:?} : MISSION_LOCALE:<id> ou ORGANISME:<uai>:<siret>"),
                    ));
                }
                return Ok(Destinataire(asked.to_owned()));
            }
            _ => {
                return Err(forbidden(format!(
                    "une clé {} ne reçoit pas de récapitulatifs : seuls les Missions Locales et les organismes",
                    principal.role.as_str()
                )));
            }
        };
        match destinataire {
            Some(asked) if asked != own.0 => {
                Err(forbidden(format!("destinataire : une clé ne lit que ses récapitulatifs ({})", own.0)))
            }
            _ => Ok(own),
        }
    }

    /// The Mission Locale of a MISSION_LOCALE key.
    pub fn mission_locale(&self) -> Result<&str, Error> {
        let principal = self.principal()?;
        principal.scope.as_ref().filter(|s| s.kind == "MISSION_LOCALE").map(|s| s.value.as_str()).ok_or_else(
            || {
                forbidden(
                    "la clé MISSION_LOCALE ne nomme pas sa Mission Locale (--scope MISSION_LOCALE:<id>)",
                )
            },
        )
    }

    /// Whether this caller may read that entry of the queue (`qui` is what `ruptures` gave it): a
    /// Mission Locale only once its CFA shares it (domain.md §11).
    pub fn may_read_entree(qui: &Qui, ligne: &projections::ruptures::query::Ligne) -> bool {
        match qui {
            Qui::Tout => true,
            Qui::MissionLocale(ml) => {
                ligne.active && ligne.partagee && ligne.ml_id.as_deref() == Some(ml.as_str())
            }
            Qui::Organisme(uai, siret) => {
                ligne.active
                    && ((&ligne.uai_formateur, &ligne.siret_formateur) == (uai, siret)
                        || (&ligne.uai_responsable, &ligne.siret_responsable) == (uai, siret))
            }
        }
    }

    /// The Missions Locales whose statistics this caller reads: ARML and DREETS those of their région,
    /// a MISSION_LOCALE key its own, ADMINISTRATEUR, AUDITOR and ANALYST all (`None`); `regions` narrows.
    pub fn stats_missions_locales(&self, regions: &[String]) -> Result<StatsScope, Error> {
        let principal = self.principal()?;
        let region = principal.scope.as_ref().filter(|s| s.kind == "REGION").map(|s| s.value.clone());
        match principal.role {
            Role::Arml | Role::Dreets => {
                let Some(own) = region else {
                    return Err(forbidden(format!(
                        "la clé {} n'a pas de région (--scope REGION:<code>)",
                        principal.role.as_str()
                    )));
                };
                if let Some(outside) = regions.iter().find(|r| **r != own) {
                    return Err(bad_input(
                        "regions",
                        format!("{outside} est hors de votre périmètre ({own})"),
                    ));
                }
                Ok(StatsScope::Regions(vec![own]))
            }
            Role::MissionLocale => Ok(StatsScope::MissionLocale(self.mission_locale()?.to_owned())),
            Role::Administrateur | Role::Auditor | Role::Analyst => Ok(StatsScope::Regions(regions.to_vec())),
            _ => Err(forbidden(format!(
                "une clé {} ne lit pas les statistiques des Missions Locales",
                principal.role.as_str()
            ))),
        }
    }
}

impl Viewer {
    /// The académies whose candidates "non concrétisés" this caller reads, with their contacts
    /// (domain.md §8, §9): an ACADEMIE or DREETS key those of its territory (`ACADEMIE:` its académie,
    /// `REGION:` the académies of its région), ADMINISTRATEUR and AUDITOR any (all when `asked` is
    /// empty); nobody else. `asked` narrows.
    pub fn voeux_academies(&self, asked: &[String]) -> Result<Vec<String>, Error> {
        let principal = self.principal()?;
        let mut asked = asked.to_vec();
        match principal.role {
            Role::Administrateur | Role::Auditor => Ok(asked),
            Role::Academie | Role::Dreets => {
                let allowed = match principal.scope.as_ref().map(|s| (s.kind.as_str(), s.value.as_str())) {
                    Some(("ACADEMIE", academie)) => vec![academie.to_owned()],
                    Some(("REGION", region)) => events::domain::territoire::academies_of_region(region),
                    _ => {
                        return Err(forbidden(format!(
                            "la clé {} n'a pas de territoire d'académie (--scope ACADEMIE:<code> ou REGION:<code>)",
                            principal.role.as_str()
                        )));
                    }
                };
                narrow(&mut asked, &allowed, "academies")?;
                Ok(asked)
            }
            _ => Err(forbidden(format!(
                "une clé {} ne lit pas les candidats non concrétisés : seules les académies et les DREETS \
                 (leur territoire) les lisent",
                principal.role.as_str()
            ))),
        }
    }
}

/// The Missions Locales whose statistics a caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsScope {
    /// Those of these régions (all when empty).
    Regions(Vec<String>),
    MissionLocale(String),
}

/// `asked` narrowed to `allowed`: all of it when nothing is asked, refused (naming `field`) when a value
/// asked lies outside. An empty perimeter is refused: an empty list would filter nothing.
pub fn narrow(asked: &mut Vec<String>, allowed: &[String], field: &str) -> Result<(), Error> {
    if allowed.is_empty() {
        return Err(forbidden("votre périmètre est vide"));
    }
    if asked.is_empty() {
        *asked = allowed.to_vec();
        return Ok(());
    }
    match asked.iter().find(|value| !allowed.contains(value)) {
        Some(outside) => {
            Err(bad_input(field, format!("{outside} est hors de votre périmètre ({})", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

impl Perimetre {
    /// `filtre` narrowed to the perimeter: the perimeter's list AND-ed with the one asked for (a value
    /// asked for outside the perimeter is refused, naming the field). Anonymous callers may only ask
    /// for the national figures, without filter.
    pub fn restrict(&self, mut filtre: Filtre, national: bool) -> Result<Filtre, Error> {
        match self {
            Perimetre::National => {
                if !national || filtre != Filtre::default() {
                    return Err(unauthenticated(
                        "sans clé d'API, seuls les indicateurs nationaux sans filtre sont publics",
                    ));
                }
            }
            Perimetre::Tout => {}
            Perimetre::Regions(allowed) => narrow(&mut filtre.regions, allowed, "filtre.regions")?,
            Perimetre::Departements(allowed) => {
                narrow(&mut filtre.departements, allowed, "filtre.departements")?
            }
            Perimetre::Academies(allowed) => narrow(&mut filtre.academies, allowed, "filtre.academies")?,
            Perimetre::Organismes(allowed) => narrow(&mut filtre.organismes, allowed, "filtre.organismes")?,
        }
        Ok(filtre)
    }
}

impl Perimetre {
    /// A vœux funnel's filter narrowed to the perimeter: vœux are followed by académie and région (a
    /// département's perimeter does not see them), an organisme's by the UAI its vœux target.
    pub fn restrict_voeux(
        &self,
        mut filtre: projections::voeux::query::Filtre,
    ) -> Result<projections::voeux::query::Filtre, Error> {
        match self {
            Perimetre::National => {
                return Err(unauthenticated("une clé d'API est nécessaire pour lire les vœux"));
            }
            Perimetre::Tout => {}
            Perimetre::Regions(allowed) => narrow(&mut filtre.regions, allowed, "filtre.regions")?,
            Perimetre::Academies(allowed) => narrow(&mut filtre.academies, allowed, "filtre.academies")?,
            Perimetre::Organismes(allowed) => {
                let uais: Vec<String> =
                    allowed.iter().map(|o| o.split(':').next().unwrap_or_default().to_owned()).collect();
                narrow(&mut filtre.organismes, &uais, "filtre.organismes")?
            }
            Perimetre::Departements(_) => {
                return Err(forbidden(
                    "les vœux sont suivis par académie et par région : une clé de département ne les voit pas",
                ));
            }
        }
        Ok(filtre)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perimeter_fills_an_empty_filter_and_refuses_what_lies_outside() {
        let dreets = Perimetre::Regions(vec!["84".into()]);
        let filtre = dreets.restrict(Filtre::default(), false).expect("within");
        assert_eq!(filtre.regions, vec!["84".to_owned()]);
        let asked = Filtre { regions: vec!["84".into(), "11".into()], ..Filtre::default() };
        let refused = dreets.restrict(asked, false).expect_err("11 is outside");
        let AccessError::BadInput { field, message } = refused else { panic!("a bad input") };
        let refused = format!("{field} : {message}");
        assert!(refused.contains("filtre.regions") && refused.contains("11"));
        assert!(Perimetre::National.restrict(Filtre::default(), true).is_ok());
        assert!(Perimetre::National.restrict(Filtre::default(), false).is_err());
        let tout = Filtre { niveaux: vec![3], ..Filtre::default() };
        assert_eq!(Perimetre::Tout.restrict(tout.clone(), false).expect("all"), tout);
    }
}
