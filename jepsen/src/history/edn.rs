//! EDN text for the history and results, in the shape Jepsen writes (one op per line).

use super::{Op, Proc, Type, V};

/// `v` as EDN.
pub fn value(v: &V) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &V) {
    match v {
        V::Nil => out.push_str("nil"),
        V::Int(i) => out.push_str(&i.to_string()),
        V::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        V::Sym(x) => out.push_str(x),
        V::Kw(k) => {
            out.push(':');
            out.push_str(k);
        }
        V::Vec(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        V::Map(kv) => {
            out.push('{');
            for (n, (k, item)) in kv.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push(':');
                out.push_str(k);
                out.push(' ');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// One op as a Jepsen history line.
pub fn op(o: &Op) -> String {
    let typ = match o.typ {
        Type::Invoke => "invoke",
        Type::Ok => "ok",
        Type::Fail => "fail",
        Type::Info => "info",
    };
    let process = match o.process {
        Proc::Client(p) => p.to_string(),
        Proc::Nemesis => ":nemesis".to_string(),
    };
    format!(
        "{{:index {}, :time {}, :type :{}, :process {}, :f :{}, :value {}}}",
        o.index,
        o.time,
        typ,
        process,
        o.f,
        value(&o.value)
    )
}

/// The whole history, one op per line.
pub fn history(ops: &[Op]) -> String {
    let mut out = String::new();
    for o in ops {
        out.push_str(&op(o));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{i, map, s};

    #[test]
    fn ops_render_as_jepsen_edn() {
        let o = Op {
            index: 3,
            time: 42,
            typ: Type::Ok,
            process: Proc::Client(7),
            f: "acquire",
            value: map(vec![("name", s("l\"0")), ("token", i(12)), ("x", V::Nil)]),
        };
        assert_eq!(
            op(&o),
            r#"{:index 3, :time 42, :type :ok, :process 7, :f :acquire, :value {:name "l\"0", :token 12, :x nil}}"#
        );
        let n = Op {
            process: Proc::Nemesis,
            typ: Type::Info,
            f: "start-kill",
            value: V::Vec(vec![V::Kw("n1".into())]),
            ..o
        };
        assert!(op(&n).contains(":process :nemesis, :f :start-kill, :value [:n1]"));
    }
}
