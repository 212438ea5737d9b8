//! Charts as PNG (or SVG, chosen by the file extension).
//!
//! Text is rendered with DejaVu Sans compiled into the binary (`assets/DejaVuSans.ttf`,
//! registered with plotters' `ab_glyph` backend), so plots work on machines with no fonts
//! installed at all.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use SegmentValue::{CenterOf, Exact};

use crate::train::{Confusion, Record};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Register the bundled font with plotters, in the one style the charts use (idempotent; done
/// before every chart is drawn).
fn init_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known valid (host/tests/plots.rs renders text with it).
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Distinguishable colours (Okabe–Ito, then Tableau), as `0xRRGGBB`.
const PALETTE: [u32; 10] = [
    0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7, 0xE69F00, 0x56B4E9, 0x787878, 0xF0C81E, 0x9467BD,
    0x8C564B,
];

/// The `i`-th colour of the palette (it repeats after ten).
pub fn color(i: usize) -> RGBColor {
    let [_, r, g, b] = PALETTE[i % PALETTE.len()].to_be_bytes();
    RGBColor(r, g, b)
}

/// Text of `size` pixels in the bundled font, anchored at its vertical centre.
fn text(size: u32, h: HPos) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size)).pos(Pos::new(h, VPos::Center))
}

/// Room for the longest of `names` in 13-pixel text: about 8 pixels a character.
fn text_width<'a>(names: impl IntoIterator<Item = &'a String>) -> u32 {
    let chars = names.into_iter().map(|s| s.chars().count() as u32).max();
    8 * chars.unwrap_or(4)
}

/// What drawing on a backend `DB` ends in.
type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Something that draws itself on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB>;
}

/// Render a figure to `path`: SVG if the name ends in `.svg`, PNG otherwise.
fn render<F: Figure>(path: &Path, size: (u32, u32), fig: &F) -> Result<()> {
    init_font();
    let ctx = || format!("{}: cannot draw plot", path.display());
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = parent.filter(|p| !p.is_dir()) {
        bail!("{}: {}: directory does not exist", ctx(), p.display());
    }
    match path.extension() {
        Some(e) if e.eq_ignore_ascii_case("svg") => paint(SVGBackend::new(path, size), fig),
        _ => {
            let mut rgb = vec![0; size.0 as usize * size.1 as usize * 3];
            paint(BitMapBackend::with_buffer(&mut rgb, size), fig)
                .and_then(|()| png(path, size, &rgb))
        }
    }
    .with_context(ctx)
}

/// `rgb` (8 bits a channel, row by row) as a PNG file.
fn png(path: &Path, (w, h): (u32, u32), rgb: &[u8]) -> Result<()> {
    let mut png = png::Encoder::new(std::io::BufWriter::new(std::fs::File::create(path)?), w, h);
    png.set_color(png::ColorType::Rgb);
    png.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    png.write_header()?.write_image_data(rgb)?;
    Ok(())
}

/// `fig` on a white page of `backend`, written out.
fn paint<DB: DrawingBackend, F: Figure>(backend: DB, fig: &F) -> Result<()> {
    let root = backend.into_drawing_area();
    let drawn = root.fill(&WHITE).and_then(|()| fig.draw(&root));
    drawn
        .and_then(|()| root.present())
        .map_err(|e| anyhow!("{e}"))
}

/// A point of a curve, `(x, y)`.
pub type Point = (f64, f64);

/// One curve of a line chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
    pub color: RGBColor,
    pub dashed: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<Point>, color: RGBColor, dashed: bool) -> Self {
        Self {
            name: name.into(),
            points,
            color,
            dashed,
        }
    }
}

/// The points `(x, y)` of the records whose `y` is there and finite; `x` is the epoch or the
/// iteration.
pub fn points(records: &[Record], by_epoch: bool, y: fn(&Record) -> Option<f64>) -> Vec<Point> {
    let x = |r: &Record| [r.iteration as f64, r.epoch][by_epoch as usize];
    let finite = |r: &Record| y(r).filter(|y| y.is_finite()).map(|y| (x(r), y));
    records.iter().filter_map(finite).collect()
}

/// The smallest and largest of `values`, if there are any.
fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |e, v| {
        Some(e.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
    })
}

/// A line chart of several series: the one routine behind every curve plot.
#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; otherwise the data's range with a margin.
    pub y_range: Option<(f64, f64)>,
    pub legend: SeriesLabelPosition,
}

impl LineChart {
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            y_range: None,
            legend: SeriesLabelPosition::UpperRight,
        }
    }

    /// The axes' ranges: the data's (0–1 when there is none), y padded by 5 %.
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let all = || self.series.iter().flat_map(|s| &s.points);
        let (x0, x1) = extent(all().map(|p| p.0)).unwrap_or((0.0, 1.0));
        let y = self.y_range.unwrap_or_else(|| {
            let (y0, y1) = extent(all().map(|p| p.1)).unwrap_or((0.0, 1.0));
            let pad = ((y1 - y0) * 0.05).max(1e-3);
            // not below 0 for data that is not
            let low = if y0 >= 0.0 { 0.0 } else { f64::MIN };
            ((y0 - pad).max(low), y1 + pad)
        });
        ((x0, if x1 <= x0 { x0 + 1.0 } else { x1 }), y)
    }

    /// Write the chart (PNG, or SVG by extension), 800×500 pixels.
    pub fn save(&self, path: &Path) -> Result<()> {
        render(path, (800, 500), self)
    }
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let ((x0, x1), (y0, y1)) = self.ranges();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 22))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|v| tick(*v, x1 - x0))
            .y_label_formatter(&|v| tick(*v, y1 - y0))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()?;
        for s in &self.series {
            let style = ShapeStyle::from(&s.color).stroke_width(2);
            let pts = s.points.iter().copied();
            let drawn = if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts, 8, 5, style))?
            } else {
                chart.draw_series(LineSeries::new(pts, style))?
            };
            let legend = move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style);
            drawn.label(&s.name).legend(legend);
            // dots only where they stay apart
            if s.points.len() <= 40 {
                let dot = ShapeStyle::from(&s.color).filled();
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, dot)))?;
            }
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .position(self.legend.clone())
                .label_font((FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(160, 160, 160))
                .draw()?;
        }
        Ok(())
    }
}

/// Tick text: enough decimals for the axis span, trailing zeros trimmed (`2`, `0.9`, `0.25`).
pub fn tick(v: f64, span: f64) -> String {
    let d = if span > 0.0 {
        (2.0 - span.log10().floor()).clamp(0.0, 8.0) as usize
    } else {
        3
    };
    let s = format!("{v:.d$}");
    let t = match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.'),
        false => &s,
    };
    if t == "-0" { "0" } else { t }.into()
}

/// `accuracy.png` as the course draws it: training and test accuracy against the x axis
/// (iterations or epochs), y from 0 to 1 — unless every point is above 0.8 (a convnet), where
/// the axis zooms in so the gap between training and test stays visible.
pub fn accuracy_chart(records: &[Record], by_epoch: bool, title: &str) -> LineChart {
    let train = points(records, by_epoch, |r| r.train_accuracy);
    let test = points(records, by_epoch, |r| r.test_accuracy);
    let lowest = train.iter().chain(&test).map(|p| p.1).fold(1.0, f64::min);
    let x = if by_epoch { "epoch" } else { "iteration" };
    LineChart {
        series: vec![
            Series::new("train", train, color(0), false),
            Series::new("test", test, color(1), true),
        ],
        y_range: (lowest <= 0.8).then_some((0.0, 1.0)),
        legend: SeriesLabelPosition::LowerRight,
        ..LineChart::new(title, x, "accuracy")
    }
}

/// `loss.png`: training loss against the x axis.
pub fn loss_chart(records: &[Record], by_epoch: bool, title: &str) -> LineChart {
    let x = if by_epoch { "epoch" } else { "iteration" };
    let mut c = LineChart::new(title, x, "loss");
    let loss = points(records, by_epoch, |r| Some(r.loss));
    c.series = vec![Series::new("training loss", loss, color(0), false)];
    c
}

/// A confusion-matrix heatmap: rows true classes, columns predictions (both labelled by the
/// class's digit), cells shaded by the fraction of the row, with counts written in.
#[derive(Clone, Debug)]
pub struct Heatmap<'a> {
    pub title: String,
    pub confusion: &'a Confusion,
}

impl Heatmap<'_> {
    pub fn save(&self, path: &Path) -> Result<()> {
        render(path, (720, 680), self)
    }
}

/// White for 0 to deep blue for 1.
fn shade(f: f64) -> RGBColor {
    let f = f.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

impl Figure for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let n = self.confusion.m.len() as i32;
        // the first class at the top: row `t` is drawn at y = n - 1 - t
        let name = |v: &SegmentValue<i32>, flip: bool| match *v {
            CenterOf(i) => (if flip { n - 1 - i } else { i }).to_string(),
            _ => String::new(),
        };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(48)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15))
            .x_labels(n as usize)
            .y_labels(n as usize)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .draw()?;
        for (t, row) in self.confusion.m.iter().enumerate() {
            let total = row.iter().map(|&c| c as f64).sum::<f64>().max(1.0);
            for (p, &c) in row.iter().enumerate() {
                // the square root lets the few confusions show next to the many hits
                let f = (c as f64 / total).sqrt();
                let (x, y) = (p as i32, n - 1 - t as i32);
                let cell = [(Exact(x), Exact(y)), (Exact(x + 1), Exact(y + 1))];
                chart.draw_series([Rectangle::new(cell, shade(f).filled())])?;
                let style = text(13, HPos::Center).color(if f > 0.5 { &WHITE } else { &BLACK });
                let count = Text::new(c.to_string(), (CenterOf(x), CenterOf(y)), style);
                chart.draw_series([count])?;
            }
        }
        Ok(())
    }
}

/// Horizontal grouped bars of values from 0 to 1 (accuracies): one row per group (e.g. a
/// configuration), one bar per series (e.g. "shinso" and "course"). Missing values leave a gap.
#[derive(Clone, Debug)]
pub struct Bars {
    pub title: String,
    pub x_label: String,
    pub groups: Vec<String>,
    /// (series name, one value per group)
    pub series: Vec<(String, Vec<Option<f64>>)>,
}

impl Bars {
    /// Write the chart, 900 pixels wide and as tall as its bars need.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (g, s) = (self.groups.len().max(1), self.series.len().max(1));
        let h = 130 + 34 * g as u32 * (s as u32 + 1) / 2;
        render(path, (900, h.clamp(260, 2000)), self)
    }
}

impl Figure for Bars {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        let ng = self.groups.len().max(1) as f64;
        let ns = self.series.len().max(1) as u32;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 20))
            .margin(12)
            .margin_top(14 + 18 * ns) // room for the legend
            .margin_right(48)
            .x_label_area_size(40)
            .y_label_area_size((16 + text_width(&self.groups)).min(400))
            .build_cartesian_2d(0.0..1.0, 0.0..ng)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(&self.x_label)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        let band = 0.8 / ns as f64;
        let names = self.series.iter().map(|s| &s.0);
        let legend_x = root.dim_in_pixel().0 as i32 - 42 - text_width(names) as i32;
        for (si, (name, vals)) in self.series.iter().enumerate() {
            let c = color(si);
            for (g, v) in vals.iter().enumerate() {
                let Some(v) = *v else { continue };
                // group 0 at the top, its series one under the other
                let top = ng - g as f64 - 0.1 - band * si as f64;
                let end = v.clamp(0.0, 1.0);
                chart.draw_series([Rectangle::new([(0.0, top - band), (end, top)], c.filled())])?;
                let (px, py) = chart.backend_coord(&(end, top - band / 2.0));
                root.draw_text(&format!("{v:.3}"), &text(11, HPos::Left), (px + 3, py))?;
            }
            // the legend: top right, above the plot
            let (x, y) = (legend_x, 12 + 18 * si as i32);
            root.draw(&Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()))?;
            root.draw_text(name, &text(13, HPos::Left), (x + 20, y))?;
        }
        // group labels, right-aligned left of the axis
        for (g, name) in self.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, ng - g as f64 - 0.5));
            root.draw_text(name, &text(13, HPos::Right), (px - 8, py))?;
        }
        Ok(())
    }
}
