//! Model files' tensors and bytes: every preset's tensor list, read from its network type
//! without building a network, is what a built network shows when visited and what
//! host/README.md documents; the same model and metadata always give the same file.

use shinso::{Init, Tensor, Visitor};
use shinso_host::io::safetensors::{self, Metadata};
use shinso_host::nets::Preset;

/// Names and shapes as a visit of a built network shows them, named here by counting layers.
#[derive(Default)]
struct Visited {
    layers: usize,
    kind: &'static str,
    floats: usize,
    out: Vec<(String, Vec<usize>)>,
}

impl Visitor for Visited {
    fn layer(&mut self, kind: &'static str) {
        (self.layers, self.kind) = (self.layers + 1, kind);
    }
    fn tensor(&mut self, t: Tensor<'_>) {
        let shape: Vec<usize> = t.shape.iter().copied().take_while(|&d| d != 0).collect();
        assert_eq!(shape.iter().product::<usize>(), t.value.len());
        self.floats += t.value.len();
        let name = format!("{}.{}.{}", self.layers - 1, self.kind, t.kind.name());
        self.out.push((name, shape));
    }
}

#[test]
fn every_preset_lists_the_tensors_its_network_holds() {
    for &preset in Preset::all() {
        let mut visited = Visited::default();
        preset.build().visit(&mut visited);
        assert_eq!(preset.tensors(), visited.out, "{preset:?}");
        assert_eq!(visited.floats, preset.shape().1, "{preset:?}");
    }
}

#[test]
fn the_mlp_lists_the_tensors_the_readme_shows() {
    let bn = |layer: usize, n: usize| {
        ["gamma", "beta", "running_mean", "running_var"]
            .map(|t| (format!("{layer}.batchnorm.{t}"), vec![n]))
    };
    let mut want = vec![
        ("0.affine.weight".to_string(), vec![784, 40]),
        ("0.affine.bias".to_string(), vec![40]),
    ];
    want.extend(bn(1, 40));
    want.push(("2.affine.weight".into(), vec![40, 20]));
    want.push(("2.affine.bias".into(), vec![20]));
    want.extend(bn(3, 20));
    want.push(("4.affine.weight".into(), vec![20, 10]));
    want.push(("4.affine.bias".into(), vec![10]));
    assert_eq!(Preset::Mlp.tensors(), want);
}

/// The safetensors crate takes metadata as a `HashMap` (a new order in every map); the file
/// still comes out the same, its metadata keys in sorted order, and reads back.
#[test]
fn the_same_model_and_metadata_give_the_same_bytes() {
    let mut model = Preset::OnlineMlp.build();
    model.init(Init::He, 3);
    let meta: Metadata = (0..16)
        .map(|i| (format!("key{i:02}"), i.to_string()))
        .collect();
    let files: Vec<Vec<u8>> = (0..4)
        .map(|_| safetensors::encode_model(&mut *model, &meta, Vec::new()).unwrap())
        .collect();
    assert!(files.iter().all(|f| *f == files[0]));
    let n = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&files[0][8..8 + n]).unwrap();
    let keys: Vec<usize> = meta
        .keys()
        .map(|k| header.find(&format!("\"{k}\"")).unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{header}");
    let back = safetensors::parse(&files[0]).unwrap();
    assert_eq!(back.meta["key07"], "7");
    assert_eq!(back.meta["preset"], "online-mlp");
    assert_eq!(back.tensors.len(), Preset::OnlineMlp.tensors().len());
}

#[test]
fn every_preset_is_found_by_the_name_it_writes() {
    // `Preset::name` reads a table in the order of the variants; the command line's names
    // come from clap. The two must agree, or files would name presets no flag knows.
    for &preset in Preset::all() {
        assert_eq!(Preset::from_name(preset.name()), Some(preset), "{preset:?}");
    }
}
