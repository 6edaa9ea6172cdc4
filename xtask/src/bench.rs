//! `cargo xtask bench orders [--orders N]`: the CPU time and peak memory
//! of `cj orders create` and `cj queue enqueue` on N generated orders, against a plain typed
//! serde baseline over the same lines, in the same session; and the wall time of
//! `cj orders create` against the larger of "encode everything" (the baseline) and "send
//! everything" (the bodies `cj` sends, posted by a plain client). Not part of the test suite.
//!
//! Builds `cj` and `cj-bench` (release), generates the orders, starts `cj-bench serve` (a
//! loopback server answering like CJ) and measures each command with GNU time
//! (`/usr/bin/time`, Debian's package `time`).
//! Each command but `cj queue enqueue` runs three times and its cheapest run counts.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Result, workspace_root};

/// What one measured command cost.
struct Cost {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
}

pub fn orders(count: usize) -> Result<()> {
    let root = workspace_root();
    if !Path::new("/usr/bin/time").exists() {
        return Err("GNU time is needed: apt-get install time".into());
    }
    eprintln!("building cj and cj-bench (release)...");
    // `cargo run` names itself in `CARGO`.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "cj-cli",
            "--bin",
            "cj",
        ])
        .args(["-p", "xtask", "--bin", "cj-bench"])
        .status()?;
    if !built.success() {
        return Err("the release build failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release");
    let (cj, bench) = (target.join("cj"), target.join("cj-bench"));
    let dir = std::env::temp_dir().join(format!("cj-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("orders.jsonl");
    let run = || -> Result<()> {
        let status = Command::new(&bench)
            .arg("generate")
            .arg(count.to_string())
            .arg(&file)
            .status()?;
        if !status.success() {
            return Err("generating the orders failed".into());
        }
        let size = std::fs::metadata(&file)?.len() as f64 / 1e6;
        println!("{count} orders, {size:.1} MB of JSON Lines");

        let mut server = Command::new(&bench)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut port = String::new();
        if let Some(out) = server.stdout.take() {
            BufReader::new(out).read_line(&mut port)?;
        }
        let url = format!("http://127.0.0.1:{}", port.trim());
        let file_arg = file.to_string_lossy().into_owned();

        let baseline = measure(&bench, &["baseline", &file_arg], &[])?;
        let env = [("CJ_TOKEN", "bench"), ("CJ_TRACKING_URL", url.as_str())];
        let create = ["orders", "create", "--file", &file_arg, "--output", "json"];
        let create = measure(
            &cj,
            &[&create[..], &["--quiet", "--retries", "0"]].concat(),
            &env,
        )?;
        let dry_run = [
            "orders",
            "create",
            "--file",
            &file_arg,
            "--dry-run",
            "--quiet",
        ];
        let dry = measure(&cj, &dry_run, &[])?;
        // "Send everything": the very bodies `cj` sends (its dry run prints them), posted by
        // the plainest client.
        let bodies = dir.join("bodies.jsonl");
        let printed = Command::new(&cj)
            .args(dry_run)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&bodies)?)
            .status()?;
        if !printed.success() {
            return Err("printing the request bodies failed".into());
        }
        let send = send_everything(&bench, &bodies, &format!("{url}/graphqltest"))?;
        let _ = std::fs::remove_file(&bodies);
        let store = dir.join("queue.sqlite").to_string_lossy().into_owned();
        let enqueue = ["queue", "enqueue", "--file", &file_arg, "--store", &store];
        // Once: a second run would find every order stored already.
        let enqueue = measure_once(&cj, &enqueue, &[])?;

        drop(server.stdin.take());
        let mut served = String::new();
        if let Some(err) = server.stderr.take() {
            BufReader::new(err).read_line(&mut served)?;
        }
        server.wait()?;

        let row = |name: &str, c: &Cost| {
            println!(
                "{name:34} {:>8.2} {:>8.2} {:>10.1}",
                c.wall, c.cpu, c.rss_mb
            )
        };
        println!("{:34} {:>8} {:>8} {:>10}", "", "wall s", "CPU s", "peak MB");
        row("plain typed serde baseline", &baseline);
        row("cj orders create --output json", &create);
        row("cj orders create --dry-run", &dry);
        row("cj queue enqueue", &enqueue);
        println!(
            "cj orders create / baseline: CPU {:.2}x, peak RSS {:.2}x",
            create.cpu / baseline.cpu.max(0.01),
            create.rss_mb / baseline.rss_mb.max(0.01)
        );
        let larger = baseline.wall.max(send);
        println!(
            "wall: cj orders create {:.2} s; encode everything (the baseline) {:.2} s, send \
             everything (the same bodies, a plain client) {send:.2} s: {:.2}x the larger",
            create.wall,
            baseline.wall,
            create.wall / larger.max(1e-9)
        );
        println!(
            "cj queue enqueue: {:.0} orders/s",
            count as f64 / enqueue.wall.max(1e-9)
        );
        println!("{}", served.trim());
        Ok(())
    };
    let result = run();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The seconds `cj-bench send` takes to post `bodies` to `url`: the least of [`RUNS`] runs.
fn send_everything(bench: &Path, bodies: &Path, url: &str) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        let out = Command::new(bench)
            .arg("send")
            .arg(bodies)
            .arg(url)
            .stdin(Stdio::null())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            std::io::stderr().write_all(&out.stderr)?;
            return Err("cj-bench send failed".into());
        }
        let seconds: f64 = text
            .split_whitespace()
            .rev()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("cannot read cj-bench send's report: {text:?}"))?;
        best = best.min(seconds);
    }
    Ok(best)
}

/// Runs of each command: the cheapest counts, as the least disturbed by the rest of the
/// machine.
const RUNS: usize = 3;

/// Runs `program args` [`RUNS`] times under GNU time; the run of least CPU time.
fn measure(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Cost> {
    let mut best = measure_once(program, args, env)?;
    for _ in 1..RUNS {
        let cost = measure_once(program, args, env)?;
        if cost.cpu < best.cpu {
            best = cost;
        }
    }
    Ok(best)
}

/// Runs `program args` under GNU time, its output discarded; what it cost.
fn measure_once(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Cost> {
    let report = std::env::temp_dir().join(format!("cj-bench-time-{}", std::process::id()));
    let status = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(&report)
        .args(["-f", "%e %U %S %M"])
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let text = std::fs::read_to_string(&report)?;
    let _ = std::fs::remove_file(&report);
    if !status.status.success() {
        std::io::stderr().write_all(&status.stderr)?;
        return Err(format!("{} {} failed", program.display(), args.join(" ")).into());
    }
    let numbers: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [wall, user, system, rss_kb] = numbers[..] else {
        return Err(format!("cannot read GNU time's report: {text:?}").into());
    };
    Ok(Cost {
        wall,
        cpu: user + system,
        rss_mb: rss_kb / 1024.0,
    })
}
