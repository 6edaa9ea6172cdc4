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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use cj::tracking::{EncodedOrder, Horizon};
use cj::{InvalidInput, Problem};

use crate::input::{Input, parse_line};

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
/// thread, accepting times up to `skew` ahead of this host's clock; `stop` (Ctrl-C) ends it
/// early. Duplicate keys are found from a 64-bit hash of each
/// key (8 bytes an order), confirmed against the keys themselves.
///
/// The lines are read in batches that worker threads (one a core) parse, check and encode;
/// the batches are written to the temporary file in input order, so the outcome is the same
/// as reading one order at a time.
pub fn check<I: Input>(
    path: &PathBuf,
    command: &str,
    stop: &AtomicBool,
    progress: &crate::orders::Progress,
    skew: Duration,
) -> Result<Checked, Refused> {
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(MAX_WORKERS);
    let horizon = Horizon::now(skew);
    check_with::<I>(path, command, stop, progress, workers, BATCH_BYTES, horizon)
}

/// The most threads that check orders.
const MAX_WORKERS: usize = 8;
/// A batch closes once its lines hold this many bytes (or [`BATCH_ORDERS`] orders).
const BATCH_BYTES: usize = 256 << 10;
/// The most orders in a batch.
const BATCH_ORDERS: usize = 1_024;
/// The most input bytes read but not yet written to the temporary file, one batch aside: what
/// bounds memory whatever the order of the workers (a batch of one longest line still goes).
const UNWRITTEN_BYTES: usize = 16 << 20;

/// Lines for a worker: the first order's input position, the lines one after another, and
/// where each ends with its line number.
struct Batch {
    first: usize,
    text: String,
    lines: Vec<(usize, usize)>,
}

/// A batch checked: its orders encoded as records of the temporary file, their key hashes,
/// their problems, each order's (position, line), and the line that is not an order, if one
/// is (the orders after it were not read).
#[derive(Default)]
struct Done {
    records: Vec<u8>,
    hashes: Vec<u64>,
    problems: Vec<Problem>,
    lines: Vec<(usize, usize)>,
    unreadable: Option<String>,
    write_error: Option<io::Error>,
    /// The input bytes of the batch, given back to the budget once written.
    bytes: usize,
}

/// What the writer takes, in input order.
enum Entry {
    /// A batch, answered by its worker on this channel.
    Batch(Receiver<Done>),
    /// The input could not be read further.
    Failed(String),
}

/// The input bytes read but not yet written: the reader waits while there are too many, until
/// the writer gives some back or ends.
#[derive(Default)]
struct Budget {
    /// The bytes taken, and whether the writer ended.
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Budget {
    fn take(&self, bytes: usize) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !state.1 && state.0 > 0 && state.0 + bytes > UNWRITTEN_BYTES {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.0 += bytes;
    }

    fn give_back(&self, bytes: usize) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = state.0.saturating_sub(bytes);
        self.freed.notify_all();
    }

    /// The writer ended: nothing waits for it any more.
    fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.freed.notify_all();
    }
}

/// [`check`] with `workers` threads and batches of `batch_bytes`, times accepted up to `now`.
fn check_with<I: Input>(
    path: &PathBuf,
    command: &str,
    stop: &AtomicBool,
    progress: &crate::orders::Progress,
    workers: usize,
    batch_bytes: usize,
    now: Horizon,
) -> Result<Checked, Refused> {
    let file = tempfile::tempfile()
        .map_err(|e| Refused::Unreadable(format!("cannot create a temporary file: {e}")))?;
    let budget = Budget::default();
    let (jobs, queue) = mpsc::sync_channel::<(Batch, SyncSender<Done>)>(workers);
    let queue = Mutex::new(queue);
    let written = std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    // Held only while taking a job.
                    let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((batch, answer)) = job else { return };
                    // The writer may have stopped: then nobody listens.
                    let _ = answer.send(check_batch::<I>(batch, command, now));
                }
            });
        }
        let (entries, in_order) = mpsc::sync_channel::<Entry>(2 * workers);
        let writer = scope.spawn(|| {
            let written = write_in_order(in_order, file, stop, progress, &budget);
            // The reader stops too: at its next batch, whose entry finds no writer, or now
            // if it waits for room.
            budget.close();
            written
        });
        let dispatch = |batch: Batch| -> Result<(), String> {
            budget.take(batch.text.len());
            let (answer, answered) = mpsc::sync_channel(1);
            entries
                .send(Entry::Batch(answered))
                .map_err(|_| INTERRUPTED.to_string())?;
            jobs.send((batch, answer))
                .map_err(|_| INTERRUPTED.to_string())
        };
        let mut batch = Batch::new(0, batch_bytes);
        let read = crate::orders::Lines::open(path).and_then(|mut lines| {
            loop {
                if stop.load(Ordering::Relaxed) {
                    return Err(INTERRUPTED.into());
                }
                // Read straight into the batch: no copy of each line.
                let Some(line_no) = lines.next_into(&mut batch.text)? else {
                    break;
                };
                batch.lines.push((batch.text.len(), line_no));
                if batch.text.len() >= batch_bytes || batch.lines.len() >= BATCH_ORDERS {
                    let next = Batch::new(batch.first + batch.lines.len(), batch_bytes);
                    dispatch(std::mem::replace(&mut batch, next))?;
                }
            }
            if batch.lines.is_empty() {
                Ok(())
            } else {
                dispatch(batch)
            }
        });
        if let Err(e) = read
            && e != INTERRUPTED
        {
            let _ = entries.send(Entry::Failed(e));
        }
        // The workers and the writer end once their channels are closed and drained.
        drop((jobs, entries));
        writer
            .join()
            .unwrap_or_else(|_| Err(Refused::Unreadable("the check failed".into())))
    })?;
    let Written {
        spool,
        count,
        lines,
        hashes,
        mut problems,
        mut more,
    } = written;
    let checked = Checked {
        spool,
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

impl Batch {
    fn new(first: usize, batch_bytes: usize) -> Batch {
        Batch {
            first,
            // Room for the batch and the line that fills it.
            text: String::with_capacity(batch_bytes.min(BATCH_BYTES) + (1 << 10)),
            lines: Vec::new(),
        }
    }
}

/// Parses, checks and encodes the orders of `batch` (a worker's job).
fn check_batch<I: Input>(batch: Batch, command: &str, now: Horizon) -> Done {
    let mut done = Done {
        // An encoded order is about as long as its line.
        records: Vec::with_capacity(batch.text.len() + 32 * batch.lines.len()),
        hashes: Vec::with_capacity(batch.lines.len()),
        bytes: batch.text.len(),
        ..Done::default()
    };
    let mut json = Vec::new();
    let mut start = 0;
    for (n, &(end, line_no)) in batch.lines.iter().enumerate() {
        let line = batch.text.get(start..end).unwrap_or_default();
        start = end;
        let order: I = match parse_line(line, command) {
            Ok(order) => order,
            Err(why) => {
                done.unreadable = Some(format!("line {line_no}: {why}"));
                break;
            }
        };
        let index = batch.first + n;
        done.problems.extend(order.check(index, now));
        let (enterprise, tracker, order_id) = order.order_key();
        done.hashes.push(key_hash(enterprise, tracker, order_id));
        if let Err(e) = write_record(&mut done.records, &order, &mut json) {
            done.write_error.get_or_insert(e);
        }
        done.lines.push((index, line_no));
    }
    done
}

/// What the writer made of the batches.
struct Written {
    spool: std::fs::File,
    count: usize,
    lines: LineMap,
    hashes: Vec<u64>,
    problems: Vec<Problem>,
    more: usize,
}

/// Writes the checked batches to `file` in input order, keeping the first [`MAX_PROBLEMS`]
/// problems; stops at the first line that is not an order, at a failure to read, and at
/// Ctrl-C (`stop`).
fn write_in_order(
    entries: Receiver<Entry>,
    file: std::fs::File,
    stop: &AtomicBool,
    progress: &crate::orders::Progress,
    budget: &Budget,
) -> Result<Written, Refused> {
    let mut spool = BufWriter::with_capacity(1 << 16, file);
    let mut lines = LineMap::default();
    let (mut problems, mut more) = (Vec::new(), 0);
    let mut hashes = Vec::new();
    let mut count = 0;
    let mut write_error = None;
    for entry in entries {
        if stop.load(Ordering::Relaxed) {
            return Err(Refused::Interrupted);
        }
        let done = match entry {
            Entry::Failed(e) => return Err(Refused::Unreadable(e)),
            Entry::Batch(answered) => match answered.recv() {
                Ok(done) => done,
                Err(_) => return Err(Refused::Unreadable("the check failed".into())),
            },
        };
        budget.give_back(done.bytes);
        if let Err(e) = spool.write_all(&done.records) {
            write_error.get_or_insert(e);
        }
        if let Some(e) = done.write_error {
            write_error.get_or_insert(e);
        }
        hashes.extend_from_slice(&done.hashes);
        for (index, line) in done.lines {
            lines.record(index, line);
        }
        count += done.hashes.len();
        for p in done.problems {
            if problems.len() < MAX_PROBLEMS {
                problems.push(p);
            } else {
                more += 1;
            }
        }
        progress.checked(count);
        if let Some(e) = done.unreadable {
            return Err(Refused::Unreadable(e));
        }
    }
    if stop.load(Ordering::Relaxed) {
        return Err(Refused::Interrupted);
    }
    let mut file = spool
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|mut f| f.rewind().map(|()| f));
    if let Some(e) = write_error {
        file = Err(e);
    }
    let spool =
        file.map_err(|e| Refused::Unreadable(format!("cannot write a temporary file: {e}")))?;
    Ok(Written {
        spool,
        count,
        lines,
        hashes,
        problems,
        more,
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

/// Runs [`check`] on a blocking thread, times accepted up to `skew` ahead of this host's
/// clock, stopping it at Ctrl-C (`ctrl_c`).
pub async fn check_in_background<I: Input + 'static>(
    path: PathBuf,
    command: &'static str,
    progress: crate::orders::Progress,
    ctrl_c: std::pin::Pin<&mut impl std::future::Future>,
    skew: Duration,
) -> Result<Checked, Refused> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task =
        tokio::task::spawn_blocking(move || check::<I>(&path, command, &flag, &progress, skew));
    let mut task = std::pin::pin!(task);
    let joined = tokio::select! {
        joined = &mut task => joined,
        _ = ctrl_c => {
            stop.store(true, Ordering::Relaxed);
            // The check stops at its next line; one blocked reading a terminal or a pipe that
            // stays open never gets there: nothing was stored nor sent, so it is left behind.
            match tokio::time::timeout(Duration::from_secs(1), &mut task).await {
                Ok(joined) => joined,
                Err(_) => return Err(Refused::Interrupted),
            }
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

    /// What a check came to, as text to compare.
    fn outcome(result: Result<Checked, Refused>) -> String {
        match result {
            Ok(checked) => {
                let orders: Vec<String> = checked
                    .orders::<OrderCreateRequest>()
                    .map(|o| o.map(|o| format!("{:?} {}", o.order_key(), o.json())))
                    .collect::<Result<_, _>>()
                    .expect("the spool reads back");
                let lines: Vec<usize> = (0..checked.count).map(|i| checked.lines.line(i)).collect();
                format!("ok {} {orders:?} {lines:?}", checked.count)
            }
            Err(Refused::Unreadable(e)) => format!("unreadable {e}"),
            Err(Refused::Interrupted) => "interrupted".into(),
            Err(Refused::Invalid {
                problems,
                more,
                lines,
            }) => {
                let at: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{p:?} line {:?}", p.index.map(|i| lines.line(i))))
                    .collect();
                format!("invalid {more} {at:?}")
            }
        }
    }

    /// Checks `text` as a file, one order at a time (one worker, one batch) and in batches of
    /// a line or two over four workers: the same outcome, which is returned.
    fn both_ways(text: &str) -> String {
        let mut file = tempfile::NamedTempFile::new().expect("a file");
        file.write_all(text.as_bytes()).expect("written");
        let path = file.path().to_path_buf();
        let stop = AtomicBool::new(false);
        let progress = crate::orders::Progress::new(true);
        let one = outcome(check_with::<OrderCreateRequest>(
            &path,
            "cj orders ",
            &stop,
            &progress,
            1,
            usize::MAX,
            Horizon::now(Duration::ZERO),
        ));
        for batch_bytes in [1, 300] {
            let batched = outcome(check_with::<OrderCreateRequest>(
                &path,
                "cj orders ",
                &stop,
                &progress,
                4,
                batch_bytes,
                Horizon::now(Duration::ZERO),
            ));
            assert_eq!(batched, one, "batches of {batch_bytes} bytes");
        }
        one
    }

    fn line(id: &str, currency: &str) -> String {
        format!(
            "{{\"enterpriseId\":\"1234567\",\"actionTrackerId\":123456,\"orderId\":\"{id}\",\
             \"eventTime\":\"2024-01-15T18:08:36.089Z\",\"cjEvent\":\"e\",\
             \"currency\":\"{currency}\",\"amount\":\"10.00\"}}\n"
        )
    }

    #[test]
    fn checking_in_batches_over_several_threads_is_checking_one_order_at_a_time() {
        // Valid orders between blank lines: every order read back in input order, each with
        // its line.
        let mut valid = String::new();
        for i in 0..300 {
            valid.push_str(&line(&format!("V-{i}"), "USD"));
            if i % 7 == 0 {
                valid.push_str("\n  \n");
            }
        }
        assert!(both_ways(&valid).starts_with("ok 300 "));

        // Orders that break CJ's rules, and a key repeated 250 lines later: every problem,
        // at its line, in input order.
        let mut invalid = valid.clone();
        invalid.push_str(&line("V-3", "USD"));
        invalid.push_str(&line("", "USD"));
        invalid.push_str(&line("BAD-CURRENCY", "dollars"));
        let refused = both_ways(&invalid);
        assert!(refused.starts_with("invalid 0 "), "{refused}");
        assert!(refused.contains("V-3"), "{refused}");
        assert!(refused.contains("BAD-CURRENCY"), "{refused}");

        // More problems than are kept: the rest counted.
        let many: String = (0..MAX_PROBLEMS + 5)
            .map(|i| line(&format!("N-{i}"), "dollars"))
            .collect();
        assert!(both_ways(&many).starts_with("invalid 5 "));

        // Lines that are not orders, the first one after invalid orders: that line is the
        // answer (the same message), whatever batch or thread it fell to.
        let mut unreadable = invalid.clone();
        unreadable.push_str("{\"orderId\": 12,5}\n");
        unreadable.push_str(&valid);
        unreadable.push_str("not json\n");
        let refused = both_ways(&unreadable);
        assert!(refused.starts_with("unreadable line 390: "), "{refused}");

        // No orders at all.
        assert!(both_ways("\n\n").starts_with("unreadable "));

        // Ctrl-C: interrupted, however it is split.
        let mut file = tempfile::NamedTempFile::new().expect("a file");
        file.write_all(valid.as_bytes()).expect("written");
        let stopped = AtomicBool::new(true);
        let progress = crate::orders::Progress::new(true);
        for (workers, batch_bytes) in [(1, usize::MAX), (4, 1)] {
            let path = file.path().to_path_buf();
            let checked = check_with::<OrderCreateRequest>(
                &path,
                "cj orders ",
                &stopped,
                &progress,
                workers,
                batch_bytes,
                Horizon::now(Duration::ZERO),
            );
            assert_eq!(outcome(checked), "interrupted");
        }
    }
}
