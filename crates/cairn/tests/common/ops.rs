//! Writers that change keys with operations (APPEND, SETRANGE, INCRBY, SETBIT), which
//! the write stream carries as themselves: applying one twice, or not at all, shows in
//! the values. Each writer owns its keys and keeps the values they must hold.

use super::q;

/// Keys that writer `t` changes with operations (APPEND, INCRBY, SETRANGE, SETBIT), and
/// what each must hold: the writer alone touches them, so it knows.
pub struct OpModel {
    t: usize,
    values: Vec<Vec<u8>>,
    counters: Vec<i64>,
}

impl OpModel {
    pub const KEYS: usize = 64;

    pub fn new(t: usize) -> OpModel {
        OpModel {
            t,
            values: vec![Vec::new(); Self::KEYS],
            counters: vec![0; Self::KEYS],
        }
    }

    /// One pipeline of 200 operations, applied to the model as the server applies them.
    pub fn round(&mut self, con: &mut redis::Connection, n: u64) {
        let mut pipe = redis::pipe();
        for j in 0..200u64 {
            // Every kind of operation reaches every key within two rounds.
            let i = ((n * 50 + j / 4) * 13 % Self::KEYS as u64) as usize;
            let key = format!("op:{}:{i}", self.t);
            let v = &mut self.values[i];
            match j % 4 {
                0..=2 if v.is_empty() || j % 4 != 2 => {
                    let tail = format!("{n}.{j};");
                    v.extend_from_slice(tail.as_bytes());
                    pipe.cmd("APPEND").arg(&key).arg(tail).ignore();
                }
                2 => {
                    let at = v.len() / 2;
                    v[at..at + 1].copy_from_slice(b"#");
                    pipe.cmd("SETRANGE").arg(&key).arg(at).arg("#").ignore();
                }
                _ => {
                    self.counters[i] += 3;
                    pipe.cmd("INCRBY")
                        .arg(format!("ctr:{}:{i}", self.t))
                        .arg(3)
                        .ignore();
                    let bit = (n % 64) as usize;
                    let ones = format!("bits:{}:{i}", self.t);
                    pipe.cmd("SETBIT").arg(ones).arg(bit).arg(1).ignore();
                }
            }
        }
        pipe.query::<()>(con).expect("the operations are accepted");
    }

    pub fn check(&self, con: &mut redis::Connection) {
        for i in 0..Self::KEYS {
            let got: Vec<u8> = q(con, &["GET", &format!("op:{}:{i}", self.t)]);
            assert!(
                got == self.values[i],
                "op:{}:{i} holds {} bytes, {} expected: an operation was lost or applied twice",
                self.t,
                got.len(),
                self.values[i].len()
            );
            let n: i64 = q(con, &["GET", &format!("ctr:{}:{i}", self.t)]);
            assert_eq!(n, self.counters[i], "ctr:{}:{i}", self.t);
        }
    }

    /// Starts from what the server holds (after a restart).
    pub fn resume(t: usize, con: &mut redis::Connection) -> OpModel {
        let mut model = OpModel::new(t);
        for i in 0..Self::KEYS {
            model.values[i] = q(con, &["GET", &format!("op:{t}:{i}")]);
            let n: Option<i64> = q(con, &["GET", &format!("ctr:{t}:{i}")]);
            model.counters[i] = n.unwrap_or(0);
        }
        model
    }

    /// Keys a writer makes once every kind of operation reached every key.
    pub const KEYS_MADE: usize = 3 * Self::KEYS;
}
