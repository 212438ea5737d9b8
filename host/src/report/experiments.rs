//! The course's experiments as a table: each group's setup and what it shows, each run's
//! configuration, the course's figure and the note on how ours compares.

use crate::nets::{ActKind, InitKind, Preset};
use crate::train::{OptKind, TrainConfig};

/// The ids of the experiment groups, in report order.
pub const GROUPS: [&str; 7] = [
    "init",
    "optimizers",
    "sgd-run",
    "descent",
    "batchnorm",
    "overfitting",
    "convnet",
];

/// An experiment group of the course.
pub struct Group {
    pub id: &'static str,
    pub title: &'static str,
    pub setup: String,
    /// What the group is about, and what differs from the course.
    pub intro: &'static str,
}

/// One run of a group.
pub struct Experiment {
    pub group: &'static str,
    pub name: String,
    pub cfg: TrainConfig,
    pub course: Option<f64>,
    /// What the course's number means here / why ours may differ.
    pub note: &'static str,
}

/// The experiment list (full or quick).
pub fn experiments(quick: bool, seed: u64, train_len: usize) -> (Vec<Group>, Vec<Experiment>) {
    let q = |full: usize, quick_n: usize| if quick { quick_n } else { full };
    let base = |p: Preset| {
        let mut c = TrainConfig::for_preset(p, train_len);
        c.seed = seed;
        c.augment_shift = 0;
        c.dropout = 0.0;
        c
    };
    let mut groups = Vec::new();
    let mut ex = Vec::new();

    // 1. activation × initialisation
    let it1 = q(2000, 400);
    groups.push(Group {
        id: "init",
        title: "Vanishing gradients: activation × weight initialisation",
        setup: format!("784-40-20-10 (`mlp`), SGD lr 0.1, batch 100, {it1} iterations, all 10,000 training images"),
        intro: "With sigmoid and weights of σ = 0.01 every hidden unit outputs nearly 0.5 and the \
                gradient shrinks by σ′ ≤ 0.25 per layer: the network does not learn. Xavier \
                (sigmoid) and He (ReLU) keep the activations spread out.",
    });
    let init_runs: [(ActKind, InitKind, f64, &str); 6] = [
        (ActKind::Sigmoid, InitKind::Gaussian, 0.1135, "Vanishing gradient: near chance, as in the course (0.1135 is the share of the most common digit, 1, in the test set)."),
        (ActKind::Relu, InitKind::Gaussian, 0.9248, "ReLU passes gradients unshrunk, so even tiny initial weights train."),
        (ActKind::Sigmoid, InitKind::Xavier, 0.8176, "Sigmoid with SGD learns slowly; the course's 2,000 iterations are 3.3 epochs of 60,000 images but 20 epochs of our 10,000, which helps us here."),
        (ActKind::Relu, InitKind::He, 0.953, "The course's best pairing. We have a sixth of the course's training images, so a test accuracy 1–2 points lower is expected."),
        (ActKind::Sigmoid, InitKind::He, 0.8112, "He's larger weights saturate sigmoids less than σ = 0.01 does; slow, like Xavier."),
        (ActKind::Relu, InitKind::Xavier, 0.9481, "Xavier is a little small for ReLU but trains well at this depth."),
    ];
    for (act, init, course, note) in init_runs {
        let mut c = base(Preset::Mlp);
        c.activation = act;
        c.init = init;
        c.init_std = 0.01;
        c.optimizer = OptKind::Sgd;
        c.lr = 0.1;
        c.batch_size = 100;
        c.iterations = it1;
        ex.push(Experiment {
            group: "init",
            name: format!("{} + {}", act.name(), init.name()),
            cfg: c,
            course: Some(course),
            note,
        });
    }

    // 2. optimizers
    let it2 = q(1000, 300);
    groups.push(Group {
        id: "optimizers",
        title: "Optimizers",
        setup: format!(
            "784-40-20-10 (`mlp`) with sigmoid and Xavier initialisation, batch 100, {it2} iterations, all 10,000 training images"
        ),
        intro: "The course compares update rules on a sigmoid MLP. It gives its figures for SGD \
                (learning rate 0.08), Momentum (μ 0.5) and RMSProp (ρ 0.55); the learning rates it \
                used for Momentum and RMSProp and its initialisation are not recorded in our \
                notes, so we use Xavier, lr 0.08 for SGD and Momentum, 0.1 for AdaGrad and \
                0.01 / 0.001 for RMSProp / Adam.",
    });
    let opt_runs: [(OptKind, &str, f32, Option<f64>, &str); 5] = [
        (OptKind::Sgd, "SGD lr 0.08", 0.08, Some(0.8975), "Plain SGD on a sigmoid net is slow; where ours is lower, the course's 60,000 images per epoch and its initialisation are the likely cause."),
        (OptKind::Momentum, "Momentum lr 0.08, μ 0.5", 0.08, Some(0.9042), "μ 0.5 is a weak momentum (the usual is 0.9): a modest gain over SGD, as in the course."),
        (OptKind::Adagrad, "AdaGrad lr 0.1", 0.1, None, "No course figure; AdaGrad's per-weight steps shrink as h grows."),
        (OptKind::Rmsprop, "RMSProp lr 0.01, ρ 0.55", 0.01, Some(0.9154), "RMSProp's normalised steps escape the flat sigmoid regions that slow SGD down."),
        (OptKind::Adam, "Adam lr 0.001", 0.001, None, "No course figure; Adam is the default for the convnets."),
    ];
    for (opt, name, lr, course, note) in opt_runs {
        let mut c = base(Preset::Mlp);
        c.activation = ActKind::Sigmoid;
        c.init = InitKind::Xavier;
        c.optimizer = opt;
        c.lr = lr;
        c.momentum = if opt == OptKind::Momentum { 0.5 } else { 0.9 };
        c.rho = if opt == OptKind::Rmsprop { 0.55 } else { 0.99 };
        c.batch_size = 100;
        c.iterations = it2;
        ex.push(Experiment {
            group: "optimizers",
            name: name.into(),
            cfg: c,
            course,
            note,
        });
    }

    // 2b. why SGD lr 0.08 falls short of the course: one factor changed per run
    groups.push(Group {
        id: "sgd-run",
        title: "Why SGD lr 0.08 reaches 0.71, not the course's 0.8975",
        setup: format!(
            "the optimizer group's SGD run (784-40-20-10 sigmoid, Xavier, lr 0.08, batch 100, {it2} iterations) with one factor changed per run; every row is compared with the course's SGD figure"
        ),
        intro: "Our SGD run stops at 0.71 where the course reports 0.8975. Each run below \
                changes one suspect. Neither the amount of data (the first 1,000 images give \
                the same accuracy as all 10,000, so the course's 60,000 would not help), nor \
                the batch size (25 is the same as 100), nor the seed (0.71–0.76) explains the \
                gap; a larger initial scale helps (He, σ = 0.3) but stays near 0.8. What \
                closes it is the length of the descent, learning rate × steps: lr 0.3, or 3,600 \
                steps at 0.08, reaches the course's 0.8975. The run is on the slow escape from \
                the sigmoid plateau (the loss is still 2.27 after 200 steps, training and test \
                accuracy are equal, nothing overfits), where accuracy depends steeply on how \
                far the weights have moved. So the course's run must have moved its weights \
                about 3.6 times as far as 1,000 steps of 0.08 on our averaged loss do: more \
                steps or a larger effective step (e.g. a loss summed rather than averaged over \
                part of the batch); its notebook's exact settings are not in our notes, so \
                which one remains open.",
    });
    let it_long = q(3600, 1080);
    let sgd_runs: [(&str, &str); 8] = [
        ("seed 2", "Another seed: the spread of this slow run between seeds is a few points."),
        ("seed 3", "A third seed."),
        ("batch 25", "A quarter of the samples per step, same steps: the same accuracy, so it is the number and size of steps that count, not the samples seen."),
        ("only the first 1,000 images", "A tenth of the data, the same accuracy: the run is not short of data (training and test accuracy agree), so the course's 60,000 images are not the cause."),
        ("He initialisation", "Larger initial weights (√2 × Xavier) start the sigmoids off the plateau a little sooner: some points better, still short of the course."),
        ("Gaussian σ 0.3", "Larger still: about as far as initial scale alone gets."),
        ("lr 0.3", "3.75 × the step: the course's figure."),
        ("3,600 iterations", "3.6 × the steps at lr 0.08: the course's figure again; lr × steps is what decides this run."),
    ];
    for (name, note) in sgd_runs {
        let mut c = base(Preset::Mlp);
        c.activation = ActKind::Sigmoid;
        c.init = InitKind::Xavier;
        c.optimizer = OptKind::Sgd;
        c.lr = 0.08;
        c.batch_size = 100;
        c.iterations = it2;
        match name {
            "seed 2" => c.seed = seed + 1,
            "seed 3" => c.seed = seed + 2,
            "batch 25" => c.batch_size = 25,
            "only the first 1,000 images" => {
                c.train_size = Some(1000);
                c.eval_train_samples = 1000;
            }
            "He initialisation" => c.init = InitKind::He,
            "Gaussian σ 0.3" => {
                c.init = InitKind::Gaussian;
                c.init_std = 0.3;
            }
            "lr 0.3" => c.lr = 0.3,
            _ => c.iterations = it_long,
        }
        ex.push(Experiment {
            group: "sgd-run",
            name: name.into(),
            cfg: c,
            course: Some(0.8975),
            note,
        });
    }

    // 2c. the four ways to feed gradient descent, one budget of per-sample gradients
    let budget = q(100_000, 20_000);
    groups.push(Group {
        id: "descent",
        title: "Gradient descent: full batch, mini-batch, stochastic, online",
        setup: format!(
            "784-40-20-10 (`mlp`), ReLU, He, SGD; {budget} per-sample gradients per run (one online pass: 10,000)"
        ),
        intro: "The same network fed four ways. Full batch averages the gradient over the whole \
                training set at every step; the trainer's batches hold at most 128 images, so \
                the full-batch run's training set is the first 128 images. Mini-batch takes 100 \
                shuffled images a step; stochastic one image a step; online also one a step, but \
                sees each image once, as a device does with samples arriving over the wire. \
                One image per step needs a smaller learning rate: the lr 0.1 that suits batches \
                of 100 makes single-image steps 100 times as noisy, and that run fails.",
    });
    let descent_runs: [(&str, usize, f32, usize, &str); 5] = [
        ("full batch (the first 128 images)", 128, 0.1, budget / 128, "Exact gradients of a 128-image training set: it is learnt perfectly (training accuracy 1.0) and generalises poorly; the full batch of 10,000 images would take 78 times as much work per step."),
        ("mini-batch 100", 100, 0.1, budget / 100, "The course's setting: the usual compromise, cheap steps with little noise."),
        ("stochastic, batch 1, lr 0.01", 1, 0.01, budget, "One image per step, 100 times the steps of the mini-batch run: as accurate, but each step does one image's work and is slower per image on a host."),
        ("stochastic, batch 1, lr 0.1", 1, 0.1, budget, "The mini-batch learning rate at batch 1: the steps are too noisy and the run does not learn."),
        ("online, one pass, lr 0.01", 1, 0.01, 10_000, "Each image once (a tenth of the others' budget): already above 0.9, the device's regime."),
    ];
    for (name, batch, lr, steps, note) in descent_runs {
        let mut c = base(Preset::Mlp);
        c.activation = ActKind::Relu;
        c.init = InitKind::He;
        c.optimizer = OptKind::Sgd;
        c.lr = lr;
        c.batch_size = batch;
        c.iterations = steps;
        c.eval_every = (steps / 20).max(1);
        if batch == 128 {
            c.train_size = Some(128);
            c.eval_train_samples = 128;
        }
        ex.push(Experiment {
            group: "descent",
            name: name.into(),
            cfg: c,
            course: None,
            note,
        });
    }

    // 2d. batch norm on and off
    let it_bn = q(500, 150);
    groups.push(Group {
        id: "batchnorm",
        title: "Batch normalisation on and off",
        setup: format!(
            "784-100×6-10 (`deep-mlp`), ReLU, SGD lr 0.01, batch 100, {it_bn} iterations, the first 1,000 training images; three weight scales, each without and with batch norm after every hidden affine layer"
        ),
        intro: "As in the course's batch-norm experiment: a deep network trained from several \
                initial weight scales. Without batch norm, weights that are too small (σ = 0.01) \
                shrink the signal through six layers until nothing learns; with it, each layer's \
                inputs are re-centred and re-scaled whatever the weights, and every scale trains. \
                The course shows curves, not figures, so there is no course column.",
    });
    // (name, scheme, σ, note without batch norm, note with it)
    type BnRun = (&'static str, InitKind, f32, &'static str, &'static str);
    let bn_runs: [BnRun; 3] = [
        ("Gaussian σ 0.01", InitKind::Gaussian, 0.01,
         "Too small: the signal dies out across six layers and the network stays at chance.",
         "Batch norm rescues the same weights: the training set is learnt completely."),
        ("Gaussian σ 0.1", InitKind::Gaussian, 0.1,
         "Small: it trains, slowly (training accuracy still well below 1.0).",
         "Batch norm fits the training set far faster; the test accuracy gains little, as 1,000 images are few for 130,000 parameters."),
        ("He", InitKind::He, 0.01,
         "He's scale suits ReLU: the network trains well without batch norm.",
         "Batch norm fits the training set faster still but does not help the test accuracy here: with a good initialisation and 1,000 images it adds nothing."),
    ];
    for (init_name, init, std, note_off, note_on) in bn_runs {
        for batch_norm in [false, true] {
            let mut c = base(Preset::DeepMlp);
            c.activation = ActKind::Relu;
            c.init = init;
            c.init_std = std;
            c.optimizer = OptKind::Sgd;
            c.lr = 0.01;
            c.batch_size = 100;
            c.iterations = it_bn;
            c.batch_norm = batch_norm;
            c.train_size = Some(1000);
            c.eval_train_samples = 1000;
            c.eval_every = q(25, 30);
            let on = if batch_norm { "with" } else { "without" };
            ex.push(Experiment {
                group: "batchnorm",
                name: format!("{init_name}, {on} batch norm"),
                cfg: c,
                course: None,
                note: if batch_norm { note_on } else { note_off },
            });
        }
    }

    // 3. overfitting
    let it3 = q(1000, 300);
    groups.push(Group {
        id: "overfitting",
        title: "Overfitting and regularisation",
        setup: format!(
            "784-100×6-10 (`deep-mlp`), ReLU, He, SGD lr 0.01, batch 100, {it3} iterations, only the first 300 training images"
        ),
        intro: "Three hundred images and 130,000 parameters: the network learns the training set \
                by heart (training accuracy 1.0) and the test accuracy stays far lower. Weight \
                decay and dropout narrow the gap. The course used the first 300 of its 60,000 \
                images; our first 300 are the same images (the bundled set is the start of the \
                official training set), so these runs are the closest to the course's.",
    });
    type Regulariser = (&'static str, f32, f32, f32, Option<f64>, &'static str);
    let of_runs: [Regulariser; 7] = [
("none", 0.0, 0.0, 0.0, Some(0.7477), "No regularisation: training accuracy reaches 1.0 and the gap to the test accuracy is the overfitting. With seeds 1–3 the test accuracy is 0.758–0.772: differences of a point or two are noise in these 300-image runs."),
        ("L2 λ 0.1", 0.0, 0.1, 0.0, Some(0.7312), "Strong L2 holds the weights small: training accuracy falls below 1.0 and the gap narrows, at some cost in test accuracy, as in the course."),
        ("L1 λ 0.005", 0.005, 0.0, 0.0, Some(0.6883), "The course lost about 6 points to L1 at this strength; we do not (0.76–0.78 with seeds 1–3, close to no regularisation) and training accuracy stays at 1.0, so this λ hardly regularises here. Our L1 is the course's (λ Σ|W| in the loss, λ sign(W) in the gradient, biases excluded; checked against hand-computed gradients in the core's tests); the difference remains unexplained."),
        ("L2 λ 0.05", 0.0, 0.05, 0.0, Some(0.7768), "The course's best setting: milder L2 keeps the capacity and gains a little test accuracy, as in the course."),
        ("L1 λ 0.01", 0.01, 0.0, 0.0, Some(0.6831), "Stronger L1 does regularise: training accuracy drops below 1.0 and the test accuracy with it."),
        ("dropout 0.15", 0.0, 0.0, 0.15, None, "Dropout (the course's form, ratio 0.15) after each of the six hidden layers: the gap narrows. No course figure."),
        ("dropout 0.15 + L1 λ 0.005", 0.005, 0.0, 0.15, None, "Both together underfit within 1,000 steps of SGD 0.01 (training accuracy 0.55–0.68 with seeds 1–3): the narrowest gap but the lowest accuracy. No course figure."),
    ];
    for (name, l1, l2, dropout, course, note) in of_runs {
        let mut c = base(Preset::DeepMlp);
        c.activation = ActKind::Relu;
        c.init = InitKind::He;
        c.optimizer = OptKind::Sgd;
        c.lr = 0.01;
        c.batch_size = 100;
        c.iterations = it3;
        c.l1 = l1;
        c.l2 = l2;
        c.dropout = dropout;
        c.train_size = Some(300);
        c.eval_train_samples = 300;
        // every 10 iterations (3.3 epochs), like the course's per-epoch curves
        c.eval_every = if quick { 30 } else { 20 };
        ex.push(Experiment {
            group: "overfitting",
            name: name.into(),
            cfg: c,
            course,
            note,
        });
    }

    // 4. convnets
    groups.push(Group {
        id: "convnet",
        title: "Convolutional networks",
        setup: "`simple-convnet` (conv 30 5×5, ReLU, max pool 2, affine 100, ReLU, affine 10) and the device's `double-convnet`, Adam".into(),
        intro: "The course trains its simple convnet on 500 images and tests on 100. We run that, \
                then the same network on all 10,000 images, then the best configuration we have: \
                the two-conv device net with random shifts of ±2 pixels and a cosine-decayed \
                learning rate.",
    });
    let mut c = base(Preset::SimpleConvnet);
    c.optimizer = OptKind::Adam;
    c.lr = 0.001;
    c.batch_size = 100;
    c.iterations = q(1000, 150);
    c.train_size = Some(500);
    c.test_size = Some(100);
    c.eval_train_samples = 500;
    c.eval_every = q(50, 50);
    ex.push(Experiment {
        group: "convnet",
        name: "simple-convnet, 500 images (course setting)".into(),
        cfg: c,
        course: Some(0.956),
        note: "Tested on only 100 images, so one image is a point of accuracy: differences of a few points are noise.",
    });
    let mut c = base(Preset::SimpleConvnet);
    c.optimizer = OptKind::Adam;
    c.lr = 0.001;
    c.batch_size = 100;
    c.iterations = q(1000, 100);
    c.eval_every = q(100, 50);
    ex.push(Experiment {
        group: "convnet",
        name: "simple-convnet, all 10,000 images".into(),
        cfg: c,
        course: None,
        note: "The whole bundled training set, 10 epochs.",
    });
    let mut c = base(Preset::DoubleConvnet);
    let d = Preset::DoubleConvnet.defaults();
    c.batch_size = d.batch_size;
    c.augment_shift = d.augment_shift;
    c.lr = d.lr;
    c.schedule = d.schedule;
    let per_epoch = train_len.div_ceil(c.batch_size);
    let epochs = if quick { 2 } else { d.epochs as usize };
    c.iterations = epochs * per_epoch;
    c.eval_every = if quick { per_epoch } else { 2 * per_epoch };
    ex.push(Experiment {
        group: "convnet",
        name: format!("double-convnet, shifts ±2, {epochs} epochs"),
        cfg: c,
        course: None,
        note: "Our best configuration (12,810 parameters, the network the device runs).",
    });
    (groups, ex)
}

/// A run's name as a directory name: `relu + He` is `relu-he`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}
