//! The charts: tick labels against hand-worked values, and every chart drawn as PNG and SVG
//! (which renders text with the bundled font).

use std::path::Path;

use shinso_host::report::plot::*;
use shinso_host::train::{Confusion, Record};

fn png_ok(path: &Path) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert!(b.len() > 2000);
}

#[test]
fn tick_labels() {
    assert_eq!(tick(2.0, 19.0), "2");
    assert_eq!(tick(0.9, 1.0), "0.9");
    assert_eq!(tick(0.25, 1.0), "0.25");
    assert_eq!(tick(1800.0, 1900.0), "1800");
    assert_eq!(tick(0.0015, 0.004), "0.0015");
    assert_eq!(tick(-0.0, 1.0), "0");
}

#[test]
fn draws_all_charts() {
    let tmp = tempfile::tempdir().unwrap();
    // SHINSO_KEEP_PLOTS=DIR keeps the pictures for a look
    let dir = match std::env::var_os("SHINSO_KEEP_PLOTS") {
        Some(k) => {
            std::fs::create_dir_all(&k).unwrap();
            std::path::PathBuf::from(k)
        }
        None => tmp.path().to_owned(),
    };
    let recs: Vec<Record> = (0..20)
        .map(|i| Record {
            iteration: i * 100,
            epoch: i as f64,
            loss: 2.3 / (1.0 + i as f64),
            train_accuracy: Some(1.0 - 0.9 / (1.0 + i as f64)),
            test_accuracy: Some(0.95 - 0.9 / (1.0 + i as f64)),
        })
        .collect();
    accuracy_chart(&recs, false, "accuracy")
        .save(&dir.join("a.png"))
        .unwrap();
    loss_chart(&recs, true, "loss")
        .save(&dir.join("l.png"))
        .unwrap();
    loss_chart(&recs, true, "loss")
        .save(&dir.join("l.svg"))
        .unwrap();
    let mut c = Confusion::default();
    for t in 0..10u8 {
        for p in 0..10u8 {
            for _ in 0..if t == p { 90 } else { (t + p) as usize % 3 } {
                c.add(t, p);
            }
        }
    }
    Heatmap {
        title: "confusion".into(),
        confusion: &c,
    }
    .save(&dir.join("c.png"))
    .unwrap();
    Bars {
        title: "bars".into(),
        x_label: "test accuracy".into(),
        groups: vec!["sigmoid + Gaussian".into(), "ReLU + He".into()],
        series: vec![
            ("shinso".into(), vec![Some(0.11), Some(0.95)]),
            ("course".into(), vec![Some(0.1135), None]),
        ],
    }
    .save(&dir.join("b.png"))
    .unwrap();
    for f in ["a.png", "l.png", "c.png", "b.png"] {
        png_ok(&dir.join(f));
    }
    assert!(std::fs::read_to_string(dir.join("l.svg"))
        .unwrap()
        .contains("<svg"));
    // empty chart still draws
    LineChart::new("empty", "x", "y")
        .save(&dir.join("e.png"))
        .unwrap();
    // a missing directory is a clean error
    let e = LineChart::new("x", "x", "y")
        .save(&dir.join("no/such/dir.png"))
        .unwrap_err();
    assert!(format!("{e:#}").contains("does not exist"));
}
