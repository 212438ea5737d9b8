//! The firmware's memory budget read from its ELF, and the check of what a device reports
//! against it.

use shinso_proto as proto;
use std::path::Path;

/// The memory budget of a firmware ELF, from the same linker symbols the firmware reads at run
/// time (so it must equal what the device reports in `Info`, except `heap_used`):
/// flash = vector table to the end of the `.data` load image; RAM = `.data` + `.bss` +
/// `.uninit` in SRAM plus the statics in CCM; the arena = the `ARENA` static; stack = the
/// fixed region at the top of CCM; heap = the rest of SRAM.
pub fn elf_memory(elf: &Path) -> Result<proto::MemoryBudget, String> {
    let sym = |name: &str| elf_symbol(elf, name).map(|(address, _)| address);
    let data_len = sym("__edata")? - sym("__sdata")?;
    Ok(proto::MemoryBudget {
        flash: (sym("__sidata")? + data_len - sym("__vector_table")?) as u32,
        ram: (sym("__sheap")? - sym("_ram_start")? + sym("__eccmram")? - sym("__sccmram")?) as u32,
        arena: elf_symbol(elf, "ARENA")?.1 as u32,
        stack: (sym("_stack_start")? - sym("_stack_end")?) as u32,
        heap: (sym("_ram_end")? - sym("__sheap")?) as u32,
        stack_used: 0,
        heap_used: 0,
    })
}

/// RAM the memory plan may take: both networks, the optimizer state, the arena and the stack
/// (the rest of the 192 KiB is spare heap and the link's buffers).
pub const RAM_PLAN: u32 = 170 * 1024;

/// Checks what a firmware reports in `Info` against its ELF: the budget equals the linker's,
/// the models' RAM is the `MODELS` static, the arena the `ARENA` static, the heap in use holds
/// the optimizer state, the stack has room to spare, and networks, optimizer state, arena and
/// stack fit [`RAM_PLAN`]. Returns that sum.
pub fn check_memory(info: &proto::DeviceInfo, elf: &Path) -> Result<u32, String> {
    let m = info.memory;
    let from_elf = elf_memory(elf)?;
    if (proto::MemoryBudget {
        heap_used: 0,
        stack_used: 0,
        ..m
    }) != from_elf
    {
        return Err(format!(
            "the device reports {m:?}, its ELF says {from_elf:?}"
        ));
    }
    let networks: u32 = info.models.iter().map(|m| m.ram).sum();
    let optimizer: u32 = info.models.iter().map(|m| m.heap).sum();
    let models = elf_symbol(elf, "MODELS")?.1;
    if models != networks as u64 {
        return Err(format!(
            "models take {networks} B, the MODELS static {models} B"
        ));
    }
    let total = networks + optimizer + m.arena + m.stack;
    let fits = m.ram + m.stack + m.heap <= 192 * 1024
        && m.heap_used >= optimizer
        && m.stack_used > 0
        && m.stack_used < m.stack * 7 / 8
        && total <= RAM_PLAN;
    if !fits {
        return Err(format!(
            "networks {networks} B + optimizer {optimizer} B + arena {} B + stack {} B = {total} B (plan {RAM_PLAN} B): {m:?}",
            m.arena, m.stack
        ));
    }
    Ok(total)
}

/// Address and size of the symbol `name` in a firmware ELF (the board binary's statics are
/// `#[no_mangle]` so that they can be found here).
pub fn elf_symbol(elf: &Path, name: &str) -> Result<(u64, u64), String> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
    file.symbols()
        .find(|s| s.name() == Ok(name))
        .map(|s| (s.address(), s.size()))
        .ok_or_else(|| format!("{}: no symbol {name}", elf.display()))
}
