//! The data loader: every way a data directory can be damaged gives its one-line error; shifts,
//! rotations, augmentation and sampling against hand-worked examples.

use std::io::Write;
use std::path::Path;

use shinso_host::data::*;

fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A valid directory with `n` 4x3 images; returns the temp dir.
fn make_dir(n: usize, gzip: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let px: Vec<u8> = (0..n * 12).map(|i| (i % 256) as u8).collect();
    let lb: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let files = [
        ("train-images-idx3-ubyte", idx_bytes(&[n as u32, 4, 3], &px)),
        ("train-labels-idx1-ubyte", idx_bytes(&[n as u32], &lb)),
        ("t10k-images-idx3-ubyte", idx_bytes(&[n as u32, 4, 3], &px)),
        ("t10k-labels-idx1-ubyte", idx_bytes(&[n as u32], &lb)),
    ];
    for (name, b) in files {
        if gzip {
            std::fs::write(dir.path().join(format!("{name}.gz")), gz(&b)).unwrap();
        } else {
            std::fs::write(dir.path().join(name), b).unwrap();
        }
    }
    dir
}

fn err_of(dir: &Path) -> (DataError, String) {
    let e = load_dir(dir).unwrap_err();
    let s = e.to_string();
    assert!(!s.contains('\n'), "error must be one line: {s}");
    (e, s)
}

#[test]
fn loads_raw_and_gzip() {
    for gzip in [false, true] {
        let d = make_dir(30, gzip);
        let m = load_dir(d.path()).unwrap();
        assert_eq!(m.train.len(), 30);
        assert_eq!((m.train.rows, m.train.cols), (4, 3));
        assert_eq!(m.train.images.len(), 30 * 12);
        assert_eq!(m.train.images[1], 1.0 / 255.0);
        assert_eq!(m.train.images[255], 1.0);
        assert!(m.train.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert_eq!(m.test.labels[3], 3);
    }
}

#[test]
fn missing_file() {
    let d = make_dir(3, false);
    std::fs::remove_file(d.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let (e, s) = err_of(d.path());
    assert!(
        matches!(
            e,
            DataError::Missing {
                what: "test labels",
                ..
            }
        ),
        "{s}"
    );
    assert!(s.contains("t10k-labels-idx1-ubyte.gz"), "{s}");
    let (e, _) = err_of(&d.path().join("nope"));
    assert!(matches!(e, DataError::NoDir { .. }));
    let e = read_idx(&d.path().join("absent")).unwrap_err();
    assert!(matches!(e, DataError::NotFound { .. }));
}

#[test]
fn truncated_file() {
    let d = make_dir(3, false);
    let p = d.path().join("train-images-idx3-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b.truncate(b.len() - 5);
    std::fs::write(&p, &b).unwrap();
    let (e, s) = err_of(d.path());
    assert!(
        matches!(
            e,
            DataError::Truncated {
                expected: 52,
                actual: 47,
                ..
            }
        ),
        "{s}"
    );
    assert!(
        s.contains("train-images-idx3-ubyte") && s.contains("truncated"),
        "{s}"
    );
    // truncated inside the header
    std::fs::write(&p, &b[..9]).unwrap();
    assert!(matches!(
        err_of(d.path()).0,
        DataError::Truncated {
            expected: 16,
            actual: 9,
            ..
        }
    ));
    // empty file
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(err_of(d.path()).0, DataError::Truncated { .. }));
}

#[test]
fn trailing_bytes() {
    let d = make_dir(3, false);
    let p = d.path().join("train-labels-idx1-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b.extend_from_slice(&[1, 2]);
    std::fs::write(&p, &b).unwrap();
    assert!(matches!(
        err_of(d.path()).0,
        DataError::TrailingBytes { extra: 2, .. }
    ));
}

#[test]
fn bad_magic() {
    let d = make_dir(3, false);
    let p = d.path().join("train-images-idx3-ubyte");
    std::fs::write(&p, b"PK\x03\x04 this is a zip file").unwrap();
    let (e, s) = err_of(d.path());
    assert!(matches!(e, DataError::BadMagic { .. }), "{s}");
    assert!(s.contains("50 4b 03 04"), "{s}");
    // float IDX (type 0x0d) is not supported
    std::fs::write(&p, idx_bytes(&[1, 1, 1], &[0, 0, 0, 0])).unwrap();
    let mut b = std::fs::read(&p).unwrap();
    b[2] = 0x0d;
    std::fs::write(&p, &b).unwrap();
    assert!(matches!(err_of(d.path()).0, DataError::BadMagic { .. }));
}

#[test]
fn wrong_kind() {
    let d = make_dir(3, false);
    std::fs::copy(
        d.path().join("train-labels-idx1-ubyte"),
        d.path().join("train-images-idx3-ubyte"),
    )
    .unwrap();
    let (e, s) = err_of(d.path());
    assert!(matches!(e, DataError::WrongKind { .. }), "{s}");
}

#[test]
fn corrupt_gzip() {
    let d = make_dir(50, true);
    let p = d.path().join("train-images-idx3-ubyte.gz");
    let mut b = std::fs::read(&p).unwrap();
    // clobber the deflate stream
    for x in b.iter_mut().skip(12).take(40) {
        *x ^= 0x5a;
    }
    std::fs::write(&p, &b).unwrap();
    let (e, s) = err_of(d.path());
    assert!(matches!(e, DataError::Gzip { .. }), "{s}");
    assert!(
        s.contains("train-images-idx3-ubyte.gz") && s.contains("gzip"),
        "{s}"
    );
    // a gzip cut short
    let good = gz(&idx_bytes(&[50, 4, 3], &[7; 600]));
    std::fs::write(&p, &good[..good.len() / 2]).unwrap();
    assert!(matches!(err_of(d.path()).0, DataError::Gzip { .. }));
}

#[test]
fn count_mismatch() {
    let d = make_dir(3, false);
    std::fs::write(
        d.path().join("t10k-labels-idx1-ubyte"),
        idx_bytes(&[2], &[1, 2]),
    )
    .unwrap();
    let (e, s) = err_of(d.path());
    assert!(
        matches!(
            e,
            DataError::CountMismatch {
                n_images: 3,
                n_labels: 2,
                ..
            }
        ),
        "{s}"
    );
    assert!(s.contains("3 images") && s.contains("2 labels"), "{s}");
}

#[test]
fn label_out_of_range() {
    let d = make_dir(3, false);
    std::fs::write(
        d.path().join("train-labels-idx1-ubyte"),
        idx_bytes(&[3], &[1, 10, 2]),
    )
    .unwrap();
    let (e, s) = err_of(d.path());
    assert!(
        matches!(
            e,
            DataError::BadLabel {
                index: 1,
                value: 10,
                ..
            }
        ),
        "{s}"
    );
}

#[test]
fn shape_mismatch_and_empty() {
    let d = make_dir(3, false);
    std::fs::write(
        d.path().join("t10k-images-idx3-ubyte"),
        idx_bytes(&[3, 2, 6], &[0; 36]),
    )
    .unwrap();
    assert!(matches!(
        err_of(d.path()).0,
        DataError::ShapeMismatch { .. }
    ));
    std::fs::write(
        d.path().join("t10k-images-idx3-ubyte"),
        idx_bytes(&[0, 4, 3], &[]),
    )
    .unwrap();
    assert!(matches!(err_of(d.path()).0, DataError::BadHeader { .. }));
    // absurd dimensions are refused before any allocation
    std::fs::write(
        d.path().join("t10k-images-idx3-ubyte"),
        idx_bytes(&[u32::MAX, u32::MAX, 4], &[]),
    )
    .unwrap();
    assert!(matches!(err_of(d.path()).0, DataError::BadHeader { .. }));
}

#[test]
fn alternative_names() {
    let d = make_dir(3, false);
    std::fs::rename(
        d.path().join("t10k-images-idx3-ubyte"),
        d.path().join("t10k-images.idx3-ubyte"),
    )
    .unwrap();
    assert_eq!(load_dir(d.path()).unwrap().test.len(), 3);
}

#[test]
fn bundled_data_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let m = load_dir(&dir).unwrap();
    assert_eq!(m.train.len(), 10_000);
    assert_eq!(m.test.len(), 10_000);
    assert_eq!((m.train.rows, m.train.cols), (28, 28));
    // the first official training labels: 5 0 4 1 9 2 1 3 1 4
    assert_eq!(&m.train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // the first official test labels: 7 2 1 0 4 1 4 9 5 9
    assert_eq!(&m.test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert!((0..10).all(|c| m.train.labels.iter().filter(|&&l| l == c).count() > 800));
}

#[test]
fn shift_moves_pixels_and_zero_fills() {
    // 3x4 image with distinct values 1..=12
    let src: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let mut dst = vec![-1.0; 12];
    shift_image(&src, &mut dst, 3, 4, 1, 0);
    assert_eq!(dst, vec![0., 1., 2., 3., 0., 5., 6., 7., 0., 9., 10., 11.]);
    shift_image(&src, &mut dst, 3, 4, -2, 1);
    assert_eq!(dst, vec![0., 0., 0., 0., 3., 4., 0., 0., 7., 8., 0., 0.]);
    shift_image(&src, &mut dst, 3, 4, 0, 0);
    assert_eq!(dst, src);
    shift_image(&src, &mut dst, 3, 4, 5, 0);
    assert!(dst.iter().all(|&v| v == 0.0));
    // shifting back and forth keeps the interior
    let mut back = vec![0.0; 12];
    shift_image(&src, &mut dst, 3, 4, 1, 1);
    shift_image(&dst, &mut back, 3, 4, -1, -1);
    assert_eq!(&back[..3], &src[..3]);
    assert_eq!(&back[4..7], &src[4..7]);
}

#[test]
fn augmenter_is_deterministic_and_bounded() {
    let mut img = vec![0.0f32; 28 * 28];
    img[14 * 28 + 14] = 1.0; // one lit pixel in the centre
    let batch: Vec<f32> = img.iter().cycle().take(28 * 28 * 50).copied().collect();
    let run = |seed| {
        let mut b = batch.clone();
        Augmenter::new(2, seed).apply(&mut b, 28, 28);
        b
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
    let out = run(3);
    let mut moved = 0;
    for im in out.chunks(28 * 28) {
        let pos = im.iter().position(|&v| v == 1.0).unwrap();
        let (y, x) = ((pos / 28) as i32, (pos % 28) as i32);
        assert!((y - 14).abs() <= 2 && (x - 14).abs() <= 2);
        assert_eq!(im.iter().filter(|&&v| v != 0.0).count(), 1);
        moved += (pos != 14 * 28 + 14) as usize;
    }
    assert!(moved > 30);
}

#[test]
fn sampler_visits_each_index_once_per_epoch() {
    let mut s = EpochSampler::new(10, 1);
    let mut seen = [0; 10];
    let mut b = [0usize; 5];
    for _ in 0..2 {
        s.next_batch(&mut b);
        for &i in &b {
            seen[i] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c == 1));
    // a batch may straddle epochs: 30 more indices are three more passes, each of every index
    let mut b3 = [0usize; 3];
    for _ in 0..10 {
        s.next_batch(&mut b3);
        for &i in &b3 {
            seen[i] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c == 4));
}

#[test]
fn pixels_scale_as_the_device_scales_them() {
    // firmware/app/src/slot.rs: `p as f32 * (1.0 / 255.0)`; the device's bytes come back exactly
    let mut differs_from_division = 0;
    for p in 0..=255u8 {
        let device = p as f32 * (1.0 / 255.0);
        assert_eq!(pixel(p).to_bits(), device.to_bits(), "pixel {p}");
        assert_eq!((pixel(p) * 255.0).round() as u8, p);
        differs_from_division += (device != p as f32 / 255.0) as usize;
    }
    // why one scaling matters: the other way of writing it differs in the last bit this often
    assert_eq!(differs_from_division, 126);
}

/// A data set of one image, labelled 7.
fn one(img: Vec<f32>, rows: usize, cols: usize) -> Dataset {
    Dataset {
        images: img,
        labels: vec![7],
        rows,
        cols,
    }
}

/// A quarter turn moves pixels exactly: the top-right corner goes to the top-left, the
/// top-left to the bottom-left (counter-clockwise on screen).
#[test]
fn a_quarter_turn_moves_pixels_counter_clockwise() {
    #[rustfmt::skip]
    let img = vec![
        1.0, 0.0, 2.0,
        0.0, 5.0, 0.0,
        0.0, 0.0, 3.0,
    ];
    let r = rotate::rotate(&one(img, 3, 3), 90.0);
    #[rustfmt::skip]
    let want = [
        2.0, 0.0, 3.0,
        0.0, 5.0, 0.0,
        1.0, 0.0, 0.0,
    ];
    for (g, w) in r.images.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{:?}", r.images);
    }
    assert_eq!(r.labels, vec![7]);
}

/// 30° by hand on a 2×2 image (centre (0.5, 0.5)): the output pixel (row 0, col 1) sits at
/// offset (dx, dy) = (0.5, −0.5) and reads the input at
/// x = 0.5 + 0.5·cos30° + 0.5·sin30° = 1.1830, y = 0.5 + 0.5·sin30° − 0.5·cos30° = 0.3170:
/// between input pixels (0, 1) = 1 and (1, 1) = 0.5, with background past the last column,
/// so 1·(1 − 0.3170)(1 − 0.1830) + 0.5·0.3170·(1 − 0.1830) = 0.6875.
#[test]
fn thirty_degrees_interpolates_as_worked_by_hand() {
    let img = vec![0.0, 1.0, 0.0, 0.5]; // row 0: 0, 1; row 1: 0, 0.5
    let r = rotate::rotate(&one(img, 2, 2), 30.0);
    assert!((r.images[1] - 0.6875).abs() < 1e-6, "{:?}", r.images);
}

#[test]
fn no_turn_is_the_identity_and_outside_is_background() {
    let img: Vec<f32> = (0..16).map(|v| v as f32 / 16.0).collect();
    let d = one(img.clone(), 4, 4);
    assert_eq!(rotate::rotate(&d, 0.0).images, img);
    // A half turn of a 4×4 image reverses it exactly, nothing falls outside.
    let half = rotate::rotate(&d, 180.0).images;
    for (g, w) in half.iter().zip(img.iter().rev()) {
        assert!((g - w).abs() < 1e-6);
    }
    // At 45° the corners of a 28×28 image read 5.6 pixels above it: background, while the
    // centre keeps its ink.
    let turned = rotate::rotate(&one(vec![1.0; 784], 28, 28), 45.0).images;
    assert_eq!(turned[0], 0.0);
    assert!((turned[14 * 28 + 14] - 1.0).abs() < 1e-6);
}
