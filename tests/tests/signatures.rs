//! Saved models are found by their network's signature (the model blob's header, the device's
//! `PushBegin`, the host's presets): a change to how signatures are hashed, or to a zoo net's
//! layers or their names, would orphan every file saved before it. So each signature is
//! pinned here to its literal value; a deliberate change updates this table and says so.

use shinso::{zoo, Layer};
use shinso_host::nets::Preset;

/// Each network of the zoo, and the host preset that names it.
const PINNED: [(Preset, u64); 8] = [
    (Preset::Mlp, 0x16ae_8010_5c66_7190),
    (Preset::DeepMlp, 0xf22c_4ac9_2999_e1a4),
    (Preset::SimpleConvnet, 0x7d60_464a_d2bc_6ffd),
    (Preset::DoubleConvnet, 0x671d_bd48_7863_cf81),
    (Preset::Lenet, 0x28df_b7cb_9e93_4bd5),
    (Preset::AlexnetMini, 0xb7b4_1d9a_610c_5c52),
    (Preset::OnlineConvnet, 0xe289_7371_cd7e_3616),
    (Preset::OnlineMlp, 0x5168_1b47_845c_c432),
];

#[test]
fn zoo_signatures_are_pinned() {
    let zoo = [
        <zoo::Mlp as Layer>::SIGNATURE,
        <zoo::DeepMlp as Layer>::SIGNATURE,
        <zoo::SimpleConvNet as Layer>::SIGNATURE,
        <zoo::DoubleConvNet as Layer>::SIGNATURE,
        <zoo::LeNet as Layer>::SIGNATURE,
        <zoo::AlexNetMini as Layer>::SIGNATURE,
        <zoo::OnlineConvNet as Layer>::SIGNATURE,
        <zoo::OnlineMlp as Layer>::SIGNATURE,
    ];
    for ((preset, want), got) in PINNED.iter().zip(zoo) {
        assert_eq!(got, *want, "{preset:?}: {got:#018x}");
    }
}

/// Every preset is pinned, by the signature its files carry.
#[test]
fn preset_signatures_are_pinned() {
    assert_eq!(Preset::all().len(), PINNED.len());
    for (preset, want) in PINNED {
        let got = preset.shape().0;
        assert_eq!(got, want, "{preset:?}: {got:#018x}");
        assert_eq!(Preset::by_signature(want), Some(preset));
    }
}
