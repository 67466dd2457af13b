//! Breached-password filter benchmark: generates a Pwned-Passwords-format file of random
//! `HASH:COUNT` lines in a temporary dir, imports it with the release binary as a separate
//! process (`password breached import`, so its peak RSS is the import's own), then reports
//! the import's time, rate and peak RSS; the filter's size and bytes per entry; the load time
//! and lookup cost (present and absent keys, and a password including its SHA-1); and the
//! resident memory of a started server with the filter against one without. The temporary dir
//! (the input is ~45 bytes a line) is removed at the end.
//!
//!     cargo bench -j 1 --bench breached
//!
//! Settings (environment): PG_BENCH_BREACHED, the number of lines (default 100000000).

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use profilegate::breached::{self, Filter};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `n` random lines; returns a sample of the keys written (every 1024th).
fn generate(path: &Path, n: u64) -> std::io::Result<Vec<u64>> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = 0x5eed_u64;
    let mut sample = Vec::new();
    let mut line = [0u8; 64];
    for i in 0..n {
        let words = [splitmix(&mut rng), splitmix(&mut rng), splitmix(&mut rng)];
        if i % 1024 == 0 {
            sample.push(words[0]);
        }
        let mut len = 0;
        for (wi, word) in words.iter().enumerate() {
            let digits = if wi == 2 { 8 } else { 16 };
            for d in 0..digits {
                line[len] = HEX[((word >> (60 - 4 * d)) & 0xf) as usize];
                len += 1;
            }
        }
        line[len] = b':';
        len += 1;
        let count = format!("{}\r\n", 1 + words[2] % 1000);
        line[len..len + count.len()].copy_from_slice(count.as_bytes());
        len += count.len();
        w.write_all(&line[..len])?;
    }
    w.flush()?;
    Ok(sample)
}

fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The children's peak RSS so far, in KB (the largest of the waited-for children).
fn children_maxrss_kb() -> u64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss as u64
}

/// Starts the server on `dir`; its resident memory once it answers /healthz, in KB.
fn server_rss_kb(dir: &Path) -> u64 {
    let (child, addr) = support::spawn_server(dir);
    let pid = child.id();
    loop {
        use std::io::Read;
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            if buf.starts_with(b"HTTP/1.1 200") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let start-up's transient allocations settle.
    std::thread::sleep(Duration::from_secs(2));
    let rss = proc_kb(pid, "VmRSS:");
    support::stop_server(child);
    rss
}

fn ns_per(op: impl Fn(u64) -> bool, n: u64) -> (f64, u64) {
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..n {
        hits += op(i) as u64;
    }
    (t.elapsed().as_nanos() as f64 / n as f64, hits)
}

fn main() {
    let n: u64 = std::env::var("PG_BENCH_BREACHED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000_000);
    let tmp = tempfile::tempdir().expect("temp dir");
    let input = tmp.path().join("pwned-passwords.txt");
    let data = tmp.path().join("data");
    let empty = tmp.path().join("data-empty");
    std::fs::create_dir(&data).expect("data dir");
    std::fs::create_dir(&empty).expect("data dir");

    println!("breached-password filter, {n} lines");
    let t = Instant::now();
    let sample = generate(&input, n).expect("generate the input");
    let input_size = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0);
    println!(
        "  generated {:.2} GB in {:.1} s",
        input_size as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_profilegate"))
        .arg("--data-dir")
        .arg(&data)
        .args(["password", "breached", "import"])
        .arg(&input)
        .stderr(std::process::Stdio::null())
        .output()
        .expect("run the import");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let peak_kb = children_maxrss_kb();
    // The input is no longer needed: free the disk before the rest.
    let _ = std::fs::remove_file(&input);
    let filter_path = breached::path(&data);
    let t = Instant::now();
    let filter = Filter::load(&filter_path).expect("load the filter");
    let load_secs = t.elapsed().as_secs_f64();
    let m = filter.meta().clone();
    println!(
        "  import: {secs:.1} s, {:.2} M hashes/s, peak RSS {:.0} MB (the CLI process's VmHWM)",
        n as f64 / secs / 1e6,
        peak_kb as f64 / 1024.0
    );
    println!(
        "  filter: {} entries, {:.1} MB, {:.3} bytes/entry ({:.2} bits), false-positive rate ~1/65536",
        m.entries,
        m.file_size as f64 / 1e6,
        m.file_size as f64 / m.entries as f64,
        m.file_size as f64 * 8.0 / m.entries as f64
    );
    println!("  load (read, check, rebuild): {load_secs:.2} s");

    let lookups = 10_000_000u64;
    let (present_ns, hits) = ns_per(
        |i| filter.contains_key(sample[(i as usize) % sample.len()]),
        lookups,
    );
    assert_eq!(hits, lookups, "a present key was not found");
    let mut rng = 0xabcd_u64;
    let absent: Vec<u64> = (0..1 << 20).map(|_| splitmix(&mut rng)).collect();
    let (absent_ns, fp) = ns_per(
        |i| filter.contains_key(absent[(i as usize) & ((1 << 20) - 1)]),
        lookups,
    );
    let passwords: Vec<String> = (0..1024).map(|i| format!("correct horse {i}")).collect();
    let (pw_ns, _) = ns_per(
        |i| filter.contains_key(breached::key_of(&passwords[(i as usize) & 1023])),
        1_000_000,
    );
    println!(
        "  lookup: present {present_ns:.0} ns, absent {absent_ns:.0} ns ({fp} false positives in {lookups}, {:.2e}), a password with its SHA-1 {pw_ns:.0} ns",
        fp as f64 / lookups as f64
    );
    drop(filter);

    let with = server_rss_kb(&data);
    let without = server_rss_kb(&empty);
    let delta_mb = (with as f64 - without as f64) / 1024.0;
    let filter_mb = m.file_size as f64 / (1024.0 * 1024.0);
    println!(
        "  server RSS after start-up: {:.1} MB with the filter, {:.1} MB without; delta {delta_mb:.1} MB = the filter's {filter_mb:.1} MB + {:.1} MB",
        with as f64 / 1024.0,
        without as f64 / 1024.0,
        delta_mb - filter_mb
    );
    drop(tmp);
}
