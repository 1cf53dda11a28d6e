//! `vmlab validate`: runs the lab's checks with progress, then shows every check × node as a
//! table, JSON or JUnit XML (what CI systems read); exit 9 when one did not pass.

use std::fmt::Write;
use std::path::Path;

use comfy_table::{Cell, Table, presets::NOTHING};

use super::args::{LabArgs, ValidateFormat};
use super::say::{say, say_json, with_progress};
use crate::engine::api::{
    CheckReport, CheckResult, CheckVerdict, EngineError, LabHandle, Tally, count,
};

pub async fn run(
    lab: &LabArgs,
    file: Option<&Path>,
    only: &[String],
    format: ValidateFormat,
) -> Result<i32, EngineError> {
    let handle = LabHandle::find(&lab.selector(), false)?;
    let name = handle.name().to_string();
    let only = (!only.is_empty()).then_some(only);
    // When the last node became ready: how long after it the checks all pass is the figure
    // an engineer reads as the network's convergence time.
    let last_ready = handle.state().ok().and_then(|s| {
        s.nodes
            .values()
            .filter_map(|n| n.ready_at.as_deref())
            .filter_map(|t| humantime::parse_rfc3339_weak(t).ok())
            .max()
    });
    let t0 = std::time::Instant::now();
    let results =
        with_progress(|notes| async move { handle.validate(file, only, &notes).await }).await?;
    let took = t0.elapsed();
    match format {
        ValidateFormat::Table => {
            let mut out = table(&results);
            if Tally::of(&results).passed() {
                let _ = write!(out, " in {:.1} s", took.as_secs_f64());
                let since = last_ready
                    .and_then(|r| std::time::SystemTime::now().duration_since(r).ok())
                    .filter(|d| d.as_secs() < 3600);
                if let Some(d) = since {
                    let _ = write!(
                        out,
                        "; all passing {:.1} s after the last node was ready (the network's \
                         convergence time, when run right after deploy)",
                        d.as_secs_f64()
                    );
                }
            }
            say(out.trim_end())
        }
        ValidateFormat::Json => say_json(
            &CheckReport::of(name.clone(), results.clone()),
            "the results",
        )?,
        ValidateFormat::Junit => say(&junit(&name, &results)?),
    }
    let tally = Tally::of(&results);
    if !tally.passed() {
        let bad = tally.fail + tally.error;
        return Err(EngineError::ChecksFailed(format!(
            "{} of {} did not pass",
            count(bad, "check"),
            results.len()
        )));
    }
    Ok(0)
}

/// Every check × node: PASS, FAIL or ERROR, with what was expected and what came.
fn table(results: &[CheckResult]) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(["CHECK", "ON", "RESULT", "TRIES", "SECONDS", "DETAIL"].map(Cell::new));
    for r in results {
        t.add_row(vec![
            r.check.clone(),
            r.on.clone(),
            r.verdict.word().to_string(),
            r.attempts.to_string(),
            format!("{:.1}", r.seconds),
            r.detail.clone(),
        ]);
    }
    let mut s = format!("{t}\n");
    let _ = write!(s, "{} of {} passed", Tally::of(results).pass, results.len());
    s
}

/// JUnit XML: one test suite, one test case per check × node.
fn junit(lab: &str, results: &[CheckResult]) -> Result<String, EngineError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(format!("vmlab validate {lab}"));
    for r in results {
        let status = match r.verdict {
            CheckVerdict::Pass => TestCaseStatus::success(),
            CheckVerdict::Fail | CheckVerdict::Error => {
                let kind = if r.verdict == CheckVerdict::Fail {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(r.detail.clone());
                s
            }
        };
        let mut case = TestCase::new(format!("{} on {}", r.check, r.on), status);
        case.set_classname(r.check.clone());
        case.set_time(std::time::Duration::from_secs_f64(r.seconds));
        suite.add_test_case(case);
    }
    let mut report = Report::new("vmlab validate");
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| EngineError::io("cannot write the JUnit report", std::io::Error::other(e)))
}
