//! Checkpoints against a model of NOR flash ([`nor`]) that enforces its rules (erase to all
//! ones, programming only clears bits) and can lose power after any operation, cleanly or in
//! the middle of it. `resume.rs` runs a real learner's checkpoints through the same model.

mod nor;

use nor::{Nor, Rom, Tear};
use shinso::model::crc32;
use shinso_app::checkpoint::{Checkpoint, Error, NorFlash, Store, COMMIT, HEADER, MAGIC, WORD};

/// Deterministic bytes, different for each `seed`.
fn state(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The newest checkpoint's bytes, read back through the store.
fn payload<F: NorFlash>(store: &Store<F>) -> Option<Vec<u8>> {
    let c = store.latest()?;
    let mut out = vec![0xAA; c.len + 7];
    let n = store.read(0, &mut out);
    assert_eq!(n, c.len);
    out.truncate(n);
    Some(out)
}

/// Reads the newest checkpoint by the layout documented in the module, independently of it.
fn parse(nor: &Nor, slot: usize) -> (u32, Vec<u8>) {
    let w = |i: usize| nor.slots[slot][i];
    assert_eq!(w(0), MAGIC);
    assert_eq!(w(4), COMMIT);
    let (seq, len) = (w(1), w(2) as usize);
    let body: Vec<u8> = (0..len).map(|i| nor.byte(slot, HEADER + i)).collect();
    let mut covered = seq.to_le_bytes().to_vec();
    covered.extend((len as u32).to_le_bytes());
    covered.extend(&body);
    assert_eq!(w(3), crc32(&covered), "CRC of seq ++ len ++ payload");
    // The padding of the last word is left erased.
    for i in len..len.div_ceil(WORD) * WORD {
        assert_eq!(nor.byte(slot, HEADER + i), 0xFF);
    }
    (seq, body)
}

/// Writes a checkpoint into `slot` by hand, from the documented layout.
fn write_by_hand(nor: &mut Nor, slot: usize, seq: u32, body: &[u8]) {
    let words = &mut nor.slots[slot];
    words.fill(!0);
    let mut covered = seq.to_le_bytes().to_vec();
    covered.extend((body.len() as u32).to_le_bytes());
    covered.extend(body);
    words[..5].copy_from_slice(&[MAGIC, seq, body.len() as u32, crc32(&covered), COMMIT]);
    for (i, chunk) in body.chunks(WORD).enumerate() {
        let mut b = [0xFF; WORD];
        b[..chunk.len()].copy_from_slice(chunk);
        words[HEADER / WORD + i] = u32::from_le_bytes(b);
    }
}

#[test]
fn a_fresh_or_blank_flash_means_a_fresh_start() {
    let erased = Nor::new(4096);
    assert_eq!(Store::open(erased).latest(), None);
    // QEMU's netduinoplus2 maps flash as a ROM that reads zero past the firmware image.
    let mut zeros = Nor::new(4096);
    zeros.slots.iter_mut().for_each(|s| s.fill(0));
    let store = Store::open(zeros);
    assert_eq!(store.latest(), None);
    assert_eq!(store.read(0, &mut [0; 8]), 0);
}

#[test]
fn saves_alternate_slots_and_match_the_documented_layout() {
    let mut store = Store::open(Nor::new(4096));
    for (i, len) in [0usize, 1, 3, 4, 5, 1001, 4096 - HEADER]
        .into_iter()
        .enumerate()
    {
        let s = state(len, i as u64);
        let c = store.save(&mut &s[..]).unwrap();
        let seq = i as u32 + 1;
        assert_eq!(
            c,
            Checkpoint {
                slot: i % 2,
                seq,
                len
            }
        );
        assert_eq!(store.latest(), Some(c));
        assert_eq!(payload(&store).unwrap(), s);
        let nor = store.into_flash();
        assert_eq!(parse(&nor, i % 2), (seq, s.clone()));
        store = Store::open(nor.reboot());
        assert_eq!(store.latest(), Some(c), "found again after a reset");
        assert_eq!(payload(&store).unwrap(), s);
    }
}

#[test]
fn reads_from_an_offset_stop_at_the_end() {
    let mut store = Store::open(Nor::new(1024));
    let s = state(103, 9);
    store.save(&mut &s[..]).unwrap();
    let mut out = [0u8; 10];
    assert_eq!(store.read(97, &mut out), 6);
    assert_eq!(&out[..6], &s[97..]);
    assert_eq!(store.read(103, &mut out), 0);
    assert_eq!(store.read(5000, &mut out), 0);
}

#[test]
fn a_checkpoint_written_by_hand_from_the_layout_is_found() {
    let mut nor = Nor::new(1024);
    write_by_hand(&mut nor, 1, 41, b"weights");
    let store = Store::open(nor);
    assert_eq!(
        store.latest(),
        Some(Checkpoint {
            slot: 1,
            seq: 41,
            len: 7
        })
    );
    assert_eq!(payload(&store).unwrap(), b"weights");
}

#[test]
fn the_sequence_number_may_wrap() {
    let mut nor = Nor::new(1024);
    write_by_hand(&mut nor, 0, u32::MAX, b"old");
    let mut store = Store::open(nor);
    let c = store.save(&mut &b"new"[..]).unwrap();
    assert_eq!(
        c,
        Checkpoint {
            slot: 1,
            seq: 0,
            len: 3
        }
    );
    let store = Store::open(store.into_flash().reboot());
    assert_eq!(store.latest(), Some(c));
    assert_eq!(payload(&store).unwrap(), b"new");
}

/// Two completed checkpoints (so the next save erases a valid one), then a third cut after
/// every operation in turn, the cut operation ending as each of `tears` says: after the reset
/// the store holds exactly the second, or, once the commit word is in, the third; with
/// `and_then`, it also saves again and that save is found after another reset.
fn cut_at_every_word(slot_bytes: usize, len: usize, tears: &[Tear], and_then: bool) {
    let (old, new, next) = (state(len, 1), state(len, 2), state(len, 3));
    let mut store = Store::open(Nor::new(slot_bytes));
    store.save(&mut &state(len, 0)[..]).unwrap();
    let previous = store.save(&mut &old[..]).unwrap();
    let before = store.into_flash();

    // How many operations a complete save takes: one erase, then one program per word.
    let mut counted = Store::open(before.clone());
    let ops0 = before.ops;
    counted.save(&mut &new[..]).unwrap();
    let total = counted.into_flash().ops - ops0;
    assert_eq!(total, 1 + (HEADER + len.div_ceil(WORD) * WORD) / WORD);

    for &tear in tears {
        for k in 0..=total {
            let mut nor = before.clone();
            nor.cut_after(k, tear);
            let mut store = Store::open(nor);
            let saved = store.save(&mut &new[..]);
            assert_eq!(
                saved.is_ok(),
                k == total,
                "cut after {k} of {total} ({tear:?})"
            );
            let mut store = Store::open(store.into_flash().reboot());
            let (want_seq, want) = if k == total {
                (previous.seq + 1, &new)
            } else {
                (previous.seq, &old)
            };
            let c = store.latest().expect("a checkpoint survives every cut");
            assert_eq!(c.seq, want_seq, "cut after {k} ({tear:?})");
            assert_eq!(&payload(&store).unwrap(), want, "cut after {k} ({tear:?})");
            if !and_then {
                continue;
            }
            // Life goes on: the next save lands and becomes the newest.
            let after = store.save(&mut &next[..]).unwrap();
            assert_eq!(after.seq, want_seq + 1);
            let store = Store::open(store.into_flash().reboot());
            assert_eq!(store.latest(), Some(after));
            assert_eq!(payload(&store).unwrap(), next);
        }
    }
}

#[test]
fn a_power_cut_at_any_word_keeps_the_last_completed_checkpoint() {
    cut_at_every_word(2048, 1003, &[Tear::Clean, Tear::Partial], true);
}

/// The size the device uses: a 128 KiB sector and the online learner's state with Adam
/// (5,258 parameters and two moments each, plus a step count); half-done cuts only (the test
/// above has clean ones too), to keep it at about 20 s.
#[test]
fn a_power_cut_at_any_word_of_a_device_sized_checkpoint() {
    cut_at_every_word(128 * 1024, 3 * 5258 * 4 + 4, &[Tear::Partial], false);
}

#[test]
fn a_torn_erase_of_garbage_is_ignored() {
    let mut store = Store::open(Nor::new(1024));
    let c = store.save(&mut &b"kept"[..]).unwrap();
    let mut nor = store.into_flash();
    // The other slot: a checkpoint whose erase stopped half way over garbage.
    let garbage = state(1024, 7);
    for (w, b) in nor.slots[1].iter_mut().zip(garbage.chunks(WORD)) {
        *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    nor.slots[1][..2].copy_from_slice(&[MAGIC, 99]);
    nor.slots[1][4] = COMMIT;
    let store = Store::open(nor);
    assert_eq!(store.latest(), Some(c));
    assert_eq!(payload(&store).unwrap(), b"kept");
}

#[test]
fn bit_rot_falls_back_to_the_other_slot_and_then_to_a_fresh_start() {
    let mut store = Store::open(Nor::new(1024));
    let a = store.save(&mut &state(300, 1)[..]).unwrap();
    let b = store.save(&mut &state(300, 2)[..]).unwrap();
    assert_eq!((a.slot, b.slot), (0, 1));
    let clean = store.into_flash();

    // A flipped bit anywhere in the newer slot's header or payload invalidates it.
    for at in [4, 8, 12, 16, HEADER, HEADER + 150, HEADER + 299] {
        let mut nor = clean.clone();
        nor.flip_bit(1, at, 3);
        let store = Store::open(nor);
        assert_eq!(store.latest(), Some(a), "bit flipped at byte {at}");
        assert_eq!(payload(&store).unwrap(), state(300, 1));
    }
    // A flipped bit past the payload (the padding) changes nothing.
    let mut nor = clean.clone();
    nor.flip_bit(1, HEADER + 400, 0);
    assert_eq!(Store::open(nor).latest(), Some(b));

    let mut nor = clean;
    nor.flip_bit(1, HEADER + 10, 0);
    nor.flip_bit(0, HEADER + 10, 0);
    assert_eq!(
        Store::open(nor).latest(),
        None,
        "both slots corrupt: start afresh"
    );
}

#[test]
fn a_length_beyond_the_slot_is_invalid_not_a_panic() {
    let mut nor = Nor::new(256);
    write_by_hand(&mut nor, 0, 1, b"x");
    nor.slots[0][2] = 0x7FFF_FFFF;
    assert_eq!(Store::open(nor).latest(), None);
}

#[test]
fn state_too_large_for_a_slot_is_refused_before_anything_is_erased() {
    let mut store = Store::open(Nor::new(256));
    let c = store.save(&mut &b"small"[..]).unwrap();
    let big = state(256 - HEADER + 1, 0);
    assert_eq!(
        store.save(&mut &big[..]),
        Err(Error::TooLarge {
            len: 256 - HEADER + 1,
            capacity: 256 - HEADER
        })
    );
    let store = Store::open(store.into_flash());
    assert_eq!(store.latest(), Some(c));
    assert_eq!(
        store.into_flash().ops,
        1 + 5 + 2,
        "one erase, five header and two payload words; nothing since"
    );
}

#[test]
fn a_flash_that_ignores_writes_is_caught_by_the_read_back() {
    let mut store = Store::open(Rom);
    assert_eq!(store.save(&mut &b"state"[..]), Err(Error::Verify));
    assert_eq!(store.latest(), None);
}

#[test]
fn a_flash_error_leaves_the_previous_checkpoint() {
    let mut store = Store::open(Nor::new(1024));
    let c = store.save(&mut &b"first"[..]).unwrap();
    let mut nor = store.into_flash();
    // The controller fails the 5th operation (the 4th word).
    nor.cut_after(4, Tear::Clean);
    let mut store = Store::open(nor);
    assert_eq!(store.save(&mut &b"second"[..]), Err(Error::Flash));
    assert_eq!(store.latest(), Some(c));
    assert_eq!(payload(&store).unwrap(), b"first");
}
