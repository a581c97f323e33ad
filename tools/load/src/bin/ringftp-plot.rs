//! ringftp-plot: one chart from several `ringftp-load --json --timeline` reports, one line
//! per report (e.g. one per server in a comparison run).
//!
//! `ringftp-plot OUT.svg --title "small files" ringftpd=r1.json vsftpd=r2.json`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ringftp_load::plot::{self, Latency, PlotError, Series};
use ringftp_load::timeline::Point;

/// Draws throughput and p50/p99 latency per second of several ringftp-load reports
/// (made with --json --timeline) into one chart, one line per report.
#[derive(Debug, Parser)]
#[command(name = "ringftp-plot", version)]
struct Args {
    /// Chart file, .svg or .png.
    out: PathBuf,
    /// NAME=REPORT.json, one per line of the chart.
    #[arg(required = true)]
    reports: Vec<String>,
    /// Chart title.
    #[arg(long, default_value = "")]
    title: String,
    /// Latency shown: first-byte or session.
    #[arg(long, default_value = "first-byte")]
    latency: String,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("`{0}` is not NAME=REPORT.json")]
    Spec(String),
    #[error("{0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: not a ringftp-load JSON report: {1}")]
    Json(String, serde_json::Error),
    #[error("{0}: the report has no timeline (run ringftp-load with --timeline)")]
    NoTimeline(String),
    #[error("--latency must be first-byte or session, got `{0}`")]
    Latency(String),
    #[error(transparent)]
    Plot(#[from] PlotError),
}

fn series(spec: &str) -> Result<Series, Error> {
    let (name, path) = spec
        .split_once('=')
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .ok_or_else(|| Error::Spec(spec.to_string()))?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::Read(path.to_string(), e))?;
    let mut report: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Json(path.to_string(), e))?;
    let timeline = report
        .get_mut("timeline")
        .map(serde_json::Value::take)
        .ok_or_else(|| Error::NoTimeline(path.to_string()))?;
    let points: Vec<Point> =
        serde_json::from_value(timeline).map_err(|e| Error::Json(path.to_string(), e))?;
    Ok(Series {
        name: name.to_string(),
        points,
    })
}

fn run(args: Args) -> Result<(), Error> {
    let latency = match args.latency.as_str() {
        "first-byte" => Latency::FirstByte,
        "session" => Latency::Session,
        other => return Err(Error::Latency(other.to_string())),
    };
    plot::format_of(&args.out)?;
    let all = args
        .reports
        .iter()
        .map(|s| series(s))
        .collect::<Result<Vec<_>, _>>()?;
    plot::draw(&args.out, &args.title, &all, latency)?;
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringftp-plot: {e}");
            ExitCode::from(2)
        }
    }
}
