//! The first pass over an order file: every order read, checked against CJ's rules and encoded
//! into a temporary file, in bounded memory, before anything is sent or stored.
//!
//! The second pass (`cj orders`, `cj queue enqueue`) reads the orders back from that file, so
//! what is sent is exactly what was checked, also when the input was standard input or the
//! file changes in between.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cj::tracking::{EncodedOrder, Instant};
use cj::{InvalidInput, Problem};

use crate::input::Input;
use crate::orders::for_each_order;

/// At most this many problems are kept and printed; the rest are counted.
const MAX_PROBLEMS: usize = 1_000;

/// Why the first pass stopped.
const INTERRUPTED: &str = "interrupted";

/// Orders that passed the first pass, encoded in a temporary file (deleted when dropped).
pub struct Checked {
    spool: std::fs::File,
    /// How many orders.
    pub count: usize,
    /// The input line of each order.
    pub lines: LineMap,
}

/// Why the first pass failed.
pub enum Refused {
    /// The input could not be read, or a line is not an order (the message names the line).
    Unreadable(String),
    /// Orders break CJ's rules: the problems (their `index` an input position), and how many
    /// more were not kept.
    Invalid {
        problems: Vec<Problem>,
        more: usize,
        lines: LineMap,
    },
    /// Ctrl-C.
    Interrupted,
}

/// An order's input line from its position, keeping only where blank lines were skipped.
#[derive(Debug, Default, Clone)]
pub struct LineMap {
    /// (first order position after skipped lines, lines skipped before it in all).
    skips: Vec<(usize, usize)>,
}

impl LineMap {
    fn record(&mut self, index: usize, line: usize) {
        let skipped = line.saturating_sub(index + 1);
        if self.skips.last().map_or(0, |s| s.1) != skipped {
            self.skips.push((index, skipped));
        }
    }

    /// The line of the order at `index`.
    pub fn line(&self, index: usize) -> usize {
        let before = self.skips.partition_point(|(i, _)| *i <= index);
        let skipped = before
            .checked_sub(1)
            .and_then(|n| self.skips.get(n))
            .map_or(0, |s| s.1);
        index + 1 + skipped
    }

    /// `problems` with each `index` replaced by its position in the returned lines, for
    /// [`crate::report_error`].
    pub fn for_report(&self, problems: Vec<Problem>) -> (InvalidInput, Vec<usize>) {
        let mut lines = Vec::with_capacity(problems.len());
        let problems = problems
            .into_iter()
            .map(|mut p| {
                p.index = p.index.map(|i| {
                    lines.push(self.line(i));
                    lines.len() - 1
                });
                p
            })
            .collect();
        (InvalidInput { problems }, lines)
    }
}

/// Reads, checks and encodes every order of `path` (`-`: standard input), in a blocking
/// thread; `stop` (Ctrl-C) ends it early. Duplicate keys are found from a 64-bit hash of each
/// key (8 bytes an order), confirmed against the keys themselves.
pub fn check<I: Input>(
    path: &PathBuf,
    command: &str,
    stop: &AtomicBool,
    progress: &crate::orders::Progress,
) -> Result<Checked, Refused> {
    let file = tempfile::tempfile()
        .map_err(|e| Refused::Unreadable(format!("cannot create a temporary file: {e}")))?;
    let mut spool = BufWriter::with_capacity(1 << 16, file);
    let now = Instant::now();
    let mut lines = LineMap::default();
    let mut problems = Vec::new();
    let mut more = 0;
    let mut hashes = Vec::new();
    let mut count = 0;
    let mut write_error = None;
    let mut json = Vec::new();
    let read = for_each_order(path, command, |order: I, line| {
        if stop.load(Ordering::Relaxed) {
            return Err(INTERRUPTED.into());
        }
        let index = count;
        count += 1;
        lines.record(index, line);
        for p in order.check(index, now) {
            if problems.len() < MAX_PROBLEMS {
                problems.push(p);
            } else {
                more += 1;
            }
        }
        let (enterprise, tracker, order_id) = order.order_key();
        hashes.push(key_hash(enterprise, tracker, order_id));
        if let Err(e) = write_record(&mut spool, &order, &mut json) {
            write_error.get_or_insert(e);
        }
        if count % 4_096 == 0 {
            progress.checked(count);
        }
        Ok(())
    });
    match read {
        Err(e) if e == INTERRUPTED => return Err(Refused::Interrupted),
        Err(e) => return Err(Refused::Unreadable(e)),
        Ok(()) => {}
    }
    progress.checked(count);
    let mut file = spool
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|mut f| f.rewind().map(|()| f));
    if let Some(e) = write_error {
        file = Err(e);
    }
    let file =
        file.map_err(|e| Refused::Unreadable(format!("cannot write a temporary file: {e}")))?;
    let checked = Checked {
        spool: file,
        count,
        lines,
    };
    let repeats = repeated(hashes);
    if !repeats.is_empty() {
        for p in checked.duplicates::<I>(&repeats)? {
            if problems.len() < MAX_PROBLEMS {
                problems.push(p);
            } else {
                more += 1;
            }
        }
    }
    if problems.is_empty() {
        return Ok(checked);
    }
    problems.sort_by_key(|p| p.index);
    Err(Refused::Invalid {
        problems,
        more,
        lines: checked.lines,
    })
}

/// The hashes that occur more than once.
fn repeated(mut hashes: Vec<u64>) -> HashSet<u64> {
    hashes.sort_unstable();
    hashes
        .windows(2)
        .filter(|w| w.first() == w.get(1))
        .filter_map(|w| w.first().copied())
        .collect()
}

fn key_hash(enterprise: &str, tracker: u32, order_id: &str) -> u64 {
    // foldhash with a fixed seed: the same hash for the same key throughout the run, several
    // times cheaper than SipHash; a collision only costs a look at the keys themselves.
    foldhash::fast::FixedState::with_seed(0).hash_one((enterprise, tracker, order_id))
}

/// One order in the temporary file: its action tracker id, the lengths of its enterprise id,
/// order id and JSON (each a little-endian `u32`), then those three texts. `json` is a buffer
/// to encode into.
fn write_record<I: Input>(out: &mut impl Write, order: &I, json: &mut Vec<u8>) -> io::Result<()> {
    json.clear();
    serde_json::to_writer(&mut *json, order)?;
    let (enterprise, tracker, order_id) = order.order_key();
    let length = |text: &[u8]| {
        u32::try_from(text.len())
            .map(u32::to_le_bytes)
            .map_err(|_| io::Error::other("an order of more than 4 GiB"))
    };
    out.write_all(&tracker.to_le_bytes())?;
    out.write_all(&length(enterprise.as_bytes())?)?;
    out.write_all(&length(order_id.as_bytes())?)?;
    out.write_all(&length(json)?)?;
    out.write_all(enterprise.as_bytes())?;
    out.write_all(order_id.as_bytes())?;
    out.write_all(json)
}

/// The next order of the temporary file, `None` at its end.
fn read_record<I>(input: &mut impl io::BufRead) -> Option<Result<EncodedOrder<I>, String>> {
    match input.fill_buf() {
        Ok([]) => None,
        Ok(_) => {
            Some(read_fields(input).map_err(|e| format!("the temporary file is corrupt: {e}")))
        }
        Err(e) => Some(Err(format!("cannot read the temporary file: {e}"))),
    }
}

/// The fields of one record, as [`write_record`] wrote them.
fn read_fields<I>(input: &mut impl io::BufRead) -> Result<EncodedOrder<I>, String> {
    let mut word = || -> Result<u32, String> {
        let mut bytes = [0u8; 4];
        input.read_exact(&mut bytes).map_err(|e| e.to_string())?;
        Ok(u32::from_le_bytes(bytes))
    };
    let (tracker, enterprise, order_id, json) = (word()?, word()?, word()?, word()?);
    let mut text = |length: u32| -> Result<String, String> {
        // Written by this process: a length beyond any order is damage, not a reason to
        // allocate it.
        if length > MAX_RECORD_TEXT {
            return Err(format!("a text of {length} bytes"));
        }
        let mut bytes = vec![0; length as usize];
        input.read_exact(&mut bytes).map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    };
    let (enterprise, order_id, json) = (text(enterprise)?, text(order_id)?, text(json)?);
    Ok(EncodedOrder::from_json(enterprise, tracker, order_id, json))
}

/// The longest text a record of the temporary file can hold: four times an order file's
/// longest line, as an order encoded may be longer than its line (`1e9` written out).
const MAX_RECORD_TEXT: u32 = 4 * crate::orders::MAX_LINE_BYTES as u32;

impl Checked {
    /// The orders whose key (with a hash in `repeats`) repeats an earlier order's.
    fn duplicates<I: Input>(&self, repeats: &HashSet<u64>) -> Result<Vec<Problem>, Refused> {
        let mut first: HashMap<(String, u32, String), usize> = HashMap::new();
        let mut problems = Vec::new();
        for (index, record) in self.orders::<I>().enumerate() {
            let order = record.map_err(Refused::Unreadable)?;
            let (e, t, o) = cj::tracking::OrderKey::order_key(&order);
            if !repeats.contains(&key_hash(e, t, o)) {
                continue;
            }
            let key = (e.to_string(), t, o.to_string());
            match first.get(&key) {
                Some(&earlier) => problems.push(cj::tracking::repeated_key(
                    index,
                    o,
                    format_args!("line {}", self.lines.line(earlier)),
                )),
                None => {
                    first.insert(key, index);
                }
            }
        }
        Ok(problems)
    }

    /// The orders, read back from the start of the temporary file.
    pub fn orders<I: Input>(
        &self,
    ) -> impl Iterator<Item = Result<EncodedOrder<I>, String>> + use<'_, I> {
        let rewound = (&self.spool).rewind();
        let mut reader = BufReader::with_capacity(1 << 16, &self.spool);
        let mut failed = rewound.err().map(|e| e.to_string());
        std::iter::from_fn(move || {
            if let Some(e) = failed.take() {
                return Some(Err(format!("cannot read the temporary file: {e}")));
            }
            read_record(&mut reader)
        })
    }
}

/// Runs [`check`] on a blocking thread, stopping it at Ctrl-C (`ctrl_c`).
pub async fn check_in_background<I: Input + 'static>(
    path: PathBuf,
    command: &'static str,
    progress: crate::orders::Progress,
    ctrl_c: std::pin::Pin<&mut impl std::future::Future>,
) -> Result<Checked, Refused> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::task::spawn_blocking(move || check::<I>(&path, command, &flag, &progress));
    let mut task = std::pin::pin!(task);
    let joined = tokio::select! {
        joined = &mut task => joined,
        _ = ctrl_c => {
            stop.store(true, Ordering::Relaxed);
            task.await
        }
    };
    joined.unwrap_or_else(|e| Err(Refused::Unreadable(format!("the check failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cj::tracking::{OrderCreateRequest, OrderKey};

    fn order(id: &str) -> OrderCreateRequest {
        serde_json::from_value(serde_json::json!({
            "enterpriseId": "1234567", "actionTrackerId": 123456, "orderId": id,
            "eventTime": "2024-01-15T18:08:36.089Z", "cjEvent": "e", "currency": "USD",
            "amount": "149.98"
        }))
        .expect("an order")
    }

    #[test]
    fn records_read_back_as_written_and_damage_is_an_error_not_a_panic() {
        let mut file = Vec::new();
        let mut json = Vec::new();
        for id in ["A-1", "B-é"] {
            write_record(&mut file, &order(id), &mut json).expect("written");
        }
        let mut input = file.as_slice();
        let first: EncodedOrder<OrderCreateRequest> =
            read_record(&mut input).expect("a record").expect("reads");
        assert_eq!(first.order_key(), ("1234567", 123456, "A-1"));
        let original = serde_json::to_string(&order("A-1")).expect("encodes");
        assert_eq!(first.json(), original);
        let second = read_record::<OrderCreateRequest>(&mut input).expect("a record");
        assert_eq!(second.expect("reads").order_key().2, "B-é");
        assert!(read_record::<OrderCreateRequest>(&mut input).is_none());

        // Every cut of the file, and a length far beyond any order: an error each time.
        for cut in 1..file.len() {
            let mut input = file.get(..cut).unwrap_or_default();
            let read: Vec<_> =
                std::iter::from_fn(|| read_record::<OrderCreateRequest>(&mut input)).collect();
            let record_end = 16 + 7 + 3 + original.len();
            if cut != record_end {
                assert!(read.last().is_some_and(Result::is_err), "cut at {cut}");
            }
        }
        let mut huge = file.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        let read = read_record::<OrderCreateRequest>(&mut huge.as_slice()).expect("a record");
        assert!(read.is_err_and(|e| e.contains("corrupt")));
    }
}
