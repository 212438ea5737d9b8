//! What only the board knows: the cost counter, the memory plan, the serial transmitter.

use core::sync::atomic::{AtomicU32, Ordering};
use shinso_app::Platform;
use shinso_proto::MemoryBudget;

// Symbols from cortex-m-rt's link.x and our memory.x; only their addresses matter.
extern "C" {
    static __sidata: u8;
    static __sdata: u8;
    static __edata: u8;
    static __sheap: u8;
    static _ram_end: u8;
    static _stack_start: u8;
    static _ram_start: u8;
    static __sccmram: u8;
    static __eccmram: u8;
    static _stack_end: u8;
    static __vector_table: u8;
}

fn addr(sym: &'static u8) -> usize {
    sym as *const u8 as usize
}

/// First byte of the heap: what the statics in SRAM leave.
pub fn heap_start() -> usize {
    // SAFETY: taking the address of a linker symbol; it is never read.
    unsafe { addr(&__sheap) }
}

/// Bytes of heap: up to the end of SRAM.
pub fn heap_size() -> usize {
    // SAFETY: as above.
    unsafe { addr(&_ram_end) - addr(&__sheap) }
}

/// Deepest stack use since boot: cortex-m-rt paints the stack with `STACK_PAINT_VALUE`
/// (feature `paint-stack`); the lowest word no longer holding it marks the high-water line.
pub fn stack_used() -> usize {
    // SAFETY: reads words of the stack region as plain integers (paint, or stale stack data).
    unsafe {
        let (bottom, top) = (addr(&_stack_end), addr(&_stack_start));
        let mut p = bottom;
        while p < top && core::ptr::read_volatile(p as *const u32) == cortex_m_rt::STACK_PAINT_VALUE
        {
            p += 4;
        }
        top - p
    }
}

/// The memory plan, from the linker's symbols (the same numbers a test reads from the ELF).
pub fn memory() -> MemoryBudget {
    // SAFETY: addresses of linker symbols only.
    unsafe {
        let data = addr(&__edata) - addr(&__sdata);
        MemoryBudget {
            flash: (addr(&__sidata) + data - addr(&__vector_table)) as u32,
            ram: (addr(&__sheap) - addr(&_ram_start) + addr(&__eccmram) - addr(&__sccmram)) as u32,
            // The app reports the arena it was given.
            arena: 0,
            stack: (addr(&_stack_start) - addr(&_stack_end)) as u32,
            stack_used: stack_used() as u32,
            heap: heap_size() as u32,
            heap_used: crate::HEAP.used() as u32,
        }
    }
}

/// Writes a frame, blocking on each byte (QEMU 7.2 never raises the TX interrupt).
pub fn write_all<W: embedded_hal_nb::serial::Write<u8>>(tx: &mut W, bytes: &[u8]) {
    for &b in bytes {
        // Transmit errors do not exist on this USART (only WouldBlock); give up on one anyway
        // rather than spin forever.
        let _ = nb::block!(tx.write(b));
    }
}

/// SysTick wraps seen. SysTick runs on the core clock with the full 24-bit reload, so it wraps
/// about every 0.1 s at 168 MHz (QEMU's SysTick runs at 168 MHz whatever the RCC says). It is
/// the idle loop's heartbeat, and under QEMU also the high part of the instruction counter.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[cortex_m_rt::exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Heartbeats so far (see [`WRAPS`]).
pub fn heartbeats() -> u32 {
    WRAPS.load(Ordering::Relaxed)
}

/// The cost counter: executed instructions under QEMU (`-icount shift=0`), cycles on a board.
pub struct Counter {
    hclk: u32,
    /// High word of the cycle counter (DWT's CYCCNT is 32 bits: 25 s at 168 MHz).
    #[cfg(not(feature = "qemu"))]
    high: core::cell::Cell<(u32, u32)>,
}

impl Counter {
    /// Starts the counter.
    pub fn start(cp: &mut cortex_m::Peripherals, hclk: u32) -> Self {
        use cortex_m::peripheral::syst::SystClkSource;
        cp.SYST.set_clock_source(SystClkSource::Core);
        cp.SYST.set_reload(0x00FF_FFFF);
        cp.SYST.clear_current();
        cp.SYST.enable_interrupt();
        cp.SYST.enable_counter();
        #[cfg(feature = "qemu")]
        {
            Counter { hclk }
        }
        #[cfg(not(feature = "qemu"))]
        {
            cp.DCB.enable_trace();
            cp.DWT.enable_cycle_counter();
            Counter {
                hclk,
                high: core::cell::Cell::new((0, 0)),
            }
        }
    }

    /// Raw counter ticks since start. Never inlined: its calls mark the measured stretch in an
    /// instruction trace (`link/tests/counter.rs`), at the cost of a call and a return.
    #[cfg(feature = "qemu")]
    #[inline(never)]
    pub fn ticks(&self) -> u64 {
        loop {
            let w = WRAPS.load(Ordering::Relaxed);
            let v = cortex_m::peripheral::SYST::get_current();
            // A wrap between the two reads raises SysTick at once (interrupts are enabled
            // where this runs), which changes WRAPS: read again.
            if WRAPS.load(Ordering::Relaxed) == w {
                return ((w as u64) << 24) | (0x00FF_FFFF - v) as u64;
            }
        }
    }

    /// Raw counter ticks since start.
    #[cfg(not(feature = "qemu"))]
    pub fn ticks(&self) -> u64 {
        let now = cortex_m::peripheral::DWT::cycle_count();
        let (high, last) = self.high.get();
        let high = if now < last { high + 1 } else { high };
        self.high.set((high, now));
        ((high as u64) << 32) | now as u64
    }
}

/// Under QEMU 7.2 with `-icount shift=0` every executed instruction advances the virtual clock
/// by 1 ns, and SysTick (core clock source) runs at the machine's fixed 168 MHz `sysclk`
/// whatever the RCC says: 0.168 ticks per instruction, so instructions = ticks × 1000 / 168.
///
/// Calibration: `cortex_m::asm::delay(n)` in cortex-m 0.7.10 runs `n + 1` iterations of
/// `subs` + `bne`, i.e. `2n + 2` instructions (not `n`: taking it as `n` once made this
/// counter report half the truth); `delay(2_000_000)` takes 672,001 ticks, 4,000,005 by this
/// formula against 4,000,002 expected. Independently, QEMU's own trace (one instruction per
/// translation block, every execution logged) counts the instructions between the two
/// [`Counter::ticks`] reads around an inference to within a few dozen of what this reports:
/// the `counter_agrees_with_qemu_trace` test in `link/tests/counter.rs`.
#[cfg(feature = "qemu")]
pub const fn ticks_to_count(ticks: u64) -> u64 {
    ticks * 125 / 21
}

/// On a board the DWT counts cycles directly.
#[cfg(not(feature = "qemu"))]
pub const fn ticks_to_count(ticks: u64) -> u64 {
    ticks
}

impl Platform for Counter {
    fn now(&self) -> u64 {
        ticks_to_count(self.ticks())
    }
    fn counter(&self) -> shinso_proto::Counter {
        if cfg!(feature = "qemu") {
            shinso_proto::Counter::Instructions
        } else {
            shinso_proto::Counter::Cycles
        }
    }
    fn clock_hz(&self) -> u32 {
        self.hclk
    }
    fn memory(&self) -> MemoryBudget {
        memory()
    }
}
