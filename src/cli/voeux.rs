//! `tba voeux import --source affelnet|parcoursup FILE`: load a file of Affelnet or Parcoursup vœux.

use std::process::ExitCode;

use clap::Subcommand;
use events::voeu::Source;

use super::referential::{operator, refused};
use crate::config::DbConfig;
use crate::ingestion::voeux::{Phase, Report, VoeuxImportError, import};
use crate::progress::Progress;

#[derive(Debug, Subcommand)]
pub enum VoeuxCommand {
    /// Import a CSV of vœux (`;`, UTF-8 or Windows-1252; columns in the README). Nothing is written unless
    /// every row is valid; unchanged vœux write nothing; the vœux of the file's académies and rentrées
    /// that it no longer holds are withdrawn.
    Import {
        /// affelnet or parcoursup.
        #[arg(long, value_parser = parse_source)]
        source: Source,
        file: std::path::PathBuf,
    },
}

fn parse_source(text: &str) -> Result<Source, String> {
    Source::parse(text).ok_or_else(|| format!("{text:?}: affelnet or parcoursup"))
}

pub async fn run(db: &DbConfig, command: VoeuxCommand) -> anyhow::Result<ExitCode> {
    let VoeuxCommand::Import { source, file } = command;
    let pool = crate::db::pool(db, 3).await?;
    crate::db::migrate(&pool).await?;
    let lines = count_lines(&file)?;
    let checking = std::sync::Arc::new(Progress::new("checking", "rows", lines));
    let writing = std::sync::Arc::new(Progress::new("importing", "rows", lines));
    let (c, w) = (checking.clone(), writing.clone());
    let name = file.display().to_string();
    let vault = db.vault()?;
    let result =
        import(&pool, Some(&vault), source, &file, &name, operator(), move |phase, done| match phase {
            Phase::Verification => c.set_position(done),
            Phase::Ecriture => {
                c.finish();
                w.set_position(done)
            }
        })
        .await;
    checking.finish();
    writing.finish();
    match result {
        Ok(report) => {
            print_report(&report);
            Ok(ExitCode::SUCCESS)
        }
        Err(VoeuxImportError::Invalid(errors, count)) => {
            let code = refused(&file, &errors);
            if count > errors.len() {
                eprintln!("({count} refused values in all)");
            }
            Ok(code)
        }
        Err(error) => Err(error.into()),
    }
}

fn print_report(r: &Report) {
    let rentrees: std::collections::BTreeSet<i32> = r.campagnes.iter().map(|c| c.rentree).collect();
    let rentrees: Vec<String> = rentrees.iter().map(ToString::to_string).collect();
    println!(
        "{} rows read ({} académie(s), rentrée {}): {} vœux formulated, {} changed, {} unchanged, {} withdrawn \
         (import {})",
        r.lignes,
        r.campagnes.len(),
        rentrees.join(", "),
        r.formules,
        r.modifies,
        r.inchanges,
        r.retires,
        r.import_id
    );
}

/// Rows in the file (lines but the header), for the progress bars.
fn count_lines(file: &std::path::Path) -> anyhow::Result<u64> {
    use std::io::BufRead;
    let input =
        std::fs::File::open(file).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    let lines = std::io::BufReader::new(input).split(b'\n').count() as u64;
    Ok(lines.saturating_sub(1))
}
