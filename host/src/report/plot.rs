//! Charts as PNG (or SVG, chosen by the file extension).
//!
//! Text is rendered with DejaVu Sans compiled into the binary (`assets/DejaVuSans.ttf`,
//! registered with plotters' `ab_glyph` backend), so plots work on machines with no fonts
//! installed at all.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::train::{Confusion, Record};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Register the bundled font with plotters (idempotent; done by every plotting function).
pub fn init_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            // The font is compiled in and known valid (host/tests/plots.rs renders text with it).
            let _ = plotters::style::register_font(FAMILY, style, FONT);
        }
    });
}

/// Distinguishable colours (Okabe–Ito, then Tableau).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(240, 200, 30),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Something that draws itself on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Render a figure to `path`: SVG if the name ends in `.svg`, PNG otherwise.
fn render<F: Figure>(path: &Path, size: (u32, u32), fig: &F) -> Result<()> {
    init_font();
    let is_svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let ctx = || format!("{}: cannot draw plot", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(anyhow!("{}: directory does not exist", parent.display()))
                .with_context(ctx);
        }
    }
    let drawn = if is_svg {
        paint(SVGBackend::new(path, size).into_drawing_area(), fig).map_err(|e| anyhow!("{e}"))
    } else {
        paint(BitMapBackend::new(path, size).into_drawing_area(), fig).map_err(|e| anyhow!("{e}"))
    };
    drawn.with_context(ctx)
}

/// `fig` on a white `root`, written out.
fn paint<DB: DrawingBackend, F: Figure>(
    root: DrawingArea<DB, Shift>,
    fig: &F,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    fig.draw(&root)?;
    root.present()
}

/// How a series is stroked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
}

/// One curve.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub stroke: Stroke,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self {
            name: name.into(),
            points,
            color,
            stroke: Stroke::Solid,
        }
    }
    pub fn dashed(mut self) -> Self {
        self.stroke = Stroke::Dashed;
        self
    }
}

/// Where the legend goes.
#[derive(Clone, Copy, Debug)]
pub enum Legend {
    UpperRight,
    LowerRight,
    UpperLeft,
    LowerLeft,
}

/// A line chart of several series.
#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; otherwise the data's range with a margin.
    pub y_range: Option<(f64, f64)>,
    pub legend: Legend,
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
            legend: Legend::UpperRight,
        }
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let pts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in pts {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let (y0, y1) = match self.y_range {
            Some(r) => r,
            None => {
                let pad = ((y1 - y0) * 0.05).max(1e-3);
                (
                    if y0 >= 0.0 {
                        (y0 - pad).max(0.0)
                    } else {
                        y0 - pad
                    },
                    y1 + pad,
                )
            }
        };
        ((x0, x1), (y0, y1))
    }

    /// Write the chart (PNG, or SVG by extension), 800×500 pixels.
    pub fn save(&self, path: &Path) -> Result<()> {
        render(path, (800, 500), self)
    }
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
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
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            let c = s.color;
            match s.stroke {
                Stroke::Solid => chart.draw_series(LineSeries::new(pts.clone(), style))?,
                Stroke::Dashed => {
                    chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, style))?
                }
            }
            .label(&s.name)
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    ShapeStyle::from(&c).stroke_width(2),
                )
            });
            if pts.len() <= 40 {
                chart.draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, 3, ShapeStyle::from(&c).filled())),
                )?;
            }
        }
        if !self.series.is_empty() {
            let pos = match self.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            };
            chart
                .configure_series_labels()
                .position(pos)
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
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".into()
        } else {
            t.into()
        }
    } else {
        s
    }
}

/// `accuracy.png` as the course draws it: training and test accuracy against the x axis
/// (iterations or epochs), y from 0 to 1 — unless every point is above 0.8 (a convnet), where
/// the axis zooms in so the gap between training and test stays visible.
pub fn accuracy_chart(records: &[Record], by_epoch: bool, title: &str) -> LineChart {
    let x = |r: &Record| {
        if by_epoch {
            r.epoch
        } else {
            r.iteration as f64
        }
    };
    let mut c = LineChart::new(
        title,
        if by_epoch { "epoch" } else { "iteration" },
        "accuracy",
    );
    let train: Vec<_> = records
        .iter()
        .filter_map(|r| r.train_accuracy.map(|a| (x(r), a)))
        .collect();
    let test: Vec<_> = records
        .iter()
        .filter_map(|r| r.test_accuracy.map(|a| (x(r), a)))
        .collect();
    let lowest = train.iter().chain(&test).map(|p| p.1).fold(1.0, f64::min);
    c.series.push(Series::new("train", train, color(0)));
    c.series.push(Series::new("test", test, color(1)).dashed());
    c.y_range = (lowest <= 0.8).then_some((0.0, 1.0));
    c.legend = Legend::LowerRight;
    c
}

/// `loss.png`: training loss against the x axis.
pub fn loss_chart(records: &[Record], by_epoch: bool, title: &str) -> LineChart {
    let x = |r: &Record| {
        if by_epoch {
            r.epoch
        } else {
            r.iteration as f64
        }
    };
    let mut c = LineChart::new(title, if by_epoch { "epoch" } else { "iteration" }, "loss");
    let pts: Vec<_> = records
        .iter()
        .filter(|r| r.loss.is_finite())
        .map(|r| (x(r), r.loss))
        .collect();
    c.series.push(Series::new("training loss", pts, color(0)));
    c
}

/// A confusion-matrix heatmap: rows true classes, columns predictions, cells shaded by the
/// fraction of the row, with counts written in.
#[derive(Clone, Debug)]
pub struct Heatmap<'a> {
    pub title: String,
    pub confusion: &'a Confusion,
    pub names: Vec<String>,
}

impl Heatmap<'_> {
    pub fn save(&self, path: &Path) -> Result<()> {
        render(path, (720, 680), self)
    }
}

fn shade(f: f64) -> RGBColor {
    // white -> deep blue
    let f = f.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

impl Figure for Heatmap<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let n = self.confusion.m.len() as i32;
        let names = self.names.clone();
        let names2 = self.names.clone();
        let label_w = 20 + 8 * names.iter().map(|s| s.chars().count()).max().unwrap_or(1) as u32;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 22))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(label_w.max(48))
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
            .x_label_formatter(&move |v| match v {
                SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&move |v| match v {
                SegmentValue::CenterOf(i) => names2
                    .get((n - 1 - *i) as usize)
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        let m = &self.confusion.m;
        for (t, row) in m.iter().enumerate() {
            let total: u64 = row.iter().map(|&c| c as u64).sum();
            for (p, &c) in row.iter().enumerate() {
                let f = if total == 0 {
                    0.0
                } else {
                    c as f64 / total as f64
                };
                let y = n - 1 - t as i32;
                let x = p as i32;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    shade(f.sqrt()).filled(),
                )))?;
                let fg = if f.sqrt() > 0.5 { WHITE } else { BLACK };
                let style = TextStyle::from((FAMILY, 13).into_font())
                    .color(&fg)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series(std::iter::once(Text::new(
                    c.to_string(),
                    (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                    style,
                )))?;
            }
        }
        Ok(())
    }
}

/// Horizontal grouped bars: one row per group (e.g. a configuration), one bar per series
/// (e.g. "shinso" and "course"). Missing values leave a gap.
#[derive(Clone, Debug)]
pub struct Bars {
    pub title: String,
    pub x_label: String,
    pub groups: Vec<String>,
    /// (series name, one value per group)
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// Fixed value range; default 0..max(1, data).
    pub range: Option<(f64, f64)>,
}

impl Bars {
    pub fn save(&self, path: &Path) -> Result<()> {
        let h = 90
            + 34 * self.groups.len().max(1) as u32 * (self.series.len().max(1) as u32 + 1) / 2
            + 40;
        render(path, (900, h.clamp(260, 2000)), self)
    }
}

impl Figure for Bars {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let ng = self.groups.len().max(1) as f64;
        let ns = self.series.len().max(1);
        let vmax = self
            .series
            .iter()
            .flat_map(|s| s.1.iter().flatten())
            .fold(0.0f64, |a, &b| a.max(b));
        let (x0, x1) = self
            .range
            .unwrap_or((0.0, if vmax <= 1.0 { 1.0 } else { vmax * 1.1 }));
        let label_w = 16
            + 8 * self
                .groups
                .iter()
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(4) as u32;
        let top = 14 + 18 * ns as u32;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FAMILY, 20))
            .margin(12)
            .margin_top(top.max(12))
            .margin_right(48)
            .x_label_area_size(40)
            .y_label_area_size(label_w.min(400))
            .build_cartesian_2d(x0..x1, 0.0..ng)?;
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
        for (si, (_, vals)) in self.series.iter().enumerate() {
            let c = color(si);
            let rects: Vec<_> = vals
                .iter()
                .enumerate()
                .filter_map(|(g, v)| v.map(|v| (g, v)))
                .map(|(g, v)| {
                    // group 0 at the top
                    let top = ng - g as f64 - 0.1 - band * si as f64;
                    Rectangle::new([(x0, top - band), (v.clamp(x0, x1), top)], c.filled())
                })
                .collect();
            chart.draw_series(rects)?;
            let style =
                TextStyle::from((FAMILY, 11).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            for (g, v) in vals.iter().enumerate() {
                if let Some(v) = v {
                    let mid = ng - g as f64 - 0.1 - band * si as f64 - band / 2.0;
                    let (px, py) = chart.backend_coord(&(v.clamp(x0, x1), mid));
                    let text = if v.abs() < 10.0 {
                        format!("{v:.3}")
                    } else {
                        format!("{v:.0}")
                    };
                    root.draw_text(&text, &style, (px + 3, py))?;
                }
            }
        }
        // group labels, right-aligned left of the axis
        let style =
            TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (g, name) in self.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x0, ng - g as f64 - 0.5));
            root.draw_text(name, &style, (px - 8, py))?;
        }
        // legend: top right, above the plot
        let (w, _) = root.dim_in_pixel();
        let style =
            TextStyle::from((FAMILY, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let lw = 30
            + 8 * self
                .series
                .iter()
                .map(|s| s.0.chars().count())
                .max()
                .unwrap_or(4) as i32;
        for (si, (name, _)) in self.series.iter().enumerate() {
            let x = w as i32 - lw - 12;
            let y = 12 + 18 * si as i32;
            root.draw(&Rectangle::new(
                [(x, y - 6), (x + 14, y + 6)],
                color(si).filled(),
            ))?;
            root.draw_text(name, &style, (x + 20, y))?;
        }
        Ok(())
    }
}
