//! Chapter: batch normalisation. A deep network (five hidden layers of 32 ReLU units) trained
//! with and without batch norm from three weight scales, as in the course's batch-norm
//! experiment: without it, weights that are too small (σ = 0.01) starve every later layer and
//! nothing learns, and weights too large (σ = 1) make the gradients overflow; with it each layer's inputs are re-centred and re-scaled whatever the
//! weights, and training proceeds at every scale.
//!
//! Then inference: it uses the running averages, not the batch's statistics, so a sample's
//! prediction does not depend on what else is in the batch.
//!
//! `cargo run --release -p shinso --example batch_norm`

mod common;

use common::{accuracy, claim, train, Blobs};
use shinso::zoo::Dense;
use shinso::{stack, Affine, Init, Knobs, Network, Rule, WeightDecay};

type Deep = stack![
    Dense<8, 32>,
    Dense<32, 32>,
    Dense<32, 32>,
    Dense<32, 32>,
    Dense<32, 32>,
    Affine<32, 4>
];

fn main() -> Result<(), shinso::Error> {
    let blobs = Blobs::<8, 4>::new(1.5);
    let set = blobs.draw(500, 1);
    println!("training accuracy after 300 steps of SGD (lr 0.1, batch 50)");
    println!("  {:<16} {:>10} {:>10}", "init", "without", "with BN");
    let mut results = Vec::new();
    for (name, init) in [
        ("Gaussian 0.01", Init::Gaussian(0.01)),
        ("He", Init::He),
        ("Gaussian 1.0", Init::Gaussian(1.0)),
    ] {
        let mut row = [None; 2];
        for (slot, batch_norm) in row.iter_mut().zip([false, true]) {
            let mut net = Network::<Deep>::boxed();
            net.configure(&Knobs {
                batch_norm,
                ..Knobs::default()
            });
            net.init(init, 1);
            // A step whose gradient overflows is refused (the network is left as it was):
            // that is the run diverging.
            if train(
                &mut net,
                &set,
                Rule::sgd(0.1),
                WeightDecay::default(),
                50,
                300,
                2,
            )
            .is_ok()
            {
                *slot = Some(accuracy(&net, &set.x, &set.labels)?);
            }
        }
        let shown = row.map(|a| a.map_or("diverged".into(), |a| format!("{a:.3}")));
        println!("  {name:<16} {:>10} {:>10}", shown[0], shown[1]);
        results.push(row);
    }
    claim(
        "σ = 0.01 without batch norm does not learn (at most 0.4, chance is 0.25)",
        results[0][0].is_some_and(|a| a <= 0.4),
    );
    claim(
        "with batch norm every initial scale reaches 0.9",
        results.iter().all(|r| r[1].is_some_and(|a| a >= 0.9)),
    );

    // Inference with the running statistics: one sample alone or in a batch of 500.
    let mut net = Network::<Deep>::boxed();
    net.configure(&Knobs {
        batch_norm: true,
        ..Knobs::default()
    });
    net.init(Init::He, 1);
    train(
        &mut net,
        &set,
        Rule::sgd(0.1),
        WeightDecay::default(),
        50,
        100,
        2,
    )?;
    let mut arena = vec![0.0; Network::<Deep>::predict_arena(set.x.len())];
    let in_batch = net.predict(&set.x, &mut arena)?[7];
    let alone = net.predict(&set.x[7..8], &mut arena)?[0];
    println!(
        "\nsample 7 in a batch of 500: {in_batch:.4?}\nsample 7 alone:             {alone:.4?}"
    );
    claim(
        "inference uses the running statistics: the same output alone as in a batch",
        in_batch
            .iter()
            .zip(alone)
            .all(|(a, b)| (a - b).abs() < 1e-5),
    );
    Ok(())
}
