//! How long a test waits for its database from `dbkit::testing`: a run of `--tests N`
//! tests, each asking for a fresh database and then working for `--work-ms MS`, one
//! after another as one test thread does. Prints the median and the worst wait per
//! test in milliseconds as JSON. `DBKIT_TEST_POOL=0` turns off the copies made ahead,
//! for the baseline. Used by `scripts/bench-devloop.sh`.
//!
//! ```sh
//! DATABASE_URL=... cargo run --release --example fresh_per_test -- database --tests 16 --work-ms 50
//! ```

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "database".into());
    let (mut tests, mut work_ms) = (16usize, 50u64);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--tests", Some(v)) => tests = v as usize,
            ("--work-ms", Some(v)) => work_ms = v,
            _ => {
                eprintln!("usage: fresh_per_test DIR [--tests N] [--work-ms MS]");
                std::process::exit(2);
            }
        }
    }
    let mut databases = match dbkit::testing::TestDatabases::new(&dir) {
        Ok(databases) => databases,
        Err(e) => {
            eprintln!("fresh_per_test: {}", dbkit::report::error::chain(&e));
            std::process::exit(1);
        }
    };
    let mut waits = Vec::with_capacity(tests);
    for _ in 0..tests {
        let asked = Instant::now();
        if let Err(e) = databases.fresh() {
            eprintln!("fresh_per_test: {}", dbkit::report::error::chain(&e));
            std::process::exit(1);
        }
        waits.push(asked.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(work_ms));
    }
    // The first test's wait is the template's check, the same with or without copies
    // made ahead; the figures are of the tests after it.
    let mut after: Vec<f64> = waits[1..].to_vec();
    after.sort_by(f64::total_cmp);
    let median = after.get(after.len() / 2).copied().unwrap_or(0.0);
    let worst = after.last().copied().unwrap_or(0.0);
    println!(
        "{{\"tests\": {tests}, \"work_ms\": {work_ms}, \"first_ms\": {:.1}, \"median_ms\": {median:.1}, \"worst_ms\": {worst:.1}}}",
        waits[0]
    );
}
