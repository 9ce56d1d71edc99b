//! The columns of a vœux file, per source, and one row read into a vœu or refused with every value
//! it refuses named by its line and column.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use events::domain::territoire::academie_nom;
use events::domain::{Cfd, CodeInsee, CodePostal, Email, Ine, Rncp, Telephone, Uai};
use events::limits::Texte;
use events::voeu::{self, Candidat, FormationVisee, Source, VoeuFormule};

use crate::ingestion::referential::RowError;

use super::VoeuxImportError;

/// The columns of a source's file: those the header must have, and those it may have besides
/// `OPTIONAL`.
pub struct Columns {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

/// The columns every source's file may have: contacts, residence, the formation's codes and name, the
/// organisme responsable.
pub const OPTIONAL: &[&str] = &[
    "email",
    "telephone",
    "email_responsable",
    "telephone_responsable",
    "adresse",
    "code_postal",
    "code_commune_insee",
    "cfd",
    "rncp",
    "libelle_formation",
    "uai_responsable",
];

/// What each source's file holds (README, "Vœux").
pub fn columns(source: Source) -> Columns {
    match source {
        Source::Affelnet => Columns {
            required: &[
                "academie",
                "ine",
                "nom",
                "prenom1",
                "cle_formation",
                "uai_formateur",
                "rang",
                "rentree",
            ],
            optional: &["prenom2", "prenom3", "date_naissance"],
        },
        Source::Parcoursup => Columns {
            required: &[
                "academie",
                "ine",
                "nom",
                "prenoms",
                "date_naissance",
                "code_formation",
                "uai_formateur",
                "rentree",
            ],
            optional: &["rang"],
        },
    }
}

/// A file's header: where each known column is.
pub(super) struct Header {
    position: HashMap<&'static str, usize>,
}

impl Header {
    /// `names`: the header's column names, trimmed and in lower case.
    pub(super) fn read(source: Source, names: &[String]) -> Result<Header, VoeuxImportError> {
        let cols = columns(source);
        let missing: Vec<RowError> = cols
            .required
            .iter()
            .filter(|c| !names.iter().any(|n| n == *c))
            .map(|c| {
                RowError::new(
                    1,
                    c,
                    format!("colonne manquante pour {source} (attendues : {})", cols.required.join(";")),
                )
            })
            .collect();
        if !missing.is_empty() {
            let count = missing.len();
            return Err(VoeuxImportError::Invalid(missing, count));
        }
        let position = cols
            .required
            .iter()
            .chain(cols.optional)
            .chain(OPTIONAL)
            .filter_map(|c| names.iter().position(|n| n == c).map(|i| (*c, i)))
            .collect();
        Ok(Header { position })
    }

    pub(super) fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.position.get(column).and_then(|&i| record.get(i)).map_or("", str::trim)
    }
}

/// A birth date as files write them: `YYYY-MM-DD` or `DD/MM/YYYY`.
pub(super) fn date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map_err(|_| format!("{raw:?} n'est pas une date (AAAA-MM-JJ ou JJ/MM/AAAA)"))
}

/// A row read: the vœu, and its candidate's id.
pub(super) type Lu = (VoeuFormule, String);

/// One row's cells by column name, and the values it refuses so far.
struct Cells<'a> {
    header: &'a Header,
    record: &'a csv::StringRecord,
    line: u64,
    errors: RefCell<Vec<RowError>>,
}

impl<'a> Cells<'a> {
    fn get(&self, column: &str) -> &'a str {
        self.header.get(self.record, column)
    }

    fn refuse(&self, column: &str, message: impl Into<String>) {
        self.errors.borrow_mut().push(RowError::new(self.line, column, message.into()));
    }

    /// The column's value read by `parse`; none when empty, or refused.
    fn optional<T, E: std::fmt::Display>(
        &self,
        column: &str,
        parse: impl FnOnce(&'a str) -> Result<T, E>,
    ) -> Option<T> {
        let raw = self.get(column);
        if raw.is_empty() {
            return None;
        }
        parse(raw).map_err(|e| self.refuse(column, e.to_string())).ok()
    }

    /// A column that must not be empty.
    fn required(&self, column: &str) -> &'a str {
        let raw = self.get(column);
        if raw.is_empty() {
            self.refuse(column, "ne doit pas être vide");
        }
        raw
    }
}

/// Read one row into a vœu, or say every value it refuses.
pub(super) fn parse_row(
    source: Source,
    header: &Header,
    record: &csv::StringRecord,
    line: u64,
) -> Result<Lu, Vec<RowError>> {
    let cells = Cells { header, record, line, errors: RefCell::new(Vec::new()) };
    let academie = academie(&cells);
    let rentree = rentree(&cells);
    let candidat = candidat(&cells, source, rentree);
    let key_column = if source == Source::Affelnet { "cle_formation" } else { "code_formation" };
    let formation = formation(&cells, key_column);
    check_free_text(&cells, key_column);
    let uai_formateur =
        Uai::parse(cells.get("uai_formateur")).map_err(|e| cells.refuse("uai_formateur", e.to_string())).ok();
    let uai_responsable = cells.optional("uai_responsable", Uai::parse);
    let rang = rang(&cells, source);
    let id = candidat.id();
    if id.is_none() && cells.get("ine").is_empty() && cells.get("date_naissance").is_empty() {
        cells.refuse("ine", "l'INE ou la date de naissance est nécessaire pour distinguer le candidat");
    }
    let errors = cells.errors.into_inner();
    match (errors.is_empty(), id, formation, uai_formateur) {
        (true, Some(id), Some(formation), Some(uai_formateur)) => Ok((
            VoeuFormule {
                voeu: voeu::voeu_id(source, rentree, &id, &formation.cle, &uai_formateur),
                source,
                rentree,
                academie,
                rang,
                formation,
                uai_formateur,
                uai_responsable,
                candidat,
            },
            id,
        )),
        _ => Err(errors),
    }
}

/// The académie's code (a single digit is taken as `0` and that digit).
fn academie(cells: &Cells<'_>) -> String {
    let raw = cells.get("academie");
    let code = if raw.len() == 1 { format!("0{raw}") } else { raw.to_owned() };
    if academie_nom(&code).is_none() {
        cells.refuse("academie", format!("{raw:?} n'est pas un code d'académie connu"));
    }
    code
}

/// The year of the rentrée (0 when refused).
fn rentree(cells: &Cells<'_>) -> i32 {
    match cells.get("rentree").parse::<i32>() {
        Ok(year) if (2000..=2100).contains(&year) => year,
        _ => {
            let raw = cells.get("rentree");
            cells.refuse("rentree", format!("{raw:?} n'est pas une année de rentrée (ex. 2026)"));
            0
        }
    }
}

/// The candidate: identity and contacts. Affelnet writes up to three first names in their own columns,
/// Parcoursup one column; Parcoursup always gives the birth date.
fn candidat(cells: &Cells<'_>, source: Source, rentree: i32) -> Candidat {
    let nom = cells.required("nom").to_owned();
    let prenoms = match source {
        Source::Affelnet => {
            cells.required("prenom1");
            ["prenom1", "prenom2", "prenom3"]
                .iter()
                .map(|c| cells.get(c))
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        }
        Source::Parcoursup => cells.required("prenoms").to_owned(),
    };
    if source == Source::Parcoursup {
        cells.required("date_naissance");
    }
    let date_de_naissance = cells.optional("date_naissance", date);
    if let Some(d) = date_de_naissance
        && rentree > 0
        && !(rentree - 40..=rentree - 10).contains(&d.year())
    {
        cells.refuse(
            "date_naissance",
            format!("{d} : le candidat aurait moins de 10 ou plus de 40 ans à la rentrée"),
        );
    }
    Candidat {
        nom,
        prenoms,
        date_de_naissance,
        ine: cells.optional("ine", Ine::parse),
        email: cells.optional("email", Email::parse),
        telephone: cells.optional("telephone", Telephone::parse),
        email_responsable: cells.optional("email_responsable", Email::parse),
        telephone_responsable: cells.optional("telephone_responsable", Telephone::parse),
        adresse: Some(cells.get("adresse").to_owned()).filter(|a| !a.is_empty()),
        code_postal: cells.optional("code_postal", CodePostal::parse),
        code_commune_insee: cells.optional("code_commune_insee", CodeInsee::parse),
        efface: false,
    }
}

/// The formation aimed at: its key in the source (`key_column`), else its CFD, else its RNCP code.
fn formation(cells: &Cells<'_>, key_column: &str) -> Option<FormationVisee> {
    let cfd = cells.optional("cfd", Cfd::parse);
    let rncp = cells.optional("rncp", Rncp::parse);
    let libelle = Some(cells.get("libelle_formation").to_owned()).filter(|l| !l.is_empty());
    let cle = Some(cells.get(key_column).to_owned())
        .filter(|c| !c.is_empty())
        .or_else(|| cfd.as_ref().map(ToString::to_string))
        .or_else(|| rncp.as_ref().map(ToString::to_string));
    if cle.is_none() && cells.get("cfd").is_empty() && cells.get("rncp").is_empty() {
        cells.refuse(key_column, "la formation doit être désignée (clé, CFD ou code RNCP)");
    }
    cle.map(|cle| FormationVisee { cle, cfd, rncp, libelle })
}

/// The free-text columns, within their families' limits.
fn check_free_text(cells: &Cells<'_>, key_column: &str) {
    let free_text = [
        ("nom", Texte::Nom),
        ("prenom1", Texte::Nom),
        ("prenom2", Texte::Nom),
        ("prenom3", Texte::Nom),
        ("prenoms", Texte::Nom),
        ("adresse", Texte::Adresse),
        ("libelle_formation", Texte::Libelle),
        (key_column, Texte::Identifiant),
    ];
    for (column, famille) in free_text {
        if let Err(invalid) = famille.check(cells.get(column)) {
            cells.refuse(column, invalid.to_string());
        }
    }
}

/// The vœu's rank, 1 to 99 (Parcoursup's vœux are not ranked).
fn rang(cells: &Cells<'_>, source: Source) -> Option<i32> {
    match (source, cells.get("rang")) {
        (Source::Parcoursup, "") => None,
        (_, raw) => match raw.parse::<i32>() {
            Ok(rang) if (1..=99).contains(&rang) => Some(rang),
            _ => {
                cells.refuse("rang", format!("{raw:?} n'est pas un rang de 1 à 99"));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFFELNET: &str = "academie;ine;nom;prenom1;prenom2;date_naissance;email;telephone;cle_formation;cfd;\
                            uai_formateur;rang;rentree";

    fn parse(source: Source, text: &str) -> Vec<Result<VoeuFormule, Vec<RowError>>> {
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.as_bytes());
        let names: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
        let header = match Header::read(source, &names) {
            Ok(header) => header,
            Err(VoeuxImportError::Invalid(errors, _)) => return vec![Err(errors)],
            Err(e) => panic!("{e}"),
        };
        reader
            .records()
            .enumerate()
            .map(|(i, r)| parse_row(source, &header, &r.expect("record"), i as u64 + 2).map(|(v, _)| v))
            .collect()
    }

    #[test]
    fn an_affelnet_row_reads_into_a_voeu_of_its_candidate() {
        let rows = parse(
            Source::Affelnet,
            &format!(
                "{AFFELNET}\n10;;Le Goff;Léa;Marie;14/03/2011;lea@example.org;06 12 34 56 78;AFF-1;50025004;\
                 0693045k;1;2026\n"
            ),
        );
        let v = rows[0].as_ref().expect("valid");
        assert_eq!(v.candidat.prenoms, "Léa, Marie");
        assert_eq!(v.candidat.date_de_naissance, NaiveDate::from_ymd_opt(2011, 3, 14));
        assert_eq!(v.uai_formateur.as_str(), "0693045K");
        assert_eq!(v.formation.cle, "AFF-1");
        assert_eq!((v.rang, v.rentree, v.academie.as_str()), (Some(1), 2026, "10"));
        assert_eq!(v.candidat.id(), v.candidat.personne().map(|p| p.identite));
    }

    #[test]
    fn every_refused_value_is_named_by_its_line_and_column() {
        let rows = parse(
            Source::Affelnet,
            &format!(
                "{AFFELNET}\n99;;;Léa;;31/02/2011;pas-un-mail;;;;0693045;0;26\n10;;Martin;Léo;;;;;AFF-1;;0693045K;1;2026\n"
            ),
        );
        let fields: Vec<&str> =
            rows[0].as_ref().expect_err("refused").iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "academie",
                "rentree",
                "nom",
                "date_naissance",
                "email",
                "cle_formation",
                "uai_formateur",
                "rang"
            ]
        );
        let unknown = rows[1].as_ref().expect_err("no INE nor birth date");
        assert_eq!((unknown[0].line, unknown[0].field.as_str()), (3, "ine"));
        let missing = parse(Source::Parcoursup, "academie;nom\n10;Martin\n");
        let columns: Vec<&str> =
            missing[0].as_ref().expect_err("header").iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            columns,
            ["ine", "prenoms", "date_naissance", "code_formation", "uai_formateur", "rentree"]
        );
    }
}
