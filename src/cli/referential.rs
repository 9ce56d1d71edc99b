//! What the referential imports of the CLI share (`organismes`, `missions-locales`, `reseaux`): how a
//! refused file is reported, and who the log records as the author of an operator's import.

use std::path::Path;
use std::process::ExitCode;

use events::{Actor, Metadata};

use crate::ingestion::referential::RowError;

/// Refused values printed at most; the count says how many more there are.
const SHOWN_ERRORS: usize = 100;

/// Print the refused values of `file` on stderr (nothing was imported) and fail.
pub fn refused(file: &Path, errors: &[RowError]) -> ExitCode {
    for error in errors.iter().take(SHOWN_ERRORS) {
        eprintln!("{}: {error}", file.display());
    }
    if errors.len() > SHOWN_ERRORS {
        eprintln!("... and {} more", errors.len() - SHOWN_ERRORS);
    }
    eprintln!("nothing imported: {} refused value(s)", errors.len());
    ExitCode::FAILURE
}

/// The metadata of events an operator imports from a terminal.
pub fn operator() -> Metadata {
    Metadata {
        actor: Actor { organisation: "operator".into(), principal: "cli".into() },
        channel: events::Channel::Cli.into(),
        ..Metadata::default()
    }
}
