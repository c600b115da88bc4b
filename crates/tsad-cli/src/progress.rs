//! A training progress bar on stderr, shown only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use tsad_core::{FitContext, Progress};

/// Wraps an indicatif bar fed by the fit's progress callback; silent when piped.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar when `wanted` and stderr is a terminal; otherwise nothing is drawn.
    pub(crate) fn new(wanted: bool) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(1000);
            // The template is a constant checked by the first run of any neural detection.
            let style = ProgressStyle::with_template(
                "{spinner} {prefix:>10} [{bar:30}] {percent:>3}% {msg} (eta {eta})",
            )
            .expect("valid progress template")
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Bar { bar }
    }

    /// A fit context that reports to this bar.
    pub(crate) fn context(&self) -> FitContext {
        match &self.bar {
            None => FitContext::new(),
            Some(bar) => {
                let bar = bar.clone();
                FitContext::new().with_progress(Arc::new(move |p: &Progress| {
                    bar.set_position((p.fraction.clamp(0.0, 1.0) * 1000.0) as u64);
                    bar.set_prefix(p.stage.clone());
                    let mut msg = format!("epoch {}/{}", p.epoch, p.epochs);
                    if let Some(l) = p.train_loss {
                        msg.push_str(&format!(" loss {l:.4}"));
                    }
                    if let Some(l) = p.val_loss {
                        msg.push_str(&format!(" val {l:.4}"));
                    }
                    bar.set_message(msg);
                }))
            }
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
