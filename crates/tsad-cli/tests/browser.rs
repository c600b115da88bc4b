//! The web UI driven in headless Chromium (chromedriver + fantoccini), as a person uses it: each
//! test starts `tsad serve` on a free loopback port with a fresh data directory. Without Chromium
//! the tests say they were skipped; with `CI=true` a missing browser fails them.

#[path = "browser/harness.rs"]
mod harness;

use harness::{Options, Page, Result, WAIT, run, run_with, tid};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// Long enough for a run on the demo (2,000 points) or a short LSTM training on a busy machine.
const RUN_WAIT: Duration = Duration::from_secs(90);

/// Counts the page shows for the open run: chart traces, markers, shading, table rows.
const RESULT_FACTS: &str = r#"(() => {
  const m = document.getElementById('chart-main'), s = document.getElementById('chart-score');
  const trace = (div, names) => (div.data || []).find((t) => names.includes(t.name));
  const len = (t, k) => (t && t[k] ? t[k].length : 0);
  return {
    actual: len(trace(m, ['actual']), 'y'),
    anomalies: len(trace(m, ['anomaly']), 'x'),
    shades: ((m.layout && m.layout.shapes) || []).filter((x) => x.type === 'rect').length,
    score: len(trace(s, ['score', 'combined score']), 'y'),
    threshold_lines: ((s.layout && s.layout.shapes) || []).filter((x) => x.type === 'line').length,
    rows: document.querySelectorAll('[data-testid=event-row]').length,
    count_text: document.getElementById('event-count').textContent,
    y_title: (m.layout && m.layout.yaxis && m.layout.yaxis.title && m.layout.yaxis.title.text) || null,
  };
})()"#;

/// The main chart's visible x range in series units (ms or index), from Plotly's own layout.
const X_RANGE: &str = r#"(() => {
  const fl = document.getElementById('chart-main')._fullLayout;
  if (!fl || !fl.xaxis || !fl.xaxis.range) return null;
  const ms = (v) => typeof v === 'number' ? v : Date.parse(String(v).trim().replace(' ', 'T') + 'Z');
  return fl.xaxis.range.map(ms);
})()"#;

fn facts_u64(facts: &Value, key: &str) -> u64 {
    facts[key].as_u64().unwrap_or(0)
}

/// Clicks "Load demo data" and waits until the demo is the open dataset.
async fn load_demo(page: &Page) -> Result {
    page.click("demo-button").await?;
    page.wait_until(
        "the demo dataset to open",
        WAIT,
        "document.getElementById('dataset-summary').textContent.includes('rows') \
         && !document.getElementById('run-button').disabled",
    )
    .await
}

/// Clicks "Detect anomalies" and waits for the run to succeed and its charts to hold data.
async fn run_and_wait(page: &Page) -> Result<String> {
    page.click("run-button").await?;
    wait_results(page).await
}

/// Waits for the open run's results; returns the run id (from the URL hash).
async fn wait_results(page: &Page) -> Result<String> {
    page.wait_until(
        "the run to succeed and its charts to hold data",
        RUN_WAIT,
        "document.body.dataset.runStatus === 'succeeded' && document.body.dataset.chartsReady === 'true' \
         || document.body.dataset.runStatus === 'failed'",
    )
    .await?;
    let status = page
        .js("return document.body.dataset.runStatus;", vec![])
        .await?;
    if status != "succeeded" {
        let error = page
            .js(
                "return document.getElementById('run-error').textContent;",
                vec![],
            )
            .await?;
        anyhow::bail!("the run failed: {error}");
    }
    let run = page
        .wait_for(
            "the run id in the URL",
            WAIT,
            "new URLSearchParams(location.hash.slice(1)).get('run')",
        )
        .await?;
    Ok(run.as_str().unwrap_or_default().to_owned())
}

/// Every number written in `text` ("1,234.5", "-0.25", "12%"), as f64.
fn numbers_in(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<f64>| {
        let t = cur.trim_end_matches(['.', ',']).replace(',', "");
        if let Ok(x) = t.parse::<f64>() {
            out.push(x);
        }
        cur.clear();
    };
    for c in text.chars() {
        let part_of_number = c.is_ascii_digit()
            || ((c == '.' || c == ',') && !cur.is_empty())
            || (c == '-' && cur.is_empty());
        if part_of_number {
            cur.push(c);
        } else {
            flush(&mut cur, &mut out);
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// True when `text` writes one of `values` (rounded as a person would: to 1% or 0.05).
fn mentions_any(text: &str, values: &[f64]) -> bool {
    let found = numbers_in(text);
    values
        .iter()
        .filter(|v| v.is_finite() && **v != 0.0)
        .any(|v| {
            found
                .iter()
                .any(|x| (x - v).abs() <= (0.01 * v.abs()).max(0.051))
        })
}

/// The value a grounded answer about an event must quote: the actual value at its peak.
fn event_actual(event: &Value) -> f64 {
    event["actual"].as_f64().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn page_loads_without_javascript_errors() {
    run("page_loads_without_javascript_errors", |page| async move {
        page.open("/").await?;
        anyhow::ensure!(
            page.find("demo-button").await?.is_displayed().await?,
            "no demo button"
        );
        page.wait_until(
            "the detector catalog and the empty history",
            WAIT,
            "!document.getElementById('detector-select').disabled \
             && document.getElementById('detector-select').options.length > 3 \
             && document.getElementById('dataset-list').textContent.includes('None yet') \
             && document.getElementById('run-list').textContent.includes('No runs yet')",
        )
        .await?;
        anyhow::ensure!(
            page.banner().await?.is_empty(),
            "error banner: {}",
            page.banner().await?
        );
        // The catalog's `backticked` words read as code, not as backticks.
        let summary = page
            .js(
                "const s = document.getElementById('detector-summary'); \
                 return {text: s.textContent, code: [...s.querySelectorAll('code')].map((c) => c.textContent)};",
                vec![],
            )
            .await?;
        anyhow::ensure!(
            summary["code"] == json!(["any"])
                && !summary["text"].as_str().unwrap_or("`").contains('`'),
            "detector summary: {summary}"
        );
        page.expect_no_js_errors().await?;

        page.client
            .goto(&format!("{}/how-it-works.html", page.base))
            .await?;
        page.wait_until(
            "the how-it-works page",
            WAIT,
            "document.readyState === 'complete'",
        )
        .await?;
        // Let its scripts run (they draw illustrations after load).
        tokio::time::sleep(Duration::from_millis(500)).await;
        page.expect_no_js_errors().await
    })
    .await;
}

/// The harness's own check: a UI that throws on load must be reported (served from a copy of
/// `web/` with a JavaScript error added), so `page_loads_without_javascript_errors` cannot pass
/// on a broken page.
#[tokio::test]
async fn a_javascript_error_on_load_is_caught() {
    let copy = tempfile::tempdir().expect("a temp dir");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tsad-server/web");
    copy_dir(&web, copy.path()).expect("copy web/");
    let main_js = copy.path().join("js/main.js");
    let original = std::fs::read_to_string(&main_js).expect("web/js/main.js");
    std::fs::write(
        &main_js,
        format!("window.tsadBrokenOnPurpose();\n{original}"),
    )
    .unwrap();

    let options = Options {
        web_dir: Some(copy.path().to_owned()),
        allow_js_errors: true,
        ..Options::default()
    };
    run_with(
        "a_javascript_error_on_load_is_caught",
        options,
        |page| async move {
            page.client.goto(&format!("{}/", page.base)).await?;
            page.wait_until(
                "the page to load",
                WAIT,
                "document.readyState === 'complete'",
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let errors = page.js_errors().await?;
            anyhow::ensure!(
                errors.iter().any(|e| e.contains("tsadBrokenOnPurpose")),
                "the broken main.js was not reported; errors: {errors:?}"
            );
            let ready = page
                .js("return document.body.dataset.ready || null;", vec![])
                .await?;
            anyhow::ensure!(
                ready.is_null(),
                "a page whose main.js threw says it is ready"
            );
            Ok(())
        },
    )
    .await;
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn demo_run_shows_charts_and_events_and_an_event_click_zooms() {
    run("demo_run_shows_charts_and_events_and_an_event_click_zooms", |page| async move {
        page.open("/").await?;
        load_demo(&page).await?;
        run_and_wait(&page).await?;

        let facts = page.js(&format!("return {RESULT_FACTS};"), vec![]).await?;
        let actual = facts_u64(&facts, "actual");
        anyhow::ensure!(actual >= 100, "main chart holds {actual} points: {facts}");
        anyhow::ensure!(facts_u64(&facts, "score") == actual, "score chart: {facts}");
        anyhow::ensure!(facts_u64(&facts, "anomalies") > 0, "no anomaly markers: {facts}");
        anyhow::ensure!(facts_u64(&facts, "shades") > 0, "no shaded events: {facts}");
        anyhow::ensure!(facts_u64(&facts, "threshold_lines") == 1, "threshold line: {facts}");
        let rows = facts_u64(&facts, "rows");
        anyhow::ensure!(rows > 0, "the events table is empty: {facts}");
        let count = facts["count_text"].as_str().unwrap_or("");
        anyhow::ensure!(
            count.ends_with(&format!("in {rows} event{}", if rows == 1 { "" } else { "s" })),
            "event count {count:?} vs {rows} table rows"
        );

        // Clicking an event zooms both charts onto it.
        let before = page.wait_for("the chart's x range", WAIT, X_RANGE).await?;
        let span = |r: &Value| r[1].as_f64().unwrap_or(0.0) - r[0].as_f64().unwrap_or(0.0);
        let row = page.find_all("event-row").await?.into_iter().next().expect("rows > 0");
        row.click().await?;
        page.wait_until(
            "the clicked row to be selected",
            WAIT,
            "document.querySelector('[data-testid=event-row][data-event-index=\"0\"]').classList.contains('selected')",
        )
        .await?;
        let zoomed = page
            .wait_for(
                "the x range to narrow",
                WAIT,
                &format!("(() => {{ const r = {X_RANGE}; return r && r[1] - r[0] < {} ? r : null; }})()", span(&before) * 0.9),
            )
            .await?;
        let event = page
            .api("GET", &format!("/api/v1/runs/{}/events", run_id(&page).await?), None)
            .await?
            .1["events"][0]
            .clone();
        let (start, end) = (event["start_time"].as_f64().unwrap_or(f64::NAN), event["end_time"].as_f64().unwrap_or(f64::NAN));
        anyhow::ensure!(
            zoomed[0].as_f64().unwrap_or(f64::MAX) <= start && zoomed[1].as_f64().unwrap_or(f64::MIN) >= end,
            "zoomed to {zoomed} but the event spans {start}..{end}"
        );
        // The score chart follows.
        page.wait_until(
            "the score chart to follow the zoom",
            WAIT,
            "(() => { const a = document.getElementById('chart-main')._fullLayout.xaxis.range, \
              b = document.getElementById('chart-score')._fullLayout.xaxis.range; \
              return String(a[0]) === String(b[0]) && String(a[1]) === String(b[1]); })()",
        )
        .await
    })
    .await;
}

async fn run_id(page: &Page) -> Result<String> {
    let v = page
        .js(
            "return new URLSearchParams(location.hash.slice(1)).get('run');",
            vec![],
        )
        .await?;
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no run in the URL"))
}

/// A semicolon-delimited CSV with awkward column names: a numeric column the value detection
/// would pick first, the series to use, and a text column; hourly, daily season, two spikes.
fn odd_csv(rows: usize) -> String {
    let mut out = String::from("Messzeitpunkt (UTC);Sensor-Nr. #;Wert € / kWh;Bemerkung\n");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15; // a fixed seed: the file is the same every run
    let start = 1_704_067_200; // 2024-01-01 00:00:00 UTC
    for i in 0..rows {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let noise = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0;
        let hour = (i % 24) as f64;
        let mut value = 120.0 + 35.0 * (hour / 24.0 * std::f64::consts::TAU).sin() + noise * 4.0;
        if i == rows * 2 / 3 || i == rows / 3 {
            value += 150.0;
        }
        let secs = start + 3600 * i as i64;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        out += &format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:00;{};{value:.3};{}\n",
            rem / 3600,
            rem % 3600 / 60,
            7 + i % 3,
            if i % 50 == 0 { "Prüfung" } else { "" }
        );
    }
    out
}

/// Days since 1970-01-01 -> (year, month, day) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Records every state of the progress bar and text (and the run status) while a run goes.
const RECORD_PROGRESS: &str = r#"
  window.progressSamples = [];
  const bar = document.getElementById('progress-bar'), text = document.getElementById('progress-text');
  const record = () => window.progressSamples.push({
    status: document.body.dataset.runStatus || null,
    value: bar.hasAttribute('value') ? Number(bar.value) : null,
    text: text.textContent,
  });
  const observer = new MutationObserver(record);
  observer.observe(bar, {attributes: true});
  observer.observe(text, {childList: true, characterData: true, subtree: true});
  window.progressTimer = setInterval(record, 25);
  return true;
"#;

#[tokio::test]
async fn semicolon_csv_with_odd_columns_runs_hybrid_benford_with_progress() {
    run(
        "semicolon_csv_with_odd_columns_runs_hybrid_benford_with_progress",
        |page| async move {
            page.open("/").await?;
            let csv = page.write_file("zähler; export.csv", &odd_csv(6000))?;
            page.upload(&csv).await?;
            page.wait_until(
            "the uploaded CSV to open",
            WAIT,
            "document.getElementById('dataset-summary').textContent.includes('zähler; export.csv')",
        )
        .await?;
            let summary = page.find("dataset-summary").await?.text().await?;
            anyhow::ensure!(summary.contains("6,000 rows"), "summary: {summary}");
            anyhow::ensure!(
                summary.contains("delimiter \";\""),
                "delimiter not shown: {summary}"
            );

            // Pick the columns as a user would.
            page.find("time-column-select")
                .await?
                .select_by_value("Messzeitpunkt (UTC)")
                .await?;
            page.find("value-column-select")
                .await?
                .select_by_value("Wert € / kWh")
                .await?;
            // A preset with a short training.
            page.find("detector-select")
                .await?
                .select_by_value("preset:hybrid-benford")
                .await?;
            // Each member's window is explained in its own words.
            let benford_help = page
                .js(
                    "return document.getElementById('param-benford.window-help').title;",
                    vec![],
                )
                .await?;
            anyhow::ensure!(
                benford_help.as_str().is_some_and(|t| t.contains("Benford")),
                "the Benford window's help: {benford_help}"
            );
            let epochs = page.find("param-epochs").await?;
            epochs.clear().await?;
            epochs.send_keys("3").await?;

            page.js(RECORD_PROGRESS, vec![]).await?;
            page.click("run-button").await?;
            let run = wait_results(&page).await?;
            let samples = page
                .js(
                    "clearInterval(window.progressTimer); return window.progressSamples;",
                    vec![],
                )
                .await?;
            let samples = samples.as_array().cloned().unwrap_or_default();
            let moving: Vec<&Value> = samples
                .iter()
                .filter(|s| s["status"] == "running")
                .filter(|s| s["value"].as_f64().is_some_and(|v| v > 0.0 && v < 1.0))
                .collect();
            let texts: std::collections::BTreeSet<&str> =
                samples.iter().filter_map(|s| s["text"].as_str()).collect();
            anyhow::ensure!(
                !moving.is_empty(),
                "the progress bar never showed a fraction between 0 and 1 while running; \
             {} samples, texts: {texts:?}",
                samples.len()
            );
            anyhow::ensure!(
                texts
                    .iter()
                    .any(|t| t.starts_with("Training lstm_autoencoder: epoch")),
                "the progress text never said which member trains in which epoch: {texts:?}"
            );

            let facts = page.js(&format!("return {RESULT_FACTS};"), vec![]).await?;
            anyhow::ensure!(facts_u64(&facts, "actual") >= 100, "main chart: {facts}");
            anyhow::ensure!(facts_u64(&facts, "score") > 0, "score chart: {facts}");
            anyhow::ensure!(
                facts["y_title"] == "Wert € / kWh",
                "the chart plots {}",
                facts["y_title"]
            );
            page.wait_until(
                "the Benford digits chart",
                WAIT,
                "(document.getElementById('chart-benford').data || []).length === 2",
            )
            .await?;
            let (_, r) = page
                .api("GET", &format!("/api/v1/runs/{run}"), None)
                .await?;
            anyhow::ensure!(
                r["value_column"] == "Wert € / kWh",
                "run value column: {}",
                r["value_column"]
            );
            anyhow::ensure!(
                r["time_column"] == "Messzeitpunkt (UTC)",
                "run time column: {}",
                r["time_column"]
            );
            anyhow::ensure!(
                r["preset"] == "hybrid-benford",
                "run preset: {}",
                r["preset"]
            );
            // The run's spec is the preset expanded, its LSTM member trained for 3 epochs.
            let lstm_epochs: Vec<&Value> = r["detector"]["members"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["kind"] == "lstm_autoencoder")
                .map(|m| &m["epochs"])
                .collect();
            anyhow::ensure!(
                lstm_epochs == [&json!(3)],
                "epochs override not applied: {}",
                r["detector"]
            );
            eprintln!(
                "progress: {} samples, {} with 0 < fraction < 1 while running; fit {} s",
                samples.len(),
                moving.len(),
                r["summary"]["fit_seconds"]
            );
            Ok(())
        },
    )
    .await;
}

#[tokio::test]
async fn broken_csv_shows_the_ingest_error_and_the_page_keeps_working() {
    run(
        "broken_csv_shows_the_ingest_error_and_the_page_keeps_working",
        |page| async move {
            page.open("/").await?;
            // Line 1 is the header; line 6 has a field too many.
            let broken = "timestamp,value\n\
                      2024-01-01 00:00:00,1.0\n\
                      2024-01-01 01:00:00,2.0\n\
                      2024-01-01 02:00:00,3.0\n\
                      2024-01-01 03:00:00,4.0\n\
                      2024-01-01 04:00:00,5.0,oops\n\
                      2024-01-01 05:00:00,6.0\n";
            let path = page.write_file("broken.csv", broken)?;
            page.upload(&path).await?;
            let banner = page.wait_banner("the ingest error").await?;
            anyhow::ensure!(
                banner.contains("line 6"),
                "the error does not name line 6: {banner:?}"
            );
            anyhow::ensure!(
                banner.contains("broken.csv"),
                "the error does not name the file: {banner:?}"
            );
            let role = page.find("error-banner").await?.attr("role").await?;
            anyhow::ensure!(
                role.as_deref() == Some("alert"),
                "the banner is not an alert"
            );
            let (_, list) = page.api("GET", "/api/v1/datasets", None).await?;
            anyhow::ensure!(
                list["datasets"] == json!([]),
                "a broken file made a dataset: {list}"
            );
            anyhow::ensure!(
                page.find("dropzone").await?.is_displayed().await?,
                "the upload area is gone"
            );

            // Nothing broke: the demo still loads, the banner clears, and a run works.
            load_demo(&page).await?;
            anyhow::ensure!(
                page.banner().await?.is_empty(),
                "the old error stays: {}",
                page.banner().await?
            );
            run_and_wait(&page).await?;

            // A failed upload over a loaded dataset says that one is still the open one.
            page.upload(&path).await?;
            let banner = page.wait_banner("the second ingest error").await?;
            anyhow::ensure!(
                banner.contains("“demo.csv” is still loaded"),
                "the error does not say what is still open: {banner}"
            );
            let summary = page.find("dataset-summary").await?.text().await?;
            anyhow::ensure!(
                summary.contains("demo.csv"),
                "the open dataset changed: {summary}"
            );
            Ok(())
        },
    )
    .await;
}

#[tokio::test]
async fn sensitivity_slider_rethresholds_without_a_new_run() {
    run("sensitivity_slider_rethresholds_without_a_new_run", |page| async move {
        page.open("/").await?;
        load_demo(&page).await?;
        let run = run_and_wait(&page).await?;
        let runs_before = page.find_all("run-item").await?.len();
        let count_before = page.find("event-count").await?.text().await?;

        // Mid-drag (input events, no release): a preview of the event count, nothing applied.
        page.js(
            "const s = document.getElementById('sensitivity-slider'); s.value = '0.99'; \
             s.dispatchEvent(new Event('input', {bubbles: true})); return true;",
            vec![],
        )
        .await?;
        page.wait_until(
            "the preview of the event count",
            WAIT,
            "/^→ [0-9,]+ events?$/.test(document.getElementById('threshold-preview').textContent)",
        )
        .await?;
        let preview = page.find("threshold-preview").await?.attr("data-events").await?.unwrap_or_default();
        let (_, unchanged) = page.api("GET", &format!("/api/v1/runs/{run}"), None).await?;
        anyhow::ensure!(unchanged["threshold"]["method"] == "auto", "the preview applied: {}", unchanged["threshold"]);
        let (_, would) = page
            .api(
                "POST",
                &format!("/api/v1/runs/{run}/threshold"),
                Some(json!({"threshold": {"method": "sensitivity", "s": 0.99}, "preview": true})),
            )
            .await?;
        anyhow::ensure!(preview.parse::<u64>().ok() == would["event_count"].as_u64(), "preview {preview} vs {would}");

        // Drag the slider to the far right: the most sensitive setting.
        let slider = page.find("sensitivity-slider").await?;
        slider.click().await?;
        slider.send_keys(&fantoccini::key::Key::End.to_string()).await?;
        page.wait_until(
            "the sensitivity 0.99 threshold to apply",
            WAIT,
            "document.getElementById('threshold-now').textContent.startsWith('Now: sensitivity 0.99')",
        )
        .await?;
        let count_high = page.find("event-count").await?.text().await?;
        anyhow::ensure!(count_high != count_before, "the event count stayed {count_before:?}");

        // And to the far left: the least sensitive.
        slider.send_keys(&fantoccini::key::Key::Home.to_string()).await?;
        page.wait_until(
            "the sensitivity 0.01 threshold to apply",
            WAIT,
            "document.getElementById('threshold-now').textContent.startsWith('Now: sensitivity 0.01')",
        )
        .await?;
        let count_low = page.find("event-count").await?.text().await?;
        anyhow::ensure!(count_low != count_high, "the event count stayed {count_high:?}");
        let (n_high, n_low) = (
            numbers_in(&count_high).first().copied().unwrap_or(0.0),
            numbers_in(&count_low).first().copied().unwrap_or(0.0),
        );
        anyhow::ensure!(n_high > n_low, "higher sensitivity flagged fewer points: {count_high:?} vs {count_low:?}");

        // The table and the chart shading follow the new events.
        let facts = page.js(&format!("return {RESULT_FACTS};"), vec![]).await?;
        let (_, ev) = page.api("GET", &format!("/api/v1/runs/{run}/events"), None).await?;
        let n = ev["events"].as_array().map_or(0, Vec::len) as u64;
        anyhow::ensure!(
            facts_u64(&facts, "rows") == n.min(500) || (n == 0 && facts_u64(&facts, "rows") == 0),
            "table rows {} vs {n} events",
            facts["rows"]
        );
        anyhow::ensure!(ev["threshold"]["method"] == "sensitivity", "stored threshold: {}", ev["threshold"]);

        // Standouts off and on again: the same threshold, the run's event options with
        // `standout` changed (the others kept).
        for want in [false, true] {
            page.find("standout-toggle").await?.click().await?;
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                let (_, r) = page.api("GET", &format!("/api/v1/runs/{run}"), None).await?;
                if r["events_options"]["standout"] == want {
                    anyhow::ensure!(r["events_options"]["merge_gap"] == 2, "options: {}", r["events_options"]);
                    anyhow::ensure!(r["threshold"]["method"] == "sensitivity", "threshold: {}", r["threshold"]);
                    break;
                }
                anyhow::ensure!(std::time::Instant::now() < deadline, "standout never became {want}: {}", r["events_options"]);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }

        // No new run: the same run is open, and the run list has the same length.
        let (_, runs) = page.api("GET", "/api/v1/runs", None).await?;
        anyhow::ensure!(runs["runs"].as_array().map_or(0, Vec::len) == 1, "runs: {runs}");
        anyhow::ensure!(run_id(&page).await? == run, "another run was opened");
        page.wait_until("the run list to settle", WAIT, "document.querySelectorAll('[data-testid=run-item]').length > 0")
            .await?;
        let runs_after = page.find_all("run-item").await?.len();
        anyhow::ensure!(runs_after == runs_before, "run list went from {runs_before} to {runs_after}");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn explain_and_offline_chat_give_grounded_answers() {
    run("explain_and_offline_chat_give_grounded_answers", |page| async move {
        page.open("/").await?;
        load_demo(&page).await?;
        let run = run_and_wait(&page).await?;
        let (_, ev) = page.api("GET", &format!("/api/v1/runs/{run}/events"), None).await?;
        let event = ev["events"][0].clone();
        anyhow::ensure!(!event.is_null(), "the demo run has no event: {ev}");

        page.find_all("explain-button").await?.into_iter().next().expect("an event row").click().await?;
        let text = page
            .wait_for(
                "an explanation (or a note saying why there is none)",
                WAIT,
                "(() => { const n = document.querySelector('[data-testid=explanation], [data-testid=chat-msg-note]'); \
                  return n ? {testid: n.dataset.testid, text: (n.querySelector('.msg-text') || n).textContent} : null; })()",
            )
            .await?;
        anyhow::ensure!(text["testid"] == "explanation", "no explanation: {}", text["text"]);
        let explanation = text["text"].as_str().unwrap_or("");
        anyhow::ensure!(
            mentions_any(explanation, &[event_actual(&event)]),
            "the explanation does not quote the event's value {}: {explanation}",
            event["actual"]
        );
        let chip = page.find("chat-event").await?.text().await?;
        anyhow::ensure!(chip.contains("event 1"), "the chat is not about event 1: {chip}");

        let input = page.find("chat-input").await?;
        input.send_keys("Why is this event anomalous?").await?;
        page.click("chat-send").await?;
        let answer = page
            .wait_for(
                "the chat's answer",
                WAIT,
                "(() => { const a = [...document.querySelectorAll('[data-testid=chat-msg-assistant]')].pop(); \
                  const note = document.querySelector('[data-testid=chat-msg-note]'); \
                  if (note) return {note: note.textContent}; \
                  if (!a || a.classList.contains('pending')) return null; \
                  return {text: a.querySelector('.msg-text').textContent}; })()",
            )
            .await?;
        let answer = answer["text"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the chat failed: {}", answer["note"]))?;
        anyhow::ensure!(
            mentions_any(answer, &[event_actual(&event)]),
            "the answer does not quote the event's value {}: {answer}",
            event["actual"]
        );
        eprintln!("explanation: {explanation}\nanswer: {answer}");
        let provider = page.find("chat-provider").await?.text().await?;
        anyhow::ensure!(provider.contains("offline"), "provider line: {provider}");
        let user = page.find_all("chat-msg-user").await?.len();
        anyhow::ensure!(user == 1, "{user} user messages shown");
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_failing_llm_shows_its_reason_and_offers_the_offline_answer() {
    // An LLM configured on a loopback port where nothing listens: every answer fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let options = Options {
        server_env: vec![
            ("TSAD_LLM_BASE_URL", format!("http://127.0.0.1:{port}/v1/")),
            ("TSAD_LLM_MODEL", "mock".to_owned()),
        ],
        ..Options::default()
    };
    run_with(
        "a_failing_llm_shows_its_reason_and_offers_the_offline_answer",
        options,
        |page| async move {
            page.open("/").await?;
            load_demo(&page).await?;
            run_and_wait(&page).await?;
            let input = page.find("chat-input").await?;
            input.send_keys("Why is this event anomalous?").await?;
            page.click("chat-send").await?;
            let note = page
                .wait_for(
                    "the chat's failure note",
                    WAIT,
                    "(() => { const n = document.querySelector('[data-testid=chat-msg-note]'); \
                      return n ? n.textContent : null; })()",
                )
                .await?;
            let note = note.as_str().unwrap_or("");
            anyhow::ensure!(note.contains("The chat failed"), "note: {note}");
            anyhow::ensure!(note.contains("TSAD_LLM_BASE_URL"), "no reason given: {note}");
            page.click("chat-offline").await?;
            let answer = page
                .wait_for(
                    "the offline answer",
                    WAIT,
                    "(() => { const a = [...document.querySelectorAll('[data-testid=chat-msg-assistant]')].pop(); \
                      if (!a || a.classList.contains('pending')) return null; \
                      return a.querySelector('.msg-text').textContent; })()",
                )
                .await?;
            anyhow::ensure!(
                answer.as_str().is_some_and(|a| a.len() > 40),
                "answer: {answer}"
            );
            let provider = page.find("chat-provider").await?.text().await?;
            anyhow::ensure!(provider.contains("offline"), "provider line: {provider}");
            Ok(())
        },
    )
    .await;
}

#[tokio::test]
async fn reload_lists_datasets_and_runs_and_reopens_them() {
    run(
        "reload_lists_datasets_and_runs_and_reopens_them",
        |page| async move {
            page.open("/").await?;
            load_demo(&page).await?;
            let run = run_and_wait(&page).await?;
            let count = page.find("event-count").await?.text().await?;
            let csv = page.write_file("second.csv", &odd_csv(300).replace(';', ","))?;
            page.upload(&csv).await?;
            page.wait_until(
                "the second dataset to open",
                WAIT,
                "document.getElementById('dataset-summary').textContent.includes('second.csv')",
            )
            .await?;

            // A reload keeps the open dataset (from the URL).
            page.client.refresh().await?;
            page.wait_until(
                "the page to be ready again",
                WAIT,
                "document.body.dataset.ready === 'true'",
            )
            .await?;
            let summary = page.find("dataset-summary").await?.text().await?;
            anyhow::ensure!(summary.contains("second.csv"), "after reload: {summary}");

            // A fresh visit lists both datasets and the run.
            page.open("/").await?;
            page.wait_until(
                "two datasets and one run in the sidebar",
                WAIT,
                "document.querySelectorAll('[data-testid=dataset-item]').length === 2 \
             && document.querySelectorAll('[data-testid=run-item]').length === 1",
            )
            .await?;
            let items = page.find_all("dataset-item").await?;
            let mut demo = None;
            for item in items {
                if !item.text().await?.contains("second.csv") {
                    demo = Some(item);
                }
            }
            let demo = demo.ok_or_else(|| anyhow::anyhow!("the demo dataset is not listed"))?;
            let demo_name = page.api("GET", "/api/v1/datasets", None).await?.1["datasets"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["name"] != "second.csv"))
                .map(|d| d["name"].as_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            demo.click().await?;
            page.wait_until(
                "the demo dataset to reopen",
                WAIT,
                &format!(
                    "document.getElementById('dataset-summary').textContent.includes({})",
                    json!(demo_name)
                ),
            )
            .await?;

            let item = page.find("run-item").await?;
            anyhow::ensure!(
                item.attr("data-id").await?.as_deref() == Some(run.as_str()),
                "another run is listed"
            );
            item.click().await?;
            let reopened = wait_results(&page).await?;
            anyhow::ensure!(reopened == run, "opened {reopened}, not {run}");
            let again = page.find("event-count").await?.text().await?;
            anyhow::ensure!(
                again == count,
                "the reopened run shows {again:?}, not {count:?}"
            );
            let facts = page.js(&format!("return {RESULT_FACTS};"), vec![]).await?;
            anyhow::ensure!(
                facts_u64(&facts, "actual") >= 100 && facts_u64(&facts, "rows") > 0,
                "{facts}"
            );

            // The run's own address reopens it too.
            page.open(&format!("/#run={run}")).await?;
            let by_address = wait_results(&page).await?;
            anyhow::ensure!(
                by_address == run,
                "the address opened {by_address}, not {run}"
            );
            Ok(())
        },
    )
    .await;
}

#[test]
fn numbers_are_read_as_written() {
    assert_eq!(
        numbers_in("310 vs 120.5 (+189.5), 1,234.5; -2.25x at 12:00."),
        vec![310.0, 120.5, 189.5, 1234.5, -2.25, 12.0, 0.0]
    );
    assert!(mentions_any("peak 9.13 times", &[9.1]));
    assert!(!mentions_any("nothing here", &[9.1]));
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    assert_eq!(tid("x"), "[data-testid=\"x\"]");
}

/// A long CSV of `hosts` series (`host-00`, ...): 400 hourly points each, interleaved; only
/// `host-07` jumps (to 95 at row 300).
fn hosts_csv(hosts: usize) -> String {
    let mut csv = String::from("time,host,latency_ms\n");
    let mut rng = tsad_testing::Rng::new(0x2545_F491_4F6C_DD1D);
    for i in 0..400 {
        let t = tsad_io::format_timestamp(1_700_000_000_000 + i as i64 * 3_600_000);
        for h in 0..hosts {
            let noise = rng.range(0.0, 2.0);
            let v = if h == 7 && i == 300 {
                95.0
            } else {
                30.0 + 3.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + noise
            };
            csv.push_str(&format!("{t},host-{h:02},{v:.2}\n"));
        }
    }
    csv
}

/// The names of the series rows, top to bottom.
const FLEET_ROWS: &str =
    "return [...document.querySelectorAll('[data-testid=fleet-row]')].map((r) => r.dataset.name);";

#[tokio::test]
async fn a_many_series_file_lists_its_series_sorts_them_and_opens_one() {
    run(
        "a_many_series_file_lists_its_series_sorts_them_and_opens_one",
        |page| async move {
            page.open("/").await?;
            let csv = page.write_file("hosts.csv", &hosts_csv(12))?;
            page.upload(&csv).await?;
            page.wait_until(
                "the long CSV to open with its id column chosen",
                WAIT,
                "document.getElementById('series-select').value === 'id:host'",
            )
            .await?;
            let help = page.find("series-help").await?.text().await?;
            anyhow::ensure!(help.contains("host"), "series help: {help}");
            page.find("detector-select")
                .await?
                .select_by_value("kind:mad")
                .await?;
            page.click("run-button").await?;
            page.wait_until(
                "the series list",
                RUN_WAIT,
                "document.body.dataset.fleetReady === 'true' \
                 || document.body.dataset.runStatus === 'failed'",
            )
            .await?;
            let count = page.find("fleet-count").await?.text().await?;
            anyhow::ensure!(count.contains("12 series"), "count: {count}");
            // Ranked by severity: the host that jumped comes first.
            let rows = page.js(FLEET_ROWS, vec![]).await?;
            anyhow::ensure!(rows[0] == "host-07", "default order: {rows}");
            anyhow::ensure!(rows.as_array().map(Vec::len) == Some(12), "rows: {rows}");

            // Sort by name, then back by severity, as a user clicks the headers.
            page.click("fleet-sort-name").await?;
            page.wait_until(
                "the list sorted by name",
                WAIT,
                "document.body.dataset.fleetReady === 'true' && \
                 document.querySelector('[data-testid=fleet-row]').dataset.name === 'host-00'",
            )
            .await?;
            page.click("fleet-sort-severity").await?;
            page.wait_until(
                "the list sorted by severity",
                WAIT,
                "document.body.dataset.fleetReady === 'true' && \
                 document.querySelector('[data-testid=fleet-row]').dataset.name === 'host-07'",
            )
            .await?;
            // A filter narrows the list.
            page.find("fleet-filter").await?.send_keys("07").await?;
            page.wait_until(
                "the filtered list",
                WAIT,
                "document.body.dataset.fleetReady === 'true' && \
                 document.querySelectorAll('[data-testid=fleet-row]').length === 1",
            )
            .await?;

            // Opening the series shows today's charts for it, with its name.
            page.js(
                "document.querySelector('[data-testid=fleet-row]').click(); return true;",
                vec![],
            )
            .await?;
            wait_results(&page).await?;
            let name = page.find("series-name").await?.text().await?;
            anyhow::ensure!(name == "host-07", "series name: {name}");
            let facts = page.js(&format!("return {RESULT_FACTS};"), vec![]).await?;
            anyhow::ensure!(facts_u64(&facts, "actual") > 0, "charts: {facts}");
            anyhow::ensure!(facts_u64(&facts, "rows") >= 1, "events: {facts}");
            let events_head = page.find("events-table").await?.text().await?;
            anyhow::ensure!(
                events_head.contains("Series") && events_head.contains("host-07"),
                "the events table names the series: {events_head}"
            );
            // Back to the list.
            page.click("fleet-back").await?;
            page.wait_until(
                "the series list again",
                WAIT,
                "document.body.dataset.fleetReady === 'true'",
            )
            .await?;
            Ok(())
        },
    )
    .await;
}

/// Clicks a sidebar action by JavaScript: the buttons show on hover, which WebDriver's pointer
/// does not keep while it types.
async fn click_action(page: &Page, testid: &str) -> Result {
    page.js(
        &format!("document.querySelector('[data-testid={testid}]').click(); return true;"),
        vec![],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn runs_and_datasets_are_renamed_and_deleted_from_the_sidebar() {
    run(
        "runs_and_datasets_are_renamed_and_deleted_from_the_sidebar",
        |page| async move {
            page.open("/").await?;
            load_demo(&page).await?;
            let run = run_and_wait(&page).await?;

            // Rename the run: the field replaces its title; Enter saves.
            click_action(&page, "run-rename").await?;
            // The field opens with its text selected: typing replaces it.
            let field = page.find("run-name-input").await?;
            field.send_keys("before the fix\u{E007}").await?;
            page.wait_until(
                "the run's new name in the sidebar",
                WAIT,
                "document.querySelector('[data-testid=run-item]').textContent.includes('before the fix')",
            )
            .await?;
            let (_, stored) = page.api("GET", &format!("/api/v1/runs/{run}"), None).await?;
            anyhow::ensure!(stored["name"] == "before the fix", "stored: {}", stored["name"]);

            // Rename the dataset; the open dataset's header follows.
            click_action(&page, "dataset-rename").await?;
            let field = page.find("dataset-name-input").await?;
            field.send_keys("sensor 12\u{E007}").await?;
            page.wait_until(
                "the dataset's new name",
                WAIT,
                "document.querySelector('[data-testid=dataset-item]').textContent.includes('sensor 12') \
                 && document.getElementById('dataset-summary').textContent.includes('sensor 12')",
            )
            .await?;

            // Names survive a reload.
            page.open("/").await?;
            page.wait_until(
                "the names after a reload",
                WAIT,
                "(document.querySelector('[data-testid=run-item]')?.textContent || '').includes('before the fix') \
                 && document.querySelector('[data-testid=dataset-item]').textContent.includes('sensor 12')",
            )
            .await?;

            // Delete the open run: the first click asks, the second deletes.
            page.find("run-item").await?.click().await?;
            wait_results(&page).await?;
            click_action(&page, "run-delete").await?;
            let armed = page.find("run-delete").await?.text().await?;
            anyhow::ensure!(armed == "Delete?", "the first click should ask: {armed:?}");
            let (_, still) = page.api("GET", "/api/v1/runs", None).await?;
            anyhow::ensure!(still["runs"].as_array().map_or(0, Vec::len) == 1, "deleted on the first click");
            click_action(&page, "run-delete").await?;
            page.wait_until(
                "the run gone and its results closed",
                WAIT,
                "document.querySelectorAll('[data-testid=run-item]').length === 0 \
                 && document.getElementById('results').classList.contains('hidden')",
            )
            .await?;

            // Delete the dataset: the panel closes and the upload area is back.
            click_action(&page, "dataset-delete").await?;
            click_action(&page, "dataset-delete").await?;
            page.wait_until(
                "the dataset gone",
                WAIT,
                "document.querySelectorAll('[data-testid=dataset-item]').length === 0 \
                 && document.getElementById('dataset-panel').classList.contains('hidden')",
            )
            .await?;
            let (_, datasets) = page.api("GET", "/api/v1/datasets", None).await?;
            anyhow::ensure!(datasets["datasets"].as_array().map_or(1, Vec::len) == 0, "{datasets}");
            Ok(())
        },
    )
    .await;
}

/// The first event row's verdict, note, the report and the missed marks listed.
const MARK_FACTS: &str = r#"return {
  verdict: document.querySelector('[data-testid=event-verdict]')?.value ?? null,
  comment: document.querySelector('[data-testid=event-comment]')?.value ?? null,
  report: document.getElementById('marks-report').textContent,
  missed: document.querySelectorAll('[data-testid=missed-mark]').length,
};"#;

#[tokio::test]
async fn events_are_marked_and_the_marks_score_this_run_and_the_next() {
    run(
        "events_are_marked_and_the_marks_score_this_run_and_the_next",
        |page| async move {
            page.open("/").await?;
            load_demo(&page).await?;
            let first = run_and_wait(&page).await?;

            // Confirm the most severe event, with a note.
            page.find("event-verdict").await?.select_by_value("confirmed").await?;
            page.wait_until(
                "the report to count the confirmed event",
                WAIT,
                "document.getElementById('marks-report').textContent.includes('precision 1.00')",
            )
            .await?;
            let note = page.find("event-comment").await?;
            note.send_keys("pump restart\u{E004}").await?; // Tab: the change event saves it
            page.wait_until(
                "the note to be saved",
                WAIT,
                "document.querySelector('[data-testid=event-comment]').value === 'pump restart'",
            )
            .await?;

            // Zoom to the first stretch of the series and mark it as missed.
            page.js(
                "const div = document.getElementById('chart-main'); const x = div.data[0].x; \
                 Plotly.relayout(div, {'xaxis.range[0]': x[60], 'xaxis.range[1]': x[80]}); return true;",
                vec![],
            )
            .await?;
            page.wait_until("the zoom", WAIT, &format!("(() => {{ const r = {X_RANGE}; return r && r[1] - r[0] < 40 * 3600000; }})()"))
                .await?;
            page.click("mark-missed").await?;
            page.wait_until(
                "the missed mark listed and counted",
                WAIT,
                "document.querySelectorAll('[data-testid=missed-mark]').length === 1 \
                 && document.getElementById('marks-report').textContent.includes('of 2 marked anomalies')",
            )
            .await?;
            // Both marks are drawn along the top of the chart.
            page.wait_until(
                "the marks on the chart",
                WAIT,
                "((document.getElementById('chart-main').layout || {}).shapes || [])                  .filter((s) => (s.name || '').startsWith('mark:')).length === 2",
            )
            .await?;

            // A reload shows the marks again.
            page.open(&format!("/#run={first}")).await?;
            wait_results(&page).await?;
            page.wait_until(
                "the marks after a reload",
                WAIT,
                "document.querySelector('[data-testid=event-verdict]')?.value === 'confirmed' \
                 && document.querySelectorAll('[data-testid=missed-mark]').length === 1",
            )
            .await?;
            let facts = page.js(MARK_FACTS, vec![]).await?;
            anyhow::ensure!(facts["comment"] == "pump restart", "after reload: {facts}");

            // A new run on the same dataset shows the earlier marks and scores itself by them.
            page.click("run-button").await?;
            // Until the new run is created the page still shows the first one as succeeded.
            page.wait_until(
                "the new run to open",
                WAIT,
                &format!("new URLSearchParams(location.hash.slice(1)).get('run') !== '{first}'"),
            )
            .await?;
            let second = wait_results(&page).await?;
            anyhow::ensure!(second != first, "no new run was opened");
            page.wait_until(
                "the earlier marks on the new run",
                WAIT,
                "document.querySelectorAll('[data-testid=missed-mark]').length === 1 \
                 && document.getElementById('marks-report').textContent.includes('marked anomalies')",
            )
            .await?;
            let facts = page.js(MARK_FACTS, vec![]).await?;
            anyhow::ensure!(facts["verdict"] == "confirmed", "the same detector finds the same event first: {facts}");
            Ok(())
        },
    )
    .await;
}

/// Layout facts of the open page: overflow, the top bar, the chart's legend against its mode bar,
/// and the widest evidence value's shortest line.
const LAYOUT_FACTS: &str = r#"
  const rect = (el) => el ? el.getBoundingClientRect() : null;
  const bar = rect(document.querySelector('.topbar'));
  const legend = rect(document.querySelector('#chart-main .legend'));
  const modebar = rect(document.querySelector('#chart-main .modebar'));
  const overlap = legend && modebar && modebar.width > 0 && legend.width > 0
    && !(legend.right <= modebar.left || modebar.right <= legend.left || legend.bottom <= modebar.top || modebar.bottom <= legend.top);
  const links = [...document.querySelectorAll('.topbar nav a')].map((a) => a.getBoundingClientRect().height);
  return {
    page_width: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    bar_height: bar.height,
    link_heights: links,
    legend_covered: Boolean(overlap),
    // The outermost elements past the right edge (what makes the page scroll sideways).
    too_wide: [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-scroll')
        && !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
      .slice(0, 6).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className.baseVal ?? e.className}`),
  };
"#;

#[tokio::test]
async fn a_phone_screen_keeps_the_top_bar_on_one_line_and_the_legend_clear() {
    run(
        "a_phone_screen_keeps_the_top_bar_on_one_line_and_the_legend_clear",
        |page| async move {
            page.open("/").await?;
            load_demo(&page).await?;
            let run = run_and_wait(&page).await?;
            for (width, height) in [(390u32, 844u32), (1280, 900)] {
                // As a phone opens it: the page loads at that size.
                page.client.set_window_size(width, height).await?;
                page.open(&format!("/#run={run}")).await?;
                wait_results(&page).await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let facts = page.js(LAYOUT_FACTS, vec![]).await?;
                let viewport = facts["viewport"].as_f64().unwrap_or(0.0);
                anyhow::ensure!(
                    facts["page_width"].as_f64().unwrap_or(f64::MAX) <= viewport + 1.0,
                    "{width} px: the page scrolls sideways: {facts}"
                );
                anyhow::ensure!(
                    facts["bar_height"].as_f64().unwrap_or(f64::MAX) <= 56.0,
                    "{width} px: the top bar wraps: {facts}"
                );
                let tallest = facts["link_heights"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .fold(0.0, f64::max);
                anyhow::ensure!(tallest <= 36.0, "{width} px: a menu link wraps: {facts}");
                anyhow::ensure!(
                    facts["legend_covered"] == false,
                    "{width} px: the mode bar covers the legend: {facts}"
                );
                // Kept as an artifact (target/browser-artifacts/screens/), for a look by eye.
                let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .parent()
                    .unwrap_or(std::path::Path::new("target"))
                    .join("browser-artifacts")
                    .join("screens");
                std::fs::create_dir_all(&dir)?;
                std::fs::write(
                    dir.join(format!("results-{width}px.png")),
                    page.client.screenshot().await?,
                )?;
            }
            Ok(())
        },
    )
    .await;
}

/// The comparison the page shows: its texts, the compared run's band and legend entry.
const COMPARE_FACTS: &str = r#"
  const m = document.getElementById('chart-main');
  const shapes = ((m.layout && m.layout.shapes) || []).filter((s) => s.name === "compared run's event");
  return {
    comparing: document.body.dataset.comparing || '',
    summary: document.getElementById('compare-summary').textContent,
    differences: document.getElementById('compare-differences').textContent,
    band: shapes.length,
    legend: (m.data || []).some((t) => t.name === "compared run's events"),
    only_here: document.querySelectorAll('[data-testid=compare-only-here]').length,
    only_other: document.querySelectorAll('[data-testid=compare-only-other]').length,
  };
"#;

#[tokio::test]
async fn two_runs_are_labelled_by_what_differs_and_compared_on_one_chart() {
    run(
        "two_runs_are_labelled_by_what_differs_and_compared_on_one_chart",
        |page| async move {
            page.open("/").await?;
            load_demo(&page).await?;
            let first = run_and_wait(&page).await?;
            // A second run on the same data: another detector and a threshold that flags 5% of
            // the points (more than the default run's events), from the API.
            let (_, run) = page.api("GET", &format!("/api/v1/runs/{first}"), None).await?;
            let (status, second) = page
                .api(
                    "POST",
                    "/api/v1/runs",
                    Some(json!({"dataset_id": run["dataset_id"], "detector": {"kind": "mad"},
                                "threshold": {"method": "quantile", "q": 0.95}})),
                )
                .await?;
            anyhow::ensure!(status == 202, "{second}");
            let second = second["id"].as_str().unwrap_or_default().to_owned();
            page.open(&format!("/#run={second}")).await?;
            wait_results(&page).await?;

            // The sidebar names each run by what sets it apart.
            let labels = page
                .js(
                    "return [...document.querySelectorAll('[data-testid=run-item]')].map((b) => [b.dataset.id, b.textContent]);",
                    vec![],
                )
                .await?;
            let label_of = |id: &str| {
                labels.as_array().into_iter().flatten()
                    .find(|pair| pair[0] == id)
                    .and_then(|pair| pair[1].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            anyhow::ensure!(label_of(&second).contains("mad · quantile q = 0.95"), "{labels}");
            anyhow::ensure!(label_of(&first).contains("robust-stats · auto"), "{labels}");

            // Compare with the first run: counts as the API gives them, its events as a band.
            page.find("compare-with").await?.select_by_value(&first).await?;
            page.wait_until(
                "the comparison",
                WAIT,
                &format!("document.body.dataset.comparing === '{first}' && ((document.getElementById('chart-main').layout || {{}}).shapes || []).some((s) => s.name === \"compared run's event\")"),
            )
            .await?;
            let (_, cmp) = page
                .api("GET", &format!("/api/v1/runs/{second}/compare?with={first}"), None)
                .await?;
            let facts = page.js(COMPARE_FACTS, vec![]).await?;
            let summary = facts["summary"].as_str().unwrap_or_default();
            let expected = format!(
                "This run: {} events, {} also found by the other.",
                cmp["run"]["event_count"], cmp["run"]["shared"]
            );
            anyhow::ensure!(summary.starts_with(&expected), "{summary} / {expected}");
            anyhow::ensure!(facts["band"] == cmp["other"]["event_count"], "{facts} / {cmp}");
            anyhow::ensure!(facts["legend"] == true, "{facts}");
            anyhow::ensure!(
                facts["differences"].as_str().unwrap_or_default().contains("robust-stats")
                    && facts["differences"].as_str().unwrap_or_default().contains("quantile q = 0.95 → auto"),
                "{facts}"
            );
            let only_here = cmp["run_events_shared"].as_array().map_or(0, |v| v.iter().filter(|s| **s == false).count());
            anyhow::ensure!(only_here > 0, "the quantile run flags more: {cmp}");
            anyhow::ensure!(facts["only_here"] == only_here.min(8), "{facts}");

            // An event only this run found zooms the chart to it.
            page.click("compare-only-here").await?;
            page.wait_until(
                "the zoom to the event",
                WAIT,
                &format!("(() => {{ const r = {X_RANGE}; return r && r[1] - r[0] < 30 * 24 * 3600000; }})()"),
            )
            .await?;

            // The comparison is in the URL: a reload shows it again.
            let hash = page.js("return location.hash;", vec![]).await?;
            anyhow::ensure!(hash.as_str().unwrap_or_default().contains(&format!("compare={first}")), "{hash}");
            page.open(&format!("/{}", hash.as_str().unwrap_or_default())).await?;
            wait_results(&page).await?;
            page.wait_until("the comparison after a reload", WAIT, &format!("document.body.dataset.comparing === '{first}'"))
                .await?;

            // "No other run" removes the band.
            page.find("compare-with").await?.select_by_value("").await?;
            page.wait_until(
                "the band to go",
                WAIT,
                "!document.body.dataset.comparing && !((document.getElementById('chart-main').layout || {}).shapes || []).some((s) => s.name === \"compared run's event\")",
            )
            .await?;
            page.expect_no_js_errors().await
        },
    )
    .await;
}

#[tokio::test]
async fn seasonal_without_a_period_says_so_above_the_charts() {
    run(
        "seasonal_without_a_period_says_so_above_the_charts",
        |page| async move {
            page.open("/").await?;
            // A random walk (seeded): no seasonal period to find.
            let mut rng = tsad_testing::Rng::new(11);
            let mut csv = String::from("timestamp,value\n");
            let mut v = 0.0;
            for i in 0..600 {
                v += rng.normal();
                csv.push_str(&format!("{},{v:.3}\n", 1_700_000_000 + i * 3600));
            }
            upload_and_open(&page, "walk.csv", &csv).await?;
            page.find("detector-select")
                .await?
                .select_by_value("kind:seasonal")
                .await?;
            run_and_wait(&page).await?;
            let note = page
                .wait_for(
                    "the fallback note",
                    WAIT,
                    "(() => { const n = document.getElementById('result-notes'); \
                     return n.classList.contains('hidden') ? null : n.textContent; })()",
                )
                .await?;
            anyhow::ensure!(
                note.as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains("no seasonal period found, and the series moves like a random walk"),
                "{note}"
            );
            page.expect_no_js_errors().await
        },
    )
    .await;
}

#[tokio::test]
async fn a_nightly_job_is_set_aside_as_routine_and_can_be_flagged() {
    run(
        "a_nightly_job_is_set_aside_as_routine_and_can_be_flagged",
        |page| async move {
            page.open("/").await?;
            // Ten days every 5 minutes (epoch seconds from 2023-11-15): a job lifts the value
            // every night from the second at 03:05 or 03:10, and one spike at noon on day 6.
            let mut rng = tsad_testing::Rng::new(11);
            let mut values: Vec<f64> = (0..2880).map(|_| 5.0 + 0.05 * rng.normal()).collect();
            for day in 1..10 {
                values[day * 288 + 37 + day % 2] += 4.0;
            }
            values[6 * 288 + 144] += 6.0;
            let mut csv = String::from("timestamp,value\n");
            for (i, v) in values.iter().enumerate() {
                csv.push_str(&format!("{},{v:.3}\n", 1_700_006_400 + i * 300));
            }
            upload_and_open(&page, "nightly.csv", &csv).await?;
            let run = run_and_wait(&page).await?;
            let note = page
                .wait_for(
                    "the routine note",
                    WAIT,
                    "(() => { const n = document.getElementById('routine-note'); \
                     return n.classList.contains('hidden') ? null : n.textContent; })()",
                )
                .await?;
            anyhow::ensure!(
                note.as_str()
                    .unwrap_or_default()
                    .contains("9 events, every day between 03:05 and 03:10 UTC"),
                "{note}"
            );
            let count = page.find("event-count").await?.text().await?;
            anyhow::ensure!(count.ends_with("in 1 event"), "{count}");
            // Each set-aside peak is a grey tick on the chart.
            let ticks = "(document.getElementById('chart-main').layout?.shapes || []).filter((s) => s.name === 'routine').length";
            page.wait_until("the routine ticks", WAIT, &format!("{ticks} === 9")).await?;

            // Flag the routine: the nightly events are listed, the note goes.
            page.click("routine-toggle").await?;
            page.wait_until(
                "the nightly events to be listed",
                WAIT,
                "document.getElementById('event-count').textContent.endsWith('in 10 events') \
                 && document.getElementById('routine-note').classList.contains('hidden')",
            )
            .await?;
            page.wait_until("the routine ticks to go", WAIT, &format!("{ticks} === 0"))
                .await?;
            let (_, r) = page
                .api("GET", &format!("/api/v1/runs/{run}"), None)
                .await?;
            anyhow::ensure!(
                r["events_options"]["routine"] == false,
                "{}",
                r["events_options"]
            );
            anyhow::ensure!(r["summary"]["routine"] == json!([]), "{}", r["summary"]);
            page.expect_no_js_errors().await
        },
    )
    .await;
}

#[tokio::test]
async fn an_empty_table_names_the_rarest_point_and_a_button_flags_it() {
    run(
        "an_empty_table_names_the_rarest_point_and_a_button_flags_it",
        |page| async move {
            page.open("/").await?;
            // Seeded noise with a modest bump at row 1500: rarer than any other point, below
            // the default cut-off (the server's test of `quiet` uses the same series).
            let mut rng = tsad_testing::Rng::new(5);
            let mut csv = String::from("timestamp,value\n");
            for i in 0..2000 {
                let v = 10.0 + rng.normal() + if i == 1500 { 4.0 } else { 0.0 };
                csv.push_str(&format!("{},{v}\n", 1_700_000_000 + i * 60));
            }
            upload_and_open(&page, "bump.csv", &csv).await?;
            page.find("detector-select")
                .await?
                .select_by_value("kind:mad")
                .await?;
            let run = run_and_wait(&page).await?;
            let text = page.find("events-empty").await?.text().await?;
            // 1,700,000,000 s + 1500 minutes.
            anyhow::ensure!(
                text.contains("The rarest point, at 2023-11-15 23:13:20,")
                    && text.contains("scores as high as about one point in"),
                "{text}"
            );
            page.click("events-reach").await?;
            page.wait_until(
                "the slider's new threshold to apply and list the point",
                WAIT,
                "document.getElementById('threshold-now').textContent.startsWith('Now: sensitivity') \
                 && !document.getElementById('event-count').textContent.endsWith('in 0 events')",
            )
            .await?;
            let (_, r) = page
                .api("GET", &format!("/api/v1/runs/{run}/events"), None)
                .await?;
            anyhow::ensure!(
                r["events"].as_array().is_some_and(|ev| ev
                    .iter()
                    .any(|e| e["start"].as_u64() <= Some(1500) && e["end"].as_u64() >= Some(1500))),
                "{r}"
            );
            anyhow::ensure!(r["threshold"]["method"] == "sensitivity", "{}", r["threshold"]);
            page.expect_no_js_errors().await
        },
    )
    .await;
}

/// Hourly epoch seconds from `first_hour` on, a daily cycle with seeded noise and a spike at
/// row `spike`.
fn cycle_csv(first_hour: i64, rows: usize, spike: Option<usize>, seed: u64) -> String {
    let mut rng = tsad_testing::Rng::new(seed);
    let mut csv = String::from("timestamp,value\n");
    for i in 0..rows {
        let hour = first_hour + i as i64;
        let phase = (hour % 24) as f64 / 24.0 * std::f64::consts::TAU;
        let v = if spike == Some(i) {
            60.0
        } else {
            10.0 + 2.0 * phase.sin() + 0.3 * rng.normal()
        };
        csv.push_str(&format!("{},{v:.3}\n", 1_700_000_000 + hour * 3600));
    }
    csv
}

/// Uploads `name` with `csv` and waits until it is the open dataset.
async fn upload_and_open(page: &Page, name: &str, csv: &str) -> Result {
    let path = page.write_file(name, csv)?;
    page.upload(&path).await?;
    page.wait_until(
        "the upload to open",
        WAIT,
        &format!(
            "document.getElementById('dataset-summary').textContent.includes({}) \
             && !document.getElementById('run-button').disabled",
            json!(name)
        ),
    )
    .await
}

#[tokio::test]
async fn a_run_fits_on_another_dataset_and_its_saved_model_scores_again() {
    run(
        "a_run_fits_on_another_dataset_and_its_saved_model_scores_again",
        |page| async move {
            page.open("/").await?;
            upload_and_open(&page, "normal.csv", &cycle_csv(0, 600, None, 3)).await?;
            let (_, list) = page.api("GET", "/api/v1/datasets", None).await?;
            let normal = list["datasets"][0]["id"].as_str().unwrap_or_default().to_owned();
            upload_and_open(&page, "scored.csv", &cycle_csv(600, 600, Some(500), 4)).await?;

            // No model is saved yet: the picker says so, and a run is refused with the reason.
            page.find("train-mode").await?.select_by_value("model").await?;
            page.wait_until(
                "the empty model picker",
                WAIT,
                "document.getElementById('train-model').textContent.includes('no saved model yet')",
            )
            .await?;
            page.click("run-button").await?;
            let refused = page.wait_banner("the refusal").await?;
            anyhow::ensure!(refused.contains("pick a saved model"), "{refused}");
            let (_, runs) = page.api("GET", "/api/v1/runs", None).await?;
            anyhow::ensure!(
                runs["runs"].as_array().is_some_and(|r| r.is_empty()),
                "a run was queued: {runs}"
            );

            // Fit on the other dataset, and save the fitted model.
            page.find("train-mode").await?.select_by_value("dataset").await?;
            let listed = page
                .wait_for(
                    "the other dataset in the picker",
                    WAIT,
                    "(() => { const o = document.getElementById('train-dataset').selectedOptions[0]; \
                     return o && o.value ? o.value + ' ' + o.textContent : null; })()",
                )
                .await?;
            let listed = listed.as_str().unwrap_or_default();
            anyhow::ensure!(
                listed.starts_with(&normal) && listed.contains("normal.csv"),
                "the picker offers {listed:?}, not {normal} (normal.csv)"
            );
            page.click("save-model").await?;
            let first = run_and_wait(&page).await?;
            let (_, body) = page
                .api("GET", &format!("/api/v1/runs/{first}"), None)
                .await?;
            let training = &body["training"];
            anyhow::ensure!(
                training["source"] == "dataset" && training["dataset_id"] == normal.as_str(),
                "{training}"
            );
            let peaks: Vec<u64> = body["events"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["peak"].as_u64()).collect())
                .unwrap_or_default();
            anyhow::ensure!(peaks.contains(&500), "the spike is not an event: {peaks:?}");
            let model = training["saved_model_id"].as_str().unwrap_or_default().to_owned();
            anyhow::ensure!(!model.is_empty(), "no model saved: {training}");
            let note = page.find("training-note").await?.text().await?;
            anyhow::ensure!(note.contains("Fitted on another dataset (600 rows)"), "{note}");
            page.find("model-download").await?;

            // Score the same data again with the saved model: nothing is fitted.
            page.find("train-mode").await?.select_by_value("model").await?;
            page.wait_until(
                "the saved model in the picker",
                WAIT,
                &format!(
                    "document.getElementById('train-model').value === {}",
                    json!(model)
                ),
            )
            .await?;
            let hidden = page
                .js(
                    "return document.getElementById('save-model-field').classList.contains('hidden');",
                    vec![],
                )
                .await?;
            anyhow::ensure!(hidden == true, "a model run offers to save a model");
            page.click("run-button").await?;
            page.wait_until(
                "a second run",
                WAIT,
                &format!(
                    "new URLSearchParams(location.hash.slice(1)).get('run') !== {}",
                    json!(first)
                ),
            )
            .await?;
            let second = wait_results(&page).await?;
            let (_, body) = page
                .api("GET", &format!("/api/v1/runs/{second}"), None)
                .await?;
            anyhow::ensure!(
                body["training"]["source"] == "model"
                    && body["training"]["model_id"] == model.as_str(),
                "{}",
                body["training"]
            );
            let note = page.find("training-note").await?.text().await?;
            anyhow::ensure!(note.contains("Scored with the saved model"), "{note}");
            page.expect_no_js_errors().await?;

            // Reopening each run puts what it fitted on back in the form.
            for (run, mode, picker, id) in [
                (&first, "dataset", "train-dataset", &normal),
                (&second, "model", "train-model", &model),
            ] {
                page.open(&format!("/#run={run}")).await?;
                wait_results(&page).await?;
                page.wait_until(
                    &format!("the form to show {mode} {id}"),
                    WAIT,
                    &format!(
                        "document.getElementById('train-mode').value === {} \
                         && document.getElementById({}).value === {}",
                        json!(mode),
                        json!(picker),
                        json!(id)
                    ),
                )
                .await?;
            }

            // A model saved elsewhere (another tab, a script) while the picker is open shows
            // up when the user comes back to the page, and the current choice stays.
            let (status, other) = page
                .api(
                    "POST",
                    "/api/v1/runs",
                    Some(json!({
                        "dataset_id": normal, "detector": {"kind": "mad"}, "save_model": true
                    })),
                )
                .await?;
            anyhow::ensure!(status == 202, "{status} {other}");
            let other = other["id"].as_str().unwrap_or_default().to_owned();
            let saved = page
                .wait_for(
                    "the other run's saved model",
                    WAIT,
                    &format!(
                        "fetch('/api/v1/runs/' + {}).then((r) => r.json()).then((r) => \
                         r.status === 'succeeded' ? r.training.saved_model_id : null)",
                        json!(other)
                    ),
                )
                .await?;
            let saved = saved.as_str().unwrap_or_default().to_owned();
            page.js("window.dispatchEvent(new Event('focus'));", vec![])
                .await?;
            page.wait_until(
                "the new model in the picker, the choice kept",
                WAIT,
                &format!(
                    "[...document.getElementById('train-model').options].some((o) => o.value === {}) \
                     && document.getElementById('train-model').value === {}",
                    json!(saved),
                    json!(model)
                ),
            )
            .await?;
            page.expect_no_js_errors().await
        },
    )
    .await;
}
