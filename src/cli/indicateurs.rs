//! `tba indicateurs`: the indicators "à date" from a terminal, as the read model counts them: the live
//! one, or an auditor's replay (`--schema replay_dossiers_<position>`), to compare what was known then
//! with what is known now.

use std::process::ExitCode;

use anyhow::bail;
use chrono::NaiveDate;
use projections::indicateurs::{self, Dimension, Filtre, Source, Tranche};
use sqlx::Connection;

use crate::auth::keys::OrganismeRef;
use crate::config::DbConfig;

#[derive(Debug, clap::Args)]
pub struct IndicateursArgs {
    /// The day counted (YYYY-MM-DD, UTC); today by default.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// What to group by: national, region, departement, academie, organisme, formation, niveau or
    /// source.
    #[arg(long, default_value = "national", value_parser = dimension)]
    pub par: Dimension,
    /// Only these régions (code, e.g. 84); repeatable, as every filter.
    #[arg(long)]
    pub region: Vec<String>,
    /// Only these départements (code, e.g. 69).
    #[arg(long)]
    pub departement: Vec<String>,
    /// Only these académies (code).
    #[arg(long)]
    pub academie: Vec<String>,
    /// Only these organismes formateurs.
    #[arg(long, value_name = "UAI:SIRET")]
    pub organisme: Vec<OrganismeRef>,
    /// Only these formations (CFD, or RNCP code for a formation without CFD).
    #[arg(long)]
    pub formation: Vec<String>,
    /// Only these niveaux (3 to 7; 0 for unknown).
    #[arg(long, value_parser = clap::value_parser!(i16).range(0..=8))]
    pub niveau: Vec<i16>,
    /// Only these age bands at the date: -18, 18-20, 21-25, 26+.
    #[arg(long, allow_hyphen_values = true, value_parser = tranche)]
    pub tranche: Vec<Tranche>,
    /// Only these années de formation (0 to 5, as sent; -1 for the dossiers whose ERP sent none).
    #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(i16).range(-1..=5))]
    pub annee_formation: Vec<i16>,
    /// Only these sources: ERP, FICHIER, DECA.
    #[arg(long, value_parser = source)]
    pub source: Vec<Source>,
    /// Count in this schema's read model (a `tba replay`) instead of the live one.
    #[arg(long, conflicts_with = "connu_au")]
    pub schema: Option<String>,
    /// Count as the log knew it at this instant (RFC 3339): only the events recorded by then.
    #[arg(long, value_name = "TIME")]
    pub connu_au: Option<chrono::DateTime<chrono::Utc>>,
    /// Take an instantané of the history for "as known at" at this position (default: the projected
    /// position), and count nothing.
    #[arg(long, value_name = "POSITION", num_args = 0..=1, default_missing_value = "-1")]
    pub instantane: Option<i64>,
}

fn dimension(value: &str) -> Result<Dimension, String> {
    Dimension::ALL.into_iter().find(|d| d.as_str() == value).ok_or_else(|| {
        let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.as_str()).collect();
        format!("{value:?} is not a grouping: {}", names.join(", "))
    })
}

fn source(value: &str) -> Result<Source, String> {
    Source::parse(&value.to_uppercase())
        .ok_or_else(|| format!("{value:?} is not a source: ERP, FICHIER or DECA"))
}

fn tranche(value: &str) -> Result<Tranche, String> {
    Tranche::ALL
        .into_iter()
        .find(|t| t.as_str() == value)
        .ok_or_else(|| format!("{value:?} is not an age band: -18, 18-20, 21-25 or 26+"))
}

pub async fn run(db: &DbConfig, args: IndicateursArgs) -> anyhow::Result<ExitCode> {
    let pool = crate::db::pool(db, 1).await?;
    crate::db::migrate(&pool).await?;
    if let Some(position) = args.instantane {
        let position = if position < 0 { i64::MAX } else { position };
        let taken = projections::indicateurs::connu::prendre(&pool, position).await?;
        println!("instantané of the indicators' history at position {taken}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut conn = pool.acquire().await?.detach();
    if let Some(schema) = &args.schema {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'rm_dossiers')",
        )
        .bind(schema)
        .fetch_one(&mut conn)
        .await?;
        if !exists {
            bail!("--schema {schema:?} holds no read model (see `tba replay`)");
        }
        sqlx::query("SELECT set_config('search_path', quote_ident($1) || ', public', false)")
            .bind(schema)
            .execute(&mut conn)
            .await?;
    }
    let date = args.date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let dimension = args.par;
    let filtre = Filtre {
        regions: args.region,
        departements: args.departement,
        academies: args.academie,
        organismes: args.organisme.iter().map(ToString::to_string).collect(),
        formations: args.formation,
        niveaux: args.niveau,
        tranches: args.tranche,
        annees_formation: args.annee_formation,
        sources: args.source,
    };
    let groupes = match args.connu_au {
        Some(instant) => {
            let (position, groupes) =
                projections::indicateurs::connu::indicateurs(&pool, instant, date, dimension, &filtre)
                    .await?;
            eprintln!("as known at {instant} (log position {position})");
            groupes
        }
        None => indicateurs::indicateurs(&mut conn, date, dimension, &filtre).await?,
    };
    conn.close().await?;
    println!(
        "{:<24} {:<32} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "cle", "libelle", "apprentis", "inscrits", "rupturants", "abandons", "apprenants"
    );
    for g in groupes {
        let libelle: String = g.libelle.unwrap_or_default().chars().take(32).collect();
        println!(
            "{:<24} {:<32} {:>10} {:>10} {:>10} {:>10} {:>10}",
            g.cle, libelle, g.apprentis, g.inscrits, g.rupturants, g.abandons, g.apprenants
        );
    }
    Ok(ExitCode::SUCCESS)
}
