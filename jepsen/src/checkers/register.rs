//! `lock-unfenced`: the lock-set loop writing to a register inside the harness with no
//! fence. Judged by the list checks of `fence.rs` without the token rule; a stale
//! holder (one that paused past its lease) overwrites its successor's element, so under
//! faults this checker must say INVALID: the positive control.

use super::Report;
use crate::history::Op;

/// `lock-unfenced`'s checker.
pub fn check(ops: &[Op]) -> Report {
    super::fence::check_lists(ops, "lock-unfenced", false)
}

#[cfg(test)]
mod tests {
    use super::super::fence::tests::{final_read, write};
    use super::super::Validity;
    use super::*;
    use crate::history::Type;

    #[test]
    fn overwrite_by_a_second_holder_is_caught() {
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        write(&mut ops, 2, 20, 30, 7, &[1, 2], Type::Ok);
        write(&mut ops, 3, 31, 32, 6, &[1, 3], Type::Ok);
        final_read(&mut ops, 100, &[1, 3]);
        assert_eq!(check(&ops).valid, Validity::Invalid);
        let mut ops = Vec::new();
        write(&mut ops, 1, 0, 10, 5, &[1], Type::Ok);
        write(&mut ops, 2, 20, 30, 7, &[1, 2], Type::Ok);
        final_read(&mut ops, 100, &[1, 2]);
        assert_eq!(check(&ops).valid, Validity::Valid);
    }
}
