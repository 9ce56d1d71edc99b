//! Maps of France by département and by région, coloured on the server (domain.md §14): the vendored
//! outlines (`static/cartes/`, @svg-maps, CC BY 4.0) are read once, and each page gets an SVG of its
//! own where every territory is a link (to filter by it) filled by its share of the largest figure,
//! with its name and figure as its title. The page also gives the figures as a table.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

const DEPARTEMENTS: &str = include_str!("static/cartes/france.departments.svg");
const REGIONS: &str = include_str!("static/cartes/france.regions.svg");

/// The INSEE code of each région of the outlines, by their own id.
const CODES_REGIONS: [(&str, &str); 13] = [
    ("ara", "84"),
    ("bfc", "27"),
    ("bre", "53"),
    ("cvl", "24"),
    ("cor", "94"),
    ("ges", "44"),
    ("hdf", "32"),
    ("idf", "11"),
    ("nor", "28"),
    ("naq", "75"),
    ("occ", "76"),
    ("pdl", "52"),
    ("pac", "93"),
];

/// Shades from the lightest (least) to the darkest (most), the DSFR's blue.
const TEINTES: [&str; 5] = ["#e3e3fd", "#cacafb", "#8585f6", "#5252d1", "#000091"];

/// Which map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maille {
    Departement,
    Region,
}

/// A territory's outline: its code, its name, its path.
struct Contour {
    code: String,
    nom: String,
    d: String,
}

struct Fond {
    view_box: String,
    contours: Vec<Contour>,
}

/// A path with its numbers to a tenth of a unit (a tenth of a pixel at most on any page): the same
/// drawing, in about half the bytes.
fn arrondir(d: &str) -> String {
    let mut out = String::with_capacity(d.len() / 2);
    let mut nombre = String::new();
    let vider = |nombre: &mut String, out: &mut String| {
        if nombre.is_empty() {
            return;
        }
        match nombre.parse::<f64>() {
            Ok(n) => {
                let arrondi = (n * 10.0).round() / 10.0;
                let _ = write!(out, "{}", if arrondi == 0.0 { 0.0 } else { arrondi });
            }
            Err(_) => out.push_str(nombre),
        }
        nombre.clear();
    };
    for c in d.chars() {
        if c.is_ascii_digit() || c == '.' || (c == '-' && nombre.is_empty()) || c == 'e' {
            nombre.push(c);
        } else {
            vider(&mut nombre, &mut out);
            out.push(c);
        }
    }
    vider(&mut nombre, &mut out);
    out
}

/// The value of the attribute `name="…"` in `tag` (`d` is not the end of `id`).
fn attribut(tag: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=\"");
    let (at, _) = tag
        .match_indices(&pattern)
        .find(|(at, _)| tag[..*at].chars().next_back().is_none_or(char::is_whitespace))?;
    let start = at + pattern.len();
    Some(tag[start..].split('"').next()?.to_owned())
}

fn lire(svg: &str, code: impl Fn(&str) -> Option<String>) -> Fond {
    let view_box = attribut(svg, "viewBox").unwrap_or_else(|| "0 0 600 600".into());
    let contours = svg
        .split("<path")
        .skip(1)
        .filter_map(|tag| {
            let tag = tag.split("/>").next()?;
            Some(Contour {
                code: code(&attribut(tag, "id")?)?,
                nom: attribut(tag, "aria-label")?,
                d: arrondir(&attribut(tag, "d")?),
            })
        })
        .collect();
    Fond { view_box, contours }
}

fn fond(maille: Maille) -> &'static Fond {
    static FONDS: OnceLock<(Fond, Fond)> = OnceLock::new();
    let (departements, regions) = FONDS.get_or_init(|| {
        let departements = lire(DEPARTEMENTS, |id| Some(id.to_owned()));
        let regions = lire(REGIONS, |id| {
            CODES_REGIONS.iter().find(|(own, _)| *own == id).map(|(_, code)| (*code).to_owned())
        });
        (departements, regions)
    });
    match maille {
        Maille::Departement => departements,
        Maille::Region => regions,
    }
}

/// The codes the map draws (metropolitan France; overseas territories are in the table only).
#[cfg(test)]
fn codes(maille: Maille) -> Vec<&'static str> {
    fond(maille).contours.iter().map(|c| c.code.as_str()).collect()
}

/// The shade of `value` among values up to `max`.
fn teinte(value: i64, max: i64) -> &'static str {
    if value <= 0 || max <= 0 {
        return "#dddddd";
    }
    let rank = ((value as f64 / max as f64) * TEINTES.len() as f64).ceil() as usize;
    TEINTES[rank.clamp(1, TEINTES.len()) - 1]
}

fn echappe(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The map with each territory filled by its figure (`figures` by code; none is 0), each a link to
/// `lien` followed by its code; `libelle` names the figure.
pub fn svg(maille: Maille, figures: &HashMap<String, i64>, libelle: &str, lien: &str) -> String {
    let fond = fond(maille);
    let max = figures.values().copied().max().unwrap_or(0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{}\" class=\"carte\" role=\"group\" aria-labelledby=\"carte-titre\">\
         <title id=\"carte-titre\">{} par {}</title>",
        fond.view_box,
        echappe(libelle),
        if maille == Maille::Departement { "département" } else { "région" },
    );
    for c in &fond.contours {
        let value = figures.get(&c.code).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<a href=\"{lien}{code}\"><path d=\"{d}\" fill=\"{fill}\" stroke=\"#fff\" stroke-width=\"0.6\" data-code=\"{code}\" data-valeur=\"{value}\"><title>{nom} : {value}</title></path></a>",
            lien = echappe(lien),
            code = echappe(&c.code),
            d = c.d,
            fill = teinte(value, max),
            nom = echappe(&c.nom),
        );
    }
    out.push_str("</svg>");
    out
}

/// The legend's shades with the figures they start at.
pub fn legende(figures: &HashMap<String, i64>) -> Vec<(&'static str, i64)> {
    let max = figures.values().copied().max().unwrap_or(0);
    TEINTES
        .iter()
        .enumerate()
        .map(|(i, teinte)| (*teinte, (max as f64 * i as f64 / TEINTES.len() as f64).floor() as i64 + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_keeps_its_commands_with_its_numbers_to_a_tenth() {
        assert_eq!(arrondir("m 413.70408,308.36159 -0.04,1.07 0,0 z"), "m 413.7,308.4 0,1.1 0,0 z");
        assert_eq!(arrondir("M10 20L-3.26-1.47"), "M10 20L-3.3-1.5");
    }

    #[test]
    fn every_departement_and_region_of_the_outlines_is_drawn_with_its_code() {
        let departements = codes(Maille::Departement);
        assert_eq!(departements.len(), 96);
        assert!(departements.contains(&"2A") && departements.contains(&"69"));
        assert_eq!(codes(Maille::Region).len(), 13);
        let figures: HashMap<String, i64> = [("69".to_owned(), 10), ("75".to_owned(), 5)].into();
        let map = svg(Maille::Departement, &figures, "Apprentis", "/console/indicateurs?departement=");
        assert!(map.contains("data-code=\"69\" data-valeur=\"10\""));
        assert!(map.contains("fill=\"#000091\""), "the largest figure in the darkest shade");
        assert!(map.contains("<title>Rhône : 10</title>"));
        assert!(map.contains("href=\"/console/indicateurs?departement=2A\""));
        assert!(map.contains("<path d=\"m 413.7,308.4 6.7,-20.5"), "the outline of Ain, not its id");
    }
}
