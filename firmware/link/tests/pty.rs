//! The application logic behind a pseudo-terminal pair: the whole protocol over a real tty,
//! no QEMU needed.

use shinso_link::{emulate_on_pty, scenario, Link};
use std::time::Duration;

#[test]
fn app_over_a_pty_passes_the_scenario() {
    let emu = emulate_on_pty().expect("openpty");
    let mut link = Link::open(&emu.path).expect("open the pty");
    let report =
        scenario::run(&mut link, Duration::from_secs(5), 600).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{report:?}");
    assert_eq!(link.host_decode_errors, 0);
}
