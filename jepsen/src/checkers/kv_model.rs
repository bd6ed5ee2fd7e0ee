//! A sequential model of the Redis data commands the `redis-data` workload sends, on a
//! handful of keys: strings, hashes, lists and sorted sets with Redis's replies, as the
//! workload canonicalises them (`nil`, integers and strings as text, arrays as
//! `[a,b]`, HGETALL pairs sorted by field, PTTL of a key with a TTL as `ttl`, an error
//! inside an EXEC's reply as `err`). TTLs
//! are far in the future in the workload, so a key only remembers whether it has one.
//! An error reply is `Err`: the command changed nothing.

use std::collections::BTreeMap;

/// One key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Val {
    Str(String),
    Hash(BTreeMap<String, String>),
    List(Vec<String>),
    Zset(BTreeMap<String, i64>),
}

/// The keys of one family: value and whether it has a TTL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Kv {
    keys: BTreeMap<String, (Val, bool)>,
}

/// An error reply: the command changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrReply;

type R = Result<String, ErrReply>;

fn int(s: &str) -> Result<i64, ErrReply> {
    s.parse().map_err(|_| ErrReply)
}

/// Redis prints integral floats without a fraction; the workload only adds integers.
fn float_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn array(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(","))
}

impl Kv {
    fn str_of(&self, k: &str) -> Result<Option<&String>, ErrReply> {
        match self.keys.get(k) {
            None => Ok(None),
            Some((Val::Str(s), _)) => Ok(Some(s)),
            Some(_) => Err(ErrReply),
        }
    }

    /// The value at `k` if it is of the kind `make` builds (a fresh one when absent).
    fn agg(&mut self, k: &str, make: fn() -> Val) -> Result<&mut Val, ErrReply> {
        let (v, _) = self.keys.entry(k.to_string()).or_insert_with(|| (make(), false));
        if std::mem::discriminant(v) != std::mem::discriminant(&make()) {
            return Err(ErrReply);
        }
        Ok(v)
    }

    /// Removes `k` if it holds an empty aggregate (Redis deletes those).
    fn tidy(&mut self, k: &str) {
        let empty = match self.keys.get(k) {
            Some((Val::Hash(h), _)) => h.is_empty(),
            Some((Val::List(l), _)) => l.is_empty(),
            Some((Val::Zset(z), _)) => z.is_empty(),
            _ => false,
        };
        if empty {
            self.keys.remove(k);
        }
    }

    fn set_str(&mut self, k: &str, v: String, ttl: bool) {
        self.keys.insert(k.to_string(), (Val::Str(v), ttl));
    }

    fn incr(&mut self, k: &str, by: i64) -> R {
        let old = self.str_of(k)?.map(|s| int(s)).transpose()?.unwrap_or(0);
        let new = old.checked_add(by).ok_or(ErrReply)?;
        let ttl = self.keys.get(k).is_some_and(|(_, t)| *t);
        self.set_str(k, new.to_string(), ttl);
        Ok(new.to_string())
    }

    /// Applies one command; `Err` for an error reply (nothing changed).
    pub fn apply(&mut self, w: &[String]) -> R {
        let before = self.clone();
        let r = self.apply_inner(w);
        if r.is_err() {
            *self = before;
        }
        r
    }

    fn apply_inner(&mut self, w: &[String]) -> R {
        let cmd = w.first().ok_or(ErrReply)?.to_ascii_uppercase();
        let a: Vec<&str> = w[1..].iter().map(String::as_str).collect();
        let k = a.first().copied().unwrap_or("");
        let exists = self.keys.contains_key(k);
        match cmd.as_str() {
            // MULTI ... EXEC, recorded as EXEC with each queued command as one word: they
            // apply in order, at once; one that fails is an error element, the rest apply.
            "EXEC" => {
                let replies = a.iter().map(|c| {
                    let words: Vec<String> = c.split(' ').map(String::from).collect();
                    self.apply(&words).unwrap_or_else(|ErrReply| "err".into())
                });
                Ok(array(replies.collect::<Vec<_>>()))
            }
            "GET" => Ok(self.str_of(k)?.cloned().unwrap_or_else(|| "nil".into())),
            "SET" => {
                let flags: Vec<String> = a[2..].iter().map(|x| x.to_ascii_uppercase()).collect();
                let has = |f: &str| flags.iter().any(|x| x == f);
                let old = self.str_of(k)?.cloned();
                let reply = |set: bool| {
                    if has("GET") {
                        old.clone().unwrap_or_else(|| "nil".into())
                    } else if set {
                        "OK".into()
                    } else {
                        "nil".into()
                    }
                };
                if (has("NX") && exists) || (has("XX") && !exists) {
                    return Ok(reply(false));
                }
                let ttl = if has("PX") || has("EX") {
                    true
                } else if has("KEEPTTL") {
                    self.keys.get(k).is_some_and(|(_, t)| *t)
                } else {
                    false
                };
                self.set_str(k, a[1].to_string(), ttl);
                Ok(reply(true))
            }
            "SETNX" => {
                if exists {
                    return Ok("0".into());
                }
                self.set_str(k, a[1].to_string(), false);
                Ok("1".into())
            }
            "SETEX" | "PSETEX" => {
                self.set_str(k, a[2].to_string(), true);
                Ok("OK".into())
            }
            "GETDEL" => {
                let v = self.str_of(k)?.cloned();
                self.keys.remove(k);
                Ok(v.unwrap_or_else(|| "nil".into()))
            }
            "GETEX" => {
                let v = self.str_of(k)?.cloned();
                if let Some((_, t)) = self.keys.get_mut(k) {
                    match a.get(1).map(|x| x.to_ascii_uppercase()).as_deref() {
                        Some("PERSIST") => *t = false,
                        Some(_) => *t = true,
                        None => {}
                    }
                }
                Ok(v.unwrap_or_else(|| "nil".into()))
            }
            "MSET" => {
                for kv in a.chunks(2) {
                    self.set_str(kv[0], kv[1].to_string(), false);
                }
                Ok("OK".into())
            }
            "INCR" => self.incr(k, 1),
            "DECR" => self.incr(k, -1),
            "INCRBY" => self.incr(k, int(a[1])?),
            "DECRBY" => self.incr(k, int(a[1])?.checked_neg().ok_or(ErrReply)?),
            "INCRBYFLOAT" => {
                let old: f64 = match self.str_of(k)? {
                    Some(s) => s.parse().map_err(|_| ErrReply)?,
                    None => 0.0,
                };
                let by: f64 = a[1].parse().map_err(|_| ErrReply)?;
                let new = float_text(old + by);
                let ttl = self.keys.get(k).is_some_and(|(_, t)| *t);
                self.set_str(k, new.clone(), ttl);
                Ok(new)
            }
            "APPEND" => {
                let new = format!("{}{}", self.str_of(k)?.cloned().unwrap_or_default(), a[1]);
                let ttl = self.keys.get(k).is_some_and(|(_, t)| *t);
                let n = new.len();
                self.set_str(k, new, ttl);
                Ok(n.to_string())
            }
            "DEL" | "UNLINK" => Ok(a.iter().filter(|x| self.keys.remove(**x).is_some()).count().to_string()),
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => match self.keys.get_mut(k) {
                Some((_, t)) => {
                    *t = true;
                    Ok("1".into())
                }
                None => Ok("0".into()),
            },
            "PERSIST" => match self.keys.get_mut(k) {
                Some((_, t)) if *t => {
                    *t = false;
                    Ok("1".into())
                }
                _ => Ok("0".into()),
            },
            "PTTL" => Ok(match self.keys.get(k) {
                None => "-2".into(),
                Some((_, true)) => "ttl".into(),
                Some((_, false)) => "-1".into(),
            }),
            "RENAME" | "RENAMENX" => {
                let v = self.keys.get(k).cloned().ok_or(ErrReply)?;
                let nx = cmd == "RENAMENX";
                if nx && self.keys.contains_key(a[1]) {
                    return Ok("0".into());
                }
                self.keys.remove(k);
                self.keys.insert(a[1].to_string(), v);
                Ok(if nx { "1" } else { "OK" }.into())
            }
            "HSET" | "HMSET" => {
                let Val::Hash(h) = self.agg(k, || Val::Hash(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                let added = a[1..]
                    .chunks(2)
                    .filter(|fv| h.insert(fv[0].to_string(), fv[1].to_string()).is_none())
                    .count();
                Ok(if cmd == "HMSET" { "OK".into() } else { added.to_string() })
            }
            "HSETNX" => {
                let Val::Hash(h) = self.agg(k, || Val::Hash(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                if h.contains_key(a[1]) {
                    return Ok("0".into());
                }
                h.insert(a[1].to_string(), a[2].to_string());
                Ok("1".into())
            }
            "HDEL" => {
                if !exists {
                    return Ok("0".into());
                }
                let Val::Hash(h) = self.agg(k, || Val::Hash(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                let n = a[1..].iter().filter(|f| h.remove(**f).is_some()).count();
                self.tidy(k);
                Ok(n.to_string())
            }
            "HINCRBY" | "HINCRBYFLOAT" => {
                let Val::Hash(h) = self.agg(k, || Val::Hash(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                let old = h.get(a[1]).cloned().unwrap_or_else(|| "0".into());
                let new = if cmd == "HINCRBY" {
                    int(&old)?.checked_add(int(a[2])?).ok_or(ErrReply)?.to_string()
                } else {
                    let o: f64 = old.parse().map_err(|_| ErrReply)?;
                    float_text(o + a[2].parse::<f64>().map_err(|_| ErrReply)?)
                };
                h.insert(a[1].to_string(), new.clone());
                Ok(new)
            }
            "HGETALL" => match self.keys.get(k) {
                None => Ok("[]".into()),
                Some((Val::Hash(h), _)) => Ok(array(h.iter().flat_map(|(f, v)| [f.clone(), v.clone()]))),
                Some(_) => Err(ErrReply),
            },
            "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
                if cmd.ends_with('X') && !exists {
                    return Ok("0".into());
                }
                let Val::List(l) = self.agg(k, || Val::List(Vec::new()))? else {
                    return Err(ErrReply);
                };
                for v in &a[1..] {
                    if cmd.starts_with('L') {
                        l.insert(0, v.to_string());
                    } else {
                        l.push(v.to_string());
                    }
                }
                Ok(l.len().to_string())
            }
            "LPOP" | "RPOP" => {
                if !exists {
                    return Ok("nil".into());
                }
                let Val::List(l) = self.agg(k, || Val::List(Vec::new()))? else {
                    return Err(ErrReply);
                };
                let count = a.get(1).map(|c| int(c)).transpose()?;
                let n = count.unwrap_or(1).max(0) as usize;
                let mut out = Vec::new();
                for _ in 0..n.min(l.len()) {
                    out.push(if cmd == "LPOP" {
                        l.remove(0)
                    } else {
                        l.pop().unwrap_or_default()
                    });
                }
                self.tidy(k);
                Ok(match count {
                    Some(_) => array(out),
                    None => out.pop().unwrap_or_else(|| "nil".into()),
                })
            }
            "LTRIM" => {
                if !exists {
                    return Ok("OK".into());
                }
                let Val::List(l) = self.agg(k, || Val::List(Vec::new()))? else {
                    return Err(ErrReply);
                };
                let (start, stop) = (int(a[1])?.max(0) as usize, int(a[2])?);
                let stop = if stop < 0 { l.len() as i64 + stop } else { stop };
                *l = if stop < start as i64 {
                    Vec::new()
                } else {
                    l.iter().skip(start).take(stop as usize + 1 - start).cloned().collect()
                };
                self.tidy(k);
                Ok("OK".into())
            }
            "LREM" => {
                if !exists {
                    return Ok("0".into());
                }
                let Val::List(l) = self.agg(k, || Val::List(Vec::new()))? else {
                    return Err(ErrReply);
                };
                let before = l.len();
                l.retain(|x| x != a[2]);
                let n = before - l.len();
                self.tidy(k);
                Ok(n.to_string())
            }
            "LRANGE" => match self.keys.get(k) {
                None => Ok("[]".into()),
                Some((Val::List(l), _)) => Ok(array(l.iter().cloned())),
                Some(_) => Err(ErrReply),
            },
            "ZADD" => {
                let Val::Zset(z) = self.agg(k, || Val::Zset(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                let flags: Vec<String> = a[1..a.len() - 2].iter().map(|x| x.to_ascii_uppercase()).collect();
                let (score, m) = (int(a[a.len() - 2])?, a[a.len() - 1]);
                let has = |f: &str| flags.iter().any(|x| x == f);
                let old = z.get(m).copied();
                let r = if has("INCR") {
                    let new = old.unwrap_or(0).checked_add(score).ok_or(ErrReply)?;
                    z.insert(m.to_string(), new);
                    new.to_string()
                } else if has("XX") && old.is_none() {
                    "0".into()
                } else {
                    z.insert(m.to_string(), score);
                    let changed = if has("CH") { old != Some(score) } else { old.is_none() };
                    usize::from(changed).to_string()
                };
                self.tidy(k);
                Ok(r)
            }
            "ZINCRBY" => {
                let Val::Zset(z) = self.agg(k, || Val::Zset(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                let new = z
                    .get(a[2])
                    .copied()
                    .unwrap_or(0)
                    .checked_add(int(a[1])?)
                    .ok_or(ErrReply)?;
                z.insert(a[2].to_string(), new);
                Ok(new.to_string())
            }
            "ZREM" | "ZREMRANGEBYSCORE" | "ZREMRANGEBYRANK" => {
                if !exists {
                    return Ok("0".into());
                }
                let Val::Zset(z) = self.agg(k, || Val::Zset(BTreeMap::new()))? else {
                    return Err(ErrReply);
                };
                let doomed: Vec<String> = match cmd.as_str() {
                    "ZREM" => a[1..]
                        .iter()
                        .filter(|m| z.contains_key(**m))
                        .map(|m| m.to_string())
                        .collect(),
                    "ZREMRANGEBYSCORE" => {
                        let (lo, hi) = (int(a[1])?, int(a[2])?);
                        z.iter()
                            .filter(|(_, s)| (lo..=hi).contains(*s))
                            .map(|(m, _)| m.clone())
                            .collect()
                    }
                    _ => {
                        let (lo, hi) = (int(a[1])?.max(0) as usize, int(a[2])?.max(-1));
                        let hi = if hi < 0 { z.len() as i64 + hi } else { hi };
                        zorder(z)
                            .into_iter()
                            .skip(lo)
                            .take((hi + 1 - lo as i64).max(0) as usize)
                            .map(|(m, _)| m)
                            .collect()
                    }
                };
                for m in &doomed {
                    z.remove(m);
                }
                self.tidy(k);
                Ok(doomed.len().to_string())
            }
            "ZRANGE" => match self.keys.get(k) {
                None => Ok("[]".into()),
                Some((Val::Zset(z), _)) => Ok(array(zorder(z).into_iter().flat_map(|(m, s)| [m, s.to_string()]))),
                Some(_) => Err(ErrReply),
            },
            _ => Err(ErrReply),
        }
    }
}

/// Members by (score, member), Redis's order.
fn zorder(z: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kv: &mut Kv, line: &str) -> R {
        kv.apply(&line.split(' ').map(String::from).collect::<Vec<_>>())
    }

    /// Replies checked against a real Redis-compatible server by hand (fencepost, the
    /// same replies as Redis 7 for these).
    #[test]
    fn replies_match_redis() {
        let mut kv = Kv::default();
        for (cmd, want) in [
            ("SET a 10", "OK"),
            ("INCRBYFLOAT a 5", "15"),
            ("SET a 5 GET", "15"),
            ("SET a 6 NX", "nil"),
            ("SET b 1 XX", "nil"),
            ("SETNX b 7", "1"),
            ("GETEX a PX 100000000", "5"),
            ("PTTL a", "ttl"),
            ("SET a 8 KEEPTTL", "OK"),
            ("PTTL a", "ttl"),
            ("PERSIST a", "1"),
            ("PTTL a", "-1"),
            ("APPEND a 1", "2"),
            ("INCR a", "82"),
            ("RENAMENX a b", "0"),
            ("RENAME a c", "OK"),
            ("GET a", "nil"),
            ("DEL a b c", "2"),
            ("HSET h f 1 g 2", "2"),
            ("HINCRBY h f 4", "5"),
            ("HDEL h f g x", "2"),
            ("HGETALL h", "[]"),
            ("RPUSH l x y z", "3"),
            ("LPOP l 2", "[x,y]"),
            ("LPOP l", "z"),
            ("LPOP l 2", "nil"),
            ("RPUSHX l a", "0"),
            ("ZADD z 3 m", "1"),
            ("ZINCRBY z 2 m", "5"),
            ("ZADD z INCR 4 m", "9"),
            ("ZADD z XX CH 7 m", "1"),
            ("ZADD z XX CH 7 m", "0"),
            ("ZADD z 1 n", "1"),
            ("ZRANGE z 0 -1 WITHSCORES", "[n,1,m,7]"),
            ("ZREMRANGEBYRANK z 0 0", "1"),
            ("ZREMRANGEBYSCORE z 0 100", "1"),
            ("ZRANGE z 0 -1 WITHSCORES", "[]"),
        ] {
            assert_eq!(run(&mut kv, cmd), Ok(want.to_string()), "{cmd}");
        }
        assert_eq!(run(&mut kv, "RENAME nope x"), Err(ErrReply));
        let exec = ["EXEC", "SET t 5", "RENAME nope x", "INCR t"].map(String::from);
        assert_eq!(kv.apply(&exec), Ok("[OK,err,6]".to_string()));
        run(&mut kv, "SET s x").ok();
        assert_eq!(run(&mut kv, "INCR s"), Err(ErrReply));
        assert_eq!(run(&mut kv, "GET s"), Ok("x".into()));
    }
}
