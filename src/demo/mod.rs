//! Synthetic data for newcomers, demos and benchmarks: `generate` makes a realistic data set, `load`
//! pushes it through the ERP API like real ERPs would. On disk a data set is a directory with
//! `organismes.csv` (the referential), `missions_locales.csv` (one synthetic Mission Locale per
//! département, covering its communes), `formations.csv` (the formations referential with ROME codes), `deca.csv` (a DECA extract of
//! organismes that never push) and `dossiers.jsonl` (one v3 item per line), and `voeux_affelnet.csv` / `voeux_parcoursup.csv` (the vœux of the
//! current rentrée, in the format of `tba voeux import`).

mod deca;
pub mod generate;
pub mod load;
mod names;
pub mod organisme;
pub mod voeux;

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

pub use generate::{Demo, generate};

pub const ORGANISMES_FILE: &str = "organismes.csv";
pub const DOSSIERS_FILE: &str = "dossiers.jsonl";
pub const MISSIONS_LOCALES_FILE: &str = "missions_locales.csv";
pub const FORMATIONS_FILE: &str = "formations.csv";
pub const DECA_FILE: &str = "deca.csv";

/// Write a data set to `dir` (created if needed).
pub fn write(demo: &Demo, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(ORGANISMES_FILE), demo.organismes_csv())?;
    std::fs::write(dir.join(MISSIONS_LOCALES_FILE), generate::missions_locales_csv())?;
    std::fs::write(dir.join(FORMATIONS_FILE), generate::formations_csv())?;
    std::fs::write(dir.join(DECA_FILE), demo.deca_csv())?;
    for (source, csv) in &demo.voeux {
        std::fs::write(dir.join(voeux::file_name(*source)), csv)?;
    }
    let file = std::fs::File::create(dir.join(DOSSIERS_FILE))?;
    let mut out = BufWriter::new(file);
    for (_, item) in &demo.dossiers {
        serde_json::to_writer(&mut out, item)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Read a data set written by `write`: the referential's text and the items.
pub fn read(dir: &Path) -> anyhow::Result<(String, Vec<Value>)> {
    let organismes = dir.join(ORGANISMES_FILE);
    let organismes = std::fs::read_to_string(&organismes)
        .with_context(|| format!("cannot read {} (run `tba demo generate` first)", organismes.display()))?;
    let path = dir.join(DOSSIERS_FILE);
    let file = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut items = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        items.push(
            serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a JSON item", path.display(), n + 1))?,
        );
    }
    Ok((organismes, items))
}
