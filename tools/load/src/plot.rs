//! Charts of timelines with plotters: throughput, sessions per second and p50/p99
//! latency per second, one line per run (one run for `--plot`, one per server for the
//! comparison script). SVG or PNG, chosen by the file's extension; no browser needed.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::timeline::Point;

/// Where a TrueType font for the labels is looked for, first `$RINGFTP_PLOT_FONT`.
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Which latency a chart shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Transfer command to first data byte.
    FirstByte,
    /// Whole session.
    Session,
}

impl Latency {
    fn pick(self, p: &Point) -> (Option<f64>, Option<f64>) {
        match self {
            Self::FirstByte => (p.first_byte_p50_ms, p.first_byte_p99_ms),
            Self::Session => (p.session_p50_ms, p.session_p99_ms),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::FirstByte => "first byte",
            Self::Session => "session",
        }
    }
}

/// One line of a chart: a run's timeline under a name.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{0}: the chart file must end in .svg or .png")]
    Extension(PathBuf),
    #[error(
        "no TrueType font for the labels (install fonts-dejavu-core or set RINGFTP_PLOT_FONT)"
    )]
    NoFont,
    #[error("drawing {path}: {message}")]
    Draw { path: PathBuf, message: String },
}

/// Output format, from the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

/// The format a chart file name asks for.
pub fn format_of(path: &Path) -> Result<Format, PlotError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(PlotError::Extension(path.to_path_buf())),
    }
}

/// Registers a font once; plotters draws no text without one.
fn ensure_font() -> Result<(), PlotError> {
    static FONT: OnceLock<bool> = OnceLock::new();
    let ok = FONT.get_or_init(|| {
        let from_env = std::env::var_os("RINGFTP_PLOT_FONT").map(PathBuf::from);
        let found = from_env
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from))
            .find_map(|p| std::fs::read(p).ok());
        let Some(bytes) = found else {
            return false;
        };
        // plotters keeps registered fonts for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    });
    if *ok {
        Ok(())
    } else {
        Err(PlotError::NoFont)
    }
}

/// Draws the chart of `series` into `path` (.svg or .png).
pub fn draw(
    path: &Path,
    title: &str,
    series: &[Series],
    latency: Latency,
) -> Result<(), PlotError> {
    let format = format_of(path)?;
    ensure_font()?;
    let size = (1000, 900);
    let fail = |message: String| PlotError::Draw {
        path: path.to_path_buf(),
        message,
    };
    match format {
        Format::Svg => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_on(&root, title, series, latency).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        Format::Png => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw_on(&root, title, series, latency).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
    }
}

/// Upper end of an axis holding `values`, with a little room above the highest.
fn axis_top(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if max <= 0.0 {
        1.0
    } else {
        max * 1.1
    }
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
    latency: Latency,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    let x_end = axis_top(series.iter().flat_map(|s| s.points.iter().map(|p| p.t_s)));
    let x = 0.0..x_end;

    let mib: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.points.iter().map(|p| (p.t_s, p.mib_per_s)).collect())
        .collect();
    panel(&panels[0], x.clone(), "MiB/s", series, &mib, &[]).map_err(err)?;
    let sessions: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.points.iter().map(|p| (p.t_s, p.sessions_per_s)).collect())
        .collect();
    panel(
        &panels[1],
        x.clone(),
        "sessions ended/s",
        series,
        &sessions,
        &[],
    )
    .map_err(err)?;
    let (p50, p99): (Vec<_>, Vec<_>) = series
        .iter()
        .map(|s| {
            let p50 = s
                .points
                .iter()
                .filter_map(|p| latency.pick(p).0.map(|v| (p.t_s, v)))
                .collect::<Vec<_>>();
            let p99 = s
                .points
                .iter()
                .filter_map(|p| latency.pick(p).1.map(|v| (p.t_s, v)))
                .collect::<Vec<_>>();
            (p50, p99)
        })
        .unzip();
    let label = format!("{} latency ms, p99 (solid), p50 (dashed)", latency.label());
    panel(&panels[2], x, &label, series, &p99, &p50).map_err(err)?;
    Ok(())
}

/// One panel: a solid line per series and, when given, a dashed one of the same colour.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: Range<f64>,
    y_desc: &str,
    series: &[Series],
    solid: &[Vec<(f64, f64)>],
    dashed: &[Vec<(f64, f64)>],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let y_top = axis_top(
        solid
            .iter()
            .chain(dashed)
            .flat_map(|l| l.iter().map(|p| p.1)),
    );
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(x, 0.0..y_top)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = ShapeStyle::from(color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(solid[i].iter().copied(), style))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if let Some(line) = dashed.get(i).filter(|l| !l.is_empty()) {
            chart.draw_series(DashedLineSeries::new(
                line.iter().copied(),
                6,
                4,
                ShapeStyle::from(color).stroke_width(1),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<Point> {
        (1..=5)
            .map(|i| Point {
                t_s: f64::from(i),
                mib_per_s: 100.0 * f64::from(i),
                sessions_per_s: 10.0,
                in_flight: 3,
                errors: 0,
                first_byte_p50_ms: Some(1.0),
                first_byte_p99_ms: Some(4.0 + f64::from(i)),
                session_p50_ms: None,
                session_p99_ms: None,
            })
            .collect()
    }

    #[test]
    fn extensions() {
        assert_eq!(format_of(Path::new("a.SVG")).unwrap(), Format::Svg);
        assert_eq!(format_of(Path::new("x/b.png")).unwrap(), Format::Png);
        assert!(matches!(
            format_of(Path::new("c.jpg")),
            Err(PlotError::Extension(_))
        ));
    }

    #[test]
    fn axis_tops() {
        assert_eq!(axis_top([1.0, 10.0, f64::NAN].into_iter()), 11.0);
        assert_eq!(axis_top(std::iter::empty()), 1.0);
    }

    #[test]
    fn draws_svg_and_png_with_one_line_per_series() {
        let dir = tempfile::tempdir().unwrap();
        let series = [
            Series {
                name: "ringftpd".into(),
                points: points(),
            },
            Series {
                name: "vsftpd".into(),
                points: points(),
            },
        ];
        let svg = dir.path().join("c.svg");
        draw(&svg, "test chart", &series, Latency::FirstByte).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..40.min(text.len())]);
        assert!(text.contains("ringftpd") && text.contains("vsftpd"));
        assert!(text.contains("test chart"));
        // Three panels, two series each, plus the latency panel's dashed p50 lines.
        assert!(text.matches("<polyline").count() >= 6);
        let png = dir.path().join("c.png");
        draw(&png, "test chart", &series, Latency::Session).unwrap();
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}
