//! The history: every operation's invocation and completion, in the order the harness
//! saw them, as Jepsen records it (`:index :time :type :process :f :value`).

pub mod edn;

use std::sync::Mutex;
use std::time::Instant;

/// A value inside an op, shaped like the EDN it is written as.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Nil,
    Int(i64),
    Str(String),
    Kw(String),
    /// A bare symbol such as `true` or `false`.
    Sym(&'static str),
    Vec(Vec<V>),
    Map(Vec<(&'static str, V)>),
}

impl V {
    /// The entry `key` of a map value.
    pub fn get(&self, key: &str) -> Option<&V> {
        match self {
            V::Map(kv) => kv.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// The integer entry `key`, if present and an integer.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(V::Int(i)) => Some(*i),
            _ => None,
        }
    }
    /// The string (or keyword) entry `key`.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(V::Str(s)) | Some(V::Kw(s)) => Some(s),
            _ => None,
        }
    }
    /// A copy of this map with `key` set to `v`.
    pub fn with(&self, key: &'static str, v: V) -> V {
        let mut kv = match self {
            V::Map(kv) => kv.clone(),
            _ => Vec::new(),
        };
        kv.retain(|(k, _)| *k != key);
        kv.push((key, v));
        V::Map(kv)
    }
}

/// Shorthand for building map values.
pub fn map(kv: Vec<(&'static str, V)>) -> V {
    V::Map(kv)
}
/// Shorthand for a string value.
pub fn s(x: impl Into<String>) -> V {
    V::Str(x.into())
}
/// Shorthand for an integer value (saturating from u64).
pub fn i(x: u64) -> V {
    V::Int(i64::try_from(x).unwrap_or(i64::MAX))
}

/// Jepsen's op types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// Who performed an op: a client process (renumbered after an indeterminate result, as
/// in Jepsen, so each process has at most one op outstanding) or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proc {
    Client(u64),
    Nemesis,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub index: usize,
    /// Nanoseconds since the run started (the harness's monotonic clock).
    pub time: u64,
    pub typ: Type,
    pub process: Proc,
    pub f: &'static str,
    pub value: V,
}

/// Records ops from many tasks; indices are assigned in recording order.
pub struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

impl Recorder {
    /// A new, empty history whose time 0 is now.
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant time 0 refers to.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Appends an op stamped now; returns its index.
    pub fn record(&self, typ: Type, process: Proc, f: &'static str, value: V) -> usize {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let time = self.now();
        let index = ops.len();
        ops.push(Op {
            index,
            time,
            typ,
            process,
            f,
            value,
        });
        index
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Vec<Op> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

/// A client op with its completion, as checkers want it.
#[derive(Debug, Clone)]
pub struct Pair {
    pub f: &'static str,
    pub process: Proc,
    /// Invocation time (ns).
    pub inv: u64,
    /// Completion time (ns); `u64::MAX` when the outcome is unknown (`:info`) or never came.
    pub ret: u64,
    /// The completion's type; `Info` when none was recorded.
    pub typ: Type,
    /// The invocation's value.
    pub req: V,
    /// The completion's value (the request's when there was none).
    pub resp: V,
    /// Index of the completion (or the invocation when there was none).
    pub index: usize,
}

/// Pairs each client invocation with its process's next completion; nemesis ops are left out.
pub fn pairs(ops: &[Op]) -> Vec<Pair> {
    use std::collections::HashMap;
    let mut open: HashMap<Proc, usize> = HashMap::new();
    let mut out: Vec<Pair> = Vec::new();
    for op in ops {
        if op.process == Proc::Nemesis {
            continue;
        }
        match op.typ {
            Type::Invoke => {
                open.insert(op.process, out.len());
                out.push(Pair {
                    f: op.f,
                    process: op.process,
                    inv: op.time,
                    ret: u64::MAX,
                    typ: Type::Info,
                    req: op.value.clone(),
                    resp: op.value.clone(),
                    index: op.index,
                });
            }
            typ => {
                if let Some(at) = open.remove(&op.process) {
                    let p = &mut out[at];
                    p.typ = typ;
                    p.resp = op.value.clone();
                    p.index = op.index;
                    p.ret = if typ == Type::Info { u64::MAX } else { op.time };
                }
            }
        }
    }
    out
}
