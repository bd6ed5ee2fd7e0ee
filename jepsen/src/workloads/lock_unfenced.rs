//! `lock-unfenced`: the lock-set loop of `lock-fence`, writing to a register inside the
//! harness with no fence at all. A holder that paused past its lease overwrites its
//! successor's write: the checker must find lost elements. This is the positive
//! control: it shows a real second holder exists, which `lock-fence` must survive.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::{lock, Shared, Worker};
use crate::history::{i, map, s, Proc, Type, V};

fn list_v(list: &[i64]) -> V {
    V::Vec(list.iter().map(|x| V::Int(*x)).collect())
}

fn register(shared: &Shared, res: &str) -> Vec<i64> {
    shared
        .registers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(res)
        .cloned()
        .unwrap_or_default()
}

/// The client loop.
pub async fn run(mut wk: Worker) {
    while wk.live() {
        let k = wk.rng.random_range(0..super::lock_fence::RESOURCES);
        let (name, res) = (format!("lu{k}"), format!("u{k}"));
        let Some(token) = lock::acquire(&mut wk, &name, super::lock_fence::TTL_MS).await else {
            wk.pace().await;
            continue;
        };
        let req = map(vec![("res", s(res.clone()))]);
        let p = Proc::Client(wk.process);
        wk.shared.recorder.record(Type::Invoke, p, "read", req.clone());
        let list = register(&wk.shared, &res);
        wk.shared
            .recorder
            .record(Type::Ok, p, "read", req.with("elements", list_v(&list)));
        let work = if wk.rng.random_bool(0.1) {
            super::lock_fence::TTL_MS + wk.rng.random_range(100..400)
        } else {
            wk.rng.random_range(1..30)
        };
        wk.sleep(Duration::from_millis(work)).await;
        let e = wk.shared.element();
        let mut next = list;
        next.push(e);
        let req = map(vec![
            ("res", s(res.clone())),
            ("token", i(token)),
            ("element", V::Int(e)),
            ("elements", list_v(&next)),
        ]);
        wk.shared.recorder.record(Type::Invoke, p, "write", req.clone());
        wk.shared
            .registers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(res.clone(), next);
        wk.shared.recorder.record(Type::Ok, p, "write", req);
        lock::release(&mut wk, &name, token).await;
        wk.pace().await;
    }
}

/// Reads the registers (they live in the harness, so this cannot fail).
pub async fn final_reads(shared: Arc<Shared>) {
    let p = Proc::Client(shared.process());
    for k in 0..super::lock_fence::RESOURCES {
        let res = format!("u{k}");
        let req = map(vec![("res", s(res.clone()))]);
        shared.recorder.record(Type::Invoke, p, "final-read", req.clone());
        let list = register(&shared, &res);
        shared
            .recorder
            .record(Type::Ok, p, "final-read", req.with("elements", list_v(&list)));
    }
}
