//! What the stream tests share: scripts run on Cairn and a real redis-server, with one
//! more kind of line than [`Both::script`]'s for what varies between two servers.

use cairn_protocol::Frame;
use redis::Value;

use super::versus::{Both, show};

/// XREAD's reply as the redis crate reads it: `[(key, [(id, [field, value, ...])])]`.
pub type Read = Vec<(String, Vec<(String, Vec<String>)>)>;

/// `f` with what depends on the clock or on the radix tree's layout zeroed: the idle time
/// of XPENDING's extended entries (`[id, consumer, idle, deliveries]`) and XINFO STREAM's
/// `radix-tree-nodes`.
pub fn masked(f: &Frame) -> Frame {
    let nodes = Frame::Bulk(b"radix-tree-nodes".to_vec());
    let zero = || Frame::Integer(0);
    match f {
        Frame::Array(v)
            if matches!(
                v.as_slice(),
                [
                    Frame::Bulk(_),
                    Frame::Bulk(_),
                    Frame::Integer(_),
                    Frame::Integer(_)
                ]
            ) =>
        {
            Frame::Array(vec![v[0].clone(), v[1].clone(), zero(), v[3].clone()])
        }
        Frame::Array(v) => Frame::Array(
            v.iter()
                .enumerate()
                .map(|(i, x)| {
                    if i > 0 && v[i - 1] == nodes {
                        zero()
                    } else {
                        masked(x)
                    }
                })
                .collect(),
        ),
        Frame::Map(m) => Frame::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), if *k == nodes { zero() } else { masked(v) }))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Runs a script as [`Both::script`] does, with one more kind of line: a leading `%`
/// compares the two replies with XPENDING's idle times and XINFO STREAM's
/// `radix-tree-nodes` zeroed (see [`masked`]).
pub fn script(both: &mut Both, text: &str) {
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let Some(rest) = line.strip_prefix('%') else {
            both.script(line);
            continue;
        };
        let args: Vec<&[u8]> = rest.split_whitespace().map(str::as_bytes).collect();
        let (c, r) = (both.cairn.call(&args), both.redis.call(&args));
        assert!(
            masked(&c) == masked(&r),
            "{rest}: Cairn answered {}, Redis {}",
            show(&c),
            show(&r)
        );
    }
}

/// Runs `scripts` in RESP2, then again on an emptied server in RESP3.
pub fn in_both_protocols(scripts: &[&str]) {
    let Some(mut both) = Both::start(&[], &[]) else {
        return;
    };
    for s in scripts {
        script(&mut both, s);
    }
    both.resp3();
    for s in scripts {
        both.script("FLUSHALL");
        script(&mut both, s);
    }
}

/// A reply's field, value pairs (a flat RESP2 array or a RESP3 map).
pub fn pairs(v: &Value) -> Vec<(String, Value)> {
    let text = |k: &Value| match k {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("a field name, not {other:?}"),
    };
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (text(k), v.clone())).collect(),
        Value::Array(a) => {
            assert!(a.len().is_multiple_of(2), "field, value pairs: {v:?}");
            a.chunks(2).map(|p| (text(&p[0]), p[1].clone())).collect()
        }
        other => panic!("field, value pairs, not {other:?}"),
    }
}
