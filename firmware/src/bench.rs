//! Kernel bench for QEMU: each layer of the device's two nets (batch 1), forward and backward,
//! through the core's kernels, with the firmware's instruction counter (`board::Counter`)
//! around each. It prints one line per measurement over USART1 (QEMU's `serial0`) and exits
//! through semihosting:
//!
//! ```sh
//! cargo build --release --features qemu --bin kernel-bench
//! qemu-system-arm -machine netduinoplus2 -display none -monitor none -serial stdio \
//!   -semihosting-config enable=on,target=native -icount shift=0 \
//!   -kernel target/thumbv7em-none-eabihf/release/kernel-bench
//! ```
//!
//! `bench/device_mix.py` runs the same under QEMU's instruction trace and adds, per line, the
//! executed instruction mix and the cycles a Cortex-M4 spends on it. QEMU only: the USART is
//! driven without clock setup, which QEMU does not model and a board needs.
#![no_std]
#![no_main]

// The firmware's board glue: only its counter is used here.
#[allow(dead_code)]
mod board;

use core::fmt::Write;
use cortex_m_rt::entry;
use defmt_semihosting as _;
use panic_probe as _;
use shinso::kernels::{
    affine_backward_one, conv_relu_pool, conv_relu_pool_backward, gemm_nn, ConvPool, Geometry,
};
use shinso::layer::{flat, flat_mut};
use shinso::Rng;
use shinso_app::Platform;
// The device crate's interrupt vectors (cortex-m-rt needs them to link).
use stm32f4xx_hal as _;

/// `board::memory` reports this heap's use; the bench allocates nothing (the heap is empty).
#[global_allocator]
static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();

/// USART1's data and control registers (STM32F405).
const USART1_DR: *mut u32 = 0x4001_1004 as *mut u32;
const USART1_CR1: *mut u32 = 0x4001_100C as *mut u32;

/// Text out of USART1, byte by byte (QEMU transmits at once).
struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: a write to USART1's data register, which nothing else uses here.
            unsafe { USART1_DR.write_volatile(b as u32) };
        }
        Ok(())
    }
}

/// A conv → ReLU → 2×2 max pool block of the zoo's `TwoConv` (3×3 filters, stride 1).
const fn block(c: usize, h: usize, filters: usize) -> ConvPool {
    ConvPool {
        conv: Geometry {
            c,
            h,
            w: h,
            fh: 3,
            fw: 3,
            stride: 1,
            pad: 0,
        },
        filters,
        ph: 2,
        pw: 2,
        ps: 2,
    }
}

/// Room for the larger net: 32 filters over 16 channels, 800 features.
const W1: usize = 16 * 9;
const W2: usize = 32 * 16 * 9;
const A1: usize = 16 * 13 * 13;
const A2: usize = 32 * 5 * 5;

/// Parameters, gradients and activations of one net, in `.bss`.
struct Net {
    w1: [f32; W1],
    b1: [f32; 16],
    w2: [f32; W2],
    b2: [f32; 32],
    w3: [[f32; 10]; A2],
    b3: [f32; 10],
    x: [f32; 784],
    y1: [f32; A1],
    y2: [f32; A2],
    out: [f32; 10],
    arg1: [u8; A1],
    arg2: [u8; A2],
    dy1: [f32; A1],
    dy2: [f32; A2],
    band: [f32; 2 * 28],
    patch: [f32; 2 * 16 * 9],
}

static mut NET: Net = Net {
    w1: [0.0; W1],
    b1: [0.0; 16],
    w2: [0.0; W2],
    b2: [0.0; 32],
    w3: [[0.0; 10]; A2],
    b3: [0.0; 10],
    x: [0.0; 784],
    y1: [0.0; A1],
    y2: [0.0; A2],
    out: [0.0; 10],
    arg1: [0; A1],
    arg2: [0; A2],
    dy1: [0.0; A1],
    dy2: [0.0; A2],
    band: [0.0; 2 * 28],
    patch: [0.0; 2 * 16 * 9],
};

/// Parameter gradients, in CCM (SRAM cannot hold them beside the rest).
struct Grads {
    dw1: [f32; W1],
    db1: [f32; 16],
    dw2: [f32; W2],
    db2: [f32; 32],
    dw3: [[f32; 10]; A2],
}

#[link_section = ".ccmram"]
static mut GRADS: Grads = Grads {
    dw1: [0.0; W1],
    db1: [0.0; 16],
    dw2: [0.0; W2],
    db2: [0.0; 32],
    dw3: [[0.0; 10]; A2],
};

/// He-initialised weights (`fan_in` inputs per output), small biases, an input in `[0, 1)`.
fn fill(rng: &mut Rng, w: &mut [f32], fan_in: usize) {
    let s = shinso::kernels::sqrt(2.0 / fan_in as f32);
    w.iter_mut().for_each(|v| *v = rng.normal() * s);
}

/// Runs `f` between two counter reads and prints `net`, `what`, the instructions it took and
/// its `macs`.
fn measure(counter: &board::Counter, (net, what): (&str, &str), macs: usize, f: impl FnOnce()) {
    let t0 = counter.now();
    f();
    let n = counter.now() - t0;
    let _ = writeln!(Serial, "{net} {what}\t{n}\t{macs}");
}

/// Forward and backward of each layer of the two-conv net with `f1`, `f2` filters.
fn layers(
    counter: &board::Counter,
    (net, d): (&mut Net, &mut Grads),
    name: &str,
    (f1, f2): (usize, usize),
) {
    let (g1, g2) = (block(1, 28, f1), block(f1, 13, f2));
    let (k1, k2, features) = (9, f1 * 9, f2 * 25);
    let mut rng = Rng::new(7);
    fill(&mut rng, &mut net.w1[..f1 * k1], k1);
    fill(&mut rng, &mut net.w2[..f2 * k2], k2);
    fill(&mut rng, flat_mut(&mut net.w3[..features]), features);
    net.b1.iter_mut().for_each(|b| *b = 0.01);
    net.b2.iter_mut().for_each(|b| *b = 0.01);
    net.x.iter_mut().for_each(|v| *v = rng.uniform());
    let n = &mut *net;
    let (w1, b1, w2, b2) = (&n.w1[..f1 * k1], &n.b1[..f1], &n.w2[..f2 * k2], &n.b2[..f2]);
    let (y1, y2, w3) = (
        &mut n.y1[..f1 * 169],
        &mut n.y2[..features],
        &n.w3[..features],
    );
    // MACs as the layer counts them: every convolution output (26×26, 11×11), even the row
    // and column of the second that its pooling never reads.
    let (m1, m2, m3) = (f1 * 676 * k1, f2 * 121 * k2, features * 10);
    for train in [false, true] {
        let whats = if train {
            ["train conv1", "train conv2", "train affine"]
        } else {
            ["infer conv1", "infer conv2", "infer affine"]
        };
        let (a1, a2) = (&mut n.arg1[..f1 * 169], &mut n.arg2[..features]);
        measure(counter, (name, whats[0]), m1, || {
            conv_relu_pool(&g1, &n.x, w1, b1, &mut n.band, y1, train.then_some(a1));
        });
        measure(counter, (name, whats[1]), m2, || {
            conv_relu_pool(&g2, y1, w2, b2, &mut n.band, y2, train.then_some(a2));
        });
        measure(counter, (name, whats[2]), m3, || {
            n.out.copy_from_slice(&n.b3);
            gemm_nn(1, features, 10, y2, flat(w3), &mut n.out, true);
        });
    }
    // Backward from a made-up output gradient (the loss is not a layer).
    let dout: [f32; 10] = core::array::from_fn(|i| 0.1 * i as f32 - 0.45);
    let (dy1, dy2) = (&mut n.dy1[..f1 * 169], &mut n.dy2[..features]);
    measure(counter, (name, "backward affine"), 2 * m3, || {
        affine_backward_one(y2, w3, &dout, &mut d.dw3[..features], Some(dy2));
    });
    let live2 = y2.iter().filter(|v| **v > 0.0).count();
    measure(counter, (name, "backward conv2"), 2 * live2 * k2, || {
        let (dw, db) = (&mut d.dw2[..f2 * k2], &mut d.db2[..f2]);
        let a2 = &n.arg2[..features];
        conv_relu_pool_backward(&g2, y1, w2, y2, a2, dy2, dw, db, Some(dy1), &mut n.patch);
    });
    let live1 = y1.iter().filter(|v| **v > 0.0).count();
    measure(counter, (name, "backward conv1"), live1 * k1, || {
        let (dw, db) = (&mut d.dw1[..f1 * k1], &mut d.db1[..f1]);
        let a1 = &n.arg1[..f1 * 169];
        let p = &mut n.patch[..2 * k1];
        conv_relu_pool_backward(&g1, &n.x, w1, y1, a1, dy1, dw, db, None, p);
    });
}

/// Ends the QEMU session (semihosting `SYS_EXIT`, reason "application exit").
fn exit() -> ! {
    // SAFETY: the semihosting call QEMU runs with `-semihosting-config enable=on`; it reads
    // r0 and r1 and does not return.
    unsafe {
        core::arch::asm!("bkpt 0xab", in("r0") 0x18u32, in("r1") 0x20026u32, options(nostack));
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    // SAFETY: enables USART1's transmitter (UE | TE); nothing else drives it.
    unsafe { USART1_CR1.write_volatile((1 << 13) | (1 << 3)) };
    let counter = board::Counter::start(&mut cp, 16_000_000);
    // SAFETY: the only references ever made to NET and GRADS. GRADS is in a NOLOAD section:
    // zero it before anything reads it.
    let (net, grads) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(NET),
            &mut *core::ptr::addr_of_mut!(GRADS),
        )
    };
    *grads = Grads {
        dw1: [0.0; W1],
        db1: [0.0; 16],
        dw2: [0.0; W2],
        db2: [0.0; 32],
        dw3: [[0.0; 10]; A2],
    };
    let _ = writeln!(Serial, "what\tinstructions\tMACs");
    layers(&counter, (net, grads), "double-convnet", (16, 32));
    layers(&counter, (net, grads), "online-convnet", (8, 16));
    let _ = writeln!(Serial, "end");
    exit()
}
