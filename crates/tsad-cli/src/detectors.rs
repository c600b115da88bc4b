//! `tsad detectors`: the catalog of kinds, parameters, presets and thresholds.

use crate::Outcome;
use crate::args::{DetectorsArgs, Format};
use anyhow::Result;
use serde_json::Value;
use std::io::Write;

pub(crate) fn run(a: DetectorsArgs) -> Result<Outcome> {
    let catalog = tsad_engine::catalog();
    let mut out = std::io::stdout().lock();
    if let Format::Json = a.format {
        serde_json::to_writer_pretty(&mut out, &catalog)?;
        writeln!(out)?;
        return Ok(Outcome::Clean);
    }
    writeln!(out, "DETECTORS")?;
    for d in &catalog.detectors {
        writeln!(out, "\n  {}  ({})", d.kind, d.title)?;
        writeln!(out, "    {}", d.summary)?;
        writeln!(out, "    score: {}", d.score_scale)?;
        let props = d.params_schema["properties"].as_object();
        for (name, default) in d.defaults.as_object().into_iter().flatten() {
            let help = props
                .and_then(|p| p.get(name))
                .and_then(|p| p["description"].as_str())
                .map(first_paragraph)
                .unwrap_or_default();
            writeln!(out, "    --set {name}={}  {help}", short(default))?;
        }
    }
    writeln!(out, "\nPRESETS (--preset NAME)")?;
    for p in &catalog.presets {
        writeln!(out, "\n  {}  ({})", p.name, p.title)?;
        writeln!(out, "    {}", p.description)?;
    }
    writeln!(out, "\nTHRESHOLDS (--threshold METHOD)")?;
    for t in &catalog.thresholds {
        writeln!(out, "  {:<12} {}", t.method, t.description)?;
    }
    writeln!(
        out,
        "\nDefault: {} with {}",
        serde_json::to_string(&catalog.default_spec)?,
        serde_json::to_string(&catalog.default_threshold)?
    )?;
    Ok(Outcome::Clean)
}

/// A parameter's first paragraph on one line: whole sentences, never cut where the doc
/// comment happened to break its line.
fn first_paragraph(doc: &str) -> String {
    let paragraph = doc.split("\n\n").next().unwrap_or_default();
    paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "(auto)".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::first_paragraph;

    #[test]
    fn help_is_the_whole_first_paragraph_on_one_line() {
        let doc = "Number of earlier points (default 48, at\nleast 3). Longer windows adapt\nslowly.\n\nDetails.";
        assert_eq!(
            first_paragraph(doc),
            "Number of earlier points (default 48, at least 3). Longer windows adapt slowly."
        );
    }
}
