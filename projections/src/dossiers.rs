//! The `dossiers` projection: one row per dossier with the dimensions analysts group and filter by and
//! its parcours under the current rule set (`rm_dossiers`), and the organismes as the log knows them
//! (`rm_organismes`, for the territory of each organisme formateur).
//!
//! A batch refolds each dossier it touches from the dossier's events up to the batch's last position
//! (corrections void earlier events, so a dossier is always folded whole: from the batch itself when it
//! holds the dossier's first event, else from the log), and writes all rows in one statement per table.

use std::collections::BTreeMap;

use events::RecordedEvent;
use events::dossier::Dossier;
use events::envelope::category_of;
use events::organisme::{ORGANISME_ENREGISTRE, Organisme};
use events::store::streams_until;
use sqlx::PgConnection;

use crate::runtime::{ProjectionError, Projector};
use crate::status::{Faits, RuleSet};

pub struct DossiersProjection {
    pub rules: RuleSet,
}

impl Default for DossiersProjection {
    fn default() -> Self {
        DossiersProjection { rules: RuleSet::CURRENT }
    }
}

/// The European niveau (3 to 7) of a formation, from the first digit of its CFD (5 = CAP … 1 = master).
pub fn niveau(cfd: &str) -> Option<i16> {
    match cfd.as_bytes().first()? {
        digit @ b'1'..=b'5' => Some(8 - i16::from(digit - b'0')),
        _ => None,
    }
}

/// A row of `rm_dossiers`.
struct Row {
    dossier_id: String,
    annee_scolaire: String,
    id_erp_apprenant: String,
    uai_formateur: String,
    siret_formateur: String,
    uai_responsable: String,
    siret_responsable: String,
    cfd: Option<String>,
    rncp: Option<String>,
    niveau: Option<i16>,
    annee_formation: Option<i16>,
    date_de_naissance: chrono::NaiveDate,
    code_commune_insee: Option<String>,
    personne: String,
    rqth: bool,
    retire: bool,
    parcours: serde_json::Value,
    position: i64,
}

impl DossiersProjection {
    fn row(&self, stream: &str, events: &[&RecordedEvent]) -> Result<Option<Row>, ProjectionError> {
        let last = events.last().map_or(0, |e| e.position);
        let dossier = Dossier::from_recorded(events.iter().copied())
            .map_err(|e| ProjectionError::Event { position: last, message: e.to_string() })?;
        let Some(i) = &dossier.inscription else { return Ok(None) };
        let parcours = Faits::of(&dossier).map(|faits| self.rules.parcours(&faits)).unwrap_or_default();
        Ok(Some(Row {
            dossier_id: stream.to_owned(),
            annee_scolaire: i.annee_scolaire.to_string(),
            id_erp_apprenant: i.id_erp_apprenant.clone(),
            uai_formateur: i.formateur.uai.to_string(),
            siret_formateur: i.formateur.siret.to_string(),
            uai_responsable: i.responsable.uai.to_string(),
            siret_responsable: i.responsable.siret.to_string(),
            cfd: i.formation.cfd.as_ref().map(ToString::to_string),
            rncp: i.formation.rncp.as_ref().map(ToString::to_string),
            niveau: i.formation.cfd.as_ref().and_then(|c| niveau(c.as_str())),
            annee_formation: i.formation.annee_formation.and_then(|a| i16::try_from(a).ok()),
            date_de_naissance: i.personnel.date_de_naissance,
            code_commune_insee: i.personnel.coordonnees.code_commune_insee.as_ref().map(ToString::to_string),
            personne: i.personne.identite.clone(),
            rqth: i.apprenant.rqth.unwrap_or(false),
            retire: dossier.retrait.is_some(),
            parcours: serde_json::to_value(&parcours).expect("change points serialise"),
            position: last,
        }))
    }
}

impl Projector for DossiersProjection {
    fn name(&self) -> &'static str {
        "dossiers"
    }

    fn version(&self) -> i32 {
        1
    }

    fn tables(&self) -> &'static [&'static str] {
        &["rm_organismes", "rm_dossiers"]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let Some(until) = events.last().map(|e| e.position) else { return Ok(()) };
        let organismes: Vec<(Organisme, i64)> = events
            .iter()
            .filter(|e| e.event_type == ORGANISME_ENREGISTRE)
            .map(|e| {
                serde_json::from_value(e.data.clone())
                    .map(|o| (o, e.position))
                    .map_err(|err| ProjectionError::Event { position: e.position, message: err.to_string() })
            })
            .collect::<Result<_, _>>()?;
        write_organismes(tx, &organismes).await?;
        // A dossier whose first event is in the batch has its whole history up to `until` in it (its
        // later events have later positions); the others are read from the log.
        let mut in_batch: BTreeMap<&str, Vec<&RecordedEvent>> = BTreeMap::new();
        for event in events.iter().filter(|e| category_of(&e.stream_id) == "dossier") {
            in_batch.entry(event.stream_id.as_str()).or_default().push(event);
        }
        let partial: Vec<String> = in_batch
            .iter()
            .filter(|(_, events)| events.first().is_some_and(|e| e.version > 1))
            .map(|(stream, _)| (*stream).to_owned())
            .collect();
        let mut logged =
            if partial.is_empty() { Default::default() } else { streams_until(tx, &partial, until).await? };
        let mut rows = Vec::with_capacity(in_batch.len());
        for (stream, batch_events) in &in_batch {
            let history = logged.remove(*stream).unwrap_or_default();
            let history: Vec<&RecordedEvent> = history.iter().collect();
            let events =
                if batch_events.first().is_some_and(|e| e.version > 1) { &history } else { batch_events };
            if let Some(row) = self.row(stream, events)? {
                rows.push(row);
            }
        }
        write_dossiers(tx, &rows, self.rules.version() as i32).await
    }
}

async fn write_organismes(
    tx: &mut PgConnection,
    organismes: &[(Organisme, i64)],
) -> Result<(), ProjectionError> {
    if organismes.is_empty() {
        return Ok(());
    }
    // The last event of an organisme in the batch wins.
    let mut latest: BTreeMap<(String, String), &(Organisme, i64)> = BTreeMap::new();
    for entry in organismes {
        latest.insert((entry.0.uai.to_string(), entry.0.siret.to_string()), entry);
    }
    let column = |f: fn(&(Organisme, i64)) -> String| latest.values().map(|e| f(e)).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO rm_organismes (uai, siret, nom, departement, region, academie, position)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
           ON CONFLICT (uai, siret) DO UPDATE SET nom = excluded.nom, departement = excluded.departement,
               region = excluded.region, academie = excluded.academie, position = excluded.position"#,
        &column(|e| e.0.uai.to_string()),
        &column(|e| e.0.siret.to_string()),
        &column(|e| e.0.nom.clone()),
        &column(|e| e.0.departement.clone()),
        &column(|e| e.0.region.clone()),
        &column(|e| e.0.academie.clone()),
        &latest.values().map(|e| e.1).collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

async fn write_dossiers(
    tx: &mut PgConnection,
    rows: &[Row],
    rules_version: i32,
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).to_owned()).collect::<Vec<String>>();
    let optional = |f: fn(&Row) -> Option<&String>| rows.iter().map(|r| f(r).cloned()).collect::<Vec<_>>();
    sqlx::query!(
        r#"INSERT INTO rm_dossiers (dossier_id, annee_scolaire, id_erp_apprenant, uai_formateur, siret_formateur,
                                   uai_responsable, siret_responsable, cfd, rncp, niveau, annee_formation,
                                   date_de_naissance, code_commune_insee, personne, rqth, retire, rules_version,
                                   parcours, position)
           SELECT d, a, e, uf, sf, ur, sr, c, r, n, af, dn, ci, p, q, rt, $17, pc, po
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::smallint[], $11::smallint[], $12::date[], $13::text[],
                       $14::text[], $15::boolean[], $16::boolean[], $18::jsonb[], $19::bigint[])
                AS t(d, a, e, uf, sf, ur, sr, c, r, n, af, dn, ci, p, q, rt, pc, po)
           ON CONFLICT (dossier_id) DO UPDATE SET
               annee_scolaire = excluded.annee_scolaire, id_erp_apprenant = excluded.id_erp_apprenant,
               uai_formateur = excluded.uai_formateur, siret_formateur = excluded.siret_formateur,
               uai_responsable = excluded.uai_responsable, siret_responsable = excluded.siret_responsable,
               cfd = excluded.cfd, rncp = excluded.rncp, niveau = excluded.niveau,
               annee_formation = excluded.annee_formation, date_de_naissance = excluded.date_de_naissance,
               code_commune_insee = excluded.code_commune_insee, personne = excluded.personne,
               rqth = excluded.rqth, retire = excluded.retire, rules_version = excluded.rules_version,
               parcours = excluded.parcours, position = excluded.position"#,
        &text(|r| &r.dossier_id),
        &text(|r| &r.annee_scolaire),
        &text(|r| &r.id_erp_apprenant),
        &text(|r| &r.uai_formateur),
        &text(|r| &r.siret_formateur),
        &text(|r| &r.uai_responsable),
        &text(|r| &r.siret_responsable),
        &optional(|r| r.cfd.as_ref()) as &[Option<String>],
        &optional(|r| r.rncp.as_ref()) as &[Option<String>],
        &rows.iter().map(|r| r.niveau).collect::<Vec<_>>() as &[Option<i16>],
        &rows.iter().map(|r| r.annee_formation).collect::<Vec<_>>() as &[Option<i16>],
        &rows.iter().map(|r| r.date_de_naissance).collect::<Vec<_>>(),
        &optional(|r| r.code_commune_insee.as_ref()) as &[Option<String>],
        &text(|r| &r.personne),
        &rows.iter().map(|r| r.rqth).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.retire).collect::<Vec<_>>(),
        rules_version,
        &rows.iter().map(|r| r.parcours.clone()).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.position).collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_niveau_follows_the_first_digit_of_the_cfd() {
        for (cfd, niveau) in [
            ("50022137", Some(3)),
            ("40025214", Some(4)),
            ("32031213", Some(5)),
            ("26X31015", Some(6)),
            ("16X31001", Some(7)),
            ("46T32601", Some(4)),
            ("99999999", None),
        ] {
            assert_eq!(super::niveau(cfd), niveau, "{cfd}");
        }
    }
}
