//! shinso firmware for the STM32F405: board glue around `shinso-app`.
//!
//! * clocks: 168 MHz from the HSI through the PLL on a board (no dependence on the board's
//!   crystal); the bare 16 MHz HSI under QEMU (`qemu` feature), which has no RCC model, so a PLL
//!   never reports lock;
//! * USART1 (PA9 TX / PA10 RX, 115 200 8N1; QEMU's `serial0`): the RX interrupt pushes bytes into
//!   a lock-free queue, the main loop feeds them to the app and transmits replies blocking (QEMU
//!   7.2 raises only the RX interrupt);
//! * a counter for the cost of each request: DWT cycles on a board, SysTick under QEMU run with
//!   `-icount shift=0`, where it measures executed instructions;
//! * the heap (embedded-alloc) takes all SRAM the statics leave; the stack sits in CCM;
//! * the learner's checkpoints: two alternating slots in the last two flash sectors
//!   (`flash.rs`, `shinso_app::checkpoint`); at boot the learner resumes from the newest valid
//!   one, and saves on request or every N learning steps (a setting over the wire);
//! * defmt logs: RTT on a board, semihosting under QEMU (decode either with `defmt-print`).
#![no_std]
#![no_main]

extern crate alloc;

mod board;
mod flash;

use core::cell::RefCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::interrupt::Mutex;
use cortex_m_rt::entry;
use heapless::spsc::{Consumer, Producer, Queue};
use shinso_app::{checkpoint, Device, Models, Platform, ARENA_FLOATS, MEMORY_PLAN};
use stm32f4xx_hal::{
    pac::{self, interrupt},
    prelude::*,
    rcc::Config,
    serial::{self, Serial},
};

#[cfg(not(feature = "qemu"))]
use defmt_rtt as _;
#[cfg(feature = "qemu")]
use defmt_semihosting as _;
use panic_probe as _;

#[global_allocator]
static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();

/// Received bytes, from the USART1 interrupt to the main loop. Holds two maximal frames so a
/// request that arrives while the previous one is being computed is not lost.
const RX_QUEUE: usize = 2 * shinso_proto::MAX_FRAME + 64;
static mut RX: Queue<u8, RX_QUEUE> = Queue::new();
static RX_PRODUCER: Mutex<RefCell<Option<Producer<'static, u8, RX_QUEUE>>>> =
    Mutex::new(RefCell::new(None));
/// Bytes the interrupt dropped (queue full, or the USART overran) since the main loop last
/// looked; it tells the app, which answers the next frame with `Overrun`.
static RX_DROPPED: AtomicU32 = AtomicU32::new(0);

/// The models live in a static (SRAM): their size is part of the link-time memory plan (and
/// `shinso_link::elf_symbol` finds it by this name).
#[no_mangle]
static mut MODELS: Models = Models::ZERO;
/// The scratch arena: activations, gradients and staged pushes, one request at a time (see
/// `shinso_app`). In CCM: only the CPU touches it.
#[link_section = ".ccmram"]
#[no_mangle]
static mut ARENA: [f32; ARENA_FLOATS] = [0.0; ARENA_FLOATS];

/// Bytes of stack, at the top of CCM (set in `build.rs`, which also writes the linker script).
const STACK: usize = match usize::from_str_radix(env!("SHINSO_STACK"), 10) {
    Ok(n) => n,
    Err(_) => panic!("SHINSO_STACK is not a number"),
};

/// The memory plan, checked when the firmware compiles: both networks, the arena, the learner's
/// optimizer state (Adam) and the stack fit 170 KiB of the 192. A slot's network swapped for a
/// larger one fails here, before the linker's "region overflowed".
const _: () = assert!(
    MEMORY_PLAN + STACK <= 170 * 1024,
    "the networks, the arena, Adam's state and the stack take more than 170 KiB"
);

/// The device around the app: a static rather than a local (its frame decoder and output
/// buffer take 2 KiB), so that the stack holds only what requests need.
static mut DEVICE: MaybeUninit<Device<'static>> = MaybeUninit::uninit();
/// The checkpoint slots, which the app keeps for the life of the firmware.
static mut CHECKPOINTS: MaybeUninit<checkpoint::Store<flash::Slots>> = MaybeUninit::uninit();

#[entry]
fn main() -> ! {
    let dp = pac::Peripherals::take().unwrap();
    let mut cp = cortex_m::Peripherals::take().unwrap();

    #[cfg(feature = "qemu")]
    let clocks = Config::hsi();
    #[cfg(not(feature = "qemu"))]
    let clocks = Config::hsi().sysclk(168.MHz());
    let mut rcc = dp.RCC.freeze(clocks);
    let hclk = rcc.clocks.hclk().raw();

    // SAFETY: runs once, before the heap is used; the region [__sheap, _ram_end) is reserved
    // for it by the linker script and nothing else touches it.
    unsafe { HEAP.init(board::heap_start(), board::heap_size()) };

    let counter = board::Counter::start(&mut cp, hclk);

    let gpioa = dp.GPIOA.split(&mut rcc);
    let mut serial = Serial::new(
        dp.USART1,
        (gpioa.pa9, gpioa.pa10),
        serial::Config::default().baudrate(115_200.bps()),
        &mut rcc,
    )
    .unwrap();
    serial.listen(serial::Event::RxNotEmpty);
    let (mut tx, _rx) = serial.split();

    // SAFETY: the queue is split exactly once, here, before the interrupt that uses the
    // producer is unmasked; afterwards only the producer (ISR) and consumer (main) touch it.
    let (producer, mut consumer): (_, Consumer<'static, u8, RX_QUEUE>) =
        unsafe { (*core::ptr::addr_of_mut!(RX)).split() };
    cortex_m::interrupt::free(|cs| RX_PRODUCER.borrow(cs).replace(Some(producer)));

    // SAFETY: the only references ever made to MODELS, ARENA, DEVICE and CHECKPOINTS, made
    // once. ARENA is in a NOLOAD section, so zero it before anything reads it.
    let (models, arena, device, checkpoints) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(MODELS),
            &mut *core::ptr::addr_of_mut!(ARENA),
            &mut *core::ptr::addr_of_mut!(DEVICE),
            &mut *core::ptr::addr_of_mut!(CHECKPOINTS),
        )
    };
    arena.fill(0.0);
    let checkpoints = checkpoints.write(checkpoint::Store::open(flash::Slots::new(dp.FLASH)));
    let device = device.write(Device::new(models.app(arena)));
    device.app.keep_checkpoints(checkpoints);
    match device.app.resume() {
        Ok(Some(c)) => defmt::info!(
            "resumed from checkpoint {} ({} B, slot {})",
            c.seq,
            c.len,
            c.slot
        ),
        Ok(None) => defmt::info!("no checkpoint in flash: the learner starts afresh"),
        Err(code) => defmt::warn!(
            "the newest checkpoint does not fit this learner ({}): it starts afresh",
            defmt::Debug2Format(&code)
        ),
    }

    let budget = counter.memory();
    defmt::info!(
        "{} on {} Hz; flash {} B, static RAM {} B, stack {} B, heap {} B",
        shinso_app::FIRMWARE,
        hclk,
        budget.flash,
        budget.ram,
        budget.stack,
        budget.heap
    );

    // SAFETY: the producer is in place; the ISR only touches it and USART1's data register.
    unsafe { cortex_m::peripheral::NVIC::unmask(pac::Interrupt::USART1) };
    // The receiver is on: announce ourselves (bytes sent to us before now were dropped), and
    // keep announcing at every heartbeat until the host says something. QEMU discards what the
    // device writes while no one has the pseudo-terminal open, so a single announcement at boot
    // is usually lost.
    board::write_all(&mut tx, device.ready_frame());
    defmt::info!("ready");
    let mut heard = false;
    let mut beat = board::heartbeats();

    loop {
        let dropped = RX_DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            device.note_dropped(dropped);
        }
        while let Some(b) = consumer.dequeue() {
            heard = true;
            if let Some(frame) = device.on_byte(b, &counter) {
                board::write_all(&mut tx, frame);
            }
        }
        if !heard && board::heartbeats() != beat {
            beat = board::heartbeats();
            board::write_all(&mut tx, device.ready_frame());
        }
        // Sleep until the next byte; checking and sleeping with interrupts masked cannot miss
        // one (a pending interrupt still ends WFI).
        cortex_m::interrupt::free(|_| {
            if !consumer.ready() {
                cortex_m::asm::wfi();
            }
        });
    }
}

#[interrupt]
fn USART1() {
    // SAFETY: read-only status and a data-register read, which is this ISR's alone.
    let usart = unsafe { &*pac::USART1::ptr() };
    cortex_m::interrupt::free(|cs| {
        let mut p = RX_PRODUCER.borrow(cs).borrow_mut();
        loop {
            let sr = usart.sr().read();
            if sr.rxne().bit_is_clear() && sr.ore().bit_is_clear() {
                break;
            }
            if sr.ore().bit_is_set() {
                // The data register was overwritten: at least one byte is gone.
                RX_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            // Reading DR clears RXNE (and, after the SR read, an overrun).
            let b = usart.dr().read().dr().bits() as u8;
            if let Some(p) = p.as_mut() {
                // A full queue drops the byte, counted: the app answers the frame it belonged
                // to with `Overrun`, after which the link resynchronises.
                if p.enqueue(b).is_err() {
                    RX_DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
}
