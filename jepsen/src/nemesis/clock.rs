//! Clocks with libfaketime: each node's wall clock is steered through its own
//! FAKETIME_TIMESTAMP_FILE (re-read on every call: FAKETIME_NO_CACHE=1); monotonic clocks
//! are left alone (FAKETIME_DONT_FAKE_MONOTONIC=1), as SPEC.md's time model assumes.
//! Faults: bumps of ±10 ms to 60 s, rates 0.5x to 2x, and strobes (flipping between
//! two offsets every few tens of milliseconds while the fault lasts).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rand::Rng;

use super::{Active, Ctx};
use crate::cluster::Cluster;
use crate::history::{i, map, s, V};

/// A clock fault in force.
pub struct Skew {
    slots: Vec<usize>,
    strobe: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

/// Writes `spec` (libfaketime syntax: "+12.5", "-0.010", "+0 x2") to node `slot`'s file.
pub fn set(c: &Cluster, slot: usize, spec: &str) -> anyhow::Result<()> {
    std::fs::write(c.clock_file(slot), format!("{spec}\n"))?;
    Ok(())
}

/// Puts node `slot`'s clock back to real time.
pub fn reset(c: &Cluster, slot: usize) -> anyhow::Result<()> {
    if c.settings.faketime {
        set(c, slot, "+0")?;
    }
    Ok(())
}

fn bump(rng: &mut impl Rng) -> String {
    // Log-uniform between 10 ms and 60 s, either direction.
    let secs = 10f64.powf(rng.random_range(-2.0..1.778));
    let sign = if rng.random_bool(0.5) { '+' } else { '-' };
    format!("{sign}{secs:.3}")
}

/// Skews the clocks of a random set of nodes (the leader among them half the time).
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    if !ctx.cluster().settings.faketime {
        anyhow::bail!("nodes were started without libfaketime");
    }
    let n = ctx.n();
    let k = ctx.rng.random_range(1..=n);
    let mut slots = ctx.pick(k);
    if ctx.rng.random_bool(0.5) {
        let l = ctx.leader_or_any();
        if !slots.contains(&l) {
            slots.push(l);
        }
    }
    let mode = ctx.rng.random_range(0..3);
    let mut specs = Vec::new();
    let mut strobe = None;
    match mode {
        0 => {
            let c = ctx.cluster.clone();
            let c = c.lock().unwrap_or_else(|e| e.into_inner());
            for &x in &slots {
                let spec = bump(&mut ctx.rng);
                set(&c, x, &spec)?;
                specs.push(s(format!("n{x} {spec}")));
            }
        }
        1 => {
            let c = ctx.cluster.clone();
            let c = c.lock().unwrap_or_else(|e| e.into_inner());
            for &x in &slots {
                let rate = ctx.rng.random_range(0.5..2.0);
                let spec = format!("+0 x{rate:.2}");
                set(&c, x, &spec)?;
                specs.push(s(format!("n{x} {spec}")));
            }
        }
        _ => {
            let a = bump(&mut ctx.rng);
            let period = Duration::from_millis(ctx.rng.random_range(20..200));
            let files: Vec<_> = {
                let c = ctx.cluster();
                slots.iter().map(|&x| c.clock_file(x)).collect()
            };
            let halt = Arc::new(AtomicBool::new(false));
            let h2 = halt.clone();
            let a2 = a.clone();
            let t = std::thread::spawn(move || {
                let mut on = false;
                while !h2.load(Ordering::Relaxed) {
                    on = !on;
                    for f in &files {
                        let _ = std::fs::write(f, if on { format!("{a2}\n") } else { "+0\n".into() });
                    }
                    std::thread::sleep(period);
                }
            });
            strobe = Some((halt, t));
            specs.push(s(format!("strobe +0 <-> {a} every {} ms", period.as_millis())));
        }
    }
    let mode = ["bump", "rate", "strobe"][mode];
    let nodes = V::Vec(slots.iter().map(|&x| i(x as u64)).collect());
    Ok((
        Active::Clock(Skew { slots, strobe }),
        map(vec![("mode", s(mode)), ("nodes", nodes), ("clocks", V::Vec(specs))]),
    ))
}

/// Puts the clocks back.
pub fn stop(ctx: &mut Ctx, skew: Skew) -> anyhow::Result<V> {
    if let Some((halt, t)) = skew.strobe {
        halt.store(true, Ordering::Relaxed);
        let _ = t.join();
    }
    let c = ctx.cluster();
    for &x in &skew.slots {
        reset(&c, x)?;
    }
    Ok(s("clocks reset"))
}
