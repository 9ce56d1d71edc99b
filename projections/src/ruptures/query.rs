//! Reading the rupture queue on a day (domain.md §7). An entry is in the visible queue of its Mission
//! Locale from its rupture until the person leaves (back under contract, end of formation), unless an
//! advisor qualified it before; it is prioritaire when the CFA asked for a joint follow-up, or the person
//! is a minor or RQTH, and the rupture is less than 180 days old. Lists: à traiter (no situation),
//! à recontacter (CONTACTE_SANS_RETOUR), traités (any other situation); prioritaires first, then the
//! newest ruptures.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liste {
    ATraiter,
    ARecontacter,
    Traites,
}

impl Liste {
    pub fn as_str(self) -> &'static str {
        match self {
            Liste::ATraiter => "A_TRAITER",
            Liste::ARecontacter => "A_RECONTACTER",
            Liste::Traites => "TRAITES",
        }
    }

    pub fn parse(text: &str) -> Option<Liste> {
        [Liste::ATraiter, Liste::ARecontacter, Liste::Traites].into_iter().find(|l| l.as_str() == text)
    }
}

/// How old a rupture is on the day asked (a CFA's list is split at 45 days, domain.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anciennete {
    MoinsDe45Jours,
    Depuis45Jours,
}

/// The age in days from which a CFA's entry is in its second list (and sent automatically to its
/// Mission Locale when it opted in).
pub const JOURS_ENVOI: i32 = 45;

/// Whose entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Qui {
    /// A Mission Locale's queue.
    MissionLocale(String),
    /// The entries of an organisme's dossiers (formateur or responsable): `(uai, siret)`.
    Organisme(String, String),
    /// Every queue (administrators).
    Tout,
}

/// Where a page starts: after this entry of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Curseur {
    pub rang: i32,
    pub date_rupture: NaiveDate,
    pub entree: String,
}

impl Curseur {
    pub fn encode(&self) -> String {
        format!("{}|{}|{}", self.rang, self.date_rupture, self.entree)
    }

    pub fn decode(text: &str) -> Option<Curseur> {
        let mut parts = text.splitn(3, '|');
        let rang = parts.next()?.parse().ok()?;
        let date_rupture = parts.next()?.parse().ok()?;
        let entree = parts.next()?.to_owned();
        Some(Curseur { rang, date_rupture, entree })
    }
}

/// A page of a list.
#[derive(Debug, Clone)]
pub struct Demande {
    pub qui: Qui,
    pub jour: NaiveDate,
    pub liste: Option<Liste>,
    pub code_postal: Option<String>,
    /// `YYYY-MM`: the ruptures of that month only.
    pub mois: Option<String>,
    pub anciennete: Option<Anciennete>,
    pub apres: Option<Curseur>,
    pub premiers: i64,
}

/// An entry as seen on a day.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Ligne {
    pub entree: String,
    pub active: bool,
    pub ml_id: Option<String>,
    pub dossier_id: String,
    pub date_rupture: NaiveDate,
    pub sortie: Option<NaiveDate>,
    pub sortie_motif: Option<String>,
    pub date_de_naissance: NaiveDate,
    pub rqth: bool,
    pub code_commune_insee: Option<String>,
    pub code_postal: Option<String>,
    pub uai_formateur: String,
    pub siret_formateur: String,
    pub uai_responsable: String,
    pub siret_responsable: String,
    pub situation: Option<String>,
    pub situation_autre: Option<String>,
    pub commentaire: Option<String>,
    pub connaissance: Option<String>,
    pub qualifiee_le: Option<DateTime<Utc>>,
    pub suivi_conjoint: bool,
    pub probleme_type: Option<String>,
    pub probleme_detail: Option<String>,
    /// The young person wishes an appointment (the latest situation says so).
    pub souhaite_rdv: bool,
    /// The CFA refused to share the entry with the Mission Locale.
    pub partage_refuse: bool,
    /// The CFA declared the rupture itself.
    pub declaree: bool,
    pub position: i64,
    /// Days from the rupture to the day asked.
    pub jours_depuis_rupture: i32,
    /// In its Mission Locale's visible queue that day.
    pub visible: bool,
    /// In its CFA's ruptures list that day (domain.md §11).
    pub visible_cfa: bool,
    pub prioritaire: bool,
    pub nouveau_contrat: bool,
    pub liste: String,
    /// Shared with its Mission Locale that day (the CFA's collaboration settings allow it).
    pub partagee: bool,
    pub rang: i32,
}

impl Ligne {
    pub fn curseur(&self) -> Curseur {
        Curseur { rang: self.rang, date_rupture: self.date_rupture, entree: self.entree.clone() }
    }
}

/// Whether its Mission Locale sees the entry `r` on the day `p.d` (domain.md §11), as that day's
/// settings say (`co`: the CFA's, the organisme formateur's; `ma`: the Mission Locale's activation) and
/// what was recorded by the end of the day (`s`): an entry the CFA sent (a request, or automatically
/// once 45 days old), the Mission Locale qualified, or where the young person wishes an appointment;
/// and, unless the CFA refused to share it, the entries it sends automatically at 45 days and, unless
/// it activated the collaboration, every other entry whose rupture is no older than 180 days before the
/// Mission Locale's activation (all of them before it activates). A literal, for `concat!`.
macro_rules! PARTAGEE {
    () => {
        "coalesce(s.suivi_conjoint OR s.situation IS NOT NULL OR s.souhaite_rdv
          OR (NOT s.partage_refuse
              AND ((co.active IS TRUE AND co.envoi_auto IS TRUE AND r.date_rupture <= p.d - 45)
                   OR (co.active IS NOT TRUE AND (ma.le IS NULL OR r.date_rupture >= ma.le - 180)))), false)"
    };
}

/// An entry's columns with what the day decides (the day is `p.d`, the episode `r`, what its advisors
/// had recorded by the end of the day `s`: see `actions_du_jour`).
const COLONNES: &str = concat!(
    "SELECT r.entree, r.active, r.ml_id, r.dossier_id, r.date_rupture, r.sortie, r.sortie_motif,
        r.date_de_naissance, r.rqth, r.code_commune_insee, r.code_postal, r.uai_formateur, r.siret_formateur,
        r.uai_responsable, r.siret_responsable, s.situation, s.situation_autre, s.commentaire, s.connaissance,
        s.qualifiee_le, s.suivi_conjoint, s.probleme_type, s.probleme_detail, s.souhaite_rdv, s.partage_refuse,
        r.declaree, r.position, p.d - r.date_rupture AS jours_depuis_rupture,
        (r.active AND r.ml_id IS NOT NULL AND r.date_rupture <= p.d
            AND (r.sortie IS NULL OR r.sortie > p.d OR s.situation IS NOT NULL)) AS visible,
        (r.active AND r.date_rupture <= p.d AND r.date_rupture > p.d - 180
            AND (r.sortie IS NULL OR r.sortie > p.d OR s.situation IS NOT NULL OR r.declaree)) AS visible_cfa,
        (s.souhaite_rdv OR ((s.suivi_conjoint OR r.rqth OR r.date_de_naissance > (p.d - interval '18 years')::date)
            AND r.date_rupture > p.d - 180)) AS prioritaire,
        coalesce(r.sortie_motif = 'NOUVEAU_CONTRAT' AND r.sortie <= p.d, false) AS nouveau_contrat,
        CASE WHEN s.situation IS NULL THEN 'A_TRAITER' WHEN s.situation = 'CONTACTE_SANS_RETOUR'
             THEN 'A_RECONTACTER' ELSE 'TRAITES' END AS liste, ",
    PARTAGEE!(),
    " AS partagee"
);

/// The condition on an action `a` of being about the episode `r` and recorded by the end of the day
/// `p.d` (a literal, for `concat!`).
macro_rules! action_de_l_episode_au_jour {
    () => {
        "a.entree = ANY(r.entree || r.anciennes) AND a.recorded_at < ((p.d + 1)::timestamp AT TIME ZONE 'UTC')
          AND a.date_rupture >= r.contrat_debut
          AND NOT EXISTS (SELECT 1 FROM rm_ruptures l WHERE l.entree = r.entree AND l.active
                          AND l.contrat_debut > r.contrat_debut AND l.contrat_debut <= a.date_rupture)"
    };
}

/// What the advisors of the episode `r` had recorded by the end of the day `p.d` (`s`), and what decides
/// whether its CFA shares it (`co`, `ma`: `PARTAGEE`), one rule for the lists, counts and statistics of
/// any day: today and later, what the projection folded into the episode's row; on a past day, the
/// latest situation recorded by then, from the actions (an action is about the latest episode whose
/// contract had begun by the rupture it looked at, as the projection assigns them).
fn actions_du_jour(jour: NaiveDate) -> String {
    let situation =
        if jour < chrono::Utc::now().date_naive() { SITUATION_PASSEE } else { SITUATION_COURANTE };
    format!("{situation}{PARTAGE_DU_JOUR}")
}

/// `s` today: the episode's own columns (no read of the actions).
const SITUATION_COURANTE: &str = "
    CROSS JOIN LATERAL (
        SELECT r.situation, r.situation_autre, r.commentaire, r.connaissance, r.qualifiee_le, r.probleme_type,
               r.probleme_detail, r.souhaite_rdv, r.suivi_conjoint, r.partage_refuse) s";

/// `s` on a past day: from the actions recorded by its end.
const SITUATION_PASSEE: &str = concat!(
    "
    LEFT JOIN LATERAL (
        SELECT a.situation, a.data->>'situation_autre' AS situation_autre, a.data->>'commentaire' AS commentaire,
               a.data->>'connaissance' AS connaissance, a.recorded_at AS qualifiee_le,
               a.data->>'probleme_type' AS probleme_type, a.data->>'probleme_detail' AS probleme_detail,
               coalesce((a.data->>'souhaite_rdv')::boolean, false) AS souhaite_rdv
        FROM rm_rupture_actions a
        WHERE a.situation IS NOT NULL AND ",
    action_de_l_episode_au_jour!(),
    "
        ORDER BY a.position DESC LIMIT 1) sa ON true
    CROSS JOIN LATERAL (
        SELECT sa.situation, sa.situation_autre, sa.commentaire, sa.connaissance, sa.qualifiee_le,
               sa.probleme_type, sa.probleme_detail, coalesce(sa.souhaite_rdv, false) AS souhaite_rdv,
               EXISTS (
                   SELECT 1 FROM rm_rupture_actions a
                   WHERE a.event_type = 'SuiviConjointDemande' AND ",
    action_de_l_episode_au_jour!(),
    ") AS suivi_conjoint,
               EXISTS (
                   SELECT 1 FROM rm_rupture_actions a
                   WHERE a.event_type = 'PartageRefuse' AND ",
    action_de_l_episode_au_jour!(),
    ") AS partage_refuse) s"
);

/// The organisme's collaboration (`co`) and the Mission Locale's activation (`ma`) as of the end of
/// the day `p.d`.
const PARTAGE_DU_JOUR: &str = "
    LEFT JOIN LATERAL (
        SELECT c.active, c.envoi_auto FROM rm_collaborations c
        WHERE c.uai = r.uai_formateur AND c.siret = r.siret_formateur
          AND c.recorded_at < ((p.d + 1)::timestamp AT TIME ZONE 'UTC')
        ORDER BY c.position DESC LIMIT 1) co ON true
    LEFT JOIN LATERAL (
        SELECT a.le FROM rm_ml_activations a
        WHERE a.ml_id = r.ml_id AND a.recorded_at < ((p.d + 1)::timestamp AT TIME ZONE 'UTC')
        ORDER BY a.position DESC LIMIT 1) ma ON true";

/// Which episode of each person a query reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Episode {
    /// The person's entry on the day: their latest active episode begun by then.
    DuJour,
    /// The same when there is one, else the person's latest episode (one that left, or is to come).
    Dernier,
}

/// `WITH p AS (the day) SELECT e.*, rang FROM (<COLONNES> FROM p, (SELECT DISTINCT ON (person) … WHERE `:
/// the caller adds conditions on the episodes `r`, then `close`s, then filters the entries `e`.
fn open(q: &mut QueryBuilder<Postgres>, jour: NaiveDate, episode: Episode) {
    q.push("WITH p AS (SELECT ");
    q.push_bind(jour)
        .push("::date AS d) SELECT e.*, CASE WHEN e.prioritaire THEN 0 ELSE 1 END AS rang FROM (");
    q.push(COLONNES)
        .push(" FROM p CROSS JOIN (SELECT DISTINCT ON (r.entree) r.* FROM rm_ruptures r, p WHERE ");
    if episode == Episode::DuJour {
        q.push("r.active AND r.date_rupture <= p.d AND ");
    }
}

fn close(q: &mut QueryBuilder<Postgres>, jour: NaiveDate, episode: Episode) {
    q.push(match episode {
        Episode::DuJour => " ORDER BY r.entree, r.date_rupture DESC) r",
        Episode::Dernier => {
            " ORDER BY r.entree, (r.active AND r.date_rupture <= p.d) DESC, r.date_rupture DESC) r"
        }
    });
    q.push(actions_du_jour(jour)).push(") e");
}

fn with_day(jour: NaiveDate, episode: Episode) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::new("");
    open(&mut q, jour, episode);
    q
}

/// The condition on the episodes or entries `t` of being `qui`'s.
fn push_qui(q: &mut QueryBuilder<Postgres>, qui: &Qui, t: &str) {
    match qui {
        Qui::MissionLocale(ml) => {
            q.push(format!("{t}.ml_id = ")).push_bind(ml.clone());
        }
        Qui::Organisme(uai, siret) => {
            q.push(format!("(({t}.uai_formateur = "))
                .push_bind(uai.clone())
                .push(format!(" AND {t}.siret_formateur = "))
                .push_bind(siret.clone())
                .push(format!(") OR ({t}.uai_responsable = "))
                .push_bind(uai.clone())
                .push(format!(" AND {t}.siret_responsable = "))
                .push_bind(siret.clone())
                .push("))");
        }
        Qui::Tout => {
            q.push("true");
        }
    }
}

/// The condition on the entries `e` of being in `qui`'s lists: a Mission Locale's visible queue (what
/// the CFAs share with it), an organisme's ruptures list (§11), everything visible to any Mission Locale.
fn push_visible(q: &mut QueryBuilder<Postgres>, qui: &Qui) {
    q.push(match qui {
        Qui::MissionLocale(_) => "e.visible AND e.partagee",
        Qui::Organisme(..) => "e.visible_cfa",
        Qui::Tout => "e.visible",
    });
}

/// The condition on the entries `e` of being that old (in days since the rupture).
fn push_anciennete(q: &mut QueryBuilder<Postgres>, anciennete: Option<Anciennete>) {
    match anciennete {
        Some(Anciennete::MoinsDe45Jours) => q.push(" AND e.jours_depuis_rupture < ").push_bind(JOURS_ENVOI),
        Some(Anciennete::Depuis45Jours) => q.push(" AND e.jours_depuis_rupture >= ").push_bind(JOURS_ENVOI),
        None => q,
    };
}

/// A page of the lists, in the queue's order: a Mission Locale's visible queue, or an organisme's
/// ruptures list.
pub async fn liste(conn: &mut PgConnection, demande: &Demande) -> Result<Vec<Ligne>, sqlx::Error> {
    let mut q = with_day(demande.jour, Episode::DuJour);
    push_qui(&mut q, &demande.qui, "r");
    if let Some(cp) = &demande.code_postal {
        q.push(" AND r.code_postal = ").push_bind(cp.clone());
    }
    close(&mut q, demande.jour, Episode::DuJour);
    q.push(" WHERE ");
    push_visible(&mut q, &demande.qui);
    push_anciennete(&mut q, demande.anciennete);
    if let Some(mois) = &demande.mois {
        q.push(" AND to_char(e.date_rupture, 'YYYY-MM') = ").push_bind(mois.clone());
    }
    if let Some(liste) = demande.liste {
        q.push(" AND e.liste = ").push_bind(liste.as_str());
    }
    if let Some(c) = &demande.apres {
        let rang = "CASE WHEN e.prioritaire THEN 0 ELSE 1 END";
        q.push(format!(" AND ({rang} > ")).push_bind(c.rang);
        q.push(format!(" OR ({rang} = ")).push_bind(c.rang);
        q.push(" AND (e.date_rupture < ").push_bind(c.date_rupture);
        q.push(" OR (e.date_rupture = ").push_bind(c.date_rupture);
        q.push(" AND e.entree > ").push_bind(c.entree.clone()).push("))))");
    }
    q.push(" ORDER BY rang, e.date_rupture DESC, e.entree LIMIT ").push_bind(demande.premiers);
    q.build_query_as().fetch_all(conn).await
}

/// A person's entry as seen on `jour` (visible or not: the caller decides who may see it); none when
/// no eligible rupture of theirs has begun by then.
pub async fn une(
    conn: &mut PgConnection,
    entree: &str,
    jour: NaiveDate,
) -> Result<Option<Ligne>, sqlx::Error> {
    let mut q = with_day(jour, Episode::DuJour);
    q.push("r.entree = ").push_bind(entree.to_owned());
    close(&mut q, jour, Episode::DuJour);
    q.build_query_as().fetch_optional(conn).await
}

/// The entries of a Mission Locale's queue or an organisme's list changed after log position `apres`,
/// oldest change first (those that left it included, `visible` or `visibleCfa` false; a Mission
/// Locale's, those its CFA shares with it).
pub async fn changees(
    conn: &mut PgConnection,
    qui: &Qui,
    apres: i64,
    jour: NaiveDate,
) -> Result<Vec<Ligne>, sqlx::Error> {
    let mut q = with_day(jour, Episode::Dernier);
    q.push("r.entree IN (SELECT c.entree FROM rm_ruptures c WHERE ");
    push_qui(&mut q, qui, "c");
    q.push(" AND c.position > ").push_bind(apres).push(")");
    close(&mut q, jour, Episode::Dernier);
    q.push(" WHERE ");
    push_qui(&mut q, qui, "e");
    if let Qui::MissionLocale(_) = qui {
        q.push(" AND e.partagee");
    }
    q.push(" ORDER BY e.position, e.entree");
    q.build_query_as().fetch_all(conn).await
}

/// Counts of the visible queue for one rupture month (`mois` `YYYY-MM`; `None`: all months).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Compte {
    pub mois: Option<String>,
    pub total: i64,
    pub a_traiter: i64,
    pub a_recontacter: i64,
    pub traites: i64,
    pub prioritaires: i64,
    /// Ruptures under 45 days old, and older (a CFA's two lists).
    pub moins_de_45_jours: i64,
    pub depuis_45_jours: i64,
}

/// The counts of the visible queue, all months first, then each rupture month, newest first.
pub async fn comptes(
    conn: &mut PgConnection,
    qui: &Qui,
    jour: NaiveDate,
    code_postal: Option<&str>,
) -> Result<Vec<Compte>, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT to_char(e.date_rupture, 'YYYY-MM') AS mois, count(*) AS total,
            count(*) FILTER (WHERE e.liste = 'A_TRAITER') AS a_traiter,
            count(*) FILTER (WHERE e.liste = 'A_RECONTACTER') AS a_recontacter,
            count(*) FILTER (WHERE e.liste = 'TRAITES') AS traites,
            count(*) FILTER (WHERE e.prioritaire) AS prioritaires,
            count(*) FILTER (WHERE e.jours_depuis_rupture < ",
    );
    q.push_bind(JOURS_ENVOI)
        .push(") AS moins_de_45_jours, count(*) FILTER (WHERE e.jours_depuis_rupture >= ");
    q.push_bind(JOURS_ENVOI).push(") AS depuis_45_jours FROM (");
    open(&mut q, jour, Episode::DuJour);
    push_qui(&mut q, qui, "r");
    if let Some(cp) = code_postal {
        q.push(" AND r.code_postal = ").push_bind(cp.to_owned());
    }
    close(&mut q, jour, Episode::DuJour);
    q.push(") e WHERE ");
    push_visible(&mut q, qui);
    q.push(" GROUP BY ROLLUP (to_char(e.date_rupture, 'YYYY-MM')) ORDER BY mois DESC NULLS FIRST");
    q.build_query_as().fetch_all(conn).await
}

/// The statistics of one Mission Locale on a day.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Stats {
    pub ml_id: String,
    pub nom: String,
    pub siret: String,
    pub email: Option<String>,
    pub telephone: Option<String>,
    pub region: String,
    pub jour: NaiveDate,
    pub total: i64,
    pub a_traiter: i64,
    pub a_recontacter: i64,
    pub traites: i64,
    /// `[[situation, count], …]`.
    pub par_situation: sqlx::types::Json<Vec<(String, i64)>>,
    /// Reached: a situation other than the three that say the ML could not reach the person.
    pub joints: i64,
    pub rdv_pris: i64,
    /// Appointments with persons the ML did not know before.
    pub decouverts: i64,
    /// Entries whose CFA asked for a joint follow-up …
    pub demandes: i64,
    /// … and those the ML answered (a situation) within 7 days of the request.
    pub demandes_repondues_7_jours: i64,
}

/// The situations that say the Mission Locale could not reach the person (SQL).
const SANS_CONTACT: &str = "'CONTACTE_SANS_RETOUR', 'COORDONNEES_INCORRECT', 'INJOIGNABLE_APRES_RELANCES'";

/// A Mission Locale whose treatment rate reaches this is engaged (domain.md §11).
pub const TAUX_ENGAGEMENT: f64 = 0.7;

impl Stats {
    /// Engaged: its treatment rate reaches `TAUX_ENGAGEMENT`; inactive: entries, none with a situation.
    pub fn engagement(&self) -> (bool, bool) {
        let taux = self.taux_traitement();
        (taux.is_some_and(|t| t >= TAUX_ENGAGEMENT), taux == Some(0.0))
    }

    /// Share of the queue with a situation (à recontacter and traités).
    pub fn taux_traitement(&self) -> Option<f64> {
        (self.total > 0).then(|| (self.total - self.a_traiter) as f64 / self.total as f64)
    }
}

/// The statistics on `jour` of the Missions Locales `ids`, in id order: their visible queues of that day
/// (each person's entry of the day, counted if it was in the queue: not yet left, or qualified by the
/// end of the day), with the situations recorded by the end of it, as the lists of that day.
pub async fn stats(
    conn: &mut PgConnection,
    ids: &[String],
    jour: NaiveDate,
) -> Result<Vec<Stats>, sqlx::Error> {
    const PARTAGEE: &str = PARTAGEE!();
    const EPISODE: &str = action_de_l_episode_au_jour!();
    let actions_du_jour = actions_du_jour(jour);
    let sql = format!(
        r#"WITH p AS (SELECT $2::date AS d),
           e AS (
               SELECT r.ml_id, s.situation, s.connaissance, s.suivi_conjoint, dem.demande_le, rep.repondu_le
               FROM p CROSS JOIN (
                   SELECT DISTINCT ON (r.entree) r.* FROM rm_ruptures r, p
                   WHERE r.active AND r.ml_id = ANY($1) AND r.date_rupture <= p.d
                   ORDER BY r.entree, r.date_rupture DESC) r
               {actions_du_jour}
               LEFT JOIN LATERAL (
                   SELECT min(a.recorded_at) AS demande_le FROM rm_rupture_actions a
                   WHERE a.event_type = 'SuiviConjointDemande' AND {EPISODE}) dem ON true
               LEFT JOIN LATERAL (
                   SELECT min(a.recorded_at) AS repondu_le FROM rm_rupture_actions a
                   WHERE a.event_type = 'SituationRenseignee' AND a.recorded_at >= dem.demande_le AND {EPISODE}) rep
                   ON true
               WHERE (r.sortie IS NULL OR r.sortie > p.d OR s.situation IS NOT NULL) AND {PARTAGEE})
           SELECT m.id AS ml_id, m.nom, m.siret, m.email, m.telephone, m.region, p.d AS jour,
                  count(e.ml_id) AS total,
                  count(e.ml_id) FILTER (WHERE e.situation IS NULL) AS a_traiter,
                  count(e.ml_id) FILTER (WHERE e.situation = 'CONTACTE_SANS_RETOUR') AS a_recontacter,
                  count(e.ml_id) FILTER (WHERE e.situation <> 'CONTACTE_SANS_RETOUR') AS traites,
                  count(e.ml_id) FILTER (WHERE e.situation NOT IN ({SANS_CONTACT})) AS joints,
                  count(e.ml_id) FILTER (WHERE e.situation = 'RDV_PRIS') AS rdv_pris,
                  count(e.ml_id) FILTER (WHERE e.situation = 'RDV_PRIS' AND e.connaissance = 'NON_CONNU')
                      AS decouverts,
                  count(e.ml_id) FILTER (WHERE e.suivi_conjoint) AS demandes,
                  count(e.ml_id) FILTER (WHERE e.repondu_le < e.demande_le + interval '7 days')
                      AS demandes_repondues_7_jours,
                  coalesce((SELECT json_agg(json_build_array(x.situation, x.n) ORDER BY x.situation)
                            FROM (SELECT e2.situation, count(*) AS n FROM e e2
                                  WHERE e2.ml_id = m.id AND e2.situation IS NOT NULL GROUP BY e2.situation) x),
                           '[]'::json) AS par_situation
           FROM rm_missions_locales m CROSS JOIN p LEFT JOIN e ON e.ml_id = m.id
           WHERE m.id = ANY($1)
           GROUP BY m.id, m.nom, m.siret, m.email, m.telephone, m.region, p.d
           ORDER BY m.id"#
    );
    sqlx::query_as::<_, Stats>(sqlx::AssertSqlSafe(sql)).bind(ids).bind(jour).fetch_all(conn).await
}

/// The Missions Locales of `regions` (all when empty), by id.
pub async fn missions_locales(
    conn: &mut PgConnection,
    regions: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT id FROM rm_missions_locales WHERE cardinality($1::text[]) = 0 OR region = ANY($1) ORDER BY id",
        regions
    )
    .fetch_all(conn)
    .await
}

/// One action of an entry's history.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Action {
    pub entree: String,
    pub position: i64,
    pub event_type: String,
    pub recorded_at: DateTime<Utc>,
    pub organisation: String,
    pub principal: String,
    pub date_rupture: NaiveDate,
    pub data: serde_json::Value,
}

impl Action {
    /// Its event, as the log holds it (none when it does not decode, which is logged).
    pub fn event(&self) -> Option<events::rupture::RuptureEvent> {
        events::rupture::RuptureEvent::decode(&self.event_type, &self.data).unwrap_or_else(|error| {
            tracing::error!(%error, position = self.position, "a rupture action does not decode");
            None
        })
    }
}

/// The young person's contacts as their CFA last verified them in a request, among `actions` (oldest
/// first): that request, and when it was recorded.
pub fn contacts_verifies(
    actions: &[Action],
) -> Option<(DateTime<Utc>, events::rupture::SuiviConjointDemande)> {
    actions.iter().rev().find_map(|action| match action.event() {
        Some(events::rupture::RuptureEvent::SuiviConjoint(s)) if s.telephone_verifie.is_some() => {
            Some((action.recorded_at, s))
        }
        _ => None,
    })
}

/// Every action recorded about these persons, each person's oldest first (earlier ruptures included,
/// and those recorded under the keys their dossiers had before an identity correction).
pub async fn historiques(conn: &mut PgConnection, entrees: &[String]) -> Result<Vec<Action>, sqlx::Error> {
    sqlx::query_as(
        "WITH cles(entree, cle) AS (
             SELECT e, e FROM unnest($1::text[]) AS e
             UNION SELECT r.entree, unnest(r.anciennes) FROM rm_ruptures r WHERE r.entree = ANY($1) AND r.active)
         SELECT c.entree, a.position, a.event_type, a.recorded_at, a.organisation, a.principal, a.date_rupture,
                a.data
         FROM cles c JOIN rm_rupture_actions a ON a.entree = c.cle ORDER BY c.entree, a.position",
    )
    .bind(entrees)
    .fetch_all(conn)
    .await
}
