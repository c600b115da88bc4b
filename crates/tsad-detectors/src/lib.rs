#![doc = include_str!("../README.md")]

mod change;
mod common;
mod rolling;

pub mod benford;
pub mod ensemble;
pub mod level;
pub mod mad;
pub mod novelty;
pub mod seasonal;
pub mod spread;
pub mod zscore;

pub use benford::{BenfordDetector, BenfordModel, BenfordParams};
pub use ensemble::{EnsembleDetector, EnsembleMember, EnsembleModel, EnsembleParams, Policy};
pub use level::{LevelDetector, LevelModel, LevelParams};
pub use mad::{MadDetector, MadModel, MadParams};
pub use novelty::{NoveltyDetector, NoveltyModel, NoveltyParams};
pub use seasonal::{SeasonalDetector, SeasonalModel, SeasonalParams};
pub use spread::{SpreadDetector, SpreadModel, SpreadParams};
pub use zscore::{ZscoreDetector, ZscoreModel, ZscoreParams};

/// The detector kinds this crate provides, as written in specs.
pub fn kinds() -> &'static [&'static str] {
    &[
        "zscore", "mad", "seasonal", "level", "spread", "benford", "novelty", "ensemble",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsad_core::Detector;

    #[test]
    fn kinds_match_the_detectors() {
        let detectors: Vec<Box<dyn Detector>> = vec![
            Box::new(ZscoreDetector::new(ZscoreParams::default()).unwrap()),
            Box::new(MadDetector::new(MadParams::default()).unwrap()),
            Box::new(SeasonalDetector::new(SeasonalParams::default()).unwrap()),
            Box::new(LevelDetector::new(LevelParams::default()).unwrap()),
            Box::new(SpreadDetector::new(SpreadParams::default()).unwrap()),
            Box::new(BenfordDetector::new(BenfordParams::default()).unwrap()),
            Box::new(NoveltyDetector::new(NoveltyParams::default()).unwrap()),
            Box::new(
                EnsembleDetector::new(
                    vec![EnsembleMember::new(
                        "mad",
                        Box::new(MadDetector::new(MadParams::default()).unwrap()),
                    )],
                    EnsembleParams::default(),
                )
                .unwrap(),
            ),
        ];
        let got: Vec<&str> = detectors.iter().map(|d| d.kind()).collect();
        assert_eq!(got, kinds());
    }

    #[test]
    fn params_have_json_schemas_with_docs() {
        let schema = schemars::schema_for!(BenfordParams);
        let text = serde_json::to_string(&schema).unwrap();
        assert!(
            text.contains("min_count") && text.contains("default 50"),
            "{text}"
        );
        for schema in [
            schemars::schema_for!(ZscoreParams),
            schemars::schema_for!(MadParams),
            schemars::schema_for!(SeasonalParams),
            schemars::schema_for!(LevelParams),
            schemars::schema_for!(SpreadParams),
            schemars::schema_for!(EnsembleParams),
            schemars::schema_for!(NoveltyParams),
        ] {
            assert!(serde_json::to_string(&schema).unwrap().contains("default"));
        }
    }
}
