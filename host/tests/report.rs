//! What the reports are made of: the experiment table, confusion matrices, `metrics.csv`.

use shinso_host::report::experiments::{experiments, slug};
use shinso_host::report::metrics::write_csv;
use shinso_host::train::{Confusion, Record};

#[test]
fn experiment_lists_are_valid() {
    for quick in [false, true] {
        let (groups, exps) = experiments(quick, 1, 10_000).unwrap();
        assert_eq!(
            groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
            [
                "init",
                "optimizers",
                "sgd-run",
                "descent",
                "batchnorm",
                "overfitting",
                "convnet"
            ]
        );
        for e in &exps {
            e.cfg.validate().unwrap();
            assert!(groups.iter().any(|g| g.id == e.group));
        }
        assert_eq!(
            exps.iter().filter(|e| e.course.is_some()).count(),
            6 + 3 + 8 + 5 + 1
        );
    }
}

#[test]
fn slugs() {
    assert_eq!(slug("dropout 0.15 + L1 λ 0.005"), "dropout-0-15-l1-0-005");
    assert_eq!(slug("relu + He"), "relu-he");
}

#[test]
fn confusion_counts() {
    let mut c = Confusion::default();
    c.add(1, 1);
    c.add(1, 7);
    c.add(3, 3);
    assert_eq!(c.total(), 3);
    assert!((c.accuracy() - 2.0 / 3.0).abs() < 1e-12);
    let pc = c.per_class();
    assert_eq!(pc[1], 0.5);
    assert_eq!(pc[3], 1.0);
    assert_eq!(pc[0], 0.0);
    let t = c.to_table();
    assert_eq!(t.lines().count(), 12);
    // class 1: one right, one taken for a 7
    let row1 = "        1 |     0     1     0     0     0     0     0     1     0     0 | 0.5000";
    assert_eq!(t.lines().nth(3), Some(row1), "{t}");
}

#[test]
fn metrics_csv_has_one_row_per_record_and_empty_cells_for_missing_accuracies() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("metrics.csv");
    let rs = [
        Record {
            iteration: 50,
            epoch: 0.5,
            loss: 2.25,
            train_accuracy: Some(0.125),
            test_accuracy: Some(0.25),
        },
        Record {
            iteration: 100,
            epoch: 1.0,
            loss: 0.5,
            train_accuracy: None,
            test_accuracy: Some(0.75),
        },
    ];
    write_csv(&p, &rs).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert_eq!(
        text,
        "iteration,epoch,loss,train_accuracy,test_accuracy\n50,0.5,2.25,0.125,0.25\n100,1.0,0.5,,0.75\n"
    );
    write_csv(&p, &[]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "iteration,epoch,loss,train_accuracy,test_accuracy\n"
    );
}
